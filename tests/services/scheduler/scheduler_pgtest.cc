#include "services/scheduler/scheduler.h"

#include <cstdlib>
#include <pqxx/pqxx>
#include <random>
#include <set>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/common/clock.h"
#include "libs/common/periodic_loop.h"
#include "libs/db/notification_listener.h"
#include "tests/libs/db/db_test_util.h"

namespace aso::scheduler {
namespace {

using ::testing::HasSubstr;

class FakeAdapter : public AdapterStub {
 public:
  absl::StatusOr<bool> SubmitJob(const aso::fts_adapter::v1::Job& job) override {
    absl::MutexLock lock(&mu);
    if (refuse) return absl::InvalidArgumentError("job.files[0]: unsupported URL scheme");
    if (!fail_with.ok()) return fail_with;
    bool known = false;
    for (const auto& j : jobs) known = known || j.job_id() == job.job_id();
    jobs.push_back(job);
    if (on_job) on_job();
    return known;
  }
  // (transfer id, attempt) of every file received, in order.
  std::vector<std::pair<int64_t, int>> Files() {
    absl::MutexLock lock(&mu);
    std::vector<std::pair<int64_t, int>> out;
    for (const auto& j : jobs) {
      for (const auto& f : j.files()) out.emplace_back(f.transfer_id(), f.attempt());
    }
    return out;
  }
  bool KnownUnreachable() override {
    absl::MutexLock lock(&mu);
    return known_unreachable;
  }
  absl::Mutex mu;
  bool known_unreachable = false;
  absl::Status fail_with;
  bool refuse = false;
  std::function<void()> on_job;
  std::vector<aso::fts_adapter::v1::Job> jobs;
};

class SchedulerTest : public aso::db::PgTest {
 protected:
  void SetUp() override {
    PgTest::SetUp();
    if (HasFatalFailure()) return;
    aso::db::AddSite(tdb_->db(), "A");
    aso::db::AddSite(tdb_->db(), "B");
    auto m = metrics::Metrics::Start("scheduler", "");
    ASSERT_TRUE(m.ok());
    metrics_ = std::move(*m);
    repo_ = std::make_unique<aso::db::PgSchedulingRepository>(tdb_->db());
    config_.link_max_active = 5;
    config_.job_limits.max_files = 2;
    config_.optimize = false;
  }
  int64_t Count(const std::string& where) {
    return tdb_->QueryInt(absl::StrCat("SELECT count(*) FROM transfers WHERE ", where));
  }
  std::string LinkWaiting(const std::string& src, const std::string& dst) {
    return tdb_->QueryText(
        absl::StrCat("SELECT COALESCE(max(waiting_reason), '') FROM links WHERE source_site = '", src,
                     "' AND destination_site = '", dst, "'"));
  }
  // The in-flight files end: DONE (with `bytes` each) or, for every `fail_every`-th of them in id order,
  // FAILED as a transfer error.
  void FinishInFlight(int64_t bytes, int fail_every = 0) {
    const std::string failed =
        fail_every > 0
            ? absl::StrCat(
                  "id IN (SELECT id FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM transfers "
                  "WHERE state = 'SUBMITTING') x WHERE n % ",
                  fail_every, " = 0)")
            : "false";
    tdb_->Exec(absl::StrCat(
        "INSERT INTO attempts (transfer_id, attempt, backend_job_id, result, source_site, destination_site, "
        "finished, bytes, failure_class) SELECT id, attempt, backend_job_id, CASE WHEN ",
        failed, " THEN 'FAILED' ELSE 'DONE' END, source_site, destination_site, now(), ", bytes,
        ", CASE WHEN ", failed, " THEN 'TRANSFER' ELSE '' END FROM transfers WHERE state = 'SUBMITTING'"));
    tdb_->Exec(absl::StrCat("UPDATE transfers SET state = CASE WHEN ", failed,
                            " THEN 'FAILED' ELSE 'DONE' END WHERE state = 'SUBMITTING'"));
  }
  std::unique_ptr<metrics::Metrics> metrics_;
  std::unique_ptr<aso::db::PgSchedulingRepository> repo_;
  FakeClock clock_{aso::db::kT0};
  FakeAdapter adapter_;
  SchedulerConfig config_;
};

TEST_F(SchedulerTest, DispatchesWithinTheLinkLimitInJobsPerUser) {
  aso::db::InsertTransfers(tdb_->db(), 4, "a", "A", "B", "alice");
  aso::db::InsertTransfers(tdb_->db(), 4, "b", "A", "B", "bob");
  Scheduler scheduler(*repo_, adapter_, clock_, config_, *metrics_);
  auto n = scheduler.RunOnce();
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 5);
  EXPECT_EQ(tdb_->QueryInt(aso::db::kCountSubmitted), 5);
  // The claim filled the link: counted after the claim, shared by both users.
  EXPECT_EQ(
      LinkWaiting("A", "B"),
      "link A -> B is full: 5 of 5 transfers active, shared fairly between 2 users with files ready on it");
  for (const auto& job : adapter_.jobs) {
    EXPECT_LE(job.files_size(), 2);
    for (const auto& f : job.files()) {
      EXPECT_EQ(tdb_->QueryText(absl::StrCat("SELECT username FROM transfers WHERE id = ", f.transfer_id())),
                job.user());
      EXPECT_EQ(f.attempt(), 1);
    }
  }
  EXPECT_EQ(*scheduler.RunOnce(), 0);  // the link is full
  EXPECT_THAT(LinkWaiting("A", "B"), HasSubstr("link A -> B is full: 5 of 5 transfers active"));
}

// The adapter cannot be reached: it may have stored the job anyway, so the files stay SUBMITTING (still
// counted against the limits) and the same job is sent again later; the backend shows as unreachable, and
// the scheduler backs off until a job is accepted again.
TEST_F(SchedulerTest, UnreachableAdapterGetsTheSameJobAgainAfterABackOff) {
  aso::db::InsertTransfers(tdb_->db(), 2, "a");
  adapter_.fail_with = absl::UnavailableError("connection refused");
  Scheduler scheduler(*repo_, adapter_, clock_, config_, *metrics_);
  auto n = scheduler.RunOnce();
  EXPECT_TRUE(absl::IsUnavailable(n.status())) << n.status();
  EXPECT_EQ(Count("state = 'SUBMITTING' AND attempt = 1"), 2);
  const std::string job_id = tdb_->QueryText("SELECT min(backend_job_id) FROM transfers");
  EXPECT_EQ(tdb_->QueryText("SELECT available::text || ' ' || last_error FROM backends WHERE name = 'fts'"),
            "false adapter: connection refused");
  db::PgTransferRepository transfers(tdb_->db());
  aso::db::InsertTransfers(tdb_->db(), 1, "later");
  auto later = transfers.Get(3, clock_.Now());
  ASSERT_TRUE(later.ok());
  EXPECT_THAT(later->waiting_reason(), HasSubstr("transfer backend fts unreachable since"));
  adapter_.fail_with = absl::OkStatus();
  EXPECT_EQ(*scheduler.RunOnce(), 0);  // backing off
  ASSERT_GT(scheduler.backoff_until(), clock_.Now());
  clock_.AdvanceTime(config_.resubmit_after + absl::Seconds(1));
  EXPECT_EQ(*scheduler.RunOnce(), 3);
  ASSERT_EQ(adapter_.jobs.size(), 2u);
  EXPECT_EQ(adapter_.jobs[0].job_id(), job_id);  // the same job, re-sent
  EXPECT_EQ(adapter_.Files().size(), 3u);
  EXPECT_EQ(tdb_->QueryInt("SELECT max(attempt) FROM transfers"), 1);
  EXPECT_EQ(tdb_->QueryText("SELECT available::text FROM backends WHERE name = 'fts'"), "true");
}

// An adapter known to be unreachable before the call (its connection failing): the claimed files were
// certainly not delivered and go back to the queue as they were.
TEST_F(SchedulerTest, FilesClaimedWhileTheAdapterIsDownReturnToTheQueue) {
  aso::db::InsertTransfers(tdb_->db(), 3, "a");
  adapter_.known_unreachable = true;
  Scheduler scheduler(*repo_, adapter_, clock_, config_, *metrics_);
  auto n = scheduler.RunOnce();
  EXPECT_TRUE(absl::IsUnavailable(n.status())) << n.status();
  EXPECT_TRUE(adapter_.jobs.empty());  // nothing was sent
  EXPECT_EQ(Count("state = 'QUEUED' AND attempt = 0 AND backend_job_id IS NULL"), 3);
  EXPECT_EQ(tdb_->QueryInt("SELECT count(*) FROM submissions"), 0);
  adapter_.known_unreachable = false;
  clock_.SetTime(scheduler.backoff_until());
  EXPECT_EQ(*scheduler.RunOnce(), 3);
  for (const auto& [id, attempt] : adapter_.Files()) EXPECT_EQ(attempt, 1) << id;
}

TEST_F(SchedulerTest, UnconfirmedJobIsResentUnderTheSameId) {
  aso::db::InsertTransfers(tdb_->db(), 2, "a");
  adapter_.fail_with = absl::DeadlineExceededError("deadline");
  Scheduler scheduler(*repo_, adapter_, clock_, config_, *metrics_);
  EXPECT_EQ(*scheduler.RunOnce(), 0);
  EXPECT_EQ(Count("state = 'SUBMITTING'"), 2);  // the adapter may have it
  const std::string job_id = tdb_->QueryText("SELECT min(backend_job_id) FROM transfers");
  adapter_.fail_with = absl::OkStatus();
  EXPECT_EQ(*scheduler.RunOnce(), 0);  // too early to re-send
  clock_.AdvanceTime(config_.resubmit_after + absl::Seconds(1));
  EXPECT_EQ(*scheduler.RunOnce(), 2);
  ASSERT_EQ(adapter_.jobs.size(), 1u);
  EXPECT_EQ(adapter_.jobs[0].job_id(), job_id);
  EXPECT_EQ(tdb_->QueryInt(aso::db::kCountSubmitted), 2);
  EXPECT_EQ(tdb_->QueryInt("SELECT max(attempt) FROM transfers"), 1);  // not a new attempt
}

// PostgreSQL goes away (connections refused) and comes back: the rounds fail without losing anything, the
// scheduler backs off (doubling), and dispatches once the database is back.
TEST_F(SchedulerTest, SurvivesAPostgreSQLOutage) {
  aso::db::InsertTransfers(tdb_->db(), 2, "a");
  Scheduler scheduler(*repo_, adapter_, clock_, config_, *metrics_);
  const std::string name = tdb_->QueryText("SELECT current_database()");
  const char* server = std::getenv("ASO_TEST_PG");
  ASSERT_NE(server, nullptr);
  pqxx::connection admin(server);
  auto sql = [&](const std::string& q) { pqxx::nontransaction(admin).exec(q); };
  sql(absl::StrCat("ALTER DATABASE ", name, " ALLOW_CONNECTIONS false"));
  sql(absl::StrCat("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '", name, "'"));
  auto down = scheduler.RunOnce();
  EXPECT_TRUE(absl::IsUnavailable(down.status())) << down.status();
  const absl::Duration first = scheduler.backoff_until() - clock_.Now();
  EXPECT_GT(first, absl::ZeroDuration());
  EXPECT_EQ(*scheduler.RunOnce(), 0);  // backing off: no attempt
  clock_.SetTime(scheduler.backoff_until());
  EXPECT_FALSE(scheduler.RunOnce().ok());
  EXPECT_EQ(scheduler.backoff_until() - clock_.Now(), 2 * first);
  sql(absl::StrCat("ALTER DATABASE ", name, " ALLOW_CONNECTIONS true"));
  clock_.SetTime(scheduler.backoff_until());
  auto up = scheduler.RunOnce();
  ASSERT_TRUE(up.ok()) << up.status();
  EXPECT_EQ(*up, 2);
  EXPECT_EQ(tdb_->QueryInt(aso::db::kCountSubmitted), 2);
}

TEST_F(SchedulerTest, RefusedJobFailsItsFilesInsteadOfLooping) {
  aso::db::InsertTransfers(tdb_->db(), 2, "a");
  adapter_.refuse = true;
  Scheduler scheduler(*repo_, adapter_, clock_, config_, *metrics_);
  EXPECT_EQ(*scheduler.RunOnce(), 0);
  EXPECT_EQ(Count("state = 'FAILED' AND failure_class = 'BACKEND'"), 2);
  EXPECT_NE(tdb_->QueryText("SELECT min(failure_reason) FROM transfers").find("unsupported URL scheme"),
            std::string::npos);
  clock_.AdvanceTime(config_.resubmit_after * 2);
  EXPECT_EQ(*scheduler.RunOnce(), 0);
}

TEST_F(SchedulerTest, PausedLinksAndDrainingOrBannedSitesGetNoNewWork) {
  auto ids = aso::db::InsertTransfers(tdb_->db(), 2, "a");
  Scheduler scheduler(*repo_, adapter_, clock_, config_, *metrics_);
  ASSERT_TRUE(repo_->SetLink("A", "B", std::nullopt, true, clock_.Now()).ok());
  EXPECT_EQ(*scheduler.RunOnce(), 0);
  EXPECT_EQ(LinkWaiting("A", "B"), "link A -> B is paused by an administrator");
  db::PgTransferRepository transfers(tdb_->db());
  EXPECT_EQ(transfers.Get(ids[0], clock_.Now())->waiting_reason(),
            "link A -> B is paused by an administrator");
  ASSERT_TRUE(repo_->SetLink("A", "B", std::nullopt, false, clock_.Now()).ok());
  for (const char* state : {"DRAINING", "BANNED"}) {
    ASSERT_TRUE(repo_->SetSiteState("B", state, clock_.Now()).ok());
    EXPECT_EQ(*scheduler.RunOnce(), 0) << state;
  }
  EXPECT_EQ(transfers.Get(ids[0], clock_.Now())->waiting_reason(), "destination site B is banned");
  EXPECT_TRUE(absl::IsNotFound(repo_->SetSiteState("Z", "BANNED", clock_.Now())));
  ASSERT_TRUE(repo_->SetSiteState("B", "ENABLED", clock_.Now()).ok());
  EXPECT_EQ(*scheduler.RunOnce(), 2);
}

TEST_F(SchedulerTest, BackendLimitHoldsAcrossLinks) {
  aso::db::AddSite(tdb_->db(), "C");
  auto ids = aso::db::InsertTransfers(tdb_->db(), 4, "ab", "A", "B");
  aso::db::InsertTransfers(tdb_->db(), 4, "ac", "A", "C");
  ASSERT_TRUE(repo_->SetBackendLimit("fts", 3, clock_.Now()).ok());
  Scheduler scheduler(*repo_, adapter_, clock_, config_, *metrics_);
  EXPECT_EQ(*scheduler.RunOnce(), 3);
  EXPECT_EQ(*scheduler.RunOnce(), 0);
  EXPECT_EQ(tdb_->QueryInt("SELECT count(*) FROM transfer_live"), 3);
  EXPECT_THAT(LinkWaiting("A", "C") + LinkWaiting("A", "B"),
              HasSubstr("transfer backend fts is full: 3 of 3 transfers"));
  FinishInFlight(1000);
  EXPECT_EQ(*scheduler.RunOnce(), 3);
  EXPECT_EQ(repo_->GetBackend("fts")->active, -1);  // not counted unless asked
  auto backend = repo_->GetBackend("fts", /*count_active=*/true);
  ASSERT_TRUE(backend.ok());
  EXPECT_EQ(backend->active, 3);
  EXPECT_EQ(backend->max_active, 3);
}

// A partly filled job waits up to the linger time for more files while its link is busy; an idle link
// sends at once.
TEST_F(SchedulerTest, PartialJobsLingerOnlyWhileTheLinkIsBusy) {
  config_.job_limits.max_files = 4;
  config_.job_limits.linger = absl::Seconds(2);
  config_.link_max_active = 10;
  Scheduler scheduler(*repo_, adapter_, clock_, config_, *metrics_);
  aso::db::InsertTransfers(tdb_->db(), 1, "first");
  EXPECT_EQ(*scheduler.RunOnce(), 1);  // idle link: no waiting
  tdb_->Exec(absl::StrCat("UPDATE transfers SET updated = to_timestamp(", absl::ToUnixSeconds(clock_.Now()),
                          ") WHERE state = 'QUEUED'"));
  aso::db::InsertTransfers(tdb_->db(), 2, "second");
  tdb_->Exec(absl::StrCat("UPDATE transfers SET updated = to_timestamp(", absl::ToUnixSeconds(clock_.Now()),
                          ") WHERE state = 'QUEUED'"));
  EXPECT_EQ(*scheduler.RunOnce(), 0);  // busy link, 2 of 4: lingers
  EXPECT_EQ(Count("state = 'QUEUED'"), 2);
  aso::db::InsertTransfers(tdb_->db(), 2, "third");
  tdb_->Exec(absl::StrCat("UPDATE transfers SET updated = to_timestamp(", absl::ToUnixSeconds(clock_.Now()),
                          ") WHERE state = 'QUEUED'"));
  EXPECT_EQ(*scheduler.RunOnce(), 4);  // a full job goes at once
  aso::db::InsertTransfers(tdb_->db(), 1, "fourth");
  tdb_->Exec(absl::StrCat("UPDATE transfers SET updated = to_timestamp(", absl::ToUnixSeconds(clock_.Now()),
                          ") WHERE state = 'QUEUED'"));
  EXPECT_EQ(*scheduler.RunOnce(), 0);
  clock_.AdvanceTime(absl::Seconds(2));
  EXPECT_EQ(*scheduler.RunOnce(), 1);  // lingered long enough
  ASSERT_EQ(adapter_.jobs.size(), 3u);
  EXPECT_EQ(adapter_.jobs[1].files_size(), 4);
}

// The adaptive limit starts in the middle of [min, ceiling], climbs to the ceiling on a healthy link whose
// throughput grows with concurrency, and falls to the minimum once half of the copies fail.
TEST_F(SchedulerTest, AdaptiveConcurrencyConvergesUpWhenHealthyAndDownWhenFailing) {
  config_.optimize = true;
  config_.link_max_active = 40;
  config_.max_claim_per_link = 1000;
  config_.job_limits.max_files = 100;
  config_.optimizer.min_active = 2;
  tdb_->Exec(
      "INSERT INTO tasks (task_id, username, created, updated) VALUES ('t', 'alice', now(), now());"
      "INSERT INTO transfers (idempotency_key, task_id, username, source_site, source_url, destination_site, "
      "destination_url, not_before, created, updated) SELECT 'k' || g, 't', 'alice', 'A', "
      "'root://A.example//s/' || g, 'B', 'root://B.example//d/' || g, to_timestamp(0), now(), "
      "to_timestamp(0) FROM generate_series(1, 5000) g");
  Scheduler scheduler(*repo_, adapter_, clock_, config_, *metrics_);
  auto limit = [&] {
    auto links = repo_->ListLinks(clock_.Now());
    return links.ok() && !links->empty() ? scheduler.LinkLimit((*links)[0]) : -1;
  };
  ASSERT_TRUE(scheduler.RunOnce().ok());  // starts the optimizer's cursor
  EXPECT_EQ(limit(), 21);
  EXPECT_EQ(Count("state = 'SUBMITTING'"), 21);
  std::vector<int> seen;
  for (int step = 0; step < 12; ++step) {
    FinishInFlight(1'000'000);  // throughput = files in flight per window: rises with the limit
    clock_.AdvanceTime(config_.optimizer_interval);
    ASSERT_TRUE(scheduler.RunOnce().ok());
    seen.push_back(limit());
  }
  EXPECT_EQ(seen.back(), 40) << ::testing::PrintToString(seen);
  EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end())) << ::testing::PrintToString(seen);
  EXPECT_EQ(Count("state = 'SUBMITTING'"), 40);
  EXPECT_THAT(tdb_->QueryText("SELECT optimizer_reason FROM links"), HasSubstr("success rate 100.0%"));
  seen.clear();
  for (int step = 0; step < 8; ++step) {
    FinishInFlight(1'000'000, 2);
    clock_.AdvanceTime(config_.optimizer_interval);
    ASSERT_TRUE(scheduler.RunOnce().ok());
    seen.push_back(limit());
  }
  EXPECT_EQ(seen.back(), 2) << ::testing::PrintToString(seen);
  EXPECT_LE(Count("state = 'SUBMITTING'"), 2);
  EXPECT_THAT(tdb_->QueryText("SELECT optimizer_reason FROM links"), HasSubstr("shrinking: success rate"));
}

