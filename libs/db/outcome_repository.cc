#include "libs/db/outcome_repository.h"

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "libs/db/internal/transaction.h"
#include "libs/db/pg_util.h"
#include "libs/transfer/state.h"

namespace aso::db {
namespace v1 = aso::common::v1;
namespace {

// The attempt row is the idempotency record: a second report of the same attempt inserts nothing
// (kDoneBatch, kNotDoneBatch).
constexpr char kStartedBatch[] = R"sql(
  UPDATE transfers t SET state = 'ACTIVE', updated = to_timestamp($3)
  FROM unnest($1::bigint[], $2::int[]) AS o(transfer_id, attempt)
  WHERE t.id = o.transfer_id AND t.attempt = o.attempt AND t.state = 'SUBMITTING'
  RETURNING t.id)sql";

// The attempt rows and DONE of a batch of DONE outcomes: set-based, so the statement-level triggers that
// keep transfer_live in step run once per batch. Returns the transfers that changed.
// (The batch statements find the attempts they inserted with IN over a subquery that cannot be flattened
// (OFFSET 0), so that it is hashed: the planner cannot size the batch, and a join of the two lists would
// be a nested loop, quadratic in the size of a report.)
constexpr char kDoneBatch[] = R"sql(
  WITH o AS (
    SELECT * FROM unnest($1::bigint[], $2::int[], $3::text[], $4::text[], $5::float8[], $6::float8[],
                         $7::bigint[], $8::text[])
      AS o(transfer_id, attempt, job_id, file_id, started, finished, bytes, checksum)),
  ins AS (
    INSERT INTO attempts (transfer_id, attempt, backend_job_id, backend_file_id, result, source_site,
                          destination_site, started, finished, bytes, throughput)
    SELECT t.id, o.attempt, o.job_id, o.file_id, 'DONE', t.source_site, t.destination_site,
           CASE WHEN o.started > 0 THEN to_timestamp(o.started) END, to_timestamp(o.finished), o.bytes,
           CASE WHEN o.finished > o.started AND o.started > 0 THEN o.bytes / (o.finished - o.started)
                ELSE 0 END
    FROM o JOIN transfers t ON t.id = o.transfer_id AND t.attempt = o.attempt
    ON CONFLICT (transfer_id, attempt) DO NOTHING
    RETURNING transfer_id, attempt)
  UPDATE transfers t
  SET state = 'DONE', failure_class = '', failure_reason = '', updated = to_timestamp($9),
      size_bytes = CASE WHEN t.size_bytes < 0 THEN o.bytes ELSE t.size_bytes END,
      checksum = CASE WHEN t.checksum = '' THEN o.checksum ELSE t.checksum END,
      -- The source is deleted later if its site wants that and the copy was verified at the destination.
      -- A file to publish waits for the publisher.
      publication_state = CASE WHEN t.publish THEN 'PENDING' ELSE t.publication_state END,
      cleanup_state = CASE WHEN NOT src.cleanup_source THEN t.cleanup_state
                           WHEN o.checksum <> '' THEN 'PENDING' ELSE 'SKIPPED' END,
      cleanup_error = CASE WHEN src.cleanup_source AND o.checksum = ''
                           THEN 'not deleted: the destination checksum was not verified'
                           ELSE t.cleanup_error END
  FROM o, sites src
  WHERE t.id = o.transfer_id AND t.attempt = o.attempt AND t.state IN ('SUBMITTING', 'ACTIVE')
    AND (o.transfer_id, o.attempt) IN (SELECT transfer_id, attempt FROM ins OFFSET 0)
    AND src.name = t.source_site
  RETURNING t.id)sql";

