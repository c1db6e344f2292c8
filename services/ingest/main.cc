// aso-ingest: the public API where jobs hand over their output files.
#include <iostream>

#include "absl/flags/flag.h"
#include "libs/auth/credential_cipher.h"
#include "libs/common/env_flags.h"
#include "libs/db/credential_repository.h"
#include "libs/db/notification_listener.h"
#include "libs/db/site_repository.h"
#include "libs/db/transfer_repository.h"
#include "libs/server/grpc_server.h"
#include "libs/server/service_runtime.h"
#include "services/ingest/credential_service.h"
#include "services/ingest/ingest_service.h"

ABSL_FLAG(int, max_batch_files, 10000,
          "Most files one SubmitTransfers call may carry (env ASO_MAX_BATCH_FILES)");
ABSL_FLAG(
    double, user_files_per_second, 0,
    "Sustained submission rate allowed per user, files/s; 0 = unlimited (env ASO_USER_FILES_PER_SECOND)");
ABSL_FLAG(double, user_burst_files, 100000,
          "Files a user may submit at once above that rate (env ASO_USER_BURST_FILES)");
ABSL_FLAG(int64_t, user_max_live_files, 1000000,
          "Transfers in progress allowed per user; 0 = unlimited (env ASO_USER_MAX_LIVE_FILES)");
ABSL_FLAG(int, max_watch_streams, 16,
          "Concurrent WatchTask streams; each holds a handler thread (env ASO_MAX_WATCH_STREAMS)");
ABSL_FLAG(std::string, credential_key_file, "",
          "File holding the 32-byte key (64 hex digits or base64) that seals delegated credentials in the "
          "database; empty = delegation disabled (env ASO_CREDENTIAL_KEY_FILE)");

int main(int argc, char** argv) {
  aso::server::BlockTerminationSignals();
  aso::ParseFlagsWithEnv(argc, argv, "aso-ingest: accepts transfer requests from jobs. Flags: --helpfull");
  auto config = aso::server::CommonConfigFromFlags("aso-ingest", "0.0.0.0:50051", "0.0.0.0:9101");
  if (!config.ok()) return std::cerr << config.status().message() << "\n", 2;
  auto rt = aso::server::StartRuntime(*config, "ingest");
  if (!rt.ok()) return std::cerr << "aso-ingest: " << rt.status().message() << "\n", 1;

  aso::db::PgTransferRepository transfers(*rt->db);
  aso::db::PgSiteRepository sites(*rt->db);
  aso::ingest::SubmissionLimits limits;
  limits.max_files = absl::GetFlag(FLAGS_max_batch_files);
  aso::ingest::IngestLimits ingest_limits;
  ingest_limits.user_files_per_second = absl::GetFlag(FLAGS_user_files_per_second);
  ingest_limits.user_burst_files = absl::GetFlag(FLAGS_user_burst_files);
  ingest_limits.user_max_live_files = absl::GetFlag(FLAGS_user_max_live_files);
  ingest_limits.max_watch_streams = absl::GetFlag(FLAGS_max_watch_streams);
  // Watch streams each hold a handler thread: keep at least half of them for the other calls.
  if (ingest_limits.max_watch_streams > config->grpc_threads / 2) {
    std::cerr << "aso-ingest: --max_watch_streams must be at most half of --grpc_threads\n";
    return 2;
  }
  aso::ingest::IngestService service(transfers, sites, aso::RealClock::Get(), limits, *rt->metrics, *rt->auth,
                                     ingest_limits);
  std::optional<aso::auth::CredentialCipher> cipher;
  if (const std::string key_file = absl::GetFlag(FLAGS_credential_key_file); !key_file.empty()) {
    auto c = aso::auth::CredentialCipher::FromKeyFile(key_file);
    if (!c.ok()) return std::cerr << "aso-ingest: " << c.status().message() << "\n", 2;
    cipher = std::move(*c);
  }
  aso::db::PgCredentialRepository credentials(*rt->db);
  aso::ingest::CredentialService credential_service(credentials, std::move(cipher), aso::RealClock::Get(),
                                                    *rt->auth);
  // A task's watchers hear of its files' changes within milliseconds (NOTIFY), not at their next poll.
  aso::db::NotificationListener changes(config->db, {aso::db::kTransfersQueuedChannel},
                                        [&](const std::string&) { service.WakeWatchers(); });
  changes.Start();
  return aso::server::ServeUntilSignal(*rt, "aso.ingest.v1.Ingest", {&service, &credential_service}, {});
}