// Two replicas step the optimizer once per interval between them, not once each.
TEST_F(SchedulerTest, ReplicasShareOneOptimizerStep) {
  config_.optimize = true;
  config_.link_max_active = 40;
  config_.job_limits.max_files = 100;
  aso::db::InsertTransfers(tdb_->db(), 300, "a");
  FakeAdapter other;
  db::PgSchedulingRepository other_repo(tdb_->db());
  Scheduler one(*repo_, adapter_, clock_, config_, *metrics_);
  Scheduler two(other_repo, other, clock_, config_, *metrics_);
  ASSERT_TRUE(one.RunOnce().ok());
  ASSERT_TRUE(two.RunOnce().ok());
  EXPECT_EQ(Count("state = 'SUBMITTING'"), 21);  // the middle of [2, 40]
  FinishInFlight(1'000'000);
  clock_.AdvanceTime(config_.optimizer_interval);
  ASSERT_TRUE(one.RunOnce().ok());
  ASSERT_TRUE(two.RunOnce().ok());
  EXPECT_EQ(tdb_->QueryInt("SELECT optimized_active FROM links"), 25);  // 21 + 15%, once
  EXPECT_EQ(Count("state = 'SUBMITTING'"), 25);
}

// Two replicas reading the optimizer's step at once: only the first store takes effect, with its cursor,
// and the other is told it did not step (no lock is held while a step is decided).
TEST_F(SchedulerTest, ConcurrentOptimizerStepsStoreOnlyOne) {
  db::PgSchedulingRepository other(tdb_->db());
  const absl::Duration interval = absl::Seconds(5);
  auto no_decisions = [](const std::vector<db::LinkOutcomes>&, absl::Duration) {
    return std::vector<db::LinkDecision>{};
  };
  auto first = repo_->OptimizeLinks(db::kT0, interval, no_decisions);  // starts the cursor
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(*first);
  aso::db::InsertTransfers(tdb_->db(), 3, "a", "A", "B", "alice");
  tdb_->Exec(
      "INSERT INTO attempts (transfer_id, attempt, backend_job_id, result, source_site, destination_site, "
      "finished, bytes) SELECT id, 1, 'j', 'DONE', 'A', 'B', now(), 1000 FROM transfers");
  auto decision = [](int active) {
    return std::vector<db::LinkDecision>{{"A", "B", active, 1.0, 100.0, absl::StrCat("set to ", active)}};
  };
  const absl::Time later = db::kT0 + interval;
  absl::StatusOr<bool> inner = false;
  int64_t outcomes_seen = 0;
  auto outer = repo_->OptimizeLinks(
      later, interval, [&](const std::vector<db::LinkOutcomes>& outcomes, absl::Duration window) {
        EXPECT_EQ(window, interval);
        for (const auto& o : outcomes) outcomes_seen += o.done;
        // The other replica reads the same mark and stores its step first.
        inner = other.OptimizeLinks(
            later, interval,
            [&](const std::vector<db::LinkOutcomes>&, absl::Duration) { return decision(7); });
        return decision(3);
      });
  ASSERT_TRUE(outer.ok()) << outer.status();
  ASSERT_TRUE(inner.ok()) << inner.status();
  EXPECT_EQ(outcomes_seen, 3);
  EXPECT_TRUE(*inner);
  EXPECT_FALSE(*outer);
  EXPECT_EQ(tdb_->QueryInt("SELECT optimized_active FROM links WHERE source_site = 'A'"), 7);
  EXPECT_EQ(tdb_->QueryInt("SELECT last_attempt_id FROM link_optimizer"),
            tdb_->QueryInt("SELECT max(id) FROM attempts"));
  // The next interval's step reads from there: nothing new.
  auto next = repo_->OptimizeLinks(later + interval, interval,
                                   [&](const std::vector<db::LinkOutcomes>& o, absl::Duration) {
                                     EXPECT_TRUE(o.empty());
                                     return decision(4);
                                   });
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_TRUE(*next);
  EXPECT_EQ(tdb_->QueryInt("SELECT optimized_active FROM links WHERE source_site = 'A'"), 4);
}

