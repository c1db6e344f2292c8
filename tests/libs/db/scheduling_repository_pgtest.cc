#include "libs/db/scheduling_repository.h"

#include <map>
#include <set>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pqxx/pqxx"
#include "tests/libs/db/db_test_util.h"

namespace aso::db {
namespace {

// One job per claim with every claimed file.
std::vector<JobPlan> OneJob(const std::vector<ClaimedFile>& files) {
  JobPlan p;
  p.job_id = absl::StrCat("job-", files.front().transfer_id, "-", files.front().attempt);
  for (const auto& f : files) p.transfer_ids.push_back(f.transfer_id);
  return {p};
}

class SchedulingRepositoryTest : public PgTest {
 protected:
  void SetUp() override {
    PgTest::SetUp();
    if (HasFatalFailure()) return;
    repo_ = std::make_unique<PgSchedulingRepository>(tdb_->db());
  }
  int Claim(const std::string& src, const std::string& dst, int link_max, absl::Time now = kT0) {
    ClaimLimits limits{link_max, 100, 1000, "", 0};
    auto jobs = repo_->ClaimForLink(src, dst, limits, now, OneJob);
    EXPECT_TRUE(jobs.ok()) << jobs.status();
    int n = 0;
    if (jobs.ok()) {
      for (const auto& j : *jobs) n += static_cast<int>(j.files.size());
    }
    return n;
  }
  std::unique_ptr<PgSchedulingRepository> repo_;
};

TEST_F(SchedulingRepositoryTest, LinkLimitHolds) {
  AddSite(tdb_->db(), "A");
  AddSite(tdb_->db(), "B");
  InsertTransfers(tdb_->db(), 10, "f");
  EXPECT_EQ(Claim("A", "B", 3), 3);
  EXPECT_EQ(Claim("A", "B", 3), 0);
  EXPECT_EQ(tdb_->QueryInt("SELECT count(*) FROM transfers WHERE state = 'SUBMITTING' AND attempt = 1"), 3);
  auto links = repo_->ListLinks(kT0);
  ASSERT_TRUE(links.ok());
  ASSERT_EQ(links->size(), 1u);
  EXPECT_EQ((*links)[0].active, 3);
  EXPECT_EQ((*links)[0].queued, 7);
}

// A job claimed on a link that was held keeps what held it, for the files' timelines.
TEST_F(SchedulingRepositoryTest, AJobKeepsWhatHeldItsLink) {
  AddSite(tdb_->db(), "A");
  AddSite(tdb_->db(), "B");
  InsertTransfers(tdb_->db(), 4, "f");
  EXPECT_EQ(Claim("A", "B", 2), 2);
  ASSERT_TRUE(repo_->SetLinkWaiting({{"A", "B"}}, {"link A -> B is full: 2 of 2 transfers active"}).ok());
  EXPECT_EQ(Claim("A", "B", 4), 2);
  EXPECT_EQ(tdb_->QueryText("SELECT string_agg(link_waiting_reason, '|' ORDER BY claimed_at, job_id) "
                            "FROM submissions"),
            "|link A -> B is full: 2 of 2 transfers active");
}

TEST_F(SchedulingRepositoryTest, SiteLimitsHoldAcrossLinks) {
  AddSite(tdb_->db(), "A", /*max_out=*/4);
  AddSite(tdb_->db(), "B");
  AddSite(tdb_->db(), "C", 0, /*max_in=*/1);
  InsertTransfers(tdb_->db(), 5, "ab", "A", "B");
  InsertTransfers(tdb_->db(), 5, "ac", "A", "C");
  EXPECT_EQ(Claim("A", "C", 100), 1);  // C accepts one inbound
  EXPECT_EQ(Claim("A", "B", 100), 3);  // A sends four in all
  EXPECT_EQ(Claim("A", "B", 100), 0);
}

// A batch reads every link's load at once and writes every claim at once: the files claimed for an earlier
// link of the batch count against the site limits of the later ones, the reason names the site, and the
// users' passes are stored for each link.
TEST_F(SchedulingRepositoryTest, ABatchCountsEarlierLinksAgainstTheSitesLimits) {
  AddSite(tdb_->db(), "A", /*max_out=*/5);
  AddSite(tdb_->db(), "B");
  AddSite(tdb_->db(), "C");
  AddSite(tdb_->db(), "D", 0, /*max_in=*/3);
  InsertTransfers(tdb_->db(), 4, "ab", "A", "B");
  InsertTransfers(tdb_->db(), 4, "ac", "A", "C");
  InsertTransfers(tdb_->db(), 2, "bd", "B", "D", "alice");
  InsertTransfers(tdb_->db(), 2, "bd-bob", "B", "D", "bob");
  const ClaimLimits limits{100, 100, 1000, "", 0};
  auto claimed = repo_->ClaimForLinks({{"A", "B", limits}, {"A", "C", limits}, {"B", "D", limits}}, kT0,
                                      [](size_t, const std::vector<ClaimedFile>& f) { return OneJob(f); });
  ASSERT_TRUE(claimed.ok()) << claimed.status();
  ASSERT_EQ(claimed->size(), 3u);
  auto files = [&](size_t i) {
    size_t n = 0;
    for (const auto& j : (*claimed)[i].jobs) n += j.files.size();
    return n;
  };
  EXPECT_EQ(files(0), 4u);
  EXPECT_EQ(files(1), 1u);  // A sends five in all
  EXPECT_EQ((*claimed)[1].waiting, "source site A is sending its maximum: 5 of 5 transfers");
  EXPECT_EQ(files(2), 3u);  // D receives three
  EXPECT_EQ(
      (*claimed)[2].waiting,
      "destination site D is receiving its maximum: 3 of 3 transfers, shared fairly between 2 users with "
      "files ready on it");
  EXPECT_EQ(tdb_->QueryInt("SELECT count(*) FROM transfer_live"), 8);
  EXPECT_EQ(tdb_->QueryInt("SELECT count(*) FROM transfer_queue"), 4);
  EXPECT_EQ(tdb_->QueryInt("SELECT count(*) FROM submissions"), 3);
  EXPECT_EQ(tdb_->QueryText("SELECT string_agg(username, ',' ORDER BY username) FROM link_shares "
                            "WHERE source_site = 'B' AND destination_site = 'D'"),
            ",alice,bob");
  // Nothing more fits; the next batch claims nothing and says why.
  auto again = repo_->ClaimForLinks({{"A", "C", limits}}, kT0,
                                    [](size_t, const std::vector<ClaimedFile>& f) { return OneJob(f); });
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE((*again)[0].jobs.empty());
  EXPECT_EQ((*again)[0].waiting, "source site A is sending its maximum: 5 of 5 transfers");
}

// A link whose site another claimer holds is skipped (not waited for); the batch's other links are claimed.
TEST_F(SchedulingRepositoryTest, ABatchSkipsLinksAnotherClaimerHolds) {
  AddSite(tdb_->db(), "A");
  AddSite(tdb_->db(), "B");
  AddSite(tdb_->db(), "C");
  InsertTransfers(tdb_->db(), 2, "ab", "A", "B");
  InsertTransfers(tdb_->db(), 2, "cb", "C", "B");
  pqxx::connection other(tdb_->dsn());
  pqxx::work holder(other);
  holder.exec("SELECT pg_advisory_xact_lock(hashtext('aso-out:C'))");
  const ClaimLimits limits{100, 100, 1000, "", 0};
  auto claimed = repo_->ClaimForLinks({{"A", "B", limits}, {"C", "B", limits}}, kT0,
                                      [](size_t, const std::vector<ClaimedFile>& f) { return OneJob(f); });
  ASSERT_TRUE(claimed.ok()) << claimed.status();
  EXPECT_FALSE((*claimed)[0].skipped);
  EXPECT_EQ((*claimed)[0].jobs.size(), 1u);
  EXPECT_TRUE((*claimed)[1].skipped);
  EXPECT_TRUE((*claimed)[1].jobs.empty());
  EXPECT_EQ(tdb_->QueryInt("SELECT count(*) FROM transfer_queue WHERE source_site = 'C'"), 2);
  holder.abort();
  // Limits that differ between the links of one batch are refused.
  ClaimLimits other_limits = limits;
  other_limits.default_site_max_active = 7;
  auto mixed = repo_->ClaimForLinks({{"A", "B", limits}, {"C", "B", other_limits}}, kT0,
                                    [](size_t, const std::vector<ClaimedFile>& f) { return OneJob(f); });
  EXPECT_TRUE(absl::IsInvalidArgument(mixed.status())) << mixed.status();
  auto twice = repo_->ClaimForLinks({{"A", "B", limits}, {"A", "B", limits}}, kT0,
                                    [](size_t, const std::vector<ClaimedFile>& f) { return OneJob(f); });
  EXPECT_TRUE(absl::IsInvalidArgument(twice.status())) << twice.status();
}

TEST_F(SchedulingRepositoryTest, BannedDrainingAndCoolingOffAreNotClaimed) {
  AddSite(tdb_->db(), "A");
  AddSite(tdb_->db(), "B", 0, 0, aso::common::v1::SITE_STATE_DRAINING);
  AddSite(tdb_->db(), "C", 0, 0, aso::common::v1::SITE_STATE_BANNED);
  AddSite(tdb_->db(), "D");
  InsertTransfers(tdb_->db(), 2, "ab", "A", "B");
  InsertTransfers(tdb_->db(), 2, "ac", "A", "C");
  InsertTransfers(tdb_->db(), 2, "ad", "A", "D");
  tdb_->Exec("UPDATE transfers SET not_before = to_timestamp(1800000100) WHERE destination_site = 'D'");
  EXPECT_EQ(Claim("A", "B", 10), 0);
  EXPECT_EQ(Claim("A", "C", 10), 0);
  EXPECT_EQ(Claim("A", "D", 10), 0);
  EXPECT_EQ(Claim("A", "D", 10, kT0 + absl::Seconds(200)), 2);
}

TEST_F(SchedulingRepositoryTest, ConcurrentClaimersNeverExceedTheLimitOrShareAFile) {
  AddSite(tdb_->db(), "A");
  AddSite(tdb_->db(), "B");
  InsertTransfers(tdb_->db(), 60, "f");
  absl::Mutex mu;
  std::multiset<int64_t> claimed;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      PgSchedulingRepository repo(tdb_->db());
      for (int round = 0; round < 10; ++round) {
        auto jobs = repo.ClaimForLink("A", "B", ClaimLimits{17, 100, 5, "", 0}, kT0, OneJob);
        if (!jobs.ok()) continue;  // a serialization abort is a legal outcome; the limit must hold
        absl::MutexLock lock(&mu);
        for (const auto& j : *jobs) {
          for (const auto& f : j.files) claimed.insert(f.transfer_id);
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(claimed.size(), 17u);
  EXPECT_EQ(std::set<int64_t>(claimed.begin(), claimed.end()).size(), claimed.size());
  EXPECT_EQ(tdb_->QueryInt("SELECT count(*) FROM transfers WHERE state = 'SUBMITTING'"), 17);
}

TEST_F(SchedulingRepositoryTest, SubmittedAndStaleJobs) {
  AddSite(tdb_->db(), "A");
  AddSite(tdb_->db(), "B");
  InsertTransfers(tdb_->db(), 4, "f");
  auto jobs = repo_->ClaimForLink("A", "B", ClaimLimits{2, 100, 100, "", 0}, kT0, OneJob);
  ASSERT_TRUE(jobs.ok());
  ASSERT_EQ(jobs->size(), 1u);
  const std::string job = (*jobs)[0].job_id;
  // Not stale yet.
  EXPECT_TRUE(repo_->TakeStalePendingJobs(kT0 - absl::Seconds(1), kT0, 10)->empty());
  auto stale = repo_->TakeStalePendingJobs(kT0 + absl::Seconds(1), kT0 + absl::Seconds(31), 10);
  ASSERT_TRUE(stale.ok());
  ASSERT_EQ(stale->size(), 1u);
  EXPECT_EQ((*stale)[0].job_id, job);
  EXPECT_EQ((*stale)[0].files.size(), 2u);
  EXPECT_EQ((*stale)[0].source_site, "A");
  // Taking renews the claim: a second replica looking at the same moment finds nothing.
  EXPECT_TRUE(repo_->TakeStalePendingJobs(kT0 + absl::Seconds(1), kT0 + absl::Seconds(31), 10)->empty());
  EXPECT_EQ(*repo_->MarkSubmitted({job}, kT0), 2);
  EXPECT_EQ(*repo_->MarkSubmitted({job}, kT0), 0);
  EXPECT_EQ(tdb_->QueryInt(kCountSubmitted), 2);
}

TEST_F(SchedulingRepositoryTest, AcceptanceIsRecordedPerJobAndShownPerFile) {
  AddSite(tdb_->db(), "A");
  AddSite(tdb_->db(), "B");
  auto ids = InsertTransfers(tdb_->db(), 3, "f");
  auto jobs = repo_->ClaimForLink("A", "B", ClaimLimits{2, 100, 100, "", 0}, kT0, OneJob);
  ASSERT_TRUE(jobs.ok());
  ASSERT_EQ(jobs->size(), 1u);
  const std::string job = (*jobs)[0].job_id;
  EXPECT_EQ(tdb_->QueryInt(absl::StrCat("SELECT cardinality(transfer_ids) FROM submissions WHERE job_id = '",
                                        job, "' AND accepted_at IS NULL")),
            2);
  PgTransferRepository transfers(tdb_->db());
  EXPECT_EQ(transfers.Get(ids[0], kT0)->state(), common::v1::TRANSFER_STATE_SUBMITTING);

  EXPECT_EQ(*repo_->MarkSubmitted({job}, kT0), 2);
  EXPECT_EQ(transfers.Get(ids[0], kT0)->state(), common::v1::TRANSFER_STATE_SUBMITTED);
  EXPECT_EQ(transfers.Get(ids[2], kT0)->state(), common::v1::TRANSFER_STATE_QUEUED);
  TransferFilter only_submitted;
  only_submitted.states = {common::v1::TRANSFER_STATE_SUBMITTED};
  auto page = transfers.List(only_submitted, 10, "", kT0);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->transfers.size(), 2u);
  EXPECT_EQ(page->transfers[0].id(), ids[0]);
  auto summary = transfers.Summarize("task-1", kT0);
  ASSERT_TRUE(summary.ok());
  std::map<int, int64_t> files_by_state;
  for (const auto& sc : summary->states()) files_by_state[sc.state()] = sc.files();
  EXPECT_EQ(files_by_state[common::v1::TRANSFER_STATE_SUBMITTED], 2);
  EXPECT_EQ(files_by_state[common::v1::TRANSFER_STATE_QUEUED], 1);

  // An accepted job is neither failed as refused nor re-sent.
  EXPECT_EQ(*repo_->FailRefusedJob(job, "refused", kT0), 0);
  EXPECT_TRUE(repo_->TakeStalePendingJobs(kT0 + absl::Hours(1), kT0 + absl::Hours(1), 10)->empty());
  EXPECT_EQ(tdb_->QueryInt(kCountSubmitted), 2);
}

TEST_F(SchedulingRepositoryTest, RefusedJobFailsOnlyItsWaitingFiles) {
  AddSite(tdb_->db(), "A");
  AddSite(tdb_->db(), "B");
  auto ids = InsertTransfers(tdb_->db(), 2, "f");
  auto jobs = repo_->ClaimForLink("A", "B", ClaimLimits{10, 100, 100, "", 0}, kT0, OneJob);
  ASSERT_TRUE(jobs.ok());
  const std::string job = (*jobs)[0].job_id;
  // One file was killed meanwhile (the kill is pending: the backend may hold it).
  tdb_->Exec(absl::StrCat("UPDATE transfers SET kill_requested = true, failure_reason = 'user' WHERE id = ",
                          ids[1]));
  EXPECT_EQ(*repo_->FailRefusedJob(job, "bad job", kT0), 2);
  EXPECT_EQ(tdb_->QueryText(
                absl::StrCat("SELECT state || ' ' || failure_reason FROM transfers WHERE id = ", ids[0])),
            "FAILED bad job");
  EXPECT_EQ(tdb_->QueryText(
                absl::StrCat("SELECT state || ' ' || failure_reason FROM transfers WHERE id = ", ids[1])),
            "KILLED user");
  EXPECT_EQ(tdb_->QueryInt("SELECT count(*) FROM submissions"), 0);
  EXPECT_EQ(tdb_->QueryInt("SELECT count(*) FROM transfer_live"), 0);
  EXPECT_EQ(*repo_->FailRefusedJob(job, "bad job", kT0), 0);  // once
}

TEST_F(SchedulingRepositoryTest, StaleJobWithNoWaitingFileIsDropped) {
  AddSite(tdb_->db(), "A");
  AddSite(tdb_->db(), "B");
  InsertTransfers(tdb_->db(), 1, "f");
  auto jobs = repo_->ClaimForLink("A", "B", ClaimLimits{10, 100, 100, "", 0}, kT0, OneJob);
  ASSERT_TRUE(jobs.ok());
  tdb_->Exec("UPDATE transfers SET state = 'ACTIVE'");  // the backend reported it started
  EXPECT_TRUE(repo_->TakeStalePendingJobs(kT0 + absl::Hours(1), kT0 + absl::Hours(1), 10)->empty());
  EXPECT_EQ(tdb_->QueryInt("SELECT count(*) FROM submissions"), 0);
}

TEST_F(SchedulingRepositoryTest, ListLinksCountsQueuedReadyAndInFlight) {
  AddSite(tdb_->db(), "A");
  AddSite(tdb_->db(), "B");
  AddSite(tdb_->db(), "C", 0, 0, common::v1::SITE_STATE_BANNED);
  InsertTransfers(tdb_->db(), 5, "f");
  PgTransferRepository transfers(tdb_->db());
  ASSERT_TRUE(transfers.InsertBatch({MakeTransfer("c1", "A", "C")}, kT0).ok());
  ASSERT_EQ(Claim("A", "B", 2), 2);
  tdb_->Exec(
      "UPDATE transfers SET not_before = to_timestamp(1800000100) WHERE id = (SELECT max(id) FROM "
      "transfers WHERE destination_site = 'B' AND state = 'QUEUED')");
  auto links = repo_->ListLinks(kT0);
  ASSERT_TRUE(links.ok());
  ASSERT_EQ(links->size(), 2u);
  EXPECT_EQ((*links)[0].destination_site, "B");
  EXPECT_EQ((*links)[0].queued_ready, 2);  // one of the three queued is cooling off
  EXPECT_EQ((*links)[0].queued, 3);
  EXPECT_EQ((*links)[0].active, 2);
  EXPECT_EQ((*links)[1].destination_site, "C");
  EXPECT_EQ((*links)[1].queued_ready, 1);
  EXPECT_EQ((*links)[1].destination_state, "BANNED");  // the scheduler skips it
  EXPECT_EQ((*links)[1].queued, 1);
}

TEST_F(SchedulingRepositoryTest, QueuedFilesFailOnceTheTaskDeadlinePasses) {
  AddSite(tdb_->db(), "A");
  AddSite(tdb_->db(), "B");
  PgTransferRepository transfers(tdb_->db());
  ASSERT_TRUE(transfers
                  .InsertBatch({MakeTransfer("d1", "A", "B"), MakeTransfer("d2", "A", "B")}, kT0,
                               TaskOptions{kT0 + absl::Minutes(10)})
                  .ok());
  ASSERT_TRUE(transfers.InsertBatch({MakeTransfer("n1", "A", "B", "bob", "task-bob")}, kT0).ok());
  ASSERT_EQ(Claim("A", "B", 100, kT0), 3);  // all in flight; then one comes back to the queue
  tdb_->Exec("UPDATE transfers SET state = 'QUEUED' WHERE idempotency_key IN ('d2', 'n1')");
  EXPECT_EQ(*repo_->ExpireOverdue(kT0 + absl::Minutes(9), 10), 0);
  EXPECT_EQ(*repo_->ExpireOverdue(kT0 + absl::Minutes(11), 10), 1);
  EXPECT_EQ(
      tdb_->QueryText("SELECT state || ' ' || failure_class FROM transfers WHERE idempotency_key = 'd2'"),
      "FAILED MAX_TIME_IN_QUEUE");
  EXPECT_THAT(tdb_->QueryText("SELECT failure_reason FROM transfers WHERE idempotency_key = 'd2'"),
              ::testing::HasSubstr("passed before the file was transferred"));
  EXPECT_EQ(tdb_->QueryText("SELECT state FROM transfers WHERE idempotency_key = 'd1'"), "SUBMITTING");
  EXPECT_EQ(tdb_->QueryText("SELECT state FROM transfers WHERE idempotency_key = 'n1'"), "QUEUED");
  EXPECT_EQ(*repo_->ExpireOverdue(kT0 + absl::Minutes(12), 10), 0);  // swept once
}

// Queues `n` files of `user` on link A -> B straight in SQL (the trigger fills the claim tables).
void QueueFiles(testing::TestDatabase& tdb, const std::string& user, int n, int priority) {
  tdb.Exec(absl::StrCat("INSERT INTO tasks (task_id, username, created, updated) VALUES ('task-", user,
                        "', '", user, "', now(), now()) ON CONFLICT DO NOTHING"));
  tdb.Exec(absl::StrCat(
      "INSERT INTO transfers (idempotency_key, task_id, username, source_site, source_url, destination_site, "
      "destination_url, priority, not_before, created, updated) SELECT '",
      user, "-' || g, 'task-", user, "', '", user, "', 'A', 'root://A.example//src/", user,
      "/' || g, 'B', 'root://B.example//dst/", user, "/' || g, ", priority,
      ", to_timestamp(0), now(), now() FROM generate_series(1, ", n, ") g"));
}

// Claims up to `free` files on A -> B and counts them per user; then they all finish.
std::map<std::string, int> ClaimRound(PgSchedulingRepository& repo, testing::TestDatabase& tdb, int free) {
  std::map<std::string, int> per_user;
  auto jobs = repo.ClaimForLink("A", "B", ClaimLimits{free, 1'000'000, free, "", 0}, kT0, OneJob);
  EXPECT_TRUE(jobs.ok()) << jobs.status();
  if (jobs.ok()) {
    for (const auto& j : *jobs) {
      for (const auto& f : j.files) ++per_user[f.user];
    }
  }
  tdb.Exec("UPDATE transfers SET state = 'DONE' WHERE state = 'SUBMITTING'");
  return per_user;
}

double JainIndex(const std::vector<double>& x) {
  double sum = 0, squares = 0;
  for (double v : x) sum += v, squares += v * v;
  return sum * sum / (x.size() * squares);
}

// Three users with 10, 1,000 and 100,000 queued files on one saturated link get equal dispatch rates while
// all have work, whatever their priorities: the big user's priority-5 files do not starve the small
// user's priority-1 files.
TEST_F(SchedulingRepositoryTest, FairShareOnASaturatedLink) {
  AddSite(tdb_->db(), "A");
  AddSite(tdb_->db(), "B");
  QueueFiles(*tdb_, "small", 10, 1);
  QueueFiles(*tdb_, "medium", 1000, 3);
  QueueFiles(*tdb_, "large", 100000, 5);
  tdb_->Exec("ANALYZE transfer_queue");
  std::map<std::string, int> total;
  int rounds = 0;
  while (total["small"] < 10) {
    ASSERT_LT(++rounds, 100) << "the small user is starved";
    for (const auto& [user, n] : ClaimRound(*repo_, *tdb_, 3)) total[user] += n;
  }
  EXPECT_EQ(rounds, 10);
  const double jain = JainIndex({double(total["small"]), double(total["medium"]), double(total["large"])});
  EXPECT_GE(jain, 0.99) << total["small"] << "/" << total["medium"] << "/" << total["large"];
  // Once the small user is done, the two others share the link.
  auto next = ClaimRound(*repo_, *tdb_, 4);
  EXPECT_EQ(next["medium"], 2);
  EXPECT_EQ(next["large"], 2);
}

// A user arriving with one low-priority file behind another user's 100,000 high-priority ones is served
// by the very next claim.
TEST_F(SchedulingRepositoryTest, NoStarvationBehindAHugeBacklog) {
  AddSite(tdb_->db(), "A");
  AddSite(tdb_->db(), "B");
  QueueFiles(*tdb_, "big", 100000, 5);
  tdb_->Exec("ANALYZE transfer_queue");
  for (int i = 0; i < 3; ++i) ClaimRound(*repo_, *tdb_, 10);
  QueueFiles(*tdb_, "late", 1, 1);
  auto next = ClaimRound(*repo_, *tdb_, 2);
  EXPECT_EQ(next["late"], 1);
  EXPECT_EQ(next["big"], 1);
}

// On a link that is not saturated every user is served in full; a user who arrives when it saturates starts
// level with them instead of taking every slot until its pass catches up.
TEST_F(SchedulingRepositoryTest, FairShareAfterAnUnsaturatedSpell) {
  AddSite(tdb_->db(), "A");
  AddSite(tdb_->db(), "B");
  QueueFiles(*tdb_, "a", 50, 3);
  QueueFiles(*tdb_, "b", 50, 3);
  auto all = ClaimRound(*repo_, *tdb_, 1000);
  EXPECT_EQ(all["a"], 50);
  EXPECT_EQ(all["b"], 50);
  tdb_->Exec("DELETE FROM transfers WHERE state = 'DONE'");
  QueueFiles(*tdb_, "a", 100, 3);
  QueueFiles(*tdb_, "b", 100, 3);
  QueueFiles(*tdb_, "c", 100, 3);
  auto shared = ClaimRound(*repo_, *tdb_, 6);
  EXPECT_EQ(shared["a"], 2);
  EXPECT_EQ(shared["b"], 2);
  EXPECT_EQ(shared["c"], 2);
}

// Inside a user's share the best priority goes first; weights scale shares; a user arriving late (or
// coming back) starts at the link's current virtual time instead of taking every slot to catch up.
TEST_F(SchedulingRepositoryTest, PrioritiesWeightsAndLateArrivals) {
  AddSite(tdb_->db(), "A");
  AddSite(tdb_->db(), "B");
  QueueFiles(*tdb_, "alice", 20, 1);
  tdb_->Exec("UPDATE transfers SET priority = 5 WHERE idempotency_key = 'alice-17'");
  auto jobs = repo_->ClaimForLink("A", "B", ClaimLimits{1, 100, 1, "", 0}, kT0, OneJob);
  ASSERT_TRUE(jobs.ok());
  ASSERT_EQ(jobs->size(), 1u);
  EXPECT_EQ(tdb_->QueryText(absl::StrCat("SELECT idempotency_key FROM transfers WHERE id = ",
                                         (*jobs)[0].files[0].transfer_id)),
            "alice-17");
  tdb_->Exec("UPDATE transfers SET state = 'DONE' WHERE state = 'SUBMITTING'");
  for (int i = 0; i < 3; ++i) ClaimRound(*repo_, *tdb_, 3);  // alice alone: 9 more files
  QueueFiles(*tdb_, "bob", 20, 3);
  auto shared = ClaimRound(*repo_, *tdb_, 4);
  EXPECT_EQ(shared["alice"], 2);
  EXPECT_EQ(shared["bob"], 2);
  // bob's weight 3: three slots of four.
  tdb_->Exec("INSERT INTO user_shares (username, weight, updated) VALUES ('bob', 3, now())");
  auto weighted = ClaimRound(*repo_, *tdb_, 4);
  EXPECT_EQ(weighted["bob"], 3);
  EXPECT_EQ(weighted["alice"], 1);
}

}  // namespace
}  // namespace aso::db
