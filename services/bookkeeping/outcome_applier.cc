#include "services/bookkeeping/outcome_applier.h"

#include "absl/strings/str_cat.h"
#include "libs/common/logging.h"
#include "libs/transfer/state.h"

namespace aso::bookkeeping {
namespace v1 = aso::common::v1;

OutcomeApplier::OutcomeApplier(db::OutcomeRepository& repo, RetryPolicy policy, Clock& clock,
                               metrics::Metrics& metrics)
    : repo_(repo),
      policy_(policy),
      clock_(clock),
      outcomes_(metrics.AddCounter("aso_bookkeeping_outcomes_total",
                                   "Outcomes applied, by decision and failure class.",
                                   {"decision", "failure_class"})) {
  outcomes_.Inc({"done", ""}, 0);
}

absl::StatusOr<bool> OutcomeApplier::Apply(const v1::FileOutcome& outcome) {
  const absl::Time now = clock_.Now();
  switch (outcome.state()) {
    case v1::TRANSFER_STATE_ACTIVE:
      return repo_.ApplyStarted(outcome, now);
    case v1::TRANSFER_STATE_DONE: {
      auto applied = repo_.ApplyFinished(outcome, std::nullopt, now);
      if (applied.ok() && *applied) outcomes_.Inc({"done", ""});
      return applied;
    }
    case v1::TRANSFER_STATE_FAILED: {
      // The retry budget counts the attempts since the last manual retry.
      auto budget = repo_.RetryBudgetOf(outcome.transfer_id());
      if (!budget.ok() && !absl::IsNotFound(budget.status())) return budget.status();
      v1::FileOutcome counted = outcome;
      counted.set_attempt(outcome.attempt() - (budget.ok() ? budget->base : 0));
      std::optional<absl::Time> retry_at;
      {
        absl::MutexLock lock(&gen_mu_);
        retry_at = policy_.NextAttemptAt(counted, now, gen_, budget.ok() ? budget->task_max_attempts : 0);
      }
      auto applied = repo_.ApplyFinished(outcome, retry_at, now);
      const std::string failure_class(transfer::FailureClassName(outcome.failure_class()));
      if (applied.ok() && *applied) {
        outcomes_.Inc({retry_at ? "retry" : "failed", failure_class});
        ASO_LOG(INFO, "transfer=", outcome.transfer_id(), " attempt=", outcome.attempt(), " failed (",
                failure_class, "): ", outcome.error(),
                retry_at ? absl::StrCat(" -> retry in ", absl::FormatDuration(*retry_at - now))
                         : std::string(" -> FAILED"));
      }
      return applied;
    }
    case v1::TRANSFER_STATE_KILLED: {
      auto applied = repo_.ApplyFinished(outcome, std::nullopt, now);
      if (applied.ok() && *applied) outcomes_.Inc({"killed", "CANCELED"});
      return applied;
    }
    default:
      return absl::InvalidArgumentError(absl::StrCat("outcome for transfer ", outcome.transfer_id(),
                                                     " has state ", transfer::StateName(outcome.state()),
                                                     "; expected ACTIVE, DONE, FAILED or KILLED"));
  }
}

std::vector<absl::StatusOr<bool>> OutcomeApplier::ApplyAll(const std::vector<v1::FileOutcome>& outcomes) {
  std::vector<absl::StatusOr<bool>> results(outcomes.size(), false);
  // Starts and successes in one statement each; failures and cancels (rare) one by one, with the policy.
  std::vector<v1::FileOutcome> started, done;
  std::vector<size_t> started_index, done_index;
  for (size_t i = 0; i < outcomes.size(); ++i) {
    if (outcomes[i].state() == v1::TRANSFER_STATE_ACTIVE) {
      started.push_back(outcomes[i]);
      started_index.push_back(i);
    } else if (outcomes[i].state() == v1::TRANSFER_STATE_DONE) {
      done.push_back(outcomes[i]);
      done_index.push_back(i);
    } else {
      results[i] = Apply(outcomes[i]);
    }
  }
  const absl::Time now = clock_.Now();
  auto spread = [&results](const absl::StatusOr<std::vector<bool>>& applied,
                           const std::vector<size_t>& index) {
    for (size_t k = 0; k < index.size(); ++k) {
      results[index[k]] = applied.ok() ? absl::StatusOr<bool>((*applied)[k]) : applied.status();
    }
  };
  if (!started.empty()) spread(repo_.ApplyStartedBatch(started, now), started_index);
  if (!done.empty()) {
    auto applied = repo_.ApplyDone(done, now);
    spread(applied, done_index);
    for (size_t k = 0; applied.ok() && k < done.size(); ++k) {
      if ((*applied)[k]) outcomes_.Inc({"done", ""});
    }
  }
  return results;
}

}  // namespace aso::bookkeeping