struct Limits {
  int link = 0, site_out = 0, site_in = 0, backend = 0;
};

// Checks every limit against what is in flight now.
void ExpectWithinLimits(db::testing::TestDatabase& tdb, const Limits& l) {
  EXPECT_LE(tdb.QueryInt("SELECT COALESCE(max(n), 0) FROM (SELECT count(*) n FROM transfer_live "
                         "GROUP BY source_site, destination_site) x"),
            l.link);
  EXPECT_LE(tdb.QueryInt("SELECT COALESCE(max(n), 0) FROM (SELECT count(*) n FROM transfer_live "
                         "GROUP BY source_site) x"),
            l.site_out);
  EXPECT_LE(tdb.QueryInt("SELECT COALESCE(max(n), 0) FROM (SELECT count(*) n FROM transfer_live "
                         "GROUP BY destination_site) x"),
            l.site_in);
  EXPECT_LE(tdb.QueryInt("SELECT count(*) FROM transfer_live"), l.backend);
}

// Random arrivals (users, links, priorities, cool-offs) and completions, with the optimizer on: no limit
// is ever exceeded, and no (transfer, attempt) is sent twice.
TEST_F(SchedulerTest, RandomArrivalsAndCompletionsNeverExceedTheLimits) {
  for (const char* s : {"C", "D"}) aso::db::AddSite(tdb_->db(), s);
  config_.optimize = true;
  config_.optimizer_interval = absl::Seconds(2);
  config_.link_max_active = 6;
  config_.default_site_max_active = 10;
  config_.job_limits.max_files = 3;
  ASSERT_TRUE(repo_->SetBackendLimit("fts", 16, clock_.Now()).ok());
  const Limits limits{6, 10, 10, 16};
  Scheduler scheduler(*repo_, adapter_, clock_, config_, *metrics_);
  std::mt19937 rng(7);
  const std::vector<std::string> sites = {"A", "B", "C", "D"};
  int key = 0;
  for (int step = 0; step < 60; ++step) {
    const int arrivals = std::uniform_int_distribution<>(0, 12)(rng);
    for (int i = 0; i < arrivals; ++i) {
      const std::string& src = sites[rng() % 4];
      std::string dst = sites[rng() % 4];
      if (dst == src) dst = sites[(std::find(sites.begin(), sites.end(), src) - sites.begin() + 1) % 4];
      const std::string user = absl::StrCat("u", rng() % 5);
      aso::db::InsertTransfers(tdb_->db(), 1, absl::StrCat("k", key++, "-"), src, dst, user);
    }
    if (rng() % 4 == 0) {
      tdb_->Exec(absl::StrCat("UPDATE transfers SET not_before = to_timestamp(",
                              absl::ToUnixSeconds(clock_.Now() + absl::Seconds(3)),
                              ") WHERE state = 'QUEUED' AND id % 7 = ", step % 7));
    }
    ASSERT_TRUE(scheduler.RunOnce().ok());
    ExpectWithinLimits(*tdb_, limits);
    // Some of the files in flight finish (a few fail), others stay.
    tdb_->Exec(absl::StrCat(
        "WITH f AS (UPDATE transfers SET state = CASE WHEN id % 11 = 0 THEN 'FAILED' ELSE 'DONE' END "
        "WHERE state = 'SUBMITTING' AND (id + ",
        step,
        ") % 3 = 0 RETURNING id, attempt, backend_job_id, state, source_site, destination_site) "
        "INSERT INTO attempts (transfer_id, attempt, backend_job_id, result, source_site, destination_site, "
        "finished, bytes, failure_class) SELECT id, attempt, backend_job_id, state, source_site, "
        "destination_site, now(), 1000, CASE WHEN state = 'FAILED' THEN 'TRANSFER' ELSE '' END FROM f"));
    clock_.AdvanceTime(absl::Seconds(1));
  }
  auto files = adapter_.Files();
  EXPECT_GT(files.size(), 100u);
  std::set<std::pair<int64_t, int>> unique(files.begin(), files.end());
  EXPECT_EQ(unique.size(), files.size()) << "a (transfer, attempt) was sent twice";
}

