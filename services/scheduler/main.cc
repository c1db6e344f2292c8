// aso-scheduler: decides what moves next and hands bulk jobs to aso-fts-adapter.
#include <algorithm>
#include <iostream>

#include "absl/flags/flag.h"
#include "grpcpp/grpcpp.h"
#include "libs/auth/flags.h"
#include "libs/common/env_flags.h"
#include "libs/common/logging.h"
#include "libs/db/notification_listener.h"
#include "libs/db/scheduling_repository.h"
#include "libs/server/grpc_server.h"
#include "libs/server/service_runtime.h"
#include "services/scheduler/scheduler.h"
#include "services/scheduler/scheduler_service.h"

ABSL_FLAG(std::string, adapter, "127.0.0.1:50053", "aso-fts-adapter gRPC address (env ASO_ADAPTER)");
ABSL_FLAG(int, link_max_active, 100, "Active transfers per link (env ASO_LINK_MAX_ACTIVE)");
ABSL_FLAG(int, site_max_active, 200,
          "Active transfers per site and direction unless the site sets its own (env ASO_SITE_MAX_ACTIVE)");
ABSL_FLAG(int, job_max_files, 100, "Files per bulk job (env ASO_JOB_MAX_FILES)");
ABSL_FLAG(absl::Duration, poll_interval, absl::Seconds(1),
          "Pause between idle rounds (env ASO_POLL_INTERVAL)");
ABSL_FLAG(absl::Duration, min_round_interval, absl::Milliseconds(100),
          "Shortest time between two scheduling rounds: files freed meanwhile are claimed together, in "
          "larger jobs (env ASO_MIN_ROUND_INTERVAL)");
ABSL_FLAG(absl::Duration, job_linger, absl::Seconds(1),
          "How long a partly filled job may wait for more files while its link is busy (env ASO_JOB_LINGER)");
ABSL_FLAG(bool, optimize_links, true,
          "Adapt each link's concurrency to its success rate and throughput (env ASO_OPTIMIZE_LINKS)");
ABSL_FLAG(int, link_min_active, 2, "Lowest adaptive limit of a link (env ASO_LINK_MIN_ACTIVE)");
ABSL_FLAG(absl::Duration, optimizer_interval, absl::Seconds(5),
          "How often the link optimizer decides (env ASO_OPTIMIZER_INTERVAL)");
ABSL_FLAG(std::string, backend, "fts", "Name of the transfer backend behind the adapter (env ASO_BACKEND)");
ABSL_FLAG(int, backend_max_active, 0,
          "Files in flight through the backend at most, unless set with asoctl; 0 = unlimited "
          "(env ASO_BACKEND_MAX_ACTIVE)");
ABSL_FLAG(absl::Duration, max_backoff, absl::Seconds(30),
          "Longest pause after a failed round or an unreachable adapter (env ASO_MAX_BACKOFF)");
ABSL_FLAG(bool, user_credentials, false,
          "Move files with their owners' delegated credentials at every site whose credentials are 'default' "
          "(asoctl sites set --site_credentials): hold the queued files of a user whose credential is "
          "missing or expires within --credential_min_remaining (env ASO_USER_CREDENTIALS)");
ABSL_FLAG(absl::Duration, credential_min_remaining, absl::Hours(1),
          "Where files move with their owners' credentials: the least lifetime a user's credential must have "
          "left for their files to be "
          "dispatched (FTS3 refuses a delegation with less than 1 h) (env ASO_CREDENTIAL_MIN_REMAINING)");

int main(int argc, char** argv) {
  aso::server::BlockTerminationSignals();
  aso::ParseFlagsWithEnv(argc, argv, "aso-scheduler: throttles and dispatches transfers. Flags: --helpfull");
  auto config = aso::server::CommonConfigFromFlags("aso-scheduler", "0.0.0.0:50052", "0.0.0.0:9102");
  if (!config.ok()) return std::cerr << config.status().message() << "\n", 2;
  aso::scheduler::SchedulerConfig sc;
  sc.link_max_active = absl::GetFlag(FLAGS_link_max_active);
  sc.default_site_max_active = absl::GetFlag(FLAGS_site_max_active);
  sc.job_limits.max_files = absl::GetFlag(FLAGS_job_max_files);
  sc.job_limits.linger = absl::GetFlag(FLAGS_job_linger);
  sc.optimize = absl::GetFlag(FLAGS_optimize_links);
  sc.optimizer.min_active = absl::GetFlag(FLAGS_link_min_active);
  sc.optimizer_interval = absl::GetFlag(FLAGS_optimizer_interval);
  sc.backend = absl::GetFlag(FLAGS_backend);
  sc.backend_max_active = absl::GetFlag(FLAGS_backend_max_active);
  sc.max_backoff = std::max(absl::GetFlag(FLAGS_max_backoff), sc.min_backoff);
  sc.user_credentials = absl::GetFlag(FLAGS_user_credentials);
  sc.credential_min_remaining = absl::GetFlag(FLAGS_credential_min_remaining);
  if (sc.link_max_active < 1 || sc.default_site_max_active < 1 || sc.job_limits.max_files < 1 ||
      sc.optimizer.min_active < 1) {
    std::cerr
        << "--link_max_active, --site_max_active, --job_max_files and --link_min_active must be positive\n";
    return 2;
  }
  if (sc.backend_max_active < 0 || sc.backend.empty() || sc.optimizer_interval <= absl::ZeroDuration() ||
      sc.job_limits.linger < absl::ZeroDuration()) {
    std::cerr << "--backend must be set, --backend_max_active >= 0, --optimizer_interval > 0, "
                 "--job_linger >= 0\n";
    return 2;
  }
  auto rt = aso::server::StartRuntime(*config, "scheduler");
  if (!rt.ok()) return std::cerr << "aso-scheduler: " << rt.status().message() << "\n", 1;

  aso::db::PgSchedulingRepository repo(*rt->db);
  auto client_auth = aso::auth::ClientAuthFromFlags(/*discover=*/false, "aso-service");
  if (!client_auth.ok()) return std::cerr << "aso-scheduler: " << client_auth.status().message() << "\n", 1;
  auto adapter =
      aso::scheduler::MakeGrpcAdapterStub(*client_auth, absl::GetFlag(FLAGS_adapter), absl::Seconds(10));
  aso::scheduler::Scheduler scheduler(repo, *adapter, aso::RealClock::Get(), sc, *rt->metrics);
  aso::scheduler::SchedulerService service(repo, aso::RealClock::Get(), sc, *rt->auth);
  aso::PeriodicLoop loop("schedule", absl::GetFlag(FLAGS_poll_interval), [&] {
    auto n = scheduler.RunOnce();
    if (!n.ok()) ASO_LOG(WARNING, "scheduling round failed: ", n.status().message());
    return n.ok() && *n > 0;
  });
  loop.set_min_spacing(absl::GetFlag(FLAGS_min_round_interval));
  // New or re-queued transfers and freed slots wake the loop at once; polling remains the fallback.
  aso::db::NotificationListener wake(config->db, {aso::db::kTransfersQueuedChannel},
                                     [&loop](const std::string&) { loop.Wake(); });
  wake.Start();
  int rc = aso::server::ServeUntilSignal(*rt, "aso.scheduler.v1.Scheduler", {&service}, {&loop});
  wake.Stop();
  return rc;
}
