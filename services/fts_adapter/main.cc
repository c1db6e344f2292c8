// aso-fts-adapter: runs bulk jobs on the transfer backends (gfal2 in-process, FTS3 servers) and reports
// outcomes.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/grpcpp.h"
#include "libs/auth/credential_cipher.h"
#include "libs/auth/credentials.h"
#include "libs/auth/flags.h"
#include "libs/backend/fts3_client.h"
#include "libs/backend/gfal2_copier.h"
#include "libs/common/env_flags.h"
#include "libs/common/logging.h"
#include "libs/db/backend_job_repository.h"
#include "libs/db/credential_repository.h"
#include "libs/db/notification_listener.h"
#include "libs/server/grpc_server.h"
#include "libs/server/service_runtime.h"
#include "services/fts_adapter/adapter_service.h"
#include "services/fts_adapter/backend_routes.h"
#include "services/fts_adapter/backend_runner.h"
#include "services/fts_adapter/copy_worker.h"
#include "services/fts_adapter/outcome_reporter.h"
#include "services/fts_adapter/user_credentials.h"
#include "services/fts_adapter/user_fts3_clients.h"

ABSL_FLAG(std::string, bookkeeping, "127.0.0.1:50054", "aso-bookkeeping gRPC address (env ASO_BOOKKEEPING)");
ABSL_FLAG(std::string, backend, "gfal2",
          "Default transfer backend: gfal2 (copies in-process), fts3 (the FTS3 server --fts3_endpoint) or an "
          "FTS3 endpoint https://HOST:PORT (env ASO_BACKEND)");
ABSL_FLAG(std::string, fts3_endpoint, "",
          "FTS3 REST endpoint for --backend fts3, e.g. https://fts3.example:8446 (env ASO_FTS3_ENDPOINT)");
ABSL_FLAG(std::vector<std::string>, backend_routes, {},
          "Per-link backends, comma-separated SOURCE:DESTINATION=BACKEND with site globs, first match wins, "
          "e.g. T2_US_*:*=https://fts3-us.example:8446,*:T3_*=gfal2; other links use --backend (env "
          "ASO_BACKEND_ROUTES)");
ABSL_FLAG(std::string, overwrite, "always",
          "Which copies may replace a file already at the destination: always, retries (not a first "
          "attempt) or never (env ASO_OVERWRITE)");
ABSL_FLAG(std::string, fts3_ca_file, "", "PEM CA bundle to trust for FTS3 (env ASO_FTS3_CA_FILE)");
ABSL_FLAG(std::string, fts3_ca_path, "/etc/grid-security/certificates",
          "Hashed CA directory to trust for FTS3, when it exists (env ASO_FTS3_CA_PATH)");
ABSL_FLAG(std::string, fts3_cert, "",
          "Certificate or proxy presented to the FTS3 servers (env ASO_FTS3_CERT)");
ABSL_FLAG(std::string, fts3_key, "",
          "Its key; empty: in the certificate file, as in a proxy (env ASO_FTS3_KEY)");
ABSL_FLAG(std::string, fts3_token_file, "",
          "File holding a bearer token for FTS3 instead of a certificate (env ASO_FTS3_TOKEN_FILE)");
ABSL_FLAG(absl::Duration, fts3_poll_interval, absl::Seconds(2),
          "Pause between FTS3 rounds when nothing changed (env ASO_FTS3_POLL_INTERVAL)");
ABSL_FLAG(int, copy_workers, 8, "Copies in flight at once (env ASO_COPY_WORKERS)");
ABSL_FLAG(absl::Duration, copy_timeout, absl::ZeroDuration(),
          "Timeout of one copy; 0 = FTS3's rule, 600 s + 2 s per MB (env ASO_COPY_TIMEOUT)");
ABSL_FLAG(bool, user_credentials, false,
          "Copy, submit to FTS3 and delete the files of sites that move files with their owners' credentials "
          "(asoctl sites set --site_credentials, the scheduler's --user_credentials) with their owner's "
          "delegated proxy or token (aso-submit --delegate, --delegate_token; needs --credential_key_file), "
          "never with this service's credential; a file whose owner has no valid one waits "
          "(env ASO_USER_CREDENTIALS)");
ABSL_FLAG(std::string, credential_key_file, "",
          "Key the stored credentials are sealed with, as given to aso-ingest (env ASO_CREDENTIAL_KEY_FILE)");
ABSL_FLAG(std::string, credential_dir, "",
          "Private folder for the users' proxy files while copying (owned by this user, made mode 0700); "
          "default: a new folder under $TMPDIR or /tmp (env ASO_CREDENTIAL_DIR)");
ABSL_FLAG(
    std::string, token_ca_file, "",
    "With --user_credentials: PEM CAs of the token endpoints where users' renewable tokens are renewed; "
    "default: the system's (env ASO_TOKEN_CA_FILE)");
ABSL_FLAG(std::vector<std::string>, gfal2_settings, {},
          "Extra gfal2 settings, comma-separated GROUP:KEY=VALUE (env ASO_GFAL2_SETTINGS)");