// Failed or cancelled attempts, many in one statement: each attempt recorded once (a repeat, or an attempt
// the transfer is no longer on, changes nothing), then its transfer killed if a kill was requested (or this
// is the cancel), else back to the queue after its cool-off (retry_at > 0, the task's deadline not passed),
// else failed for good. Returns the transfers that changed.
constexpr char kNotDoneBatch[] = R"sql(
  WITH o AS (
    SELECT * FROM unnest($1::bigint[], $2::int[], $3::text[], $4::text[], $5::float8[], $6::float8[],
                         $7::bigint[], $8::text[], $9::text[], $10::bool[], $11::float8[], $12::bool[])
      AS o(transfer_id, attempt, job_id, file_id, started, finished, bytes, failure_class, error, recoverable,
           retry_at, canceled)),
  ins AS (
    INSERT INTO attempts (transfer_id, attempt, backend_job_id, backend_file_id, result, source_site,
                          destination_site, started, finished, bytes, throughput, failure_class, error,
                          recoverable)
    SELECT t.id, o.attempt, o.job_id, o.file_id, CASE WHEN o.canceled THEN 'CANCELED' ELSE 'FAILED' END,
           t.source_site, t.destination_site, CASE WHEN o.started > 0 THEN to_timestamp(o.started) END,
           to_timestamp(o.finished), o.bytes,
           CASE WHEN o.finished > o.started AND o.started > 0 THEN o.bytes / (o.finished - o.started) ELSE 0 END,
           o.failure_class, o.error, o.recoverable
    FROM o JOIN transfers t ON t.id = o.transfer_id AND t.attempt = o.attempt
    ON CONFLICT (transfer_id, attempt) DO NOTHING
    RETURNING transfer_id, attempt),
  d AS (
    SELECT t.id, o.attempt, o.retry_at, o.failure_class, o.error, t.kill_requested OR o.canceled AS kill,
           o.retry_at > 0 AND NOT EXISTS (SELECT 1 FROM tasks k WHERE k.task_id = t.task_id
                                          AND k.deadline <= to_timestamp($13)) AS retry,
           o.retry_at > 0 AND EXISTS (SELECT 1 FROM tasks k WHERE k.task_id = t.task_id
                                      AND k.deadline <= to_timestamp($13)) AS too_late
    FROM o JOIN transfers t ON t.id = o.transfer_id
    WHERE (o.transfer_id, o.attempt) IN (SELECT transfer_id, attempt FROM ins OFFSET 0))
  UPDATE transfers
  SET state = CASE WHEN d.kill THEN 'KILLED' WHEN d.retry THEN 'QUEUED' ELSE 'FAILED' END,
      not_before = CASE WHEN NOT d.kill AND d.retry THEN to_timestamp(d.retry_at) ELSE not_before END,
      backend_job_id = CASE WHEN NOT d.kill AND d.retry THEN NULL ELSE backend_job_id END,
      claimed_at = CASE WHEN NOT d.kill AND d.retry THEN NULL ELSE claimed_at END,
      failure_class = d.failure_class,
      -- A kill keeps the reason it was given.
      failure_reason = CASE WHEN d.kill AND failure_reason <> '' THEN failure_reason
                            WHEN NOT d.kill AND d.too_late
                              THEN d.error || ' (not retried: the task deadline has passed)'
                            ELSE d.error END,
      updated = to_timestamp($13)
  FROM d
  WHERE transfers.id = d.id AND transfers.attempt = d.attempt AND transfers.state IN ('SUBMITTING', 'ACTIVE')
  RETURNING transfers.id)sql";

// Runs a batch statement (prepared as `name`) that returns the ids of the transfers it changed; answers, per
// outcome in order, whether its transfer changed.
template <typename... Args>
absl::StatusOr<std::vector<bool>> ChangedPerOutcome(Database& db, const std::vector<FileOutcome>& outcomes,
                                                    const char* name, const char* sql, const Args&... args) {
  absl::flat_hash_set<int64_t> changed;
  // One statement: atomic without a transaction block (one round trip instead of three). Not retried on a
  // broken connection (its commit may have happened); the reporter sends the outcomes again.
  absl::Status s = Autocommit(
      db,
      [&](pqxx::nontransaction& txn) {
        changed.clear();
        for (const auto& r : ExecPrepared(txn, name, sql, args...))
          changed.insert(r[0].template as<int64_t>());
        return absl::OkStatus();
      },
      /*retry_on_broken=*/false);
  if (!s.ok()) return s;
  std::vector<bool> out;
  for (const FileOutcome& o : outcomes) out.push_back(changed.erase(o.transfer_id()) > 0);
  return out;
}

// The columns of a batch's attempt rows, as arrays for unnest(): $1..$7 of kDoneBatch and kNotDoneBatch.
struct AttemptColumns {
  std::vector<int64_t> ids, attempts, bytes;
  std::vector<std::string> jobs, files;
  std::vector<double> started, finished;

  explicit AttemptColumns(const std::vector<FileOutcome>& outcomes) {
    for (const FileOutcome& o : outcomes) {
      ids.push_back(o.transfer_id());
      attempts.push_back(o.attempt());
      jobs.push_back(o.backend_job_id());
      files.push_back(o.backend_file_id());
      started.push_back(TimestampSeconds(o.started()));
      finished.push_back(TimestampSeconds(o.finished()));
      bytes.push_back(o.bytes());
    }
  }
};

}  // namespace

absl::StatusOr<bool> PgOutcomeRepository::ApplyStarted(const FileOutcome& o, absl::Time now) {
  auto applied = ApplyStartedBatch({o}, now);
  if (!applied.ok()) return applied.status();
  return applied->front();
}

