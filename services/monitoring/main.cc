// aso-monitoring: fleet-wide transfer metrics from PostgreSQL for Prometheus and asoctl.
#include <iostream>

#include "absl/flags/flag.h"
#include "libs/common/env_flags.h"
#include "libs/common/logging.h"
#include "libs/db/stats_repository.h"
#include "libs/server/grpc_server.h"
#include "libs/server/service_runtime.h"
#include "services/monitoring/fleet_stats.h"
#include "services/monitoring/monitoring_service.h"

ABSL_FLAG(absl::Duration, refresh_interval, absl::Seconds(5),
          "How often figures are recomputed (env ASO_REFRESH_INTERVAL)");
ABSL_FLAG(int, top_users, 10,
          "Users with their own aso_user_queued_files series; the others are summed (env ASO_TOP_USERS)");
ABSL_FLAG(int, link_max_active, 100,
          "The scheduler's default link ceiling, reported for links without their own (env "
          "ASO_LINK_MAX_ACTIVE)");

int main(int argc, char** argv) {
  aso::server::BlockTerminationSignals();
  aso::ParseFlagsWithEnv(argc, argv, "aso-monitoring: fleet-wide metrics. Flags: --helpfull");
  auto config = aso::server::CommonConfigFromFlags("aso-monitoring", "0.0.0.0:50055", "0.0.0.0:9105");
  if (!config.ok()) return std::cerr << config.status().message() << "\n", 2;
  auto rt = aso::server::StartRuntime(*config, "monitoring");
  if (!rt.ok()) return std::cerr << "aso-monitoring: " << rt.status().message() << "\n", 1;

  aso::db::PgStatsRepository repo(*rt->db);
  aso::monitoring::FleetStatsConfig fc;
  fc.top_users = absl::GetFlag(FLAGS_top_users);
  fc.default_link_max_active = absl::GetFlag(FLAGS_link_max_active);
  if (fc.top_users < 0 || fc.top_users > 1000 || fc.default_link_max_active < 1) {
    return std::cerr << "--top_users must be 0 to 1000 and --link_max_active positive\n", 2;
  }
  aso::monitoring::FleetStats stats(repo, *rt->metrics, fc);
  aso::monitoring::MonitoringService service(stats, *rt->auth);
  aso::PeriodicLoop loop("refresh", absl::GetFlag(FLAGS_refresh_interval), [&] {
    auto n = stats.RunOnce();
    if (!n.ok()) ASO_LOG(WARNING, "refresh failed: ", n.status().message());
    return false;
  });
  return aso::server::ServeUntilSignal(*rt, "aso.monitoring.v1.Monitoring", {&service}, {&loop});
}