// Two scheduler replicas on one database, racing for the same links: every file is sent once, and the
// limits hold.
TEST_F(SchedulerTest, TwoReplicasNeverDispatchAFileTwice) {
  aso::db::AddSite(tdb_->db(), "C");
  config_.link_max_active = 40;
  config_.default_site_max_active = 60;
  config_.job_limits.max_files = 5;
  config_.max_claim_per_link = 7;
  for (const char* user : {"alice", "bob", "carol"}) {
    aso::db::InsertTransfers(tdb_->db(), 300, absl::StrCat(user, "-ab-"), "A", "B", user);
    aso::db::InsertTransfers(tdb_->db(), 300, absl::StrCat(user, "-ac-"), "A", "C", user);
    aso::db::InsertTransfers(tdb_->db(), 300, absl::StrCat(user, "-cb-"), "C", "B", user);
  }
  FakeAdapter other;
  db::PgSchedulingRepository other_repo(tdb_->db());
  Scheduler one(*repo_, adapter_, clock_, config_, *metrics_);
  Scheduler two(other_repo, other, clock_, config_, *metrics_);
  std::atomic<bool> stop = false;
  auto run = [&](Scheduler& s) {
    while (!stop) ASSERT_TRUE(s.RunOnce().ok());
  };
  std::thread t1(run, std::ref(one)), t2(run, std::ref(two));
  for (int i = 0; i < 200 && tdb_->QueryInt("SELECT count(*) FROM transfer_queue") > 0; ++i) {
    absl::SleepFor(absl::Milliseconds(20));
    ExpectWithinLimits(*tdb_, Limits{40, 60, 60, 1 << 30});
    tdb_->Exec(
        "UPDATE transfers SET state = 'DONE' WHERE id IN (SELECT id FROM transfers "
        "WHERE state = 'SUBMITTING' LIMIT 30)");
  }
  stop = true;
  t1.join();
  t2.join();
  auto a = adapter_.Files(), b = other.Files();
  EXPECT_GT(a.size(), 0u);
  EXPECT_GT(b.size(), 0u);
  std::set<std::pair<int64_t, int>> all(a.begin(), a.end());
  all.insert(b.begin(), b.end());
  EXPECT_EQ(all.size(), a.size() + b.size()) << "a file went to both replicas";
  EXPECT_EQ(a.size() + b.size(), 2700u);
}

