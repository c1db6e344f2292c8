// Applies backend outcomes to transfers: each (transfer, attempt) finishes at most once, and only the
// current attempt of a live transfer can move it. Thread-safe; safe with several bookkeeping replicas.
#ifndef ASO_LIBS_DB_OUTCOME_REPOSITORY_H_
#define ASO_LIBS_DB_OUTCOME_REPOSITORY_H_

#include <optional>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "aso/common/v1/common.pb.h"
#include "libs/db/database.h"

namespace aso::db {

using aso::common::v1::FileOutcome;

class OutcomeRepository {
 public:
  virtual ~OutcomeRepository() = default;

  // SUBMITTING/SUBMITTED -> ACTIVE for the outcome's transfer and attempt. Returns whether it changed.
  virtual absl::StatusOr<bool> ApplyStarted(const FileOutcome& outcome, absl::Time now) = 0;

  // Records the attempt (once per transfer and attempt) and moves the transfer: DONE for a DONE outcome;
  // KILLED for a cancelled one (state KILLED) or any failure of a transfer with a kill request; else, for
  // a failure, back to QUEUED with not_before = *retry_at when set and the task's deadline has not
  // passed, or FAILED. Returns false (and changes nothing) for an attempt already recorded or a transfer
  // no longer live on that attempt.
  virtual absl::StatusOr<bool> ApplyFinished(const FileOutcome& outcome, std::optional<absl::Time> retry_at,
                                             absl::Time now) = 0;

  // ApplyStarted for many ACTIVE outcomes in one statement; per outcome in order, whether it changed.
  virtual absl::StatusOr<std::vector<bool>> ApplyStartedBatch(const std::vector<FileOutcome>& outcomes,
                                                              absl::Time now) = 0;

  // ApplyFinished for many DONE outcomes in one transaction (the common case, in batches as the adapter
  // reports them). Returns, per outcome in order, whether it changed its transfer.
  virtual absl::StatusOr<std::vector<bool>> ApplyDone(const std::vector<FileOutcome>& outcomes,
                                                      absl::Time now) = 0;

  // ApplyFinished for many FAILED or KILLED outcomes in one statement, `retry_at[i]` for outcome i. Returns,
  // per outcome in order, whether it changed its transfer (a repeat of an outcome earlier in the batch:
  // false).
  virtual absl::StatusOr<std::vector<bool>> ApplyNotDone(
      const std::vector<FileOutcome>& outcomes, const std::vector<std::optional<absl::Time>>& retry_at,
      absl::Time now) = 0;

  // The attempt number at the transfer's last manual retry (0 if none): its retry budget counts the
  // attempts after it; and its task's attempts per file (0: the service's default).
  struct RetryBudget {
    int base = 0;
    int task_max_attempts = 0;
  };
  virtual absl::StatusOr<RetryBudget> RetryBudgetOf(int64_t transfer_id) = 0;
  // RetryBudgetOf for many transfers in one statement; a transfer that does not exist is left out.
  virtual absl::StatusOr<absl::flat_hash_map<int64_t, RetryBudget>> RetryBudgetsOf(
      const std::vector<int64_t>& transfer_ids) = 0;
};

class PgOutcomeRepository final : public OutcomeRepository {
 public:
  explicit PgOutcomeRepository(Database& db) : db_(db) {}
  absl::StatusOr<bool> ApplyStarted(const FileOutcome& outcome, absl::Time now) override;
  absl::StatusOr<bool> ApplyFinished(const FileOutcome& outcome, std::optional<absl::Time> retry_at,
                                     absl::Time now) override;
  absl::StatusOr<std::vector<bool>> ApplyStartedBatch(const std::vector<FileOutcome>& outcomes,
                                                      absl::Time now) override;
  absl::StatusOr<std::vector<bool>> ApplyDone(const std::vector<FileOutcome>& outcomes,
                                              absl::Time now) override;
  absl::StatusOr<std::vector<bool>> ApplyNotDone(const std::vector<FileOutcome>& outcomes,
                                                 const std::vector<std::optional<absl::Time>>& retry_at,
                                                 absl::Time now) override;
  absl::StatusOr<absl::flat_hash_map<int64_t, RetryBudget>> RetryBudgetsOf(
      const std::vector<int64_t>& transfer_ids) override;
  absl::StatusOr<RetryBudget> RetryBudgetOf(int64_t transfer_id) override;

 private:
  Database& db_;
};

}  // namespace aso::db

#endif  // ASO_LIBS_DB_OUTCOME_REPOSITORY_H_
