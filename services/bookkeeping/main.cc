// aso-bookkeeping: applies outcomes, decides retries, keeps attempt history and the site catalog, and
// deletes the temporary sources of files staged out (through the adapter).
#include <iostream>

#include "absl/flags/flag.h"
#include "libs/auth/flags.h"
#include "libs/common/env_flags.h"
#include "libs/common/logging.h"
#include "libs/common/periodic_loop.h"
#include "libs/db/cleanup_repository.h"
#include "libs/db/outcome_repository.h"
#include "libs/db/publication_repository.h"
#include "libs/db/retention_repository.h"
#include "libs/db/site_repository.h"
#include "libs/server/grpc_server.h"
#include "libs/server/service_runtime.h"
#include "services/bookkeeping/bookkeeping_service.h"
#include "services/bookkeeping/publisher.h"
#include "services/bookkeeping/source_cleaner.h"
#include "services/bookkeeping/storage_stub.h"

ABSL_FLAG(int, max_attempts, 3, "Attempts per transfer before it fails for good (env ASO_MAX_ATTEMPTS)");
ABSL_FLAG(absl::Duration, retry_delay, absl::Seconds(30),
          "Cool-off before the second attempt; doubles each attempt (env ASO_RETRY_DELAY)");
ABSL_FLAG(absl::Duration, max_retry_delay, absl::Hours(1), "Longest cool-off (env ASO_MAX_RETRY_DELAY)");
ABSL_FLAG(std::string, publish_webhook, "",
          "URL of an external catalog: each published file is POSTed there as JSON, with retries (env "
          "ASO_PUBLISH_WEBHOOK)");
ABSL_FLAG(int, block_max_files, 100, "A dataset block closes with this many files (env ASO_BLOCK_MAX_FILES)");
ABSL_FLAG(absl::Duration, block_idle, absl::Hours(1),
          "A dataset block closes when nothing was added for this long (env ASO_BLOCK_IDLE)");
ABSL_FLAG(
    absl::Duration, publish_hold, absl::Minutes(5),
    "How long announcements a replica takes for delivery are held from the others: those a replica took "
    "and did not record (it died) are sent again after this (env ASO_PUBLISH_HOLD)");
ABSL_FLAG(absl::Duration, publish_interval, absl::Seconds(2),
          "Pause between publication rounds when nothing is pending (env ASO_PUBLISH_INTERVAL)");
ABSL_FLAG(absl::Duration, retention, absl::Hours(24 * 30),
          "Finished files older than this move to the archive tables; 0 keeps them in place (env "
          "ASO_RETENTION)");
ABSL_FLAG(absl::Duration, retention_interval, absl::Minutes(10),
          "How often the retention job looks for files to archive (env ASO_RETENTION_INTERVAL)");
ABSL_FLAG(std::string, adapter, "127.0.0.1:50053",
          "aso-fts-adapter gRPC address, through which sources are deleted (env ASO_ADAPTER)");
ABSL_FLAG(absl::Duration, cleanup_hold, absl::Minutes(5),
          "How long sources a replica takes for deletion are held from the others; also how long they wait "
          "when the fts-adapter cannot be reached (env ASO_CLEANUP_HOLD)");
ABSL_FLAG(absl::Duration, cleanup_interval, absl::Seconds(5),
          "Pause between source-cleanup rounds when nothing is due (env ASO_CLEANUP_INTERVAL)");
ABSL_FLAG(int, cleanup_max_attempts, 5,
          "Deletions of one source tried before its cleanup fails (env ASO_CLEANUP_MAX_ATTEMPTS)");
ABSL_FLAG(absl::Duration, cleanup_retry_delay, absl::Minutes(1),
          "Wait before a source deletion is tried again; doubles each try (env ASO_CLEANUP_RETRY_DELAY)");

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
  aso::bookkeeping::SourceCleanerConfig cleanup;
  cleanup.hold = absl::GetFlag(FLAGS_cleanup_hold);
  if (cleanup.hold < absl::Seconds(1)) return std::cerr << "--cleanup_hold must be at least 1s\n", 2;
  cleanup.max_attempts = absl::GetFlag(FLAGS_cleanup_max_attempts);
  cleanup.retry_delay = absl::GetFlag(FLAGS_cleanup_retry_delay);
  if (cleanup.max_attempts < 1 || cleanup.retry_delay <= absl::ZeroDuration()) {
    return std::cerr << "--cleanup_max_attempts must be at least 1 and --cleanup_retry_delay positive\n", 2;
  }
  auto rt = aso::server::StartRuntime(*config, "bookkeeping");
  if (!rt.ok()) return std::cerr << "aso-bookkeeping: " << rt.status().message() << "\n", 1;

  aso::db::PgOutcomeRepository outcomes(*rt->db);
  aso::db::PgSiteRepository sites(*rt->db);
  aso::bookkeeping::OutcomeApplier applier(outcomes, aso::bookkeeping::RetryPolicy(retry),
                                           aso::RealClock::Get(), *rt->metrics);
  aso::db::PgPublicationRepository catalog(*rt->db);
  aso::bookkeeping::BookkeepingService service(applier, sites, catalog, aso::RealClock::Get(), *rt->auth);

  aso::bookkeeping::PublisherConfig pc;
  pc.block_max_files = absl::GetFlag(FLAGS_block_max_files);
  pc.block_idle = absl::GetFlag(FLAGS_block_idle);
  pc.hold = absl::GetFlag(FLAGS_publish_hold);
  if (pc.hold < absl::Seconds(1)) return std::cerr << "--publish_hold must be at least 1s\n", 2;
  if (pc.block_max_files < 1) return std::cerr << "--block_max_files must be at least 1\n", 2;
  std::unique_ptr<aso::bookkeeping::ExternalCatalog> external;
  if (const std::string url = absl::GetFlag(FLAGS_publish_webhook); !url.empty()) {
    if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0) {
      return std::cerr << "--publish_webhook must be an http(s):// URL\n", 2;
    }
    external = aso::bookkeeping::NewWebhookCatalog(url, "", absl::Seconds(30));
  }
  aso::bookkeeping::Publisher publisher(catalog, external.get(), aso::RealClock::Get(), pc, *rt->metrics);
  aso::PeriodicLoop publish_loop("publish", absl::GetFlag(FLAGS_publish_interval), [&publisher] {
    auto n = publisher.RunOnce();
    if (!n.ok()) ASO_LOG(WARNING, "publication: ", n.status().message());
    return n.ok() && *n > 0;
  });

  auto client_auth = aso::auth::ClientAuthFromFlags(/*discover=*/false, "aso-service");
  if (!client_auth.ok()) return std::cerr << "aso-bookkeeping: " << client_auth.status().message() << "\n", 1;
  auto storage =
      aso::bookkeeping::MakeGrpcStorageStub(*client_auth, absl::GetFlag(FLAGS_adapter), absl::Minutes(2));
  aso::db::PgCleanupRepository cleanups(*rt->db);
  aso::bookkeeping::SourceCleaner cleaner(cleanups, *storage, aso::RealClock::Get(), cleanup, *rt->metrics);
  aso::PeriodicLoop cleanup_loop("cleanup", absl::GetFlag(FLAGS_cleanup_interval), [&cleaner] {
    auto n = cleaner.RunOnce();
    if (!n.ok()) ASO_LOG(WARNING, "source cleanup: ", n.status().message());
    return n.ok() && *n > 0;
  });
  return aso::server::ServeUntilSignal(*rt, "aso.bookkeeping.v1.Bookkeeping", {&service},
                                       {&cleanup_loop, &publish_loop});
}
