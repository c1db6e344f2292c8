// Retention: moves finished files older than a cutoff, with their attempts, to the archive tables (see
// migration 0010). Thread-safe; replicas may run it side by side (rows are taken with SKIP LOCKED).
#ifndef ASO_LIBS_DB_RETENTION_REPOSITORY_H_
#define ASO_LIBS_DB_RETENTION_REPOSITORY_H_

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "libs/db/database.h"

namespace aso::db {

class RetentionRepository {
 public:
  virtual ~RetentionRepository() = default;
  // Archives up to `limit` DONE, FAILED or KILLED files last changed before `cutoff` whose publication,
  // cleanup and announcement are over. Returns how many moved.
  virtual absl::StatusOr<int> ArchiveBefore(absl::Time cutoff, int limit) = 0;
};

class PgRetentionRepository final : public RetentionRepository {
 public:
  explicit PgRetentionRepository(Database& db) : db_(db) {}
  absl::StatusOr<int> ArchiveBefore(absl::Time cutoff, int limit) override;

 private:
  Database& db_;
};

}  // namespace aso::db

#endif  // ASO_LIBS_DB_RETENTION_REPOSITORY_H_
