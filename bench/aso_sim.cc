// aso-sim: the grid simulator. A scenario (bench/scenarios/*.yaml) describes sites (bandwidth, latency,
// limits, failure rates by class, outages), users and how their jobs finish (files per day, a day/night
// cycle, file sizes); the simulator runs it on a virtual clock through the real scheduler (claims, fair
// share, throttles, link optimizer, job grouping) and the real bookkeeping (outcomes, retry policy) on a
// real PostgreSQL, with a simulated transfer backend in place of FTS3: each file copies at its share of
// the source's outbound and the destination's inbound bandwidth, after the sites' latency, and fails with
// the scenario's per-class rates (and at once when a site is down).
//
//   aso-sim --scenario bench/scenarios/design-load.yaml [--json out.json]   (needs $ASO_TEST_PG)
//
// Prints a table and writes JSON: throughput, queue time per user and site, fairness (Jain's index over
// the users' share of their demand served), site utilization against limits, and files lost (must be 0:
// every file submitted is in the database, and every DONE file has exactly one successful attempt).
// bench/sim_report.py turns the JSON into an HTML report with plots. ASO_SIM_LOG_STATEMENTS_MS=N logs
// every statement slower than N ms in the PostgreSQL server log (profiling the real logic's queries).
#include <algorithm>
#include <cmath>
#include <fstream>
#include <iostream>
#include <map>
#include <queue>
#include <random>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "libs/common/clock.h"
#include "libs/common/logging.h"
#include "libs/db/outcome_repository.h"
#include "libs/db/pg_util.h"
#include "libs/db/scheduling_repository.h"
#include "libs/db/testing/test_database.h"
#include "libs/metrics/metrics.h"
#include "libs/transfer/state.h"
#include "pqxx/pqxx"
#include "services/bookkeeping/outcome_applier.h"
#include "services/scheduler/scheduler.h"
#include "yaml-cpp/yaml.h"

ABSL_FLAG(std::string, scenario, "", "Scenario file (bench/scenarios/*.yaml)");
ABSL_FLAG(std::string, json, "", "Write the results as JSON to this file");

