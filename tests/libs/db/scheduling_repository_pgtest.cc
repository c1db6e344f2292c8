#include "libs/db/scheduling_repository.h"

#include <set>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
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
    ClaimLimits limits{link_max, 100, 1000};
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
        auto jobs = repo.ClaimForLink("A", "B", ClaimLimits{17, 100, 5}, kT0, OneJob);
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
  auto jobs = repo_->ClaimForLink("A", "B", ClaimLimits{2, 100, 100}, kT0, OneJob);
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
  EXPECT_EQ(tdb_->QueryInt("SELECT count(*) FROM transfers WHERE state = 'SUBMITTED'"), 2);
}

}  // namespace
}  // namespace aso::db
