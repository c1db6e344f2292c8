// SubmitTransfers against PostgreSQL's own speed, in one run on one server: N files through aso-ingest's
// gRPC API (in this process, over TLS on loopback, batches of 1,000, 1 and 4 clients, each file durable
// before its reply) vs raw COPY of the same rows into the same table. Prints a table and one JSON line.
// Needs $ASO_TEST_PG and $ASO_TEST_CERTS (bench/run starts a private cluster and makes the certificates).
#include <cstdlib>
#include <iostream>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "bench/bench_rows.h"
#include "grpcpp/grpcpp.h"
#include "libs/auth/authenticator.h"
#include "libs/auth/credentials.h"
#include "libs/common/logging.h"
#include "libs/db/site_repository.h"
#include "libs/db/transfer_repository.h"
#include "services/ingest/ingest_service.h"

ABSL_FLAG(int, files, 200'000, "Files per phase");
ABSL_FLAG(int, batch, 1000, "Files per SubmitTransfers call");

namespace {
using aso::bench::Request;
using aso::bench::Seconds;
namespace iv1 = aso::ingest::v1;

std::string Certs() {
  const char* dir = std::getenv("ASO_TEST_CERTS");
  if (dir == nullptr) {
    std::cerr << "ingest_bench: $ASO_TEST_CERTS is not set (run bench/run)\n";
    std::exit(2);
  }
  return dir;
}

template <typename T>
T OrDie(absl::StatusOr<T> v) {
  if (!v.ok()) {
    std::cerr << "ingest_bench: " << v.status() << "\n";
    std::exit(1);
  }
  return std::move(*v);
}

// Files/s of `files` submitted by `clients` concurrent clients (one task each) over gRPC.
double SubmitOverGrpc(int files, int clients) {
  auto tdb = aso::bench::FreshDatabase();
  aso::db::PgTransferRepository transfers(tdb->db());
  aso::db::PgSiteRepository sites(tdb->db());
  auto metrics = OrDie(aso::metrics::Metrics::Start("ingest", ""));
  aso::auth::AuthConfig auth_config;
  auth_config.ca_file = Certs() + "/ca.pem";
  auth_config.gridmap_file = Certs() + "/gridmap";
  auto auth = OrDie(aso::auth::Authenticator::Create(auth_config));
  aso::ingest::IngestLimits limits;
  limits.user_max_live_files = 0;
  aso::ingest::IngestService service(transfers, sites, aso::RealClock::Get(), {}, *metrics, *auth, limits);
  aso::auth::ServerTlsConfig tls{false, Certs() + "/server.pem", Certs() + "/server.key",
                                 Certs() + "/ca.pem"};
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", OrDie(aso::auth::MakeServerCredentials(tls, "127.0.0.1:0")), &port);
  builder.RegisterService(&service);
  auto server = builder.BuildAndStart();

  const int batch = absl::GetFlag(FLAGS_batch);
  std::atomic<int> next{0};
  const absl::Time start = absl::Now();
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      aso::auth::ClientAuthConfig cc;
      cc.ca_file = Certs() + "/ca.pem";
      cc.cert_file = Certs() + "/alice.pem";
      cc.key_file = Certs() + "/alice.key";
      auto client = OrDie(aso::auth::ClientAuth::Create(cc));
      auto stub = iv1::Ingest::NewStub(client->Channel(absl::StrCat("localhost:", port)));
      const std::string task = absl::StrCat("bench-", c);
      for (;;) {
        const int first = next.fetch_add(batch);
        if (first >= files) return;
        iv1::SubmitTransfersRequest request;
        request.set_task_id(task);
        for (int i = first; i < std::min(files, first + batch); ++i) {
          auto t = Request(i, task);
          auto* f = request.add_files();
          f->set_source_url(t.source().url());
          f->set_destination_url(t.destination().url());
          f->set_size_bytes(t.size_bytes());
          f->set_checksum(t.checksum());
          f->set_job_id(t.job_id());
        }
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
        client->Apply(ctx);
        iv1::SubmitTransfersResponse response;
        grpc::Status s = stub->SubmitTransfers(&ctx, request, &response);
        if (!s.ok() || response.transfer_ids_size() != request.files_size()) {
          std::cerr << "ingest_bench: SubmitTransfers failed: " << s.error_message() << "\n";
          std::exit(1);
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  const double rate = files / Seconds(start);
  server->Shutdown();
  if (tdb->QueryInt("SELECT count(*) FROM transfers") != files) {
    std::cerr << "ingest_bench: not every file was stored\n";
    std::exit(1);
  }
  return rate;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  aso::InitLogging("ingest_bench", "warning");  // one line per accepted batch would drown the figures
  const int files = absl::GetFlag(FLAGS_files);
  std::cerr << "ingest_bench: " << files << " files per phase\n";
  auto copy_db = aso::bench::FreshDatabase();
  const double copy_rate = aso::bench::CopyRows(*copy_db, files);
  copy_db.reset();
  std::cerr << absl::StrFormat("  raw COPY               %10.0f rows/s\n", copy_rate);
  const double one = SubmitOverGrpc(files, 1);
  std::cerr << absl::StrFormat("  SubmitTransfers, 1 client  %10.0f files/s\n", one);
  const double four = SubmitOverGrpc(files, 4);
  std::cerr << absl::StrFormat("  SubmitTransfers, 4 clients %10.0f files/s\n", four);
  std::cout << absl::StrFormat(
      "\n%-48s %12s %12s %8s\n"
      "%-48s %12.0f %12.0f %8.2f\n"
      "%-48s %12.0f %12.0f %8.2f\n",
      "figure", "files/s", "baseline", "ratio", "SubmitTransfers over gRPC+TLS, 1 client (vs COPY)", one,
      copy_rate, one / copy_rate, "SubmitTransfers over gRPC+TLS, 4 clients (vs COPY)", four, copy_rate,
      four / copy_rate);
  std::cout << absl::StrFormat(
      "{\"bench\":\"ingest\",\"files\":%d,\"copy_rows_per_s\":%.0f,\"submit_1_client_files_per_s\":%.0f,"
      "\"submit_4_clients_files_per_s\":%.0f,\"ratio_1\":%.3f,\"ratio_4\":%.3f}\n",
      files, copy_rate, one, four, one / copy_rate, four / copy_rate);
  return 0;
}