namespace {
namespace cv1 = aso::common::v1;
using aso::db::testing::TestDatabase;

struct Site {
  std::string name;
  double out_bytes_per_s = 0, in_bytes_per_s = 0;
  absl::Duration latency;
  int max_active = 0;
  std::vector<std::pair<absl::Duration, absl::Duration>> outages;  // [start, end) from the start
  int in_flight_out = 0, in_flight_in = 0;
  double busy_out_sum = 0, peak_out = 0;  // sampled each step
};

struct Scenario {
  std::string name, description;
  absl::Duration duration = absl::Hours(24), step = absl::Seconds(30), drain = absl::Hours(12);
  uint64_t seed = 1;
  int users = 100;
  double files_per_day = 10000, files_per_job = 4, diurnal = 0.5;
  double size_median_mb = 50, size_sigma = 1.0;
  std::map<std::string, double> failures;  // class name -> probability per attempt
  std::vector<Site> sites;
  int link_max_active = 100, max_attempts = 5;
  absl::Duration optimizer_interval = absl::Seconds(5);
  bool optimize = true;
};

absl::Duration Dur(const YAML::Node& n, absl::Duration def) {
  if (!n) return def;
  absl::Duration d;
  if (!absl::ParseDuration(n.as<std::string>(), &d)) {
    std::cerr << "aso-sim: not a duration: " << n.as<std::string>() << "\n";
    std::exit(2);
  }
  return d;
}

Scenario Load(const std::string& path) {
  YAML::Node y = YAML::LoadFile(path);
  Scenario s;
  s.name = y["name"].as<std::string>();
  s.description = y["description"] ? y["description"].as<std::string>() : "";
  s.duration = Dur(y["duration"], s.duration);
  s.step = Dur(y["step"], s.step);
  s.drain = Dur(y["drain"], s.drain);
  if (y["seed"]) s.seed = y["seed"].as<uint64_t>();
  s.users = y["users"].as<int>();
  s.files_per_day = y["files_per_day"].as<double>();
  if (y["files_per_job"]) s.files_per_job = y["files_per_job"].as<double>();
  if (y["diurnal"]) s.diurnal = y["diurnal"].as<double>();
  if (auto f = y["file_size"]) {
    s.size_median_mb = f["median_mb"].as<double>();
    s.size_sigma = f["sigma"].as<double>();
  }
  if (auto f = y["failures"]) {
    for (auto it = f.begin(); it != f.end(); ++it)
      s.failures[it->first.as<std::string>()] = it->second.as<double>();
  }
  const YAML::Node sites = y["sites"];
  const int count = sites["count"].as<int>();
  for (int i = 0; i < count; ++i) {
    Site site;
    site.name = absl::StrFormat("T2_S%03d", i);
    site.out_bytes_per_s = sites["out_mbps"].as<double>() * 1e6;
    site.in_bytes_per_s = sites["in_mbps"].as<double>() * 1e6;
    site.latency = Dur(sites["latency"], absl::Seconds(1));
    site.max_active = sites["max_active"].as<int>();
    s.sites.push_back(site);
  }
  auto find = [&](const std::string& name) -> Site& {
    for (auto& site : s.sites) {
      if (site.name == name) return site;
    }
    std::cerr << "aso-sim: " << path << ": no site " << name << "\n";
    std::exit(2);
  };
  for (const auto& o : y["overrides"]) {
    Site& site = find(o["site"].as<std::string>());
    if (o["out_mbps"]) site.out_bytes_per_s = o["out_mbps"].as<double>() * 1e6;
    if (o["in_mbps"]) site.in_bytes_per_s = o["in_mbps"].as<double>() * 1e6;
  }
  for (const auto& o : y["outages"]) {
    find(o["site"].as<std::string>()).outages.emplace_back(Dur(o["start"], {}), Dur(o["end"], {}));
  }
  if (auto sc = y["scheduler"]) {
    if (sc["link_max_active"]) s.link_max_active = sc["link_max_active"].as<int>();
    if (sc["max_attempts"]) s.max_attempts = sc["max_attempts"].as<int>();
    s.optimizer_interval = Dur(sc["optimizer_interval"], s.optimizer_interval);
    if (sc["optimize"]) s.optimize = sc["optimize"].as<bool>();
  }
  return s;
}

bool Recoverable(const std::string& cls) {
  return cls == "NETWORK" || cls == "TIMEOUT" || cls == "TRANSFER" || cls == "BACKEND" || cls == "CHECKSUM";
}

// The transfer backend: copies take their share of the sites' bandwidth after the sites' latency.
class SimBackend final : public aso::scheduler::AdapterStub {
 public:
  SimBackend(Scenario& s, aso::Clock& clock, absl::Time start)
      : s_(s), clock_(clock), start_(start), rng_(s.seed * 7919 + 1) {
    for (size_t i = 0; i < s_.sites.size(); ++i) index_[s_.sites[i].name] = static_cast<int>(i);
  }