int main(int argc, char** argv) {
  aso::server::BlockTerminationSignals();
  aso::ParseFlagsWithEnv(argc, argv, "aso-fts-adapter: runs transfers on the backend. Flags: --helpfull");
  auto config = aso::server::CommonConfigFromFlags("aso-fts-adapter", "0.0.0.0:50053", "0.0.0.0:9103");
  if (!config.ok()) return std::cerr << config.status().message() << "\n", 2;
  std::string default_spec = absl::GetFlag(FLAGS_backend);
  if (default_spec == "fts3") default_spec = absl::GetFlag(FLAGS_fts3_endpoint);
  auto default_backend = aso::fts_adapter::BackendName(default_spec);
  if (!default_backend.ok()) {
    std::cerr << "--backend"
              << (absl::GetFlag(FLAGS_backend) == "fts3" ? " fts3 needs --fts3_endpoint: " : ": ")
              << default_backend.status().message() << "\n";
    return 2;
  }
  std::vector<aso::fts_adapter::BackendRoute> routes;
  for (const std::string& spec : absl::GetFlag(FLAGS_backend_routes)) {
    auto route = aso::fts_adapter::ParseBackendRoute(spec);
    if (!route.ok()) return std::cerr << "--backend_routes: " << route.status().message() << "\n", 2;
    routes.push_back(*std::move(route));
  }
  const aso::fts_adapter::BackendRouter router(*default_backend, std::move(routes));
  auto overwrite = aso::backend::ParseOverwritePolicy(absl::GetFlag(FLAGS_overwrite));
  if (!overwrite.ok()) return std::cerr << "--overwrite: " << overwrite.status().message() << "\n", 2;
  const int workers = absl::GetFlag(FLAGS_copy_workers);
  if (workers < 1 || workers > 256) return std::cerr << "--copy_workers must be 1..256\n", 2;
  auto rt = aso::server::StartRuntime(*config, "fts-adapter");
  if (!rt.ok()) return std::cerr << "aso-fts-adapter: " << rt.status().message() << "\n", 1;

  aso::db::PgBackendJobRepository jobs(*rt->db);
  // Users' proxies for their copies, deletions and FTS3 jobs (--user_credentials); outlive the service,
  // workers, runners and loops that use them.
  aso::db::PgCredentialRepository stored_credentials(*rt->db);
  std::optional<aso::fts_adapter::UserCredentials> user_credentials;
  if (absl::GetFlag(FLAGS_user_credentials)) {
    const std::string key_file = absl::GetFlag(FLAGS_credential_key_file);
    if (key_file.empty())
      return std::cerr << "aso-fts-adapter: --user_credentials needs --credential_key_file\n", 2;
    auto cipher = aso::auth::CredentialCipher::FromKeyFile(key_file);
    if (!cipher.ok()) return std::cerr << "aso-fts-adapter: " << cipher.status().message() << "\n", 2;
    std::string dir = absl::GetFlag(FLAGS_credential_dir);
    if (dir.empty()) {  // a new private folder, named unpredictably
      const char* tmp = std::getenv("TMPDIR");
      std::string pattern =
          absl::StrCat(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp", "/aso-fts-adapter-XXXXXX");
      if (::mkdtemp(pattern.data()) == nullptr) {
        return std::cerr << "aso-fts-adapter: cannot create a folder for the users' proxies in " << pattern
                         << "\n",
               1;
      }
      dir = pattern;
    }
    aso::fts_adapter::UserCredentialsConfig uc;
    uc.dir = dir;
    uc.token_ca_file = absl::GetFlag(FLAGS_token_ca_file);
    user_credentials.emplace(stored_credentials, *std::move(cipher), uc, aso::RealClock::Get());
    if (absl::Status s = user_credentials->Init(); !s.ok()) {
      return std::cerr << "aso-fts-adapter: " << s.message() << "\n", 1;
    }
    ASO_LOG(INFO,
            "copies and FTS3 jobs from or to sites that move files with their owners' credentials run "
            "as their owners (proxy files in ",
            dir, ")");
  }
  // This service's own proxy, named explicitly for the endpoints that do not take an owner's while owners'
  // proxies are in use (XRootD's GSI client would otherwise reuse the last proxy it loaded).
  aso::backend::StorageCredential service_credential;
  if (user_credentials.has_value()) {
    const char* env = std::getenv("X509_USER_PROXY");
    const std::string proxy = env != nullptr && *env != '\0' ? env : absl::StrCat("/tmp/x509up_u", getuid());
    if (::access(proxy.c_str(), R_OK) == 0) service_credential.proxy_file = proxy;
  }
  aso::backend::Gfal2Options gfal2;
  gfal2.settings = absl::GetFlag(FLAGS_gfal2_settings);
  gfal2.http_keep_alive = !user_credentials.has_value();  // copies of different users on one context
  auto storage = aso::backend::NewGfal2Copier(gfal2);     // for DeleteFiles
  if (!storage.ok()) return std::cerr << storage.status().message() << "\n", 2;
  aso::fts_adapter::AdapterService service(
      jobs, aso::RealClock::Get(), router, *rt->auth, *std::move(storage),
      user_credentials.has_value() ? &*user_credentials : nullptr, service_credential);
  auto client_auth = aso::auth::ClientAuthFromFlags(/*discover=*/false, "aso-service");
  if (!client_auth.ok()) return std::cerr << "aso-fts-adapter: " << client_auth.status().message() << "\n", 1;
  auto bookkeeping = aso::fts_adapter::MakeGrpcBookkeepingStub(*client_auth, absl::GetFlag(FLAGS_bookkeeping),
                                                               absl::Seconds(10));
  aso::fts_adapter::OutcomeReporter reporter(jobs, *bookkeeping);

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
  // Outcomes finished meanwhile go to bookkeeping together, in one call and two statements there.
  report_loop.set_min_spacing(absl::Milliseconds(100));
  // One client and runner per FTS3 server; copy workers when some link is copied in-process.
  std::vector<std::unique_ptr<aso::backend::Fts3Client>> fts3_clients;
  std::vector<std::unique_ptr<aso::fts_adapter::UserFts3Clients>> user_fts3_clients;
  std::vector<std::unique_ptr<aso::fts_adapter::BackendRunner>> runners;
  bool in_process = false;
  // The credentials presented to every FTS3 server, read once.
  aso::backend::Fts3Config credentials;
  credentials.ca_file = absl::GetFlag(FLAGS_fts3_ca_file);
  if (std::filesystem::is_directory(absl::GetFlag(FLAGS_fts3_ca_path)))
    credentials.ca_path = absl::GetFlag(FLAGS_fts3_ca_path);
  credentials.cert_file = absl::GetFlag(FLAGS_fts3_cert);
  credentials.key_file = absl::GetFlag(FLAGS_fts3_key);
  const bool uses_fts3 =
      router.Backends().size() > 1 || router.Backends().front() != aso::fts_adapter::kGfal2Backend;
  if (uses_fts3 && !absl::GetFlag(FLAGS_fts3_token_file).empty()) {
    auto token = aso::auth::ReadCredentialFile(absl::GetFlag(FLAGS_fts3_token_file), "FTS3 token");
    if (!token.ok()) return std::cerr << "--fts3_token_file: " << token.status().message() << "\n", 2;
    credentials.bearer_token = std::string(absl::StripAsciiWhitespace(*token));
  }
  if (uses_fts3 && !credentials.cert_file.empty()) {
    aso::server::ExportCredentialExpiry(*rt->metrics, "fts3_client", credentials.cert_file);
  }
  for (const std::string& backend : router.Backends()) {
    if (backend == aso::fts_adapter::kGfal2Backend) {
      in_process = true;
      continue;
    }
    aso::backend::Fts3Config fc = credentials;
    fc.endpoint = aso::fts_adapter::Fts3Endpoint(backend);
    fts3_clients.push_back(std::make_unique<aso::backend::Fts3Client>(fc));
    aso::fts_adapter::BackendRunnerConfig rc;
    rc.backend = backend;
    rc.overwrite = *overwrite;
    if (user_credentials.has_value()) {  // jobs submitted as their owners
      user_fts3_clients.push_back(std::make_unique<aso::fts_adapter::UserFts3Clients>(fc, *user_credentials));
      rc.submit_as = [clients = user_fts3_clients.back().get()](const std::string& user) {
        return clients->For(user);
      };
    }
    runners.push_back(std::make_unique<aso::fts_adapter::BackendRunner>(
        jobs, *fts3_clients.back(), aso::RealClock::Get(), rc, *rt->metrics));
    auto* runner = runners.back().get();
    loops.push_back(
        std::make_unique<aso::PeriodicLoop>(absl::StrCat("fts3-", runners.size()),
                                            absl::GetFlag(FLAGS_fts3_poll_interval), [runner, &report_loop] {
                                              auto r = runner->RunOnce();
                                              if (!r.ok())
                                                ASO_LOG(WARNING, "FTS3 round: ", r.status().message());
                                              if (r.ok() && r->changed > 0) report_loop.Wake();
                                              return r.ok() && (r->submitted > 0 || r->changed > 0);
                                            }));
    ASO_LOG(INFO, "backend ", backend, " runs the jobs of its links");
  }
  if (in_process) {
    // Files this host's previous adapter process was copying when it died are copied again at once.
    auto freed = aso::fts_adapter::ReclaimLeasesOfDeadProcesses(jobs, host, absl::Now());
    if (!freed.ok()) ASO_LOG(WARNING, "reclaiming the leases of dead processes: ", freed.status().message());
  }
  for (int i = 0; in_process && i < workers; ++i) {
    auto copier = aso::backend::NewGfal2Copier(gfal2);
    if (!copier.ok()) return std::cerr << copier.status().message() << "\n", 2;
    aso::fts_adapter::CopyWorkerConfig wc;
    wc.owner = absl::StrCat(host, "/", getpid(), "/", i);
    wc.copy_timeout = absl::GetFlag(FLAGS_copy_timeout);
    wc.overwrite = *overwrite;
    wc.user_credentials = user_credentials.has_value() ? &*user_credentials : nullptr;
    wc.service_credential = service_credential;
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