// An idle scheduler woken by the queue's notification dispatches a new file long before its poll interval.
TEST_F(SchedulerTest, NewWorkWakesTheLoop) {
  Scheduler scheduler(*repo_, adapter_, clock_, config_, *metrics_);  // at kT0, when the files are ready
  absl::Notification got;
  adapter_.on_job = [&] {
    if (!got.HasBeenNotified()) got.Notify();
  };
  PeriodicLoop loop("schedule", absl::Minutes(1), [&] { return scheduler.RunOnce().value_or(0) > 0; });
  db::NotificationListener wake(tdb_->dsn(), {db::kTransfersQueuedChannel},
                                [&](const std::string&) { loop.Wake(); });
  wake.Start();
  loop.Start();
  absl::SleepFor(absl::Milliseconds(300));  // the first (idle) round and the LISTEN are done
  const absl::Time submitted = absl::Now();
  aso::db::InsertTransfers(tdb_->db(), 1, "x");
  ASSERT_TRUE(got.WaitForNotificationWithTimeout(absl::Seconds(10)));
  const absl::Duration latency = absl::Now() - submitted;
  loop.Stop();
  wake.Stop();
  // Functional bound (the poll interval is a minute); the figure itself is measured by bench/run.
  EXPECT_LT(latency, absl::Seconds(5));
}