  absl::StatusOr<bool> SubmitJob(const aso::fts_adapter::v1::Job& job) override {
    const absl::Time now = clock_.Now();
    Site& src = s_.sites[index_.at(job.source_site())];
    Site& dst = s_.sites[index_.at(job.destination_site())];
    for (const auto& f : job.files()) {
      ++src.in_flight_out, ++dst.in_flight_in;
      Event e;
      e.source = index_.at(job.source_site());
      e.destination = index_.at(job.destination_site());
      e.outcome.set_transfer_id(f.transfer_id());
      e.outcome.set_attempt(f.attempt());
      e.outcome.set_backend_job_id(job.job_id());
      const absl::Time started = now + std::max(src.latency, dst.latency);
      e.outcome.mutable_started()->set_seconds(absl::ToUnixSeconds(started));
      const double rate =
          std::min(src.out_bytes_per_s / src.in_flight_out, dst.in_bytes_per_s / dst.in_flight_in);
      absl::Time end =
          started + absl::Seconds(static_cast<double>(std::max<int64_t>(f.size_bytes(), 1)) / rate);
      std::string failed;
      if (Down(src, started) || Down(dst, started)) {
        failed = "NETWORK";
        end = started;
      } else {
        double u = std::uniform_real_distribution<double>(0, 1)(rng_);
        for (const auto& [cls, p] : s_.failures) {
          if (u < p) {
            failed = cls;
            end = started + (end - started) * std::uniform_real_distribution<double>(0, 1)(rng_);
            break;
          }
          u -= p;
        }
      }
      e.outcome.mutable_finished()->set_seconds(absl::ToUnixSeconds(end));
      if (failed.empty()) {
        e.outcome.set_state(cv1::TRANSFER_STATE_DONE);
        e.outcome.set_bytes(f.size_bytes());
      } else {
        e.outcome.set_state(cv1::TRANSFER_STATE_FAILED);
        e.outcome.set_failure_class(
            aso::transfer::FailureClassFromName(failed).value_or(cv1::FAILURE_CLASS_GENERAL));
        e.outcome.set_recoverable(Recoverable(failed));
        e.outcome.set_error(absl::StrCat("simulated ", failed, " failure"));
      }
      e.at = end;
      // The copy's start, reported when it has started and only if it is still running then (as a poller
      // of FTS3 sees a file that started and ended between two polls only as ended).
      Event start;
      start.at = started;
      start.end = end;
      start.outcome.set_transfer_id(f.transfer_id());
      start.outcome.set_attempt(f.attempt());
      start.outcome.set_backend_job_id(job.job_id());
      start.outcome.set_state(cv1::TRANSFER_STATE_ACTIVE);
      start.outcome.mutable_started()->set_seconds(absl::ToUnixSeconds(started));
      starts_.push(std::move(start));
      events_.push(std::move(e));
    }
    return false;
  }

  // Outcomes due by `now`: the copies started and still running, then the ends.
  std::vector<cv1::FileOutcome> Due(absl::Time now) {
    std::vector<cv1::FileOutcome> out;
    while (!starts_.empty() && starts_.top().at <= now) {
      if (starts_.top().end > now) out.push_back(starts_.top().outcome);
      starts_.pop();
    }
    while (!events_.empty() && events_.top().at <= now) {
      const Event& e = events_.top();
      --s_.sites[e.source].in_flight_out;
      --s_.sites[e.destination].in_flight_in;
      out.push_back(e.outcome);
      events_.pop();
    }
    return out;
  }
  size_t in_flight() const { return events_.size(); }

 private:
  struct Event {
    absl::Time at, end;  // end: of a start's copy
    int source = 0, destination = 0;
    cv1::FileOutcome outcome;
    bool operator<(const Event& o) const { return at > o.at; }  // earliest first
  };
  bool Down(const Site& site, absl::Time t) const {
    for (const auto& [from, to] : site.outages) {
      if (t >= start_ + from && t < start_ + to) return true;
    }
    return false;
  }

