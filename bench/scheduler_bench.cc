// The scheduler's dispatch decisions at scale, in one run on one server:
//   queue    N files over S sites (S*(S-1) links) and U users. Each user's jobs run at three sites and
//            stage out to the user's home site, as CRAB tasks do, so a link carries a few users.
//   dispatch Scheduler::RunOnce rounds (fair share, throttles, job grouping, claim) against an adapter that
//            takes every job at once; after each round the dispatched files finish (not timed). Figures:
//            files dispatched per second of RunOnce, against raw COPY of the same rows in the same run;
//            cost per decision with N vs 10k files queued (same sites and users); peak memory (VmHWM).
//   latency  an idle scheduler woken by LISTEN/NOTIFY: time from a committed submission to the job reaching
//            the adapter, p50/p99 over many single-file submissions.
// Prints a table and one JSON line. Needs $ASO_TEST_PG (bench/run starts a private cluster).
#include <algorithm>
#include <fstream>
#include <iostream>
#include <pqxx/pqxx>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "bench/bench_rows.h"
#include "libs/common/clock.h"
#include "libs/common/logging.h"
#include "libs/common/periodic_loop.h"
#include "libs/db/notification_listener.h"
#include "libs/db/scheduling_repository.h"
#include "libs/db/testing/test_database.h"
#include "libs/db/transfer_repository.h"
#include "libs/metrics/metrics.h"
#include "services/scheduler/scheduler.h"

