// Private to libs/metrics: the prometheus-cpp objects behind the public wrappers.
#ifndef ASO_LIBS_METRICS_INTERNAL_H_
#define ASO_LIBS_METRICS_INTERNAL_H_

#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "libs/metrics/metrics.h"

namespace aso::metrics {

std::map<std::string, std::string> ZipLabels(const std::vector<std::string>& names,
                                             const std::vector<std::string>& values);

struct CounterVec::Impl {
  prometheus::Family<prometheus::Counter>* family;
  std::vector<std::string> labels;
};
struct GaugeVec::Impl {
  prometheus::Family<prometheus::Gauge>* family;
  std::vector<std::string> labels;
};
struct HistogramVec::Impl {
  prometheus::Family<prometheus::Histogram>* family;
  std::vector<std::string> labels;
  std::vector<double> buckets;
};

struct Metrics::Impl {
  std::string service;
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  std::shared_ptr<prometheus::Collectable> process;  // process_* metrics
  std::unique_ptr<prometheus::Exposer> exposer;
};

// process_cpu_seconds_total, process_resident_memory_bytes, process_start_time_seconds, ... from /proc.
std::shared_ptr<prometheus::Collectable> MakeProcessCollector();

}  // namespace aso::metrics

#endif  // ASO_LIBS_METRICS_INTERNAL_H_