// Files moved with the users' own credentials: a user without a delegated proxy, or whose proxy expired or
// expires within the margin, has their queued files held (not dispatched, not failed) with a waiting
// reason saying what to do; they move once a fresh proxy is stored. Off, nobody is held.
TEST_F(SchedulerTest, UsersWithoutAValidCredentialAreHeldUntilTheyDelegate) {
  config_.link_max_active = 50;
  config_.user_credentials = true;
  config_.holds_interval = absl::Seconds(10);
  clock_.AdvanceTime(absl::Milliseconds(250));  // times with fractions of a second, as in production
  const auto alice = aso::db::InsertTransfers(tdb_->db(), 2, "a", "A", "B", "alice");
  const auto bob = aso::db::InsertTransfers(tdb_->db(), 2, "b", "A", "B", "bob");
  const auto carol = aso::db::InsertTransfers(tdb_->db(), 2, "c", "A", "B", "carol");
  const auto dave = aso::db::InsertTransfers(tdb_->db(), 2, "d", "A", "B", "dave");
  auto credential = [&](const std::string& user, absl::Duration left) {
    tdb_->Exec(absl::StrCat(
        "INSERT INTO user_credentials (username, kind, subject, not_after, sealed, updated) VALUES ('", user,
        "', 'x509_proxy', '/CN=", user, "/CN=1', to_timestamp(", absl::ToUnixSeconds(clock_.Now() + left),
        "), 'v1:x', now()) ON CONFLICT (username, kind) DO UPDATE SET not_after = EXCLUDED.not_after"));
  };
  credential("alice", absl::Hours(12));
  credential("carol", -absl::Minutes(5));  // expired
  credential("dave", absl::Minutes(30));   // within the 1 h margin
  Scheduler scheduler(*repo_, adapter_, clock_, config_, *metrics_);
  ASSERT_TRUE(scheduler.RunOnce().ok());
  std::set<int64_t> sent;
  for (const auto& [id, attempt] : adapter_.Files()) sent.insert(id);
  EXPECT_EQ(sent, std::set<int64_t>(alice.begin(), alice.end())) << "only alice's files move";
  EXPECT_EQ(Count("state = 'QUEUED'"), 6) << "held, not failed";
  EXPECT_EQ(tdb_->QueryInt("SELECT count(*) FROM user_holds"), 3);
  db::PgTransferRepository transfers(tdb_->db());
  EXPECT_THAT(transfers.Get(bob[0], clock_.Now())->waiting_reason(),
              HasSubstr("no delegated credential: bob must delegate a proxy (aso-submit --delegate) or a "
                        "token (aso-submit --delegate_token) to ASO before their files can move"));
  EXPECT_THAT(transfers.Get(carol[0], clock_.Now())->waiting_reason(), HasSubstr("credential expired at "));
  EXPECT_THAT(transfers.Get(dave[1], clock_.Now())->waiting_reason(),
              HasSubstr("within the 1h a transfer needs: dave must delegate a fresh proxy"));
  // A user whose first files arrive between two refreshes of the holds is not dispatched either.
  const auto erin = aso::db::InsertTransfers(tdb_->db(), 1, "e", "A", "B", "erin");
  clock_.AdvanceTime(absl::Seconds(1));
  ASSERT_TRUE(scheduler.RunOnce().ok());
  EXPECT_EQ(adapter_.Files().size(), 2u) << "erin has no credential";
  // A fresh proxy counts at the next claim; the waiting reasons follow at the next refresh of the holds.
  credential("bob", absl::Hours(24));
  credential("carol", absl::Hours(24));
  clock_.AdvanceTime(absl::Seconds(2));
  ASSERT_TRUE(scheduler.RunOnce().ok());
  EXPECT_EQ(adapter_.Files().size(), 6u) << "bob's and carol's files move once they delegated";
  clock_.AdvanceTime(absl::Seconds(10));
  ASSERT_TRUE(scheduler.RunOnce().ok());
  EXPECT_EQ(adapter_.Files().size(), 6u);
  EXPECT_EQ(tdb_->QueryText("SELECT string_agg(username, ',' ORDER BY username) FROM user_holds"),
            "dave,erin");
  EXPECT_THAT(transfers.Get(erin[0], clock_.Now())->waiting_reason(),
              HasSubstr("no delegated credential: erin"));
  // Bearer tokens count too: dave's expired access token is no use, until ASO can renew it at its issuer.
  auto token = [&](const std::string& user, absl::Duration left, bool renewable) {
    tdb_->Exec(absl::StrCat(
        "INSERT INTO user_credentials (username, kind, subject, not_after, sealed, updated, refreshable) "
        "VALUES ('",
        user, "', 'bearer_token', 'https://issuer ", user, "', to_timestamp(",
        absl::ToUnixSeconds(clock_.Now() + left), "), 'v1:x', now(), ", renewable ? "true" : "false",
        ") ON CONFLICT (username, kind) DO UPDATE SET not_after = EXCLUDED.not_after, "
        "refreshable = EXCLUDED.refreshable"));
  };
  token("dave", -absl::Minutes(1), /*renewable=*/false);
  clock_.AdvanceTime(absl::Seconds(10));
  ASSERT_TRUE(scheduler.RunOnce().ok());
  EXPECT_EQ(adapter_.Files().size(), 6u) << "an expired token that cannot be renewed moves nothing";
  token("dave", -absl::Minutes(1), /*renewable=*/true);
  token("erin", absl::Hours(2), /*renewable=*/false);
  clock_.AdvanceTime(absl::Seconds(10));
  ASSERT_TRUE(scheduler.RunOnce().ok());
  EXPECT_EQ(adapter_.Files().size(), 9u) << "dave's renewable token and erin's 2 h token move their files";
  EXPECT_EQ(tdb_->QueryInt("SELECT count(*) FROM user_holds"), 0);
  // The service credential moves everything: no holds.
  config_.user_credentials = false;
  Scheduler service_mode(*repo_, adapter_, clock_, config_, *metrics_);
  const auto frank = aso::db::InsertTransfers(tdb_->db(), 1, "f", "A", "B", "frank");
  ASSERT_TRUE(service_mode.RunOnce().ok());
  EXPECT_EQ(adapter_.Files().size(), 10u)
      << "frank, who delegated nothing, moves with the service credential";
  EXPECT_EQ(tdb_->QueryInt("SELECT count(*) FROM user_holds"), 0);
}

