// When a failed attempt is tried again: only recoverable failures, at most max_attempts attempts, after
// an exponential backoff with jitter (base * 2^(attempt-1), capped, ±jitter). Pure and deterministic
// given the random generator; thread-compatible.
#ifndef ASO_SERVICES_BOOKKEEPING_RETRY_POLICY_H_
#define ASO_SERVICES_BOOKKEEPING_RETRY_POLICY_H_

#include <optional>

#include "absl/random/bit_gen_ref.h"
#include "absl/time/time.h"
#include "aso/common/v1/common.pb.h"

namespace aso::bookkeeping {

// `base` doubled `doublings` times, at most `cap`: the wait before a next try.
absl::Duration DoublingDelay(absl::Duration base, int doublings, absl::Duration cap);

struct RetryPolicyConfig {
  int max_attempts = 3;
  absl::Duration base_delay = absl::Seconds(30);
  absl::Duration max_delay = absl::Hours(1);
  double jitter = 0.2;  // fraction of the delay, both ways
};

class RetryPolicy {
 public:
  explicit RetryPolicy(RetryPolicyConfig config) : config_(config) {}

  // For a FAILED outcome: the time the next attempt may start, or nullopt when the transfer must fail.
  // `max_attempts` > 0 replaces the configured budget (a task's own).
  std::optional<absl::Time> NextAttemptAt(const aso::common::v1::FileOutcome& outcome, absl::Time now,
                                          absl::BitGenRef gen, int max_attempts = 0) const;

  const RetryPolicyConfig& config() const { return config_; }

 private:
  RetryPolicyConfig config_;
};

}  // namespace aso::bookkeeping

#endif  // ASO_SERVICES_BOOKKEEPING_RETRY_POLICY_H_