absl::StatusOr<bool> PgOutcomeRepository::ApplyFinished(const FileOutcome& o,
                                                        std::optional<absl::Time> retry_at, absl::Time now) {
  if (o.state() == v1::TRANSFER_STATE_DONE) {
    // One statement for one DONE outcome or many (a size or checksum the job did not know is learnt from
    // the verified copy; cleanup and publication are queued).
    auto applied = ApplyDone({o}, now);
    if (!applied.ok()) return applied.status();
    return applied->front();
  }
  auto applied = ApplyNotDone({o}, {retry_at}, now);
  if (!applied.ok()) return applied.status();
  return applied->front();
}

absl::StatusOr<std::vector<bool>> PgOutcomeRepository::ApplyNotDone(
    const std::vector<FileOutcome>& outcomes, const std::vector<std::optional<absl::Time>>& retry_at,
    absl::Time now) {
  if (retry_at.size() != outcomes.size()) {
    return absl::InvalidArgumentError("ApplyNotDone: one retry time per outcome");
  }
  const AttemptColumns a(outcomes);
  std::vector<std::string> classes, errors;
  std::vector<double> retry;
  std::vector<bool> recoverable, canceled;
  for (size_t i = 0; i < outcomes.size(); ++i) {
    const FileOutcome& o = outcomes[i];
    const bool cancel = o.state() == v1::TRANSFER_STATE_KILLED;
    std::string failure_class(transfer::FailureClassName(o.failure_class()));
    if (cancel && failure_class.empty()) failure_class = "CANCELED";
    classes.push_back(std::move(failure_class));
    errors.push_back(o.error());
    recoverable.push_back(o.recoverable());
    retry.push_back(retry_at[i].has_value() ? EpochSeconds(*retry_at[i]) : 0.0);
    canceled.push_back(cancel);
  }
  return ChangedPerOutcome(db_, outcomes, "aso_not_done_batch", kNotDoneBatch, IntArray(a.ids),
                           IntArray(a.attempts), TextArray(a.jobs), TextArray(a.files), FloatArray(a.started),
                           FloatArray(a.finished), IntArray(a.bytes), TextArray(classes), TextArray(errors),
                           BoolArray(recoverable), FloatArray(retry), BoolArray(canceled), EpochSeconds(now));
}

absl::StatusOr<std::vector<bool>> PgOutcomeRepository::ApplyStartedBatch(
    const std::vector<FileOutcome>& outcomes, absl::Time now) {
  std::vector<int64_t> ids, attempts;
  for (const FileOutcome& o : outcomes) {
    ids.push_back(o.transfer_id());
    attempts.push_back(o.attempt());
  }
  return ChangedPerOutcome(db_, outcomes, "aso_started_batch", kStartedBatch, IntArray(ids),
                           IntArray(attempts), EpochSeconds(now));
}

absl::StatusOr<std::vector<bool>> PgOutcomeRepository::ApplyDone(const std::vector<FileOutcome>& outcomes,
                                                                 absl::Time now) {
  const AttemptColumns a(outcomes);
  std::vector<std::string> checksums;
  for (const FileOutcome& o : outcomes) checksums.push_back(o.checksum());
  return ChangedPerOutcome(db_, outcomes, "aso_done_batch", kDoneBatch, IntArray(a.ids), IntArray(a.attempts),
                           TextArray(a.jobs), TextArray(a.files), FloatArray(a.started),
                           FloatArray(a.finished), IntArray(a.bytes), TextArray(checksums),
                           EpochSeconds(now));
}

absl::StatusOr<OutcomeRepository::RetryBudget> PgOutcomeRepository::RetryBudgetOf(int64_t transfer_id) {
  auto budgets = RetryBudgetsOf({transfer_id});
  if (!budgets.ok()) return budgets.status();
  auto it = budgets->find(transfer_id);
  if (it == budgets->end()) return absl::NotFoundError(absl::StrCat("no transfer with id ", transfer_id));
  return it->second;
}

absl::StatusOr<absl::flat_hash_map<int64_t, OutcomeRepository::RetryBudget>>
PgOutcomeRepository::RetryBudgetsOf(const std::vector<int64_t>& transfer_ids) {
  absl::flat_hash_map<int64_t, RetryBudget> budgets;
  absl::Status s = Autocommit(
      db_,
      [&](pqxx::nontransaction& txn) {
        budgets.clear();
        for (const auto& r :
             ExecPrepared(txn, "aso_retry_budgets",
                          "SELECT t.id, t.retry_base, k.max_attempts FROM transfers t "
                          "JOIN tasks k ON k.task_id = t.task_id WHERE t.id = ANY($1::bigint[])",
                          IntArray(transfer_ids))) {
          budgets[r[0].as<int64_t>()] = RetryBudget{r[1].as<int>(), r[2].as<int>()};
        }
        return absl::OkStatus();
      },
      /*retry_on_broken=*/true);
  if (!s.ok()) return s;
  return budgets;
}

}  // namespace aso::db
