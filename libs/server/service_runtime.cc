#include "libs/server/service_runtime.h"

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "aso/common/v1/common.grpc.pb.h"
#include "libs/auth/flags.h"
#include "libs/common/logging.h"
#include "libs/db/migrations.h"
#include "libs/server/grpc_server.h"
#include "libs/server/grpc_status.h"

ABSL_FLAG(std::string, db, "",
          "PostgreSQL connection string, e.g. postgresql://aso@db:5432/aso (env ASO_DB)");
ABSL_FLAG(int, db_pool, 8, "PostgreSQL connections in the pool (env ASO_DB_POOL)");
ABSL_FLAG(std::string, listen, "", "gRPC listen address host:port (env ASO_LISTEN)");
ABSL_FLAG(std::string, metrics_listen, "",
          "Prometheus /metrics listen address host:port (env ASO_METRICS_LISTEN)");
ABSL_FLAG(
    std::string, health_listen, "",
    "Also serve grpc.health.v1 alone, in plaintext, on this host:port, for probes that cannot speak TLS "
    "such as Kubernetes' gRPC probes; empty: no such port (env ASO_HEALTH_LISTEN)");
ABSL_FLAG(std::string, log_level, "info", "debug, info, warning or error (env ASO_LOG_LEVEL)");
ABSL_FLAG(int, grpc_threads, 64,
          "gRPC handler threads; a WatchTask stream holds one for its lifetime (env ASO_GRPC_THREADS)");

ABSL_FLAG(int, grpc_max_message_bytes, 32 << 20,
          "Largest request or answer, in bytes; a larger request is refused with RESOURCE_EXHAUSTED "
          "(env ASO_GRPC_MAX_MESSAGE_BYTES)");
ABSL_FLAG(int, grpc_max_metadata_bytes, 16 << 10,
          "Largest request headers (metadata, bearer token included), in bytes "
          "(env ASO_GRPC_MAX_METADATA_BYTES)");
ABSL_FLAG(int, grpc_max_concurrent_streams, 100,
          "Calls one client connection may have open at once (env ASO_GRPC_MAX_CONCURRENT_STREAMS)");

namespace aso::server {

absl::StatusOr<CommonConfig> CommonConfigFromFlags(const std::string& program,
                                                   const std::string& default_listen,
                                                   const std::string& default_metrics_listen) {
  CommonConfig c;
  c.program = program;
  c.db = absl::GetFlag(FLAGS_db);
  c.db_pool = absl::GetFlag(FLAGS_db_pool);
  c.listen = absl::GetFlag(FLAGS_listen);
  c.metrics_listen = absl::GetFlag(FLAGS_metrics_listen);
  c.health_listen = absl::GetFlag(FLAGS_health_listen);
  c.log_level = absl::GetFlag(FLAGS_log_level);
  c.grpc_threads = absl::GetFlag(FLAGS_grpc_threads);
  if (c.grpc_threads < 4 || c.grpc_threads > 4096)
    return absl::InvalidArgumentError("--grpc_threads must be 4..4096");
  c.grpc_max_message_bytes = absl::GetFlag(FLAGS_grpc_max_message_bytes);
  c.grpc_max_metadata_bytes = absl::GetFlag(FLAGS_grpc_max_metadata_bytes);
  c.grpc_max_concurrent_streams = absl::GetFlag(FLAGS_grpc_max_concurrent_streams);
  if (c.grpc_max_message_bytes < (64 << 10)) {
    return absl::InvalidArgumentError("--grpc_max_message_bytes must be at least 65536");
  }
  if (c.grpc_max_metadata_bytes < (4 << 10)) {
    return absl::InvalidArgumentError("--grpc_max_metadata_bytes must be at least 4096");
  }
  if (c.grpc_max_concurrent_streams < 1) {
    return absl::InvalidArgumentError("--grpc_max_concurrent_streams must be at least 1");
  }
  if (c.listen.empty()) c.listen = default_listen;
  if (c.metrics_listen.empty()) c.metrics_listen = default_metrics_listen;
  if (c.db.empty()) return absl::InvalidArgumentError("--db (or $ASO_DB) is required");
  if (c.db_pool < 1 || c.db_pool > 256) return absl::InvalidArgumentError("--db_pool must be 1..256");
  c.tls = auth::ServerTlsConfigFromFlags();
  auto auth = auth::AuthConfigFromFlags();
  if (!auth.ok()) return auth.status();
  c.auth = std::move(*auth);
  if (c.tls.insecure && !auth::IsLoopbackAddress(c.listen)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--insecure is for development on loopback only; refusing to "
                     "serve plaintext on ",
                     c.listen));
  }
  return c;
}

