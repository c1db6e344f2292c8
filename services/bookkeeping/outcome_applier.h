// Applies backend outcomes to the state machine with the retry policy: started -> ACTIVE; DONE; a failure
// back to QUEUED for a later attempt or FAILED for good. Thread-safe.
#ifndef ASO_SERVICES_BOOKKEEPING_OUTCOME_APPLIER_H_
#define ASO_SERVICES_BOOKKEEPING_OUTCOME_APPLIER_H_

#include <vector>

#include "absl/random/random.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "libs/common/clock.h"
#include "libs/db/outcome_repository.h"
#include "libs/metrics/metrics.h"
#include "services/bookkeeping/retry_policy.h"

namespace aso::bookkeeping {

class OutcomeApplier {
 public:
  OutcomeApplier(db::OutcomeRepository& repo, RetryPolicy policy, Clock& clock, metrics::Metrics& metrics);

  // Returns whether the outcome changed the transfer (false for a repeat or a stale attempt).
  // INVALID_ARGUMENT for an outcome that is not ACTIVE, DONE, FAILED or KILLED (cancelled).
  absl::StatusOr<bool> Apply(const aso::common::v1::FileOutcome& outcome);

  // Apply for each outcome of a report: the failures and cancels, then the starts, then the successes, each
  // kind in one statement.
  std::vector<absl::StatusOr<bool>> ApplyAll(const std::vector<aso::common::v1::FileOutcome>& outcomes);

 private:
  // FAILED and KILLED outcomes in one statement, each failure with its next attempt's time from the policy.
  std::vector<absl::StatusOr<bool>> ApplyNotDone(const std::vector<aso::common::v1::FileOutcome>& outcomes,
                                                 absl::Time now);

  db::OutcomeRepository& repo_;
  RetryPolicy policy_;
  Clock& clock_;
  absl::Mutex gen_mu_;
  absl::BitGen gen_ ABSL_GUARDED_BY(gen_mu_);
  metrics::CounterVec outcomes_;
};

}  // namespace aso::bookkeeping

#endif  // ASO_SERVICES_BOOKKEEPING_OUTCOME_APPLIER_H_