ABSL_FLAG(int, files, 1'000'000, "Queued files of the large phase");
ABSL_FLAG(int, sites, 100, "Sites (every ordered pair is a link)");
ABSL_FLAG(int, users, 10'000, "Users");
ABSL_FLAG(int, link_limit, 100, "Active transfers per link");
ABSL_FLAG(int, site_limit, 10'000, "Active transfers per site and direction");
ABSL_FLAG(int, latency_samples, 50, "Single-file submissions timed for the latency figure");

namespace {
using aso::bench::kNow;
using aso::bench::Seconds;
using aso::db::testing::TestDatabase;

// Takes every job at once; counts files; signals the first job after Arm().
class InstantAdapter final : public aso::scheduler::AdapterStub {
 public:
  absl::StatusOr<bool> SubmitJob(const aso::fts_adapter::v1::Job& job) override {
    absl::MutexLock lock(&mu_);
    files_ += job.files_size();
    if (armed_ != nullptr) {
      armed_->Notify();
      armed_ = nullptr;
    }
    return false;
  }
  void Arm(absl::Notification* n) {
    absl::MutexLock lock(&mu_);
    armed_ = n;
  }

 private:
  absl::Mutex mu_;
  int64_t files_ = 0;
  absl::Notification* armed_ = nullptr;
};

std::unique_ptr<TestDatabase> Create() {
  auto t = TestDatabase::Create();
  if (!t.ok()) {
    std::cerr << t.status() << "\n";
    std::exit(1);
  }
  return std::move(*t);
}

// Sites, one task per user, and `files` queued transfers: file g belongs to user u(g), goes to u's home
// site u % S from one of u's three job sites.
void Populate(TestDatabase& tdb, int files) {
  const int sites = absl::GetFlag(FLAGS_sites), users = absl::GetFlag(FLAGS_users);
  pqxx::connection c(tdb.dsn());
  pqxx::work w(c);
  w.exec(absl::StrFormat(
      "INSERT INTO sites (name, url_prefixes, updated) SELECT format('T2_S%%s', lpad(i::text, 3, '0')), "
      "ARRAY[format('root://s%%s.example//', i)], now() FROM generate_series(0, %d) i",
      sites - 1));
  w.exec(absl::StrFormat(
      "INSERT INTO tasks (task_id, username, created, updated) SELECT 'task-u' || u, 'u' || u, now(), now() "
      "FROM generate_series(0, %d) u",
      users - 1));
  w.exec(absl::StrFormat(
      "INSERT INTO transfers (idempotency_key, task_id, username, source_site, source_url, destination_site, "
      "destination_url, size_bytes, priority, not_before, created, updated) "
      "SELECT 'f' || g, 'task-u' || u, 'u' || u, format('T2_S%%s', lpad(s::text, 3, '0')), "
      "format('root://s%%s.example//store/temp/user/u%%s/%%s.root', s, u, g), "
      "format('T2_S%%s', lpad(d::text, 3, '0')), format('root://s%%s.example//store/user/u%%s/%%s.root', d, "
      "u, g), "
      "2000000, 3, to_timestamp(0), now(), to_timestamp(0) "
      "FROM (SELECT g, u, d, CASE WHEN s0 = d THEN (s0 + 1) %% %1$d ELSE s0 END AS s FROM ("
      "  SELECT g, u, u %% %1$d AS d, (hashint4(u * 3 + g %% 3) & 2147483647) %% %1$d AS s0 FROM ("
      "    SELECT g, (hashint4(g) & 2147483647) %% %2$d AS u FROM generate_series(1, %3$d) g) a) b) c",
      sites, users, files));
  w.commit();
  tdb.Exec("ANALYZE");
}

struct DispatchFigures {
  double decisions_per_s = 0;
  double seconds = 0;
  int64_t dispatched = 0;
  int rounds = 0;
  int64_t link_users = 0;  // (link, user) pairs with queued files
};

DispatchFigures Dispatch(TestDatabase& tdb, int files) {
  DispatchFigures out;
  out.link_users = tdb.QueryInt(
      "SELECT count(*) FROM (SELECT DISTINCT source_site, destination_site, username FROM transfer_queue) x");
  auto metrics = aso::metrics::Metrics::Start("scheduler_bench", "");
  aso::db::PgSchedulingRepository repo(tdb.db());
  InstantAdapter adapter;
  aso::FakeClock clock(kNow);
  aso::scheduler::SchedulerConfig config;
  config.link_max_active = absl::GetFlag(FLAGS_link_limit);
  config.default_site_max_active = absl::GetFlag(FLAGS_site_limit);
  config.max_claim_per_link = 1000;
  config.optimize = false;  // the limits above, not an adaptive value, bound the rounds
  aso::scheduler::Scheduler scheduler(repo, adapter, clock, config, **metrics);
  absl::Duration busy;
  while (out.dispatched < files && out.rounds < 1000) {
    const absl::Time start = absl::Now();
    auto n = scheduler.RunOnce();
    busy += absl::Now() - start;
    if (!n.ok()) {
      std::cerr << n.status() << "\n";
      std::exit(1);
    }
    out.dispatched += *n;
    ++out.rounds;
    if (*n == 0) break;
    tdb.Exec("UPDATE transfers SET state = 'DONE' WHERE state = 'SUBMITTING'");  // the copies end
    clock.AdvanceTime(absl::Seconds(1));
  }
  out.seconds = absl::ToDoubleSeconds(busy);
  out.decisions_per_s = out.dispatched / out.seconds;
  return out;
}

// Idle dispatch latency through LISTEN/NOTIFY, p50 and p99 in milliseconds.
std::pair<double, double> Latency(TestDatabase& tdb, int samples) {
  auto metrics = aso::metrics::Metrics::Start("scheduler_bench_latency", "");
  aso::db::PgSchedulingRepository repo(tdb.db());
  aso::db::PgTransferRepository transfers(tdb.db());
  InstantAdapter adapter;
  aso::FakeClock clock(kNow);  // files are ready at kNow
  aso::scheduler::SchedulerConfig config;
  aso::scheduler::Scheduler scheduler(repo, adapter, clock, config, **metrics);
  aso::PeriodicLoop loop("schedule", absl::Minutes(1), [&] { return scheduler.RunOnce().value_or(0) > 0; });
  aso::db::NotificationListener wake(tdb.dsn(), {aso::db::kTransfersQueuedChannel},
                                     [&](const std::string&) { loop.Wake(); });
  wake.Start();
  loop.Start();
  absl::SleepFor(absl::Milliseconds(500));
  std::vector<double> ms;
  for (int i = 0; i < samples; ++i) {
    aso::common::v1::Transfer t = aso::bench::Request(i, "latency");
    t.mutable_source()->set_site("T2_S000");
    t.mutable_source()->set_url(absl::StrCat("root://s0.example//store/temp/latency/", i));
    t.mutable_destination()->set_site("T2_S001");
    t.mutable_destination()->set_url(absl::StrCat("root://s1.example//store/user/latency/", i));
    absl::Notification got;
    adapter.Arm(&got);
    const absl::Time start = absl::Now();
    if (auto r = transfers.InsertBatch({t}, kNow); !r.ok()) {
      std::cerr << r.status() << "\n";
      std::exit(1);
    }
    if (!got.WaitForNotificationWithTimeout(absl::Seconds(30))) {
      std::cerr << "no dispatch within 30 s\n";
      std::exit(1);
    }
    ms.push_back(absl::ToDoubleMilliseconds(absl::Now() - start));
    tdb.Exec("UPDATE transfers SET state = 'DONE' WHERE state = 'SUBMITTING'");
    absl::SleepFor(absl::Milliseconds(20));
  }
  loop.Stop();
  wake.Stop();
  std::sort(ms.begin(), ms.end());
  return {ms[ms.size() / 2], ms[std::min(ms.size() - 1, ms.size() * 99 / 100)]};
}

// Peak resident memory of this process, in MiB.
double PeakMemoryMiB() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  aso::InitLogging("scheduler_bench", "warning");  // one line per job would drown the figures
  const int files = absl::GetFlag(FLAGS_files);
  const int sites = absl::GetFlag(FLAGS_sites);
  std::cerr << absl::StrFormat("scheduler_bench: %d files, %d sites (%d links), %d users\n", files, sites,
                               sites * (sites - 1), absl::GetFlag(FLAGS_users));

  auto copy_db = aso::bench::FreshDatabase();
  const double copy_rate = aso::bench::CopyRows(*copy_db, std::min(files, 200'000));
  copy_db.reset();
  std::cerr << absl::StrFormat("  raw COPY %.0f rows/s\n", copy_rate);

  auto small_db = Create();
  Populate(*small_db, 10'000);
  const DispatchFigures small = Dispatch(*small_db, 10'000);
  std::cerr << absl::StrFormat("  10k queued: %d dispatched in %d rounds, %.0f decisions/s\n",
                               small.dispatched, small.rounds, small.decisions_per_s);
  const auto [p50, p99] = Latency(*small_db, absl::GetFlag(FLAGS_latency_samples));
  small_db.reset();

  auto big_db = Create();
  const absl::Time fill = absl::Now();
  Populate(*big_db, files);
  std::cerr << absl::StrFormat("  queued %d files in %.1f s\n", files, Seconds(fill));
  const DispatchFigures big = Dispatch(*big_db, files);
  std::cerr << absl::StrFormat("  %d queued: %d dispatched in %d rounds, %.0f decisions/s\n", files,
                               big.dispatched, big.rounds, big.decisions_per_s);
  const double cost_ratio = small.decisions_per_s / big.decisions_per_s;

  std::cout << absl::StrFormat(
      "\n%-52s %12s %12s %8s\n"
      "%-52s %12.0f %12.0f %8.2f\n"
      "%-52s %12.0f %12.0f %8.2f\n"
      "%-52s %12.1f %12s %8s\n"
      "%-52s %12.1f %12.1f %8s\n"
      "%-52s %12.0f %12s %8s\n",
      "figure", "value", "baseline", "ratio",
      absl::StrFormat("dispatch decisions/s, %d queued (vs COPY rows/s)", files), big.decisions_per_s,
      copy_rate, big.decisions_per_s / copy_rate, "cost per decision, full vs 10k queued (decisions/s)",
      big.decisions_per_s, small.decisions_per_s, cost_ratio, "peak memory of the scheduler process, MiB",
      PeakMemoryMiB(), "", "", "idle dispatch latency p50 / p99, ms", p50, p99, "",
      "(link, user) pairs with queued files", static_cast<double>(big.link_users), "", "");
  std::cout << absl::StrFormat(
      "{\"bench\":\"scheduler\",\"files\":%d,\"sites\":%d,\"links\":%d,\"users\":%d,\"copy_rows_per_s\":%.0f,"
      "\"decisions_per_s\":%.0f,\"decisions_per_s_10k\":%.0f,\"cost_ratio_full_vs_10k\":%.3f,"
      "\"rounds\":%d,\"peak_memory_mib\":%.1f,\"latency_p50_ms\":%.1f,\"latency_p99_ms\":%.1f}\n",
      files, sites, sites * (sites - 1), absl::GetFlag(FLAGS_users), copy_rate, big.decisions_per_s,
      small.decisions_per_s, cost_ratio, big.rounds, PeakMemoryMiB(), p50, p99);
  return 0;
}
