// Read-only figures for monitoring: current transfer counts per link and state, and the stream of
// finished attempts (append-only, read incrementally by id). Thread-safe.
#ifndef ASO_LIBS_DB_STATS_REPOSITORY_H_
#define ASO_LIBS_DB_STATS_REPOSITORY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "libs/db/database.h"

namespace aso::db {

struct LinkStateCount {
  std::string source_site;
  std::string destination_site;
  std::string state;
  int64_t files = 0;
  int64_t bytes = 0;
};

struct FinishedAttempt {
  int64_t id = 0;  // increasing
  std::string source_site;
  std::string destination_site;
  std::string result;         // DONE or FAILED
  std::string failure_class;  // empty for DONE
  int64_t bytes = 0;
  double seconds = 0;      // copy duration, 0 when unknown
  double age_seconds = 0;  // since the row was written, by the database's clock
};

class StatsRepository {
 public:
  virtual ~StatsRepository() = default;
  virtual absl::StatusOr<std::vector<LinkStateCount>> CountByLinkAndState() = 0;
  // Attempts with id > after_id, in id order, at most `limit`.
  virtual absl::StatusOr<std::vector<FinishedAttempt>> AttemptsAfter(int64_t after_id, int limit) = 0;
};

class PgStatsRepository final : public StatsRepository {
 public:
  explicit PgStatsRepository(Database& db) : db_(db) {}
  absl::StatusOr<std::vector<LinkStateCount>> CountByLinkAndState() override;
  absl::StatusOr<std::vector<FinishedAttempt>> AttemptsAfter(int64_t after_id, int limit) override;

 private:
  Database& db_;
};

}  // namespace aso::db

#endif  // ASO_LIBS_DB_STATS_REPOSITORY_H_
