#include "libs/db/outcome_repository.h"

#include "absl/strings/str_cat.h"
#include "libs/db/internal/transaction.h"
#include "libs/db/pg_util.h"
#include "libs/transfer/state.h"

namespace aso::db {
namespace v1 = aso::common::v1;
namespace {

constexpr char kStarted[] = R"sql(
  UPDATE transfers SET state = 'ACTIVE', updated = to_timestamp($3)
  WHERE id = $1 AND attempt = $2 AND state = 'SUBMITTING')sql";

// The attempt row is the idempotency record: a second report of the same attempt inserts nothing.
constexpr char kInsertAttempt[] = R"sql(
  INSERT INTO attempts (transfer_id, attempt, backend_job_id, backend_file_id, result, source_site,
                        destination_site, started, finished, bytes, throughput, failure_class, error,
                        recoverable)
  SELECT id, $2, $3, $4, $5, source_site, destination_site,
         CASE WHEN $6::float8 > 0 THEN to_timestamp($6::float8) END, to_timestamp($7::float8), $8::bigint,
         CASE WHEN $7::float8 > $6::float8 AND $6::float8 > 0
              THEN $8::bigint / ($7::float8 - $6::float8) ELSE 0 END, $9, $10, $11
  FROM transfers WHERE id = $1 AND attempt = $2
  ON CONFLICT (transfer_id, attempt) DO NOTHING)sql";

constexpr char kDone[] = R"sql(
  UPDATE transfers
  SET state = 'DONE', failure_class = '', failure_reason = '', updated = to_timestamp($3),
      size_bytes = CASE WHEN size_bytes < 0 THEN $4 ELSE size_bytes END,
      checksum = CASE WHEN checksum = '' THEN $5 ELSE checksum END
  WHERE id = $1 AND attempt = $2 AND state IN ('SUBMITTING', 'ACTIVE'))sql";

// A failed or cancelled attempt: killed if a kill was requested (or this is the cancel), else back to
// the queue after the cool-off ($3 > 0), else failed for good.
constexpr char kNotDone[] = R"sql(
  WITH d AS (
    SELECT t.id, t.kill_requested OR $7::boolean AS kill,
           $3::float8 > 0 AND NOT EXISTS (SELECT 1 FROM tasks k WHERE k.task_id = t.task_id
                                          AND k.deadline <= to_timestamp($6)) AS retry,
           $3::float8 > 0 AND EXISTS (SELECT 1 FROM tasks k WHERE k.task_id = t.task_id
                                      AND k.deadline <= to_timestamp($6)) AS too_late
    FROM transfers t WHERE t.id = $1)
  UPDATE transfers
  SET state = CASE WHEN d.kill THEN 'KILLED' WHEN d.retry THEN 'QUEUED' ELSE 'FAILED' END,
      not_before = CASE WHEN NOT d.kill AND d.retry THEN to_timestamp($3::float8) ELSE not_before END,
      backend_job_id = CASE WHEN NOT d.kill AND d.retry THEN NULL ELSE backend_job_id END,
      claimed_at = CASE WHEN NOT d.kill AND d.retry THEN NULL ELSE claimed_at END,
      failure_class = $4,
      -- A kill keeps the reason it was given.
      failure_reason = CASE WHEN d.kill AND failure_reason <> '' THEN failure_reason
                            WHEN NOT d.kill AND d.too_late THEN $5 || ' (not retried: the task deadline has passed)'
                            ELSE $5 END,
      updated = to_timestamp($6)
  FROM d
  WHERE transfers.id = d.id AND transfers.attempt = $2 AND transfers.state IN ('SUBMITTING', 'ACTIVE'))sql";

}  // namespace

absl::StatusOr<bool> PgOutcomeRepository::ApplyStarted(const FileOutcome& o, absl::Time now) {
  bool changed = false;
  absl::Status s = Transact(db_, [&](pqxx::work& txn) {
    changed = txn.exec_params(kStarted, o.transfer_id(), o.attempt(), EpochSeconds(now)).affected_rows() > 0;
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return changed;
}

absl::StatusOr<bool> PgOutcomeRepository::ApplyFinished(const FileOutcome& o,
                                                        std::optional<absl::Time> retry_at, absl::Time now) {
  const bool done = o.state() == v1::TRANSFER_STATE_DONE;
  const bool canceled = o.state() == v1::TRANSFER_STATE_KILLED;
  const std::string result = done ? "DONE" : (canceled ? "CANCELED" : "FAILED");
  std::string failure_class(done ? "" : transfer::FailureClassName(o.failure_class()));
  if (canceled && failure_class.empty()) failure_class = "CANCELED";
  bool changed = false;
  absl::Status s = Transact(db_, [&](pqxx::work& txn) {
    changed = false;
    auto inserted =
        txn.exec_params(kInsertAttempt, o.transfer_id(), o.attempt(), o.backend_job_id(), o.backend_file_id(),
                        result, TimestampSeconds(o.started()), TimestampSeconds(o.finished()), o.bytes(),
                        failure_class, o.error(), o.recoverable());
    if (inserted.affected_rows() == 0) return absl::OkStatus();  // a repeat, or a stale attempt
    pqxx::result r;
    if (done) {
      // A size or checksum the job did not know is learnt from the verified copy.
      r = txn.exec_params(kDone, o.transfer_id(), o.attempt(), EpochSeconds(now), o.bytes(), o.checksum());
    } else {
      r = txn.exec_params(kNotDone, o.transfer_id(), o.attempt(),
                          retry_at.has_value() ? EpochSeconds(*retry_at) : 0.0, failure_class, o.error(),
                          EpochSeconds(now), canceled);
    }
    changed = r.affected_rows() > 0;
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return changed;
}

absl::StatusOr<int> PgOutcomeRepository::RetryBase(int64_t transfer_id) {
  int base = 0;
  absl::Status s = Transact(db_, [&](pqxx::work& txn) {
    auto r = txn.exec_params("SELECT retry_base FROM transfers WHERE id = $1", transfer_id);
    if (r.empty()) return absl::NotFoundError(absl::StrCat("no transfer with id ", transfer_id));
    base = r[0][0].as<int>();
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return base;
}

}  // namespace aso::db
