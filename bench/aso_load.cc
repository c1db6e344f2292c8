// aso-load: sustained submissions at a fixed rate, as grid jobs finishing steadily would make them. Each of
// --clients threads sends a batch of --batch files every (clients * batch / rate) seconds through the job
// client library (the same calls as aso-submit, over TLS with the ASO_TLS_* / token settings), for
// --duration. Prints one JSON line: files, calls, errors (after the client's own retries), the achieved
// rate and the reply latency (p50, p99, max), and one line per 10 s on stderr. bench/sustained_load.py runs
// it against the local stack while the files are being copied.
#include <algorithm>
#include <atomic>
#include <iostream>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "libs/auth/flags.h"
#include "libs/client/submit_client.h"
#include "libs/common/env_flags.h"

ABSL_FLAG(std::string, ingest, "127.0.0.1:50051", "aso-ingest address (env ASO_INGEST)");
ABSL_FLAG(double, rate, 500, "Files per second, all clients together");
ABSL_FLAG(int, batch, 100, "Files per SubmitTransfers call");
ABSL_FLAG(int, clients, 2, "Concurrent clients (threads, one connection each)");
ABSL_FLAG(absl::Duration, duration, absl::Minutes(5), "How long to submit");
ABSL_FLAG(std::string, sources, "", "Comma-separated source URLs, used in turn");
ABSL_FLAG(std::string, destination, "", "Destination URL prefix; files go to <prefix>/<run>/c<client>/f<n>");
ABSL_FLAG(std::string, user, "", "Submit on behalf of this user (default: the caller)");
ABSL_FLAG(std::string, run, "load", "Names the run's task ids and destination folder");

namespace {

struct Shared {
  std::mutex mu;
  std::vector<double> latencies_ms;  // one per call
  std::atomic<int64_t> files{0}, calls{0}, errors{0};
  std::string first_error;
};

void Client(int id, absl::Time start, absl::Time end, const std::vector<std::string>& sources, Shared& out) {
  const char* env_user = std::getenv("USER");
  const std::string user = absl::GetFlag(FLAGS_user);
  auto auth =
      aso::auth::ClientAuthFromFlags(/*discover=*/true, !user.empty() ? user : (env_user ? env_user : ""));
  if (!auth.ok()) {
    std::cerr << "aso-load: " << auth.status() << "\n";
    std::exit(2);
  }
  aso::client::ClientOptions options;
  options.batch_size = absl::GetFlag(FLAGS_batch);
  aso::client::SubmitClient client(*auth, absl::GetFlag(FLAGS_ingest), options);
  const int batch = absl::GetFlag(FLAGS_batch), clients = absl::GetFlag(FLAGS_clients);
  const absl::Duration period = absl::Seconds(clients * batch / absl::GetFlag(FLAGS_rate));
  const std::string run = absl::GetFlag(FLAGS_run), dest = absl::GetFlag(FLAGS_destination);
  int64_t n = 0;
  // Clients are offset within a period so their batches interleave.
  for (absl::Time due = start + period * id / clients; due < end; due += period) {
    absl::SleepFor(due - absl::Now());
    std::vector<aso::ingest::v1::FileRequest> files(batch);
    for (auto& f : files) {
      f.set_source_url(sources[n % sources.size()]);
      f.set_destination_url(absl::StrCat(dest, "/", run, "/c", id, "/f", n, ".root"));
      f.set_size_bytes(-1);
      f.set_job_id(absl::StrCat(n / 1000));
      ++n;
    }
    const absl::Time sent = absl::Now();
    auto ids = client.Submit(absl::StrCat(run, "-c", id, "-", n / 100000), user, files);
    const double ms = absl::ToDoubleMilliseconds(absl::Now() - sent);
    out.calls++;
    if (ids.ok()) {
      out.files += batch;
    } else {
      out.errors++;
      std::lock_guard<std::mutex> lock(out.mu);
      if (out.first_error.empty()) out.first_error = ids.status().ToString();
    }
    std::lock_guard<std::mutex> lock(out.mu);
    out.latencies_ms.push_back(ms);
  }
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

}  // namespace

int main(int argc, char** argv) {
  aso::ParseFlagsWithEnv(argc, argv, "aso-load --sources URL[,URL...] --destination PREFIX [--rate 500]",
                         {"/bench/aso_load", "/libs/auth/client_flags"});
  const std::vector<std::string> sources =
      absl::StrSplit(absl::GetFlag(FLAGS_sources), ',', absl::SkipEmpty());
  if (sources.empty() || absl::GetFlag(FLAGS_destination).empty() || absl::GetFlag(FLAGS_rate) <= 0 ||
      absl::GetFlag(FLAGS_batch) < 1 || absl::GetFlag(FLAGS_clients) < 1) {
    std::cerr << "aso-load: needs --sources, --destination, a positive --rate, --batch and --clients\n";
    return 2;
  }
  Shared shared;
  const absl::Time start = absl::Now() + absl::Milliseconds(200);
  const absl::Time end = start + absl::GetFlag(FLAGS_duration);
  std::vector<std::thread> threads;
  for (int i = 0; i < absl::GetFlag(FLAGS_clients); ++i) {
    threads.emplace_back(Client, i, start, end, std::cref(sources), std::ref(shared));
  }
  std::atomic<bool> done{false};
  std::thread progress([&] {
    int64_t last = 0;
    for (absl::Time t = start + absl::Seconds(10); !done; t += absl::Seconds(10)) {
      while (!done && absl::Now() < t) absl::SleepFor(absl::Milliseconds(100));
      const int64_t files = shared.files;
      std::cerr << absl::StrFormat("aso-load: %4.0f s  %8d files (%6.0f files/s)  errors %d\n",
                                   absl::ToDoubleSeconds(absl::Now() - start), files,
                                   static_cast<double>(files - last) / 10, shared.errors.load());
      last = files;
    }
  });
  for (auto& t : threads) t.join();
  done = true;
  progress.join();
  const double seconds = absl::ToDoubleSeconds(std::max(absl::Now(), end) - start);
  std::cout << absl::StrFormat(
      "{\"bench\":\"load\",\"files\":%d,\"calls\":%d,\"errors\":%d,\"seconds\":%.1f,\"rate_asked\":%.0f,"
      "\"rate\":%.1f,\"latency_p50_ms\":%.1f,\"latency_p99_ms\":%.1f,\"latency_max_ms\":%.1f,"
      "\"first_error\":\"%s\"}\n",
      shared.files.load(), shared.calls.load(), shared.errors.load(), seconds, absl::GetFlag(FLAGS_rate),
      static_cast<double>(shared.files) / seconds, Percentile(shared.latencies_ms, 0.5),
      Percentile(shared.latencies_ms, 0.99), Percentile(shared.latencies_ms, 1.0),
      absl::StrReplaceAll(shared.first_error, {{"\"", "'"}, {"\\", "/"}, {"\n", " "}}));
  return shared.errors == 0 ? 0 : 1;
}
