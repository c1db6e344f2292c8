// Adaptive concurrency per link, after FTS3's optimizer but deciding every few seconds from what finished
// on the link since the last step: start in the middle of the allowed range; grow while the success rate
// stays >= 97% and the link's throughput rises; shrink fast on failures and gently when the throughput
// falls; hold otherwise, and whenever the link has less work than its limit (then its throughput measures
// the demand, not the link). Never leaves [min_active, the link's ceiling]. Pure logic: the scheduler feeds
// it the outcomes it reads and stores its decisions (table links), so every replica applies the same limit.
#ifndef ASO_SERVICES_SCHEDULER_LINK_OPTIMIZER_H_
#define ASO_SERVICES_SCHEDULER_LINK_OPTIMIZER_H_

#include "absl/time/time.h"
#include "libs/db/scheduling_repository.h"

namespace aso::scheduler {

struct OptimizerConfig {
  int min_active = 2;               // lower end of every link's range
  double min_success_rate = 0.97;   // below: shrink
  double grow_fraction = 0.15;      // of the current value, at least 1, per step while healthy and rising
  double shrink_on_failure = 0.5;   // multiplier when the success rate is too low
  double shrink_on_slowdown = 0.9;  // multiplier when the throughput falls
  double rising = 1.02;             // throughput above previous * rising counts as rising
  double falling = 0.85;            // below previous * falling counts as falling
  int min_outcomes = 1;             // finished attempts in a window needed to decide anything
  // Failures shrink a link only when its success rate is below min_success_rate with this confidence (the
  // upper end of a one-sided Wilson interval, z): one failure among a few copies is not a failing link.
  double failure_confidence_z = 1.28;  // 90%
  // The throughput compared from window to window is smoothed (exponential moving average with this
  // weight for the newest window), so the sizes of the few files that finished in a window do not make it
  // look like the link slowed down.
  double throughput_smoothing = 0.5;
  // A fall of the throughput shrinks a link only when the window holds this many finished copies: over a
  // handful of files it measures their sizes, not the link.
  int min_outcomes_to_slow_down = 10;
};

// The upper end of the one-sided Wilson score interval of a success rate of `done` out of `finished`.
double SuccessUpperBound(int64_t done, int64_t finished, double z);

// The range of a link: [min(min_active, ceiling), ceiling].
struct LinkRange {
  int low = 1;
  int high = 1;
  int Middle() const { return (low + high + 1) / 2; }
};
LinkRange RangeFor(int ceiling, const OptimizerConfig& config);

// The limit in force on a link: the stored decision clamped to the range, the middle before any.
int EffectiveLimit(const db::LinkLoad& link, int ceiling, const OptimizerConfig& config);

// One step for one link. `link` holds the limit in force and the previous window's throughput;
// `window` what finished since, over `window_length`.
db::LinkDecision Decide(const db::LinkLoad& link, int ceiling, const db::LinkOutcomes& window,
                        absl::Duration window_length, const OptimizerConfig& config);

}  // namespace aso::scheduler

#endif  // ASO_SERVICES_SCHEDULER_LINK_OPTIMIZER_H_
