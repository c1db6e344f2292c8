// aso-fts-adapter: runs bulk jobs on the transfer backend (gfal2 in-process) and reports outcomes.
#include <unistd.h>

#include <iostream>
#include <memory>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/grpcpp.h"
#include "libs/auth/flags.h"
#include "libs/backend/gfal2_copier.h"
#include "libs/common/env_flags.h"
#include "libs/common/logging.h"
#include "libs/db/backend_job_repository.h"
#include "libs/db/notification_listener.h"
#include "libs/server/grpc_server.h"
#include "libs/server/service_runtime.h"
#include "services/fts_adapter/adapter_service.h"
#include "services/fts_adapter/copy_worker.h"
#include "services/fts_adapter/outcome_reporter.h"

ABSL_FLAG(std::string, bookkeeping, "127.0.0.1:50054", "aso-bookkeeping gRPC address (env ASO_BOOKKEEPING)");
ABSL_FLAG(std::string, backend, "gfal2", "Transfer backend: gfal2 (env ASO_BACKEND)");
ABSL_FLAG(int, copy_workers, 8, "Copies in flight at once (env ASO_COPY_WORKERS)");
ABSL_FLAG(absl::Duration, copy_timeout, absl::Minutes(10), "Timeout of one copy (env ASO_COPY_TIMEOUT)");
ABSL_FLAG(std::vector<std::string>, gfal2_settings, {},
          "Extra gfal2 settings, comma-separated GROUP:KEY=VALUE (env ASO_GFAL2_SETTINGS)");

int main(int argc, char** argv) {
  aso::server::BlockTerminationSignals();
  aso::ParseFlagsWithEnv(argc, argv, "aso-fts-adapter: runs transfers on the backend. Flags: --helpfull");
  auto config = aso::server::CommonConfigFromFlags("aso-fts-adapter", "0.0.0.0:50053", "0.0.0.0:9103");
  if (!config.ok()) return std::cerr << config.status().message() << "\n", 2;
  if (absl::GetFlag(FLAGS_backend) != "gfal2") {
    std::cerr << "--backend: only gfal2 is available in this build\n";
    return 2;
  }
  const int workers = absl::GetFlag(FLAGS_copy_workers);
  if (workers < 1 || workers > 256) return std::cerr << "--copy_workers must be 1..256\n", 2;
  auto rt = aso::server::StartRuntime(*config, "fts-adapter");
  if (!rt.ok()) return std::cerr << "aso-fts-adapter: " << rt.status().message() << "\n", 1;

  aso::db::PgBackendJobRepository jobs(*rt->db);
  aso::fts_adapter::AdapterService service(jobs, aso::RealClock::Get(), "gfal2", *rt->auth);
  auto client_auth = aso::auth::ClientAuthFromFlags(/*discover=*/false, "aso-service");
  if (!client_auth.ok()) return std::cerr << "aso-fts-adapter: " << client_auth.status().message() << "\n", 1;
  auto bookkeeping = aso::fts_adapter::MakeGrpcBookkeepingStub(*client_auth, absl::GetFlag(FLAGS_bookkeeping),
                                                               absl::Seconds(10));
  aso::fts_adapter::OutcomeReporter reporter(jobs, *bookkeeping);

  aso::backend::Gfal2Options gfal2;
  gfal2.settings = absl::GetFlag(FLAGS_gfal2_settings);
  char host[256] = {0};
  gethostname(host, sizeof(host) - 1);
  std::vector<std::unique_ptr<aso::fts_adapter::CopyWorker>> copy_workers;
  std::vector<std::unique_ptr<aso::PeriodicLoop>> loops;
  // The reporter is woken by every finished copy, so outcomes reach bookkeeping at once.
  aso::PeriodicLoop report_loop("report", absl::Seconds(1), [&] {
    auto n = reporter.RunOnce();
    if (!n.ok()) ASO_LOG(WARNING, "reporting outcomes: ", n.status().message());
    return n.ok() && *n > 0;
  });
  for (int i = 0; i < workers; ++i) {
    auto copier = aso::backend::NewGfal2Copier(gfal2);
    if (!copier.ok()) return std::cerr << copier.status().message() << "\n", 2;
    aso::fts_adapter::CopyWorkerConfig wc;
    wc.owner = absl::StrCat(host, "/", getpid(), "/", i);
    wc.copy_timeout = absl::GetFlag(FLAGS_copy_timeout);
    copy_workers.push_back(std::make_unique<aso::fts_adapter::CopyWorker>(
        jobs, std::move(*copier), aso::RealClock::Get(), wc, *rt->metrics));
    auto* worker = copy_workers.back().get();
    loops.push_back(std::make_unique<aso::PeriodicLoop>(
        absl::StrCat("copy-", i), absl::Seconds(1), [worker, &report_loop] {
          auto did = worker->RunOnce();
          if (!did.ok()) ASO_LOG(WARNING, "copy worker: ", did.status().message());
          if (did.ok() && *did) report_loop.Wake();
          return did.ok() && *did;
        }));
  }
  std::vector<aso::PeriodicLoop*> raw;
  for (auto& l : loops) raw.push_back(l.get());
  raw.push_back(&report_loop);
  // Newly accepted jobs wake the copy workers at once; polling remains the fallback.
  aso::db::NotificationListener wake(config->db, {aso::db::kBackendJobsChannel},
                                     [&loops](const std::string&) {
                                       for (auto& l : loops) l->Wake();
                                     });
  wake.Start();
  int rc = aso::server::ServeUntilSignal(*rt, "aso.fts_adapter.v1.FtsAdapter", {&service}, raw);
  wake.Stop();
  return rc;
}
