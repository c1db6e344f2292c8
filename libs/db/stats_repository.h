// Read-only figures for monitoring. Current figures come from the narrow queue and in-flight tables
// (transfer_queue, transfer_live) and small partial indexes, never from a scan of `transfers`; finished
// attempts are an append-only stream read incrementally by id. Thread-safe.
#ifndef ASO_LIBS_DB_STATS_REPOSITORY_H_
#define ASO_LIBS_DB_STATS_REPOSITORY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "libs/db/database.h"

namespace aso::db {

// Queued files of one link.
struct LinkQueue {
  std::string source_site;
  std::string destination_site;
  int64_t queued = 0;
  int64_t ready = 0;          // cool-off over
  double oldest_created = 0;  // submission time of the oldest queued file (Unix seconds)
};

// Files in flight on one link in one state (SUBMITTING, SUBMITTED, ACTIVE).
struct LinkInFlight {
  std::string source_site;
  std::string destination_site;
  std::string state;
  int64_t files = 0;
  int64_t bytes = 0;
  double oldest_claimed = 0;  // when the oldest of them was claimed (Unix seconds), 0 if unknown
};

// A link's concurrency settings (links table).
struct LinkSetting {
  std::string source_site;
  std::string destination_site;
  int optimized_active = 0;  // the adaptive limit in force, 0 before the optimizer's first step
  int max_active = 0;        // the configured ceiling, 0 = the scheduler's default
};

// One user's backlog.
struct UserBacklog {
  std::string user;
  int64_t queued = 0;
  int64_t ready = 0;
  int64_t in_flight = 0;
  double oldest_created = 0;  // of the oldest queued file, 0 when none is queued
};

// Everything current, read in one transaction.
struct FleetSnapshot {
  double now = 0;  // the database's clock (Unix seconds)
  std::vector<LinkQueue> queues;
  std::vector<LinkInFlight> in_flight;
  std::vector<LinkSetting> links;
  std::vector<UserBacklog> users;     // every user with queued or in-flight files
  int64_t publication_pending = 0;    // DONE files waiting for their catalog entry
  int64_t announcements_pending = 0;  // catalog entries not yet delivered to the external catalog
  int64_t cleanup_pending = 0;        // sources waiting to be deleted
  std::vector<std::pair<std::string, double>> credential_expiry;  // user -> their delegated proxy's expiry
};

struct FinishedAttempt {
  int64_t id = 0;  // increasing
  std::string source_site;
  std::string destination_site;
  std::string result;         // DONE, FAILED or CANCELED
  std::string failure_class;  // empty for DONE
  int64_t bytes = 0;
  double seconds = 0;      // copy duration, 0 when unknown
  double age_seconds = 0;  // since the row was written, by the database's clock
  double finished = 0;     // when the copy ended (Unix seconds)
  double recorded = 0;     // when the row was written (Unix seconds, database clock)
};

class StatsRepository {
 public:
  virtual ~StatsRepository() = default;
  virtual absl::StatusOr<FleetSnapshot> Snapshot() = 0;
  // Attempts with id > after_id, in id order, at most `limit`.
  virtual absl::StatusOr<std::vector<FinishedAttempt>> AttemptsAfter(int64_t after_id, int limit) = 0;
  // The largest attempt id recorded more than `ago` before now (0 if none): reading on from it gives the
  // attempts of the last `ago`. Reads those attempts' rows only (backwards from the newest).
  virtual absl::StatusOr<int64_t> AttemptIdBefore(absl::Duration ago) = 0;
};

class PgStatsRepository final : public StatsRepository {
 public:
  explicit PgStatsRepository(Database& db) : db_(db) {}
  absl::StatusOr<FleetSnapshot> Snapshot() override;
  absl::StatusOr<std::vector<FinishedAttempt>> AttemptsAfter(int64_t after_id, int limit) override;
  absl::StatusOr<int64_t> AttemptIdBefore(absl::Duration ago) override;

  // The statements Snapshot runs, for query-plan tests.
  static std::vector<std::string> SnapshotQueries();

 private:
  Database& db_;
};

}  // namespace aso::db

#endif  // ASO_LIBS_DB_STATS_REPOSITORY_H_