void ExportCredentialExpiry(metrics::Metrics& metrics, const std::string& credential,
                            const std::string& pem_file) {
  auto not_after = auth::CertificateNotAfter(pem_file);
  if (!not_after.ok()) {
    ASO_LOG(WARNING, "expiry of the ", credential,
            " credential not exported: ", not_after.status().message());
    return;
  }
  metrics
      .AddGauge("aso_credential_expiry_timestamp_seconds",
                "When a credential the process holds stops being valid (Unix time).", {"credential"})
      .Set({credential}, absl::ToDoubleSeconds(*not_after - absl::UnixEpoch()));
}

absl::StatusOr<ServiceRuntime> StartRuntime(const CommonConfig& config, const std::string& service) {
  InitLogging(config.program, config.log_level);
  ServiceRuntime rt;
  rt.service = service;
  rt.started = absl::Now();
  rt.config = config;
  auto authenticator = auth::Authenticator::Create(config.auth);
  if (!authenticator.ok()) return authenticator.status();
  rt.auth = std::move(*authenticator);
  auto db = db::Database::Connect(config.db, config.db_pool);
  if (!db.ok()) return db.status();
  rt.db = std::move(*db);
  if (absl::Status s = db::CheckSchema(*rt.db); !s.ok()) return s;
  auto metrics = metrics::Metrics::Start(service, config.metrics_listen);
  if (!metrics.ok()) return metrics.status();
  rt.metrics = std::move(*metrics);
  if (!config.tls.insecure && !config.tls.cert_file.empty()) {
    ExportCredentialExpiry(*rt.metrics, "server_tls", config.tls.cert_file);
  }
  return rt;
}

namespace {

// What runs here, for asoctl health. Open to any caller, like grpc.health.v1.
class ServiceInfoService final : public aso::common::v1::ServiceInfo::Service {
 public:
  explicit ServiceInfoService(ServiceRuntime& runtime) : runtime_(runtime) {}
  grpc::Status GetServiceInfo(grpc::ServerContext*, const aso::common::v1::GetServiceInfoRequest*,
                              aso::common::v1::ServiceInfoResponse* response) override {
    response->set_service(runtime_.service);
    response->set_version(ASO_VERSION);
    response->set_commit(ASO_GIT_COMMIT);
    auto schema = db::CurrentSchemaVersion(*runtime_.db);
    if (!schema.ok()) return ToGrpcStatus(schema.status());
    response->set_schema_version(*schema);
    response->mutable_started()->set_seconds(absl::ToUnixSeconds(runtime_.started));
    return grpc::Status::OK;
  }

 private:
  ServiceRuntime& runtime_;
};

}  // namespace

int ServeUntilSignal(ServiceRuntime& runtime, const std::string& grpc_service_name,
                     const std::vector<grpc::Service*>& services, const std::vector<PeriodicLoop*>& loops) {
  ServiceInfoService info(runtime);
  std::vector<grpc::Service*> all = services;
  all.push_back(&info);
  ServerOptions options;
  options.service_name = grpc_service_name;
  options.listen = runtime.config.listen;
  options.max_threads = runtime.config.grpc_threads;
  options.health_listen = runtime.config.health_listen;
  options.max_message_bytes = runtime.config.grpc_max_message_bytes;
  options.max_metadata_bytes = runtime.config.grpc_max_metadata_bytes;
  options.max_concurrent_streams = runtime.config.grpc_max_concurrent_streams;
  auto credentials = auth::MakeServerCredentials(runtime.config.tls, options.listen);
  if (!credentials.ok()) {
    ASO_LOG(ERROR, credentials.status().message());
    return 1;
  }
  options.credentials = *credentials;
  auto server = GrpcServer::Start(options, all, *runtime.metrics);
  if (!server.ok()) {
    ASO_LOG(ERROR, server.status().message());
    return 1;
  }
  for (PeriodicLoop* loop : loops) loop->Start();
  ASO_LOG(INFO, "serving ", grpc_service_name, " on port ", (*server)->port(), ", metrics on port ",
          runtime.metrics->port(), ", database ", runtime.db->Describe());
  std::string signal = WaitForTerminationSignal();
  ASO_LOG(INFO, signal, " received: draining");
  (*server)->Shutdown();
  for (PeriodicLoop* loop : loops) loop->Stop();
  ASO_LOG(INFO, "stopped cleanly");
  return 0;
}

}  // namespace aso::server
