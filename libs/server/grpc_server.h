// The gRPC server of one ASO service: health checking (grpc.health.v1), server reflection, RPC metrics,
// a bounded handler thread pool, and a graceful drain on SIGTERM/SIGINT.
#ifndef ASO_LIBS_SERVER_GRPC_SERVER_H_
#define ASO_LIBS_SERVER_GRPC_SERVER_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "libs/metrics/metrics.h"

namespace aso::server {

struct ServerOptions {
  std::string service_name;  // e.g. "aso.ingest.v1.Ingest", reported by the health service
  std::string listen;        // "0.0.0.0:50051"; port 0 picks a free port
  int max_threads = 16;      // handlers that may block on the database at once
  absl::Duration drain_timeout = absl::Seconds(10);
  // TLS (see libs/auth/credentials.h); plaintext when unset.
  std::shared_ptr<grpc::ServerCredentials> credentials;
  // When set, a second, plaintext port that serves grpc.health.v1 only (for probes that cannot speak TLS,
  // such as Kubernetes' gRPC probes); it follows the main port's status.
  std::string health_listen;
  // Limits on what one caller may send: a request's size (a 10,000-file submission is ~4 MB; larger is
  // refused with RESOURCE_EXHAUSTED before it is parsed), its headers' size (a bearer token is a few KiB),
  // and the calls open at once on one connection.
  int max_message_bytes = 32 << 20;
  int max_metadata_bytes = 16 << 10;
  int max_concurrent_streams = 100;
};

class GrpcServer {
 public:
  // Starts serving `services` (not owned; they must outlive the server). UNAVAILABLE if the address
  // cannot be bound.
  static absl::StatusOr<std::unique_ptr<GrpcServer>> Start(const ServerOptions& options,
                                                           const std::vector<grpc::Service*>& services,
                                                           metrics::Metrics& metrics);
  ~GrpcServer();

  int port() const { return port_; }
  int health_port() const { return health_port_; }  // 0 without options.health_listen

  // Reports NOT_SERVING, waits up to the drain timeout for running RPCs, then stops.
  void Shutdown();

 private:
  GrpcServer() = default;
  ServerOptions options_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<grpc::Server> health_server_;
  int port_ = 0;
  int health_port_ = 0;
};

// Blocks SIGTERM and SIGINT in the calling thread and every thread it starts afterwards. Call first in
// main(), so WaitForTerminationSignal() alone receives them.
void BlockTerminationSignals();

// Waits for SIGTERM or SIGINT and returns its name.
std::string WaitForTerminationSignal();

}  // namespace aso::server

#endif  // ASO_LIBS_SERVER_GRPC_SERVER_H_
