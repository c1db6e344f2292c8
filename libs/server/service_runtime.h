// The start-up and shutdown every ASO service shares: common flags (--db, --listen, --metrics_listen,
// --log_level, with ASO_* environment fallback), the database pool with its schema check, the metrics
// endpoint, and serving until SIGTERM with a clean drain.
#ifndef ASO_LIBS_SERVER_SERVICE_RUNTIME_H_
#define ASO_LIBS_SERVER_SERVICE_RUNTIME_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "grpcpp/grpcpp.h"
#include "libs/auth/authenticator.h"
#include "libs/auth/credentials.h"
#include "libs/common/periodic_loop.h"
#include "libs/db/database.h"
#include "libs/metrics/metrics.h"

namespace aso::server {

struct CommonConfig {
  std::string program;  // "aso-ingest"
  std::string db;       // PostgreSQL DSN
  int db_pool = 8;
  std::string listen;          // gRPC address
  std::string metrics_listen;  // Prometheus endpoint address
  std::string health_listen;   // plaintext grpc.health.v1 only (Kubernetes probes); empty: none
  std::string log_level;
  int grpc_threads = 64;                  // handler threads
  int grpc_max_message_bytes = 32 << 20;  // see ServerOptions
  int grpc_max_metadata_bytes = 16 << 10;
  int grpc_max_concurrent_streams = 100;
  auth::ServerTlsConfig tls;  // --tls_cert, --tls_key, --tls_ca, --insecure, ...
  auth::AuthConfig auth;      // who may call (see libs/auth/flags.h)
};

// Reads the common flags; an unset --listen/--metrics_listen takes the service's default.
// INVALID_ARGUMENT when --db is missing, or insecure mode is asked for off loopback.
absl::StatusOr<CommonConfig> CommonConfigFromFlags(const std::string& program,
                                                   const std::string& default_listen,
                                                   const std::string& default_metrics_listen);

struct ServiceRuntime {
  std::string service;  // "ingest", ...
  absl::Time started;
  CommonConfig config;
  std::unique_ptr<db::Database> db;
  std::unique_ptr<metrics::Metrics> metrics;
  std::unique_ptr<auth::Authenticator> auth;
};

// Exports when the certificate in `pem_file` expires as aso_credential_expiry_timestamp_seconds{credential}
// (read once; a rotated certificate is seen at the next start). Logs a warning when it cannot be read.
void ExportCredentialExpiry(metrics::Metrics& metrics, const std::string& credential,
                            const std::string& pem_file);

// Loads the credentials, connects to PostgreSQL, refuses an out-of-date schema (naming the command that
// migrates it), and starts the metrics endpoint.
absl::StatusOr<ServiceRuntime> StartRuntime(const CommonConfig& config, const std::string& service);

// Serves `services` (and aso.common.v1.ServiceInfo: service, version, schema) and runs `loops` until
// SIGTERM/SIGINT, then stops the loops, drains the server and returns the process exit code (0 after a clean
// drain, 1 if the server could not start).
int ServeUntilSignal(ServiceRuntime& runtime, const std::string& grpc_service_name,
                     const std::vector<grpc::Service*>& services, const std::vector<PeriodicLoop*>& loops);

}  // namespace aso::server

#endif  // ASO_LIBS_SERVER_SERVICE_RUNTIME_H_
