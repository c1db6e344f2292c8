#include "services/scheduler/job_planner.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace aso::scheduler {
namespace {
using ::testing::ElementsAre;

db::ClaimedFile File(int64_t id, const std::string& user, int64_t size = 10, int attempt = 1) {
  db::ClaimedFile f;
  f.transfer_id = id;
  f.attempt = attempt;
  f.user = user;
  f.size_bytes = size;
  return f;
}

TEST(JobPlannerTest, OneJobPerUserWithinLimits) {
  std::vector<db::ClaimedFile> files = {File(1, "alice"), File(2, "bob"), File(3, "alice"), File(4, "alice"),
                                        File(5, "bob")};
  auto plans = PlanJobs(files, JobLimits{2, 1000, absl::ZeroDuration()});
  ASSERT_EQ(plans.size(), 3u);
  EXPECT_THAT(plans[0].transfer_ids, ElementsAre(1, 3));
  EXPECT_THAT(plans[1].transfer_ids, ElementsAre(4));
  EXPECT_THAT(plans[2].transfer_ids, ElementsAre(2, 5));
}

TEST(JobPlannerTest, ByteLimitSplitsAndHugeFileGetsItsOwnJob) {
  std::vector<db::ClaimedFile> files = {File(1, "a", 60), File(2, "a", 60), File(3, "a", 500),
                                        File(4, "a", 10)};
  auto plans = PlanJobs(files, JobLimits{100, 100, absl::ZeroDuration()});
  ASSERT_EQ(plans.size(), 4u);
  EXPECT_THAT(plans[0].transfer_ids, ElementsAre(1));
  EXPECT_THAT(plans[1].transfer_ids, ElementsAre(2));
  EXPECT_THAT(plans[2].transfer_ids, ElementsAre(3));
  EXPECT_THAT(plans[3].transfer_ids, ElementsAre(4));
}

TEST(JobPlannerTest, JobIdsAreDeterministicAndDependOnAttempts) {
  std::vector<db::ClaimedFile> files = {File(7, "a"), File(8, "a")};
  auto first = PlanJobs(files, JobLimits{});
  auto again = PlanJobs(files, JobLimits{});
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].job_id, again[0].job_id);
  EXPECT_EQ(first[0].job_id.rfind("aso-7-1-", 0), 0u);
  std::vector<db::ClaimedFile> retried = {File(7, "a", 10, 2), File(8, "a", 10, 2)};
  EXPECT_NE(PlanJobs(retried, JobLimits{})[0].job_id, first[0].job_id);
  std::vector<db::ClaimedFile> other = {File(7, "a"), File(9, "a")};
  EXPECT_NE(PlanJobs(other, JobLimits{})[0].job_id, first[0].job_id);
}

// With lingering allowed, each user's last job holds back while it is partly filled and its oldest file
// is younger than the linger time; full jobs and old files go.
TEST(JobPlannerTest, PartialJobsLingerUntilFullOrOldEnough) {
  const absl::Time now = absl::FromUnixSeconds(1000);
  std::vector<db::ClaimedFile> files = {File(1, "a"), File(2, "a"), File(3, "a"), File(4, "b"), File(5, "c")};
  for (auto& f : files) f.queued_since = now - absl::Milliseconds(500);
  files[4].queued_since = now - absl::Seconds(3);
  const JobLimits limits{2, 1000, absl::Seconds(1)};
  auto plans = PlanJobs(files, limits, now, /*may_linger=*/true);
  ASSERT_EQ(plans.size(), 2u);
  EXPECT_THAT(plans[0].transfer_ids, ElementsAre(1, 2));  // full
  EXPECT_THAT(plans[1].transfer_ids, ElementsAre(5));     // waited long enough
  EXPECT_EQ(PlanJobs(files, limits, now, /*may_linger=*/false).size(), 4u);
  EXPECT_EQ(PlanJobs(files, limits, now + absl::Seconds(1), /*may_linger=*/true).size(), 4u);
}

}  // namespace
}  // namespace aso::scheduler
