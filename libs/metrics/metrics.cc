#include "libs/metrics/metrics.h"

#include <prometheus/text_serializer.h>

#include "absl/strings/str_cat.h"
#include "libs/metrics/internal.h"

namespace aso::metrics {

std::map<std::string, std::string> ZipLabels(const std::vector<std::string>& names,
                                             const std::vector<std::string>& values) {
  std::map<std::string, std::string> out;
  for (size_t i = 0; i < names.size() && i < values.size(); ++i) out[names[i]] = values[i];
  return out;
}

void CounterVec::Inc(const std::vector<std::string>& label_values, double by) {
  impl_->family->Add(ZipLabels(impl_->labels, label_values)).Increment(by);
}

void GaugeVec::Set(const std::vector<std::string>& label_values, double value) {
  impl_->family->Add(ZipLabels(impl_->labels, label_values)).Set(value);
}

void GaugeVec::Remove(const std::vector<std::string>& label_values) {
  const auto labels = ZipLabels(impl_->labels, label_values);
  if (impl_->family->Has(labels)) impl_->family->Remove(&impl_->family->Add(labels));
}

void HistogramVec::Observe(const std::vector<std::string>& label_values, double value) {
  impl_->family->Add(ZipLabels(impl_->labels, label_values), impl_->buckets).Observe(value);
}

Metrics::Metrics(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Metrics::~Metrics() = default;

absl::StatusOr<std::unique_ptr<Metrics>> Metrics::Start(const std::string& service,
                                                        const std::string& listen) {
  auto impl = std::make_unique<Impl>();
  impl->service = service;
  impl->process = MakeProcessCollector();
  if (!listen.empty()) {
    try {
      impl->exposer = std::make_unique<prometheus::Exposer>(listen, 2);
    } catch (const std::exception& e) {
      return absl::UnavailableError(absl::StrCat("cannot serve metrics on ", listen, ": ", e.what()));
    }
    impl->exposer->RegisterCollectable(impl->registry);
    impl->exposer->RegisterCollectable(impl->process);
  }
  auto m = std::unique_ptr<Metrics>(new Metrics(std::move(impl)));
  m->AddGauge("aso_build_info", "ASO build: version and commit; always 1.", {"service", "version", "commit"})
      .Set({service, ASO_VERSION, ASO_GIT_COMMIT}, 1);
  return m;
}

int Metrics::port() const {
  if (!impl_->exposer) return 0;
  auto ports = impl_->exposer->GetListeningPorts();
  return ports.empty() ? 0 : ports.front();
}

CounterVec Metrics::AddCounter(const std::string& name, const std::string& help,
                               const std::vector<std::string>& labels) {
  CounterVec v;
  v.impl_ = std::make_shared<CounterVec::Impl>();
  v.impl_->family = &prometheus::BuildCounter().Name(name).Help(help).Register(*impl_->registry);
  v.impl_->labels = labels;
  return v;
}

GaugeVec Metrics::AddGauge(const std::string& name, const std::string& help,
                           const std::vector<std::string>& labels) {
  GaugeVec v;
  v.impl_ = std::make_shared<GaugeVec::Impl>();
  v.impl_->family = &prometheus::BuildGauge().Name(name).Help(help).Register(*impl_->registry);
  v.impl_->labels = labels;
  return v;
}

HistogramVec Metrics::AddHistogram(const std::string& name, const std::string& help,
                                   const std::vector<std::string>& labels,
                                   const std::vector<double>& buckets) {
  HistogramVec v;
  v.impl_ = std::make_shared<HistogramVec::Impl>();
  v.impl_->family = &prometheus::BuildHistogram().Name(name).Help(help).Register(*impl_->registry);
  v.impl_->labels = labels;
  v.impl_->buckets = buckets;
  return v;
}

std::string Metrics::Serialize() const {
  auto families = impl_->registry->Collect();
  auto process = impl_->process->Collect();
  families.insert(families.end(), process.begin(), process.end());
  return prometheus::TextSerializer().Serialize(families);
}

}  // namespace aso::metrics
