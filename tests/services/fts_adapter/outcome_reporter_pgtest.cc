#include "services/fts_adapter/outcome_reporter.h"

#include "gtest/gtest.h"
#include "libs/db/backend_job_repository.h"
#include "tests/libs/db/db_test_util.h"

namespace aso::fts_adapter {
namespace {
namespace cv1 = aso::common::v1;

// Bookkeeping that answers each transfer with a chosen status.
class ScriptedBookkeeping : public BookkeepingStub {
 public:
  absl::StatusOr<std::vector<absl::Status>> ReportOutcomes(
      const std::vector<cv1::FileOutcome>& outcomes) override {
    if (!reachable) return absl::UnavailableError("bookkeeping down");
    std::vector<absl::Status> out;
    for (const auto& o : outcomes) {
      auto it = answers.find(o.transfer_id());
      out.push_back(it == answers.end() ? absl::OkStatus() : it->second);
    }
    return out;
  }
  bool reachable = true;
  std::map<int64_t, absl::Status> answers;
};

class OutcomeReporterTest : public db::PgTest {};

TEST_F(OutcomeReporterTest, OneBadOutcomeDoesNotHoldBackTheOthers) {
  db::PgBackendJobRepository jobs(tdb_->db());
  aso::fts_adapter::v1::Job job;
  job.set_job_id("j1");
  job.set_user("alice");
  for (int64_t t = 1; t <= 4; ++t) {
    auto* f = job.add_files();
    f->set_transfer_id(t);
    f->set_attempt(1);
    f->set_source_url("root://a//s");
    f->set_destination_url("root://b//d");
  }
  ASSERT_TRUE(jobs.InsertJob(job, "gfal2", db::kT0).ok());
  ASSERT_EQ(jobs.LeaseFiles("w", 4, absl::Seconds(60), db::kT0)->size(), 4u);  // four ACTIVE states to report

  ScriptedBookkeeping bk;
  OutcomeReporter reporter(jobs, bk);
  bk.reachable = false;
  EXPECT_FALSE(reporter.RunOnce().ok());
  EXPECT_EQ(jobs.UnreportedOutcomes(10)->size(), 4u);  // nothing lost

  bk.reachable = true;
  bk.answers[2] = absl::InternalError("transient database trouble");
  bk.answers[3] = absl::InvalidArgumentError("cannot ever be applied");
  EXPECT_EQ(*reporter.RunOnce(), 3);  // 1 and 4 handled, 3 refused for good, 2 kept for a retry
  auto left = jobs.UnreportedOutcomes(10);
  ASSERT_EQ(left->size(), 1u);
  EXPECT_EQ((*left)[0].transfer_id(), 2);
  bk.answers.erase(2);
  EXPECT_EQ(*reporter.RunOnce(), 1);
  EXPECT_TRUE(jobs.UnreportedOutcomes(10)->empty());
}

}  // namespace
}  // namespace aso::fts_adapter
