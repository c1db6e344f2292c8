// Source cleanup's work queue: DONE files whose temporary source is to be deleted (cleanup_state PENDING,
// set by bookkeeping when the destination's checksum was verified and the source site cleans up).
// Thread-safe; several bookkeeping replicas share the queue (a taken file is hidden from the others for a
// while, and deleting a file twice is harmless).
#ifndef ASO_LIBS_DB_CLEANUP_REPOSITORY_H_
#define ASO_LIBS_DB_CLEANUP_REPOSITORY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "libs/db/database.h"

namespace aso::db {

struct CleanupItem {
  int64_t transfer_id = 0;
  std::string source_url;
  int attempts = 0;  // deletions tried before this one
  // The file's owner when its source site moves files with their owners' credentials (sites.credentials),
  // else "": whose credential deletes it.
  std::string username;
};

// What became of one deletion.
struct CleanupResult {
  int64_t transfer_id = 0;
  enum class Outcome { kDeleted, kRetry, kFailed } outcome = Outcome::kDeleted;
  absl::Time retry_at;  // kRetry
  std::string error;    // kRetry, kFailed
};

class CleanupRepository {
 public:
  virtual ~CleanupRepository() = default;

  // Up to `limit` files due for cleanup (not waiting for a retry, not waiting for their publication),
  // oldest first; each is hidden from other callers until now + `hold`.
  virtual absl::StatusOr<std::vector<CleanupItem>> TakeDue(int limit, absl::Duration hold,
                                                           absl::Time now) = 0;

  // Records the deletions' results: DONE, PENDING again after retry_at (attempts + 1), or FAILED.
  virtual absl::Status Record(const std::vector<CleanupResult>& results, absl::Time now) = 0;
};

class PgCleanupRepository final : public CleanupRepository {
 public:
  explicit PgCleanupRepository(Database& db) : db_(db) {}
  absl::StatusOr<std::vector<CleanupItem>> TakeDue(int limit, absl::Duration hold, absl::Time now) override;
  absl::Status Record(const std::vector<CleanupResult>& results, absl::Time now) override;

 private:
  Database& db_;
};

}  // namespace aso::db

#endif  // ASO_LIBS_DB_CLEANUP_REPOSITORY_H_
