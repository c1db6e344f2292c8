#include "services/bookkeeping/retry_policy.h"

#include "absl/random/random.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace aso::bookkeeping {
namespace {

aso::common::v1::FileOutcome Failure(int attempt, bool recoverable) {
  aso::common::v1::FileOutcome o;
  o.set_attempt(attempt);
  o.set_recoverable(recoverable);
  o.set_state(aso::common::v1::TRANSFER_STATE_FAILED);
  return o;
}

TEST(RetryPolicyTest, ExponentialBackoffWithoutJitter) {
  RetryPolicy policy({/*max_attempts=*/5, absl::Seconds(10), absl::Seconds(35), /*jitter=*/0});
  absl::BitGen gen;
  const absl::Time now = absl::FromUnixSeconds(1000);
  EXPECT_EQ(*policy.NextAttemptAt(Failure(1, true), now, gen), now + absl::Seconds(10));
  EXPECT_EQ(*policy.NextAttemptAt(Failure(2, true), now, gen), now + absl::Seconds(20));
  EXPECT_EQ(*policy.NextAttemptAt(Failure(3, true), now, gen), now + absl::Seconds(35));  // capped
  EXPECT_FALSE(policy.NextAttemptAt(Failure(5, true), now, gen).has_value());             // budget spent
}

TEST(RetryPolicyTest, ATasksOwnBudgetReplacesTheDefault) {
  RetryPolicy policy({/*max_attempts=*/3, absl::Seconds(10), absl::Hours(1), /*jitter=*/0});
  absl::BitGen gen;
  const absl::Time now = absl::FromUnixSeconds(1000);
  EXPECT_FALSE(policy.NextAttemptAt(Failure(1, true), now, gen, /*max_attempts=*/1).has_value());
  EXPECT_TRUE(policy.NextAttemptAt(Failure(4, true), now, gen, /*max_attempts=*/6).has_value());
  EXPECT_FALSE(policy.NextAttemptAt(Failure(3, true), now, gen).has_value());  // the default: 3
}

TEST(RetryPolicyTest, NonRecoverableFailsAtOnce) {
  RetryPolicy policy({5, absl::Seconds(10), absl::Hours(1), 0.2});
  absl::BitGen gen;
  EXPECT_FALSE(policy.NextAttemptAt(Failure(1, false), absl::Now(), gen).has_value());
}

TEST(RetryPolicyTest, JitterStaysInBounds) {
  RetryPolicy policy({5, absl::Seconds(100), absl::Hours(1), 0.2});
  absl::BitGen gen;
  const absl::Time now = absl::FromUnixSeconds(0);
  for (int i = 0; i < 200; ++i) {
    absl::Duration d = *policy.NextAttemptAt(Failure(1, true), now, gen) - now;
    EXPECT_GE(d, absl::Seconds(80));
    EXPECT_LE(d, absl::Seconds(120));
  }
}

}  // namespace
}  // namespace aso::bookkeeping