  Scenario& s_;
  aso::Clock& clock_;
  absl::Time start_;
  std::mt19937_64 rng_;
  std::map<std::string, int> index_;
  std::priority_queue<Event> events_;
  std::priority_queue<Event> starts_;
};

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

double Jain(const std::vector<double>& x) {
  double sum = 0, sq = 0;
  for (double v : x) sum += v, sq += v * v;
  return sq == 0 ? 1 : sum * sum / (static_cast<double>(x.size()) * sq);
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  aso::InitLogging("aso-sim", "warning");  // not a line per job
  if (absl::GetFlag(FLAGS_scenario).empty()) return std::cerr << "aso-sim: --scenario FILE is required\n", 2;
  Scenario s = Load(absl::GetFlag(FLAGS_scenario));
  auto tdb = TestDatabase::Create();
  if (!tdb.ok()) return std::cerr << "aso-sim: " << tdb.status() << "\n", 1;
  const absl::Time start = absl::FromUnixSeconds(1'900'000'000);
  aso::FakeClock clock(start);

  {  // The sites, with their limits.
    pqxx::connection c((*tdb)->dsn());
    pqxx::work w(c);
    for (const Site& site : s.sites) {
      w.exec_params(
          "INSERT INTO sites (name, url_prefixes, max_active_outbound, max_active_inbound, updated) "
          "VALUES ($1, ARRAY['root://' || lower($1) || '.example//'], $2, $2, now())",
          site.name, site.max_active);
    }
    w.commit();
  }
  // The simulation measures the logic over virtual time, not durability: its commits do not wait for the
  // disk (synchronous_commit off for this database), so a day takes seconds, not an hour of fsyncs.
  (*tdb)->Exec(absl::StrCat("ALTER DATABASE ", (*tdb)->QueryText("SELECT current_database()"),
                            " SET synchronous_commit = off"));
  if (const char* slow = std::getenv("ASO_SIM_LOG_STATEMENTS_MS"); slow != nullptr) {  // profiling
    (*tdb)->Exec(absl::StrCat("ALTER DATABASE ", (*tdb)->QueryText("SELECT current_database()"),
                              " SET log_min_duration_statement = ", std::atoi(slow)));
  }
  auto sim_db = aso::db::Database::Connect((*tdb)->dsn(), 4);
  if (!sim_db.ok()) return std::cerr << "aso-sim: " << sim_db.status() << "\n", 1;
  auto metrics = std::move(*aso::metrics::Metrics::Start("sim", ""));
  aso::db::PgSchedulingRepository sched_repo(**sim_db);
  aso::db::PgOutcomeRepository outcome_repo(**sim_db);
  SimBackend backend(s, clock, start);
  aso::scheduler::SchedulerConfig sc;
  sc.link_max_active = s.link_max_active;
  sc.default_site_max_active = 1000;
  sc.max_claim_per_link = 1000;
  sc.backend = "sim";
  sc.optimize = s.optimize;
  sc.optimizer_interval = s.optimizer_interval;
  aso::scheduler::Scheduler scheduler(sched_repo, backend, clock, sc, *metrics);
  aso::bookkeeping::RetryPolicyConfig rc;
  rc.max_attempts = s.max_attempts;
  aso::bookkeeping::OutcomeApplier applier(outcome_repo, aso::bookkeeping::RetryPolicy(rc), clock, *metrics);

  // Users: each has a home site (the destination) and three sites where its jobs run; a few users submit
  // most of the files (weights ~ 1/rank).
  std::mt19937_64 rng(s.seed);
  const int n_sites = static_cast<int>(s.sites.size());
  std::vector<double> weights;
  for (int u = 0; u < s.users; ++u) weights.push_back(1.0 / (1 + u % 100));
  std::discrete_distribution<int> pick_user(weights.begin(), weights.end());
  std::lognormal_distribution<double> size_mb(std::log(s.size_median_mb), s.size_sigma);
  const double steps_per_day = absl::Hours(24) / s.step;
  std::vector<int64_t> submitted_by_user(s.users, 0);
  int64_t submitted = 0, next_file = 0;
  std::vector<std::map<std::string, double>> timeline;  // per hour

  pqxx::connection feed((*tdb)->dsn());
  const absl::Time wall_start = absl::Now();
  const absl::Time arrivals_end = start + s.duration, end = arrivals_end + s.drain;
  int64_t hour_done = 0, hour_failed = 0, hour_bytes = 0, hour_arrived = 0;
  int steps_in_hour = 0;
  absl::Duration sched_wall, outcome_wall;
  std::vector<std::string> held;  // the links' waiting reasons when arrivals stop
  // Jobs finish: files arrive at the day/night-modulated rate. Returns how many arrived at `now`.
  auto arrive = [&](absl::Time now) -> int64_t {
    if (now < arrivals_end) {
      const double phase = 2 * M_PI * absl::ToDoubleHours(now - start) / 24;
      const double expected = s.files_per_day / steps_per_day * (1 + s.diurnal * std::sin(phase));
      const int files = std::poisson_distribution<int>(std::max(expected, 0.0))(rng);
      if (files > 0) {
        std::vector<std::string> keys, tasks, users, srcs, src_urls, dsts, dst_urls;
        std::vector<int64_t> sizes;
        int u = pick_user(rng);
        for (int i = 0; i < files; ++i) {
          if (i % static_cast<int>(std::max(1.0, s.files_per_job)) == 0) u = pick_user(rng);
          const int home = u % n_sites;
          int src = static_cast<int>((u * 3 + rng() % 3) % n_sites);
          if (src == home) src = (src + 1) % n_sites;
          const int64_t id = next_file++;
          keys.push_back(absl::StrCat("f", id));
          tasks.push_back(absl::StrCat("sim-u", u));
          users.push_back(absl::StrCat("u", u));
          srcs.push_back(s.sites[src].name);
          src_urls.push_back(
              absl::StrCat("root://", s.sites[src].name, ".example//store/temp/", id, ".root"));
          dsts.push_back(s.sites[home].name);
          dst_urls.push_back(
              absl::StrCat("root://", s.sites[home].name, ".example//store/user/u", u, "/", id, ".root"));
          sizes.push_back(static_cast<int64_t>(std::min(size_mb(rng), 20000.0) * 1e6));
          ++submitted_by_user[u];
        }
        pqxx::work w(feed);
        w.exec_params(
            "INSERT INTO tasks (task_id, username, created, updated) SELECT DISTINCT t, u, to_timestamp($3), "
            "to_timestamp($3) FROM unnest($1::text[], $2::text[]) AS x(t, u) ON CONFLICT DO NOTHING",
            aso::db::TextArray(tasks), aso::db::TextArray(users), aso::db::EpochSeconds(now));
        w.exec_params(
            "INSERT INTO transfers (idempotency_key, task_id, username, source_site, source_url, "
            "destination_site, "
            "destination_url, size_bytes, priority, not_before, created, updated) "
            "SELECT k, t, u, s, su, d, du, b, 3, to_timestamp($9), to_timestamp($9), to_timestamp($9) "
            "FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], "
            "$8::bigint[]) AS x(k, t, u, s, su, d, du, b)",
            aso::db::TextArray(keys), aso::db::TextArray(tasks), aso::db::TextArray(users),
            aso::db::TextArray(srcs), aso::db::TextArray(src_urls), aso::db::TextArray(dsts),
            aso::db::TextArray(dst_urls), aso::db::IntArray(sizes), aso::db::EpochSeconds(now));
        w.commit();
        return files;
      }
    }
    return 0;
  };
  int64_t fed = arrive(start);  // the first step's files; then each step's during the round before it
  std::thread feeder;
  for (absl::Time now = start; now < end; now += s.step) {
    clock.SetTime(now);
    // The backend's outcomes due by now go to bookkeeping while the step's new files are being inserted
    // (ingest and bookkeeping are two services, on their own connections); then the scheduler's round sees
    // both.
    std::vector<cv1::FileOutcome> due = backend.Due(now);
    for (const auto& o : due) {
      if (o.state() == cv1::TRANSFER_STATE_DONE) ++hour_done, hour_bytes += o.bytes();
      if (o.state() == cv1::TRANSFER_STATE_FAILED) ++hour_failed;
    }
    const absl::Time t_outcomes = absl::Now();
    {
      // Reports arrive from several pollers and copiers at once: two concurrent reports per step.
      std::vector<cv1::FileOutcome> halves[2];
      for (size_t i = 0; i < due.size(); ++i) halves[i % 2].push_back(due[i]);
      auto apply = [&applier](const std::vector<cv1::FileOutcome>& list) {
        for (size_t i = 0; i < list.size(); i += 2000) {
          std::vector<cv1::FileOutcome> part(list.begin() + i,
                                             list.begin() + std::min(list.size(), i + 2000));
          for (const auto& r : applier.ApplyAll(part)) {
            if (!r.ok()) std::cerr << "aso-sim: outcome: " << r.status() << "\n";
          }
        }
      };
      std::thread second(apply, std::cref(halves[1]));
      apply(halves[0]);
      second.join();
    }
    if (feeder.joinable()) feeder.join();
    submitted += fed;
    hour_arrived += fed;
    outcome_wall += absl::Now() - t_outcomes;
    // The next step's files are inserted during this round: not before their time, so the round does not
    // take them (they are not ready until then).
    feeder = std::thread([&arrive, &fed, next = now + s.step] { fed = arrive(next); });
    const absl::Time t_sched = absl::Now();
    if (auto n = scheduler.RunOnce(); !n.ok())
      std::cerr << "aso-sim: scheduler round: " << n.status() << "\n";
    sched_wall += absl::Now() - t_sched;
    if (now == arrivals_end - s.step) {
      pqxx::connection c((*tdb)->dsn());
      pqxx::work w(c);
      for (const auto& r :
           w.exec("SELECT waiting_reason, optimizer_reason FROM links WHERE waiting_reason <> '' "
                  "ORDER BY source_site, destination_site LIMIT 5")) {
        held.push_back(absl::StrCat(r[0].as<std::string>(), " (optimizer: ", r[1].as<std::string>(), ")"));
      }
    }
    for (Site& site : s.sites) {
      site.busy_out_sum += site.in_flight_out;
      site.peak_out = std::max<double>(site.peak_out, site.in_flight_out);
    }
    if (++steps_in_hour == static_cast<int>(absl::Hours(1) / s.step)) {
      timeline.push_back({{"hour", static_cast<double>(timeline.size())},
                          {"arrived", static_cast<double>(hour_arrived)},
                          {"done", static_cast<double>(hour_done)},
                          {"failed_attempts", static_cast<double>(hour_failed)},
                          {"bytes", static_cast<double>(hour_bytes)},
                          {"in_flight", static_cast<double>(backend.in_flight())}});
      hour_arrived = hour_done = hour_failed = hour_bytes = 0;
      steps_in_hour = 0;
    }
    if (now >= arrivals_end && backend.in_flight() == 0 &&
        (*tdb)->QueryInt("SELECT count(*) FROM transfers WHERE live") == 0) {
      break;
    }
  }
  if (feeder.joinable()) feeder.join();  // arrivals after the end are none (or, on a break, never counted)
  const double wall = absl::ToDoubleSeconds(absl::Now() - wall_start);
  const double steps = static_cast<double>((clock.Now() - start) / s.step) + 1;

  // The results, from the database.
  auto& db = **tdb;
  const int64_t in_db = db.QueryInt("SELECT count(*) FROM transfers");
  const int64_t done = db.QueryInt("SELECT count(*) FROM transfers WHERE state = 'DONE'");
  const int64_t failed = db.QueryInt("SELECT count(*) FROM transfers WHERE state = 'FAILED'");
  const int64_t live = db.QueryInt("SELECT count(*) FROM transfers WHERE live");
  const int64_t done_twice = db.QueryInt(
      "SELECT count(*) FROM (SELECT transfer_id FROM attempts WHERE result = 'DONE' GROUP BY 1 HAVING "
      "count(*) > 1) x");
  const int64_t done_without = db.QueryInt(
      "SELECT count(*) FROM transfers t WHERE state = 'DONE' AND NOT EXISTS "
      "(SELECT 1 FROM attempts a WHERE a.transfer_id = t.id AND a.result = 'DONE')");
  const int64_t lost = (submitted - in_db) + done_twice + done_without;
  const int64_t attempts = db.QueryInt("SELECT count(*) FROM attempts");
  const std::string day_bytes =
      db.QueryText("SELECT COALESCE(sum(bytes), 0) FROM attempts WHERE result = 'DONE'");
  // Queue time: from submission to the start of the first attempt.
  std::vector<double> waits;
  std::map<std::string, std::vector<double>> by_user, by_site;
  {
    pqxx::connection c(db.dsn());
    pqxx::work w(c);
    for (const auto& r :
         w.exec("SELECT t.username, t.source_site, extract(epoch FROM a.started - t.created) "
                "FROM transfers t JOIN attempts a ON a.transfer_id = t.id AND a.attempt = 1")) {
      const double wsec = r[2].as<double>();
      waits.push_back(wsec);
      by_user[r[0].as<std::string>()].push_back(wsec);
      by_site[r[1].as<std::string>()].push_back(wsec);
    }
  }
  std::vector<double> served;  // per user: the share of its files DONE
  {
    pqxx::connection c(db.dsn());
    pqxx::work w(c);
    for (const auto& r :
         w.exec("SELECT username, count(*) FILTER (WHERE state = 'DONE'), count(*) FROM transfers "
                "GROUP BY 1")) {
      served.push_back(r[1].as<double>() / r[2].as<double>());
    }
  }
  std::vector<double> user_p50, site_p50;
  for (auto& [u, v] : by_user) user_p50.push_back(Percentile(v, 0.5));
  std::vector<std::pair<std::string, double>> sites_util;
  for (auto& [site, v] : by_site) site_p50.push_back(Percentile(v, 0.5));
  for (const Site& site : s.sites)
    sites_util.emplace_back(site.name, site.busy_out_sum / steps / site.max_active);

  // Table.
  const double sim_hours = absl::ToDoubleHours(clock.Now() - start);
  std::cout << absl::StrFormat("scenario %s: %s\n", s.name, s.description);
  std::cout << absl::StrFormat("%-46s %s\n", "simulated time", absl::FormatDuration(clock.Now() - start));
  std::cout << absl::StrFormat("%-46s %.1f s (%.0fx real time)\n", "wall time", wall,
                               sim_hours * 3600 / wall);
  std::cout << absl::StrFormat("%-46s %d files, %d users, %d sites\n", "submitted", submitted, s.users,
                               n_sites);
  std::cout << absl::StrFormat("%-46s %d DONE, %d FAILED, %d not finished\n", "outcome", done, failed, live);
  std::cout << absl::StrFormat("%-46s %d (%.3f per file)\n", "attempts", attempts,
                               static_cast<double>(attempts) / std::max<int64_t>(submitted, 1));
  std::cout << absl::StrFormat("%-46s %.0f files/day, %.2f TB/day\n",
                               "throughput (DONE over the simulated time)",
                               static_cast<double>(done) / std::max(sim_hours, 1e-9) * 24,
                               std::stod(day_bytes) / 1e12 / std::max(sim_hours, 1e-9) * 24);
  std::cout << absl::StrFormat(
      "%-46s p50 %s  p90 %s  p99 %s\n", "queue time (submission to first start)",
      absl::FormatDuration(absl::Seconds(static_cast<int64_t>(Percentile(waits, 0.5)))),
      absl::FormatDuration(absl::Seconds(static_cast<int64_t>(Percentile(waits, 0.9)))),
      absl::FormatDuration(absl::Seconds(static_cast<int64_t>(Percentile(waits, 0.99)))));
  std::cout << absl::StrFormat("%-46s min %.0f s  median %.0f s  max %.0f s\n", "per-user median queue time",
                               Percentile(user_p50, 0), Percentile(user_p50, 0.5), Percentile(user_p50, 1));
  std::cout << absl::StrFormat("%-46s min %.0f s  median %.0f s  max %.0f s\n", "per-site median queue time",
                               Percentile(site_p50, 0), Percentile(site_p50, 0.5), Percentile(site_p50, 1));
  std::cout << absl::StrFormat("%-46s %.4f\n", "fairness (Jain, users' share of demand served)",
                               Jain(served));
  std::vector<double> util;
  for (auto& [n, v] : sites_util) util.push_back(v);
  double peak = 0;
  for (const Site& site : s.sites) peak = std::max(peak, site.peak_out / site.max_active);
  std::cout << absl::StrFormat("%-46s mean %.0f%%  busiest %.0f%%  peak %.0f%% (never above 100%%)\n",
                               "site utilization (outbound vs limit)", 100 * Percentile(util, 0.5),
                               100 * Percentile(util, 1), 100 * peak);
  std::cout << absl::StrFormat("%-46s %d\n", "files lost (must be 0)", lost);
  std::cout << absl::StrFormat("%-46s scheduler %.0f s, bookkeeping %.0f s\n", "wall time in the real logic",
                               absl::ToDoubleSeconds(sched_wall), absl::ToDoubleSeconds(outcome_wall));
  for (const std::string& h : held)
    std::cout << absl::StrFormat("%-46s %s\n", "held when the arrivals stop", h);

  // One JSON line, as every benchmark prints (bench/run collects them).
  std::cout << absl::StrFormat(
      "{\"bench\":\"sim\",\"scenario\":\"%s\",\"simulated_hours\":%.2f,\"wall_seconds\":%.1f,"
      "\"speedup\":%.0f,\"submitted\":%d,\"done\":%d,\"failed\":%d,\"not_finished\":%d,\"lost\":%d,"
      "\"files_per_day\":%.0f,\"queue_p50_s\":%.0f,\"queue_p90_s\":%.0f,\"queue_p99_s\":%.0f,"
      "\"fairness_jain\":%.4f}\n",
      s.name, sim_hours, wall, sim_hours * 3600 / wall, submitted, done, failed, live, lost,
      static_cast<double>(done) / std::max(sim_hours, 1e-9) * 24, Percentile(waits, 0.5),
      Percentile(waits, 0.9), Percentile(waits, 0.99), Jain(served));
  if (const std::string path = absl::GetFlag(FLAGS_json); !path.empty()) {
    YAML::Emitter j;  // flow style with double-quoted strings: JSON
    j.SetStringFormat(YAML::DoubleQuoted);
    j.SetMapFormat(YAML::Flow);
    j.SetSeqFormat(YAML::Flow);
    j << YAML::BeginMap;
    j << YAML::Key << "scenario" << YAML::Value << s.name;
    j << YAML::Key << "description" << YAML::Value << s.description;
    j << YAML::Key << "simulated_hours" << YAML::Value << sim_hours;
    j << YAML::Key << "wall_seconds" << YAML::Value << wall;
    j << YAML::Key << "submitted" << YAML::Value << submitted;
    j << YAML::Key << "done" << YAML::Value << done;
    j << YAML::Key << "failed" << YAML::Value << failed;
    j << YAML::Key << "not_finished" << YAML::Value << live;
    j << YAML::Key << "attempts" << YAML::Value << attempts;
    j << YAML::Key << "lost" << YAML::Value << lost;
    j << YAML::Key << "users" << YAML::Value << s.users;
    j << YAML::Key << "sites" << YAML::Value << n_sites;
    j << YAML::Key << "fairness_jain" << YAML::Value << Jain(served);
    j << YAML::Key << "queue_seconds" << YAML::Value << YAML::BeginMap << YAML::Key << "p50" << YAML::Value
      << Percentile(waits, 0.5) << YAML::Key << "p90" << YAML::Value << Percentile(waits, 0.9) << YAML::Key
      << "p99" << YAML::Value << Percentile(waits, 0.99) << YAML::EndMap;
    j << YAML::Key << "queue_p50_by_user" << YAML::Value << YAML::BeginMap;
    for (auto& [u, v] : by_user) j << YAML::Key << u << YAML::Value << Percentile(v, 0.5);
    j << YAML::EndMap << YAML::Key << "queue_p50_by_site" << YAML::Value << YAML::BeginMap;
    for (auto& [site, v] : by_site) j << YAML::Key << site << YAML::Value << Percentile(v, 0.5);
    j << YAML::EndMap << YAML::Key << "site_utilization" << YAML::Value << YAML::BeginMap;
    for (auto& [site, v] : sites_util) j << YAML::Key << site << YAML::Value << v;
    j << YAML::EndMap << YAML::Key << "hourly" << YAML::Value << YAML::BeginSeq;
    for (const auto& h : timeline) {
      j << YAML::BeginMap;
      for (const auto& [k, v] : h) j << YAML::Key << k << YAML::Value << v;
      j << YAML::EndMap;
    }
    j << YAML::EndSeq << YAML::EndMap;
    std::ofstream(path) << j.c_str() << "\n";
  }
  return lost == 0 ? 0 : 1;
}