// The credential is chosen per site: with the service's credential as the deployment's choice, only
// links from or to a site set to 'owner' hold a user without a delegated credential; the user's files on
// other links move, and only the held files show the hold as their waiting reason.
TEST_F(SchedulerTest, OwnerCredentialSitesHoldOnlyTheirLinks) {
  config_.link_max_active = 50;
  config_.user_credentials = false;
  aso::db::AddSite(tdb_->db(), "C");
  tdb_->Exec("UPDATE sites SET credentials = 'owner' WHERE name = 'C'");
  const auto service = aso::db::InsertTransfers(tdb_->db(), 2, "s", "A", "B", "gina");
  const auto owner = aso::db::InsertTransfers(tdb_->db(), 2, "o", "A", "C", "gina");
  Scheduler scheduler(*repo_, adapter_, clock_, config_, *metrics_);
  ASSERT_TRUE(scheduler.RunOnce().ok());
  std::set<int64_t> sent;
  for (const auto& [id, attempt] : adapter_.Files()) sent.insert(id);
  EXPECT_EQ(sent, std::set<int64_t>(service.begin(), service.end())) << "A -> B moves with the service's";
  EXPECT_EQ(tdb_->QueryText("SELECT string_agg(username, ',') FROM user_holds"), "gina");
  db::PgTransferRepository transfers(tdb_->db());
  EXPECT_THAT(transfers.Get(owner[0], clock_.Now())->waiting_reason(),
              HasSubstr("no delegated credential: gina"));
  EXPECT_EQ(tdb_->QueryText("SELECT value FROM deployment_settings WHERE name = 'site_credentials'"),
            "service");
  // Site C back to the deployment's choice (the service's): gina's files there move too.
  tdb_->Exec("UPDATE sites SET credentials = 'default' WHERE name = 'C'");
  clock_.AdvanceTime(absl::Seconds(11));
  ASSERT_TRUE(scheduler.RunOnce().ok());
  EXPECT_EQ(adapter_.Files().size(), 4u);
  EXPECT_EQ(tdb_->QueryInt("SELECT count(*) FROM user_holds"), 0);
}

}  // namespace
}  // namespace aso::scheduler
