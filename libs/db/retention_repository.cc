#include "libs/db/retention_repository.h"

#include "libs/db/internal/transaction.h"
#include "libs/db/pg_util.h"

namespace aso::db {
namespace {

// One statement: the old rows are deleted from the hot tables and inserted into the archive ones, so a
// crash leaves each file in exactly one place.
constexpr char kArchive[] = R"sql(
  WITH old AS (
    SELECT t.id FROM transfers t
    WHERE t.finished < to_timestamp($1)
      AND t.publication_state <> 'PENDING' AND t.cleanup_state <> 'PENDING'
      AND NOT EXISTS (SELECT 1 FROM publication_outbox o WHERE o.transfer_id = t.id AND o.delivered IS NULL)
    ORDER BY t.finished LIMIT $2
    FOR UPDATE SKIP LOCKED),
  moved_attempts AS (
    DELETE FROM attempts a USING old WHERE a.transfer_id = old.id RETURNING a.*),
  archived_attempts AS (
    INSERT INTO attempts_archive SELECT * FROM moved_attempts),
  delivered AS (
    DELETE FROM publication_outbox o USING old WHERE o.transfer_id = old.id),
  moved AS (
    DELETE FROM transfers t USING old WHERE t.id = old.id RETURNING t.*)
  INSERT INTO transfers_archive SELECT * FROM moved)sql";

}  // namespace

absl::StatusOr<int> PgRetentionRepository::ArchiveBefore(absl::Time cutoff, int limit) {
  int n = 0;
  absl::Status s = Transact(db_, [&](pqxx::work& txn) {
    n = static_cast<int>(txn.exec_params(kArchive, EpochSeconds(cutoff), limit).affected_rows());
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return n;
}

}  // namespace aso::db
