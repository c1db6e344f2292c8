// aso-bookkeeping: applies outcomes, decides retries, keeps attempt history and the site catalog.
#include <iostream>

#include "absl/flags/flag.h"
#include "libs/common/env_flags.h"
#include "libs/db/outcome_repository.h"
#include "libs/db/site_repository.h"
#include "libs/server/grpc_server.h"
#include "libs/server/service_runtime.h"
#include "services/bookkeeping/bookkeeping_service.h"

ABSL_FLAG(int, max_attempts, 3, "Attempts per transfer before it fails for good (env ASO_MAX_ATTEMPTS)");
ABSL_FLAG(absl::Duration, retry_delay, absl::Seconds(30),
          "Cool-off before the second attempt; doubles each attempt (env ASO_RETRY_DELAY)");
ABSL_FLAG(absl::Duration, max_retry_delay, absl::Hours(1), "Longest cool-off (env ASO_MAX_RETRY_DELAY)");

int main(int argc, char** argv) {
  aso::server::BlockTerminationSignals();
  aso::ParseFlagsWithEnv(argc, argv, "aso-bookkeeping: outcomes, retries, site catalog. Flags: --helpfull");
  auto config = aso::server::CommonConfigFromFlags("aso-bookkeeping", "0.0.0.0:50054", "0.0.0.0:9104");
  if (!config.ok()) return std::cerr << config.status().message() << "\n", 2;
  aso::bookkeeping::RetryPolicyConfig retry;
  retry.max_attempts = absl::GetFlag(FLAGS_max_attempts);
  retry.base_delay = absl::GetFlag(FLAGS_retry_delay);
  retry.max_delay = absl::GetFlag(FLAGS_max_retry_delay);
  if (retry.max_attempts < 1) return std::cerr << "--max_attempts must be at least 1\n", 2;
  auto rt = aso::server::StartRuntime(*config, "bookkeeping");
  if (!rt.ok()) return std::cerr << "aso-bookkeeping: " << rt.status().message() << "\n", 1;

  aso::db::PgOutcomeRepository outcomes(*rt->db);
  aso::db::PgSiteRepository sites(*rt->db);
  aso::bookkeeping::OutcomeApplier applier(outcomes, aso::bookkeeping::RetryPolicy(retry),
                                           aso::RealClock::Get(), *rt->metrics);
  aso::bookkeeping::BookkeepingService service(applier, sites, aso::RealClock::Get(), *rt->auth);
  return aso::server::ServeUntilSignal(*rt, "aso.bookkeeping.v1.Bookkeeping", {&service}, {});
}
