// aso_grpc_server_handled_total and aso_grpc_server_handling_seconds, recorded by a server interceptor.
#include <chrono>

#include "absl/strings/str_cat.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/support/status_code_enum.h"
#include "libs/metrics/internal.h"

namespace aso::metrics {
namespace {

std::string CodeName(grpc::StatusCode code) {
  static const char* kNames[] = {
      "OK",        "CANCELLED",      "UNKNOWN",           "INVALID_ARGUMENT",   "DEADLINE_EXCEEDED",
      "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
      "ABORTED",   "OUT_OF_RANGE",   "UNIMPLEMENTED",     "INTERNAL",           "UNAVAILABLE",
      "DATA_LOSS", "UNAUTHENTICATED"};
  int c = static_cast<int>(code);
  return c >= 0 && c <= 16 ? kNames[c] : absl::StrCat(c);
}

class RpcMetricsInterceptor final : public grpc::experimental::Interceptor {
 public:
  RpcMetricsInterceptor(std::string method, CounterVec handled, HistogramVec latency)
      : method_(std::move(method)),
        handled_(std::move(handled)),
        latency_(std::move(latency)),
        start_(std::chrono::steady_clock::now()) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(grpc::experimental::InterceptionHookPoints::PRE_SEND_STATUS)) {
      std::string code = CodeName(methods->GetSendStatus().error_code());
      double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
      handled_.Inc({method_, code});
      latency_.Observe({method_}, seconds);
    }
    methods->Proceed();
  }

 private:
  std::string method_;
  CounterVec handled_;
  HistogramVec latency_;
  std::chrono::steady_clock::time_point start_;
};

class RpcMetricsFactory final : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  RpcMetricsFactory(CounterVec handled, HistogramVec latency)
      : handled_(std::move(handled)), latency_(std::move(latency)) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(grpc::experimental::ServerRpcInfo* info) override {
    return new RpcMetricsInterceptor(info->method(), handled_, latency_);
  }

 private:
  CounterVec handled_;
  HistogramVec latency_;
};

}  // namespace

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> Metrics::RpcInterceptorFactory() {
  auto handled =
      AddCounter("aso_grpc_server_handled_total", "RPCs completed by the server, by method and status code.",
                 {"grpc_method", "grpc_code"});
  auto latency = AddHistogram(
      "aso_grpc_server_handling_seconds", "Time from receiving an RPC to sending its status.",
      {"grpc_method"}, {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10});
  return std::make_unique<RpcMetricsFactory>(handled, latency);
}

}  // namespace aso::metrics
