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
    case v1::TRANSFER_STATE_FAILED:
    case v1::TRANSFER_STATE_KILLED:
      return ApplyNotDone({outcome}, now).front();
    default:
      return absl::InvalidArgumentError(absl::StrCat("outcome for transfer ", outcome.transfer_id(),
                                                     " has state ", transfer::StateName(outcome.state()),
                                                     "; expected ACTIVE, DONE, FAILED or KILLED"));
  }
}

std::vector<absl::StatusOr<bool>> OutcomeApplier::ApplyNotDone(const std::vector<v1::FileOutcome>& outcomes,
                                                               absl::Time now) {
  // The retry budget counts the attempts since the last manual retry.
  std::vector<int64_t> failed_ids;
  for (const auto& o : outcomes) {
    if (o.state() == v1::TRANSFER_STATE_FAILED) failed_ids.push_back(o.transfer_id());
  }
  absl::flat_hash_map<int64_t, db::OutcomeRepository::RetryBudget> budgets;
  if (!failed_ids.empty()) {
    auto read = repo_.RetryBudgetsOf(failed_ids);
    if (!read.ok()) return std::vector<absl::StatusOr<bool>>(outcomes.size(), read.status());
    budgets = std::move(*read);
  }
  std::vector<std::optional<absl::Time>> retry_at;
  for (const auto& o : outcomes) {
    if (o.state() != v1::TRANSFER_STATE_FAILED) {
      retry_at.push_back(std::nullopt);  // a cancel ends the transfer
      continue;
    }
    auto it = budgets.find(o.transfer_id());
    v1::FileOutcome counted = o;
    counted.set_attempt(o.attempt() - (it != budgets.end() ? it->second.base : 0));
    absl::MutexLock lock(&gen_mu_);
    retry_at.push_back(
        policy_.NextAttemptAt(counted, now, gen_, it != budgets.end() ? it->second.task_max_attempts : 0));
  }
  auto applied = repo_.ApplyNotDone(outcomes, retry_at, now);
  std::vector<absl::StatusOr<bool>> results;
  for (size_t i = 0; i < outcomes.size(); ++i) {
    if (!applied.ok()) {
      results.push_back(applied.status());
      continue;
    }
    results.push_back((*applied)[i]);
    if (!(*applied)[i]) continue;
    const v1::FileOutcome& o = outcomes[i];
    if (o.state() == v1::TRANSFER_STATE_KILLED) {
      outcomes_.Inc({"killed", "CANCELED"});
      continue;
    }
    const std::string failure_class(transfer::FailureClassName(o.failure_class()));
    outcomes_.Inc({retry_at[i] ? "retry" : "failed", failure_class});
    ASO_LOG(INFO, "transfer=", o.transfer_id(), " attempt=", o.attempt(), " failed (", failure_class,
            "): ", o.error(),
            retry_at[i] ? absl::StrCat(" -> retry in ", absl::FormatDuration(*retry_at[i] - now))
                        : std::string(" -> FAILED"));
  }
  return results;
}

std::vector<absl::StatusOr<bool>> OutcomeApplier::ApplyAll(const std::vector<v1::FileOutcome>& outcomes) {
  std::vector<absl::StatusOr<bool>> results(outcomes.size(), false);
  // Failures and cancels, starts and successes: one statement each (the failures' retry budgets read first).
  std::vector<v1::FileOutcome> started, done, not_done;
  std::vector<size_t> started_index, done_index, not_done_index;
  const absl::Time now = clock_.Now();
  for (size_t i = 0; i < outcomes.size(); ++i) {
    if (outcomes[i].state() == v1::TRANSFER_STATE_ACTIVE) {
      started.push_back(outcomes[i]);
      started_index.push_back(i);
    } else if (outcomes[i].state() == v1::TRANSFER_STATE_DONE) {
      done.push_back(outcomes[i]);
      done_index.push_back(i);
    } else if (outcomes[i].state() == v1::TRANSFER_STATE_FAILED ||
               outcomes[i].state() == v1::TRANSFER_STATE_KILLED) {
      not_done.push_back(outcomes[i]);
      not_done_index.push_back(i);
    } else {
      results[i] = Apply(outcomes[i]);  // refused with the reason
    }
  }
  if (!not_done.empty()) {
    auto applied = ApplyNotDone(not_done, now);
    for (size_t k = 0; k < not_done.size(); ++k) results[not_done_index[k]] = std::move(applied[k]);
  }
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
