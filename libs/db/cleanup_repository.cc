#include "libs/db/cleanup_repository.h"

#include "libs/db/internal/transaction.h"
#include "libs/db/pg_util.h"

namespace aso::db {
namespace {

constexpr char kTakeDue[] = R"sql(
  WITH due AS (
    SELECT id FROM transfers
    WHERE cleanup_state = 'PENDING' AND publication_state <> 'PENDING'
      AND (cleanup_not_before IS NULL OR cleanup_not_before <= to_timestamp($2))
    ORDER BY id LIMIT $1
    FOR UPDATE SKIP LOCKED)
  UPDATE transfers t SET cleanup_not_before = to_timestamp($2) + make_interval(secs => $3)
  FROM due WHERE t.id = due.id
  RETURNING t.id, t.source_url, t.cleanup_attempts,
            CASE WHEN (SELECT aso_owner_credentials(s.credentials) FROM sites s WHERE s.name = t.source_site)
                 THEN t.username ELSE '' END)sql";

constexpr char kRecord[] = R"sql(
  UPDATE transfers t
  SET cleanup_state = CASE r.outcome WHEN 'deleted' THEN 'DONE' WHEN 'failed' THEN 'FAILED' ELSE 'PENDING' END,
      cleanup_attempts = t.cleanup_attempts + 1,
      cleanup_not_before = CASE WHEN r.outcome = 'retry' THEN to_timestamp(r.retry_at) END,
      cleanup_error = r.error,
      cleanup_finished = CASE WHEN r.outcome = 'retry' THEN NULL ELSE to_timestamp($5) END,
      updated = to_timestamp($5)
  FROM unnest($1::bigint[], $2::text[], $3::float8[], $4::text[]) AS r(id, outcome, retry_at, error)
  WHERE t.id = r.id AND t.cleanup_state = 'PENDING')sql";

}  // namespace

absl::StatusOr<std::vector<CleanupItem>> PgCleanupRepository::TakeDue(int limit, absl::Duration hold,
                                                                      absl::Time now) {
  std::vector<CleanupItem> out;
  absl::Status s = Transact(db_, [&](pqxx::work& txn) {
    out.clear();
    for (const auto& r : ExecPrepared(txn, "aso_cleanup_due", kTakeDue, limit, EpochSeconds(now),
                                      absl::ToDoubleSeconds(hold))) {
      out.push_back({r[0].as<int64_t>(), r[1].as<std::string>(), r[2].as<int>(), r[3].as<std::string>()});
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::Status PgCleanupRepository::Record(const std::vector<CleanupResult>& results, absl::Time now) {
  if (results.empty()) return absl::OkStatus();
  std::vector<int64_t> ids;
  std::vector<std::string> outcomes, errors;
  std::vector<double> retry_at;
  for (const CleanupResult& r : results) {
    ids.push_back(r.transfer_id);
    outcomes.push_back(r.outcome == CleanupResult::Outcome::kDeleted  ? "deleted"
                       : r.outcome == CleanupResult::Outcome::kFailed ? "failed"
                                                                      : "retry");
    retry_at.push_back(r.outcome == CleanupResult::Outcome::kRetry ? EpochSeconds(r.retry_at) : 0.0);
    errors.push_back(r.error);
  }
  return Transact(db_, [&](pqxx::work& txn) {
    ExecPrepared(txn, "aso_cleanup_record", kRecord, IntArray(ids), TextArray(outcomes), FloatArray(retry_at),
                 TextArray(errors), EpochSeconds(now));
    return absl::OkStatus();
  });
}

}  // namespace aso::db
