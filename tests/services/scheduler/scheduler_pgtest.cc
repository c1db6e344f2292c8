#include "services/scheduler/scheduler.h"

#include "gtest/gtest.h"
#include "libs/common/clock.h"
#include "tests/libs/db/db_test_util.h"

namespace aso::scheduler {
namespace {

class FakeAdapter : public AdapterStub {
 public:
  absl::StatusOr<bool> SubmitJob(const aso::fts_adapter::v1::Job& job) override {
    if (refuse) return absl::InvalidArgumentError("job.files[0]: unsupported URL scheme");
    if (!available) return absl::UnavailableError("adapter down");
    bool known = false;
    for (const auto& j : jobs) known = known || j.job_id() == job.job_id();
    jobs.push_back(job);
    return known;
  }
  bool available = true;
  bool refuse = false;
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
  for (const auto& job : adapter_.jobs) {
    EXPECT_LE(job.files_size(), 2);
    for (const auto& f : job.files()) {
      EXPECT_EQ(tdb_->QueryText(absl::StrCat("SELECT username FROM transfers WHERE id = ", f.transfer_id())),
                job.user());
      EXPECT_EQ(f.attempt(), 1);
    }
  }
  EXPECT_EQ(*scheduler.RunOnce(), 0);  // the link is full
}

TEST_F(SchedulerTest, UnreachableAdapterGetsTheSameJobAgainLater) {
  aso::db::InsertTransfers(tdb_->db(), 2, "a");
  adapter_.available = false;
  Scheduler scheduler(*repo_, adapter_, clock_, config_, *metrics_);
  EXPECT_EQ(*scheduler.RunOnce(), 0);
  EXPECT_EQ(tdb_->QueryInt("SELECT count(*) FROM transfers WHERE state = 'SUBMITTING'"), 2);
  const std::string job_id = tdb_->QueryText("SELECT min(backend_job_id) FROM transfers");
  adapter_.available = true;
  EXPECT_EQ(*scheduler.RunOnce(), 0);  // too early to re-send
  clock_.AdvanceTime(config_.resubmit_after + absl::Seconds(1));
  EXPECT_EQ(*scheduler.RunOnce(), 2);
  ASSERT_EQ(adapter_.jobs.size(), 1u);
  EXPECT_EQ(adapter_.jobs[0].job_id(), job_id);
  EXPECT_EQ(tdb_->QueryInt(aso::db::kCountSubmitted), 2);
  EXPECT_EQ(tdb_->QueryInt("SELECT max(attempt) FROM transfers"), 1);  // not a new attempt
}

TEST_F(SchedulerTest, RefusedJobFailsItsFilesInsteadOfLooping) {
  aso::db::InsertTransfers(tdb_->db(), 2, "a");
  adapter_.refuse = true;
  Scheduler scheduler(*repo_, adapter_, clock_, config_, *metrics_);
  EXPECT_EQ(*scheduler.RunOnce(), 0);
  EXPECT_EQ(
      tdb_->QueryInt("SELECT count(*) FROM transfers WHERE state = 'FAILED' AND failure_class = 'BACKEND'"),
      2);
  EXPECT_NE(tdb_->QueryText("SELECT min(failure_reason) FROM transfers").find("unsupported URL scheme"),
            std::string::npos);
  clock_.AdvanceTime(config_.resubmit_after * 2);
  EXPECT_EQ(*scheduler.RunOnce(), 0);
}

}  // namespace
}  // namespace aso::scheduler
