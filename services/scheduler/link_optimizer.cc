#include "services/scheduler/link_optimizer.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_format.h"

namespace aso::scheduler {

LinkRange RangeFor(int ceiling, const OptimizerConfig& config) {
  const int high = std::max(ceiling, 1);
  return {std::clamp(config.min_active, 1, high), high};
}

int EffectiveLimit(const db::LinkLoad& link, int ceiling, const OptimizerConfig& config) {
  const LinkRange range = RangeFor(ceiling, config);
  if (link.optimized_active <= 0) return range.Middle();
  return std::clamp(link.optimized_active, range.low, range.high);
}

double SuccessUpperBound(int64_t done, int64_t finished, double z) {
  if (finished <= 0) return 1;
  const double n = static_cast<double>(finished), p = static_cast<double>(done) / n, z2 = z * z;
  const double center = (p + z2 / (2 * n)) / (1 + z2 / n);
  const double margin = z * std::sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n);
  return std::min(1.0, center + margin);
}

db::LinkDecision Decide(const db::LinkLoad& link, int ceiling, const db::LinkOutcomes& window,
                        absl::Duration window_length, const OptimizerConfig& config) {
  const LinkRange range = RangeFor(ceiling, config);
  const int current = EffectiveLimit(link, ceiling, config);
  db::LinkDecision d{link.source_site,  link.destination_site, current,
                     link.success_rate, link.throughput,       ""};
  const int64_t finished = window.done + window.failed;
  if (finished < config.min_outcomes || window_length <= absl::ZeroDuration()) {
    d.reason = "holding: nothing finished on the link since the last step";
    return d;
  }
  d.success_rate = static_cast<double>(window.done) / static_cast<double>(finished);
  const double measured = static_cast<double>(window.bytes) / absl::ToDoubleSeconds(window_length);
  const double previous = link.throughput;
  d.throughput = previous > 0
                     ? config.throughput_smoothing * measured + (1 - config.throughput_smoothing) * previous
                     : measured;
  if (SuccessUpperBound(window.done, finished, config.failure_confidence_z) < config.min_success_rate) {
    d.optimized_active =
        std::max(range.low, static_cast<int>(std::floor(current * config.shrink_on_failure)));
    d.reason = absl::StrFormat("shrinking: success rate %.1f%% < %.0f%%", 100 * d.success_rate,
                               100 * config.min_success_rate);
  } else if (link.queued_ready == 0 && link.active < current * 0.8) {
    // Less work than the limit allows: the throughput says nothing about what the link could carry.
    d.reason =
        absl::StrFormat("holding: the link does not use its limit (%d active, nothing ready)", link.active);
  } else if (previous > 0 && d.throughput < previous * config.falling &&
             finished >= config.min_outcomes_to_slow_down) {
    d.optimized_active = std::max(
        range.low, std::min(current - 1, static_cast<int>(std::floor(current * config.shrink_on_slowdown))));
    d.reason =
        absl::StrFormat("shrinking: throughput fell to %.3g B/s from %.3g B/s", d.throughput, previous);
  } else if (previous < 0 || d.throughput > previous * config.rising) {
    const int step = std::max(1, static_cast<int>(std::ceil(current * config.grow_fraction)));
    d.optimized_active = std::min(range.high, current + step);
    d.reason = previous < 0 ? absl::StrFormat("growing: success rate %.1f%%, first throughput %.3g B/s",
                                              100 * d.success_rate, d.throughput)
                            : absl::StrFormat("growing: success rate %.1f%%, throughput rose to %.3g B/s",
                                              100 * d.success_rate, d.throughput);
  } else {
    d.reason = absl::StrFormat("holding: success rate %.1f%%, throughput steady at %.3g B/s",
                               100 * d.success_rate, d.throughput);
  }
  d.optimized_active = std::clamp(d.optimized_active, range.low, range.high);
  return d;
}

}  // namespace aso::scheduler
