#include "services/bookkeeping/retry_policy.h"

#include <algorithm>

#include "absl/random/distributions.h"

namespace aso::bookkeeping {

absl::Duration DoublingDelay(absl::Duration base, int doublings, absl::Duration cap) {
  absl::Duration delay = base;
  for (int i = 0; i < doublings && delay < cap; ++i) delay *= 2;
  return std::min(delay, cap);
}

std::optional<absl::Time> RetryPolicy::NextAttemptAt(const aso::common::v1::FileOutcome& outcome,
                                                     absl::Time now, absl::BitGenRef gen,
                                                     int max_attempts) const {
  const int budget = max_attempts > 0 ? max_attempts : config_.max_attempts;
  if (!outcome.recoverable() || outcome.attempt() >= budget) return std::nullopt;
  absl::Duration delay = DoublingDelay(config_.base_delay, outcome.attempt() - 1, config_.max_delay);
  if (config_.jitter > 0) {
    delay *= absl::Uniform(gen, 1.0 - config_.jitter, 1.0 + config_.jitter);
  }
  return now + delay;
}

}  // namespace aso::bookkeeping
