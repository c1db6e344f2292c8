#include "services/scheduler/link_optimizer.h"

#include <algorithm>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace aso::scheduler {
namespace {

using ::testing::HasSubstr;

db::LinkLoad Link(int optimized, double throughput = -1) {
  db::LinkLoad l;
  l.source_site = "A";
  l.destination_site = "B";
  l.optimized_active = optimized;
  l.throughput = throughput;
  l.queued_ready = 1000;  // a backlog: the link has more work than its limit
  return l;
}

// A link of `capacity` concurrent copies at 10 MB/s each, failing a fraction `failing` of them: one
// window's outcomes at `concurrency`.
db::LinkOutcomes Window(int concurrency, int capacity, double failing) {
  const int useful = std::min(concurrency, capacity);
  db::LinkOutcomes o{"A", "B", 0, 0, 0};
  o.failed = static_cast<int64_t>(concurrency * failing + 0.5);
  o.done = concurrency - o.failed;
  o.bytes = static_cast<int64_t>(useful * (1 - failing)) * 50'000'000;
  return o;
}

// Runs the optimizer against the model until it settles; returns the limits it chose.
std::vector<int> Converge(int ceiling, int capacity, double failing, int start = 0) {
  OptimizerConfig config;
  db::LinkLoad link = Link(start);
  std::vector<int> seen;
  for (int step = 0; step < 40; ++step) {
    const int now = EffectiveLimit(link, ceiling, config);
    db::LinkDecision d = Decide(link, ceiling, Window(now, capacity, failing), absl::Seconds(5), config);
    link.optimized_active = d.optimized_active;
    link.throughput = d.throughput;
    link.success_rate = d.success_rate;
    seen.push_back(d.optimized_active);
  }
  return seen;
}

TEST(LinkOptimizerTest, StartsInTheMiddleOfTheRange) {
  OptimizerConfig config;
  EXPECT_EQ(EffectiveLimit(Link(0), 100, config), 51);
  EXPECT_EQ(EffectiveLimit(Link(0), 1, config), 1);
  EXPECT_EQ(EffectiveLimit(Link(500), 100, config), 100);  // a lowered ceiling applies at once
  EXPECT_EQ(RangeFor(100, config).low, 2);
}

TEST(LinkOptimizerTest, ConvergesUpOnAHealthyLink) {
  auto seen = Converge(100, 1000, 0);
  EXPECT_EQ(seen.back(), 100) << ::testing::PrintToString(seen);
  EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));
  // Faster than one step at a time: the ceiling within 6 decisions from the middle.
  EXPECT_EQ(seen[5], 100) << ::testing::PrintToString(seen);
}

TEST(LinkOptimizerTest, ConvergesDownOnAFailingLink) {
  auto seen = Converge(100, 1000, 0.2);
  EXPECT_EQ(seen.back(), 2) << ::testing::PrintToString(seen);
  EXPECT_LE(seen[4], 4) << ::testing::PrintToString(seen);
}

TEST(LinkOptimizerTest, StopsGrowingWhereTheThroughputStopsRising) {
  auto seen = Converge(100, 60, 0);
  EXPECT_GE(seen.back(), 60) << ::testing::PrintToString(seen);
  EXPECT_LT(seen.back(), 100) << ::testing::PrintToString(seen);
}

TEST(LinkOptimizerTest, ShrinksWhenTheThroughputFalls) {
  OptimizerConfig config;
  db::LinkOutcomes slow{"A", "B", 10, 0, 5'000'000};
  auto d = Decide(Link(50, 10'000'000), 100, slow, absl::Seconds(5), config);
  EXPECT_EQ(d.optimized_active, 45);
  EXPECT_THAT(d.reason, HasSubstr("throughput fell"));
}

// Without a backlog and below its limit, a link's throughput follows the demand: neither grow nor shrink on
// it (failures still shrink).
TEST(LinkOptimizerTest, HoldsWhenTheLinkDoesNotUseItsLimit) {
  OptimizerConfig config;
  db::LinkLoad idle = Link(50, 10'000'000);
  idle.queued_ready = 0;
  idle.active = 5;
  auto d = Decide(idle, 100, db::LinkOutcomes{"A", "B", 10, 0, 1'000'000}, absl::Seconds(5), config);
  EXPECT_EQ(d.optimized_active, 50);
  EXPECT_THAT(d.reason, HasSubstr("does not use its limit"));
  d = Decide(idle, 100, db::LinkOutcomes{"A", "B", 5, 5, 1'000'000}, absl::Seconds(5), config);
  EXPECT_EQ(d.optimized_active, 25);
}

TEST(LinkOptimizerTest, HoldsWithoutOutcomesAndNeverLeavesTheRange) {
  OptimizerConfig config;
  auto d = Decide(Link(30, 1e6), 100, db::LinkOutcomes{"A", "B", 0, 0, 0}, absl::Seconds(5), config);
  EXPECT_EQ(d.optimized_active, 30);
  EXPECT_THAT(d.reason, HasSubstr("holding"));
  EXPECT_EQ(d.throughput, 1e6);
  d = Decide(Link(2), 100, db::LinkOutcomes{"A", "B", 0, 10, 0}, absl::Seconds(5), config);
  EXPECT_EQ(d.optimized_active, 2);
  EXPECT_EQ(d.success_rate, 0);
  d = Decide(Link(100, 1), 100, db::LinkOutcomes{"A", "B", 10, 0, 1'000'000}, absl::Seconds(5), config);
  EXPECT_EQ(d.optimized_active, 100);
}

// A random failure or two among many copies (a few percent, as every busy link has) and one window of
// large files are noise: a backlogged link keeps its limit.
TEST(LinkOptimizerTest, NoiseDoesNotShrinkABusyLink) {
  OptimizerConfig config;
  db::LinkLoad busy = Link(40, 10'000'000);
  busy.queued_ready = 1000;
  busy.active = 40;
  auto d = Decide(busy, 100, db::LinkOutcomes{"A", "B", 29, 1, 50'000'000}, absl::Seconds(5), config);
  EXPECT_GE(d.optimized_active, 40) << d.reason;  // 1 failure in 30: not confidently below 97%
  // A window of smaller files (8 MB/s instead of 10): the smoothed throughput, 9 MB/s, holds.
  d = Decide(busy, 100, db::LinkOutcomes{"A", "B", 30, 0, 40'000'000}, absl::Seconds(5), config);
  EXPECT_EQ(d.optimized_active, 40) << d.reason;
  EXPECT_DOUBLE_EQ(d.throughput, 9'000'000);
  // Three small files in a window measure their sizes, not the link.
  d = Decide(busy, 100, db::LinkOutcomes{"A", "B", 3, 0, 3'000'000}, absl::Seconds(5), config);
  EXPECT_EQ(d.optimized_active, 40) << d.reason;
  // A link that really fails is shrunk: 5 failures in 30.
  d = Decide(busy, 100, db::LinkOutcomes{"A", "B", 25, 5, 50'000'000}, absl::Seconds(5), config);
  EXPECT_EQ(d.optimized_active, 20) << d.reason;
}

TEST(LinkOptimizerTest, SuccessUpperBound) {
  EXPECT_NEAR(SuccessUpperBound(29, 30, 1.28), 0.990, 0.002);
  EXPECT_LT(SuccessUpperBound(25, 30, 1.28), 0.97);
  EXPECT_EQ(SuccessUpperBound(0, 0, 1.28), 1);
}

}  // namespace
}  // namespace aso::scheduler
