// The metrics of one ASO process and the HTTP endpoint (/metrics) Prometheus scrapes. Every process has
// process_* metrics, aso_build_info and, through RpcInterceptorFactory(), aso_grpc_server_* RPC metrics.
// Thread-safe.
#ifndef ASO_LIBS_METRICS_METRICS_H_
#define ASO_LIBS_METRICS_METRICS_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "grpcpp/support/server_interceptor.h"

namespace aso::metrics {

class Metrics;

// A counter with labels. Inc() takes the label values in the order the labels were declared.
class CounterVec {
 public:
  void Inc(const std::vector<std::string>& label_values, double by = 1.0);

 private:
  friend class Metrics;
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

class GaugeVec {
 public:
  void Set(const std::vector<std::string>& label_values, double value);
  // Drops the series (it no longer appears in scrapes); for label sets that come and go, like the top users.
  void Remove(const std::vector<std::string>& label_values);

 private:
  friend class Metrics;
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

class HistogramVec {
 public:
  void Observe(const std::vector<std::string>& label_values, double value);

 private:
  friend class Metrics;
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

// Histogram buckets for file sizes in bytes: 1 kB to 100 GB, a decade apart.
inline std::vector<double> FileSizeBuckets() { return {1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11}; }

class Metrics {
 public:
  // Creates the registry for `service` (e.g. "ingest") and serves it on `listen` ("127.0.0.1:9101";
  // port 0 picks a free one). UNAVAILABLE if the address cannot be bound. An empty `listen` serves
  // nothing (for tests).
  static absl::StatusOr<std::unique_ptr<Metrics>> Start(const std::string& service,
                                                        const std::string& listen);
  ~Metrics();

  // The port the endpoint listens on (0 when not serving).
  int port() const;

  CounterVec AddCounter(const std::string& name, const std::string& help,
                        const std::vector<std::string>& labels);
  GaugeVec AddGauge(const std::string& name, const std::string& help, const std::vector<std::string>& labels);
  HistogramVec AddHistogram(const std::string& name, const std::string& help,
                            const std::vector<std::string>& labels, const std::vector<double>& buckets);

  // For grpc::ServerBuilder::experimental().SetInterceptorCreators(): counts every RPC by method and
  // status code and observes its latency.
  std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> RpcInterceptorFactory();

  // The text exposition of every metric (what /metrics answers), for tests.
  std::string Serialize() const;

  struct Impl;

 private:
  explicit Metrics(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace aso::metrics

#endif  // ASO_LIBS_METRICS_METRICS_H_
