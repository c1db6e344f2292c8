// The path after the scheduler, in-process on real parts: claimed files handed to the adapter's job
// table, copied by gfal2 between local folders with adler32 checked, outcomes reported to bookkeeping's
// logic and counted by monitoring.
#include <filesystem>
#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/backend/gfal2_copier.h"
#include "libs/common/adler32.h"
#include "libs/db/backend_job_repository.h"
#include "libs/db/outcome_repository.h"
#include "libs/db/scheduling_repository.h"
#include "libs/db/stats_repository.h"
#include "services/bookkeeping/outcome_applier.h"
#include "services/fts_adapter/copy_worker.h"
#include "services/fts_adapter/outcome_reporter.h"
#include "services/monitoring/fleet_stats.h"
#include "services/scheduler/job_planner.h"
#include "tests/libs/db/db_test_util.h"

namespace aso {
namespace {
namespace fs = std::filesystem;
namespace cv1 = aso::common::v1;
using ::testing::HasSubstr;

// Bookkeeping reached without a network hop.
class InProcessBookkeeping : public fts_adapter::BookkeepingStub {
 public:
  explicit InProcessBookkeeping(bookkeeping::OutcomeApplier& applier) : applier_(applier) {}
  absl::StatusOr<std::vector<absl::Status>> ReportOutcomes(
      const std::vector<cv1::FileOutcome>& outcomes) override {
    std::vector<absl::Status> out;
    for (const auto& o : outcomes) out.push_back(applier_.Apply(o).status());
    return out;
  }

 private:
  bookkeeping::OutcomeApplier& applier_;
};

class CopyPipelineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto t = db::testing::TestDatabase::Create();
    ASSERT_TRUE(t.ok()) << t.status();
    tdb_ = std::move(*t);
    root_ = fs::path(::testing::TempDir()) / ("aso_pipeline_" + std::to_string(getpid()));
    fs::remove_all(root_);
    fs::create_directories(root_ / "src");
    fs::create_directories(root_ / "dst");
    db::PgSiteRepository sites(tdb_->db());
    for (auto name : {"src", "dst"}) {
      cv1::Site s;
      s.set_name(std::string("LOCAL_") + name);
      s.add_url_prefixes("file://" + (root_ / name).string() + "/");
      ASSERT_TRUE(sites.Upsert(s, absl::Now()).ok());
    }
    metrics_ = std::move(*metrics::Metrics::Start("test", ""));
  }
  void TearDown() override {
    if (tdb_ != nullptr) db::ExpectClaimTablesConsistent(*tdb_);
    fs::remove_all(root_);
  }

  std::string Url(const std::string& side, const std::string& name) {
    return "file://" + (root_ / side / name).string();
  }
  void WriteSource(const std::string& name, size_t size) {
    std::ofstream f(root_ / "src" / name, std::ios::binary);
    for (size_t i = 0; i < size; ++i) f.put(static_cast<char>((i * 7919) % 251));
  }
  cv1::Transfer Transfer(const std::string& name, const std::string& checksum = "") {
    cv1::Transfer t;
    t.set_task_id("task");
    t.set_user("alice");
    t.mutable_source()->set_site("LOCAL_src");
    t.mutable_source()->set_url(Url("src", name));
    t.mutable_destination()->set_site("LOCAL_dst");
    t.mutable_destination()->set_url(Url("dst", "sub/dir/" + name));
    t.set_size_bytes(-1);
    t.set_checksum(checksum);
    t.set_priority(3);
    t.set_idempotency_key(name);
    return t;
  }

  std::unique_ptr<db::testing::TestDatabase> tdb_;
  fs::path root_;
  std::unique_ptr<metrics::Metrics> metrics_;
};

TEST_F(CopyPipelineTest, CopiesVerifiesAndReportsEveryOutcome) {
  WriteSource("empty.root", 0);
  WriteSource("small.root", 1024);
  WriteSource("large.root", 3 << 20);
  WriteSource("corrupt.root", 100);
  db::PgTransferRepository transfers(tdb_->db());
  ASSERT_TRUE(transfers
                  .InsertBatch({Transfer("empty.root"), Transfer("small.root"), Transfer("large.root"),
                                Transfer("missing.root"), Transfer("corrupt.root", "adler32:deadbeef")},
                               absl::Now())
                  .ok());

  // Scheduler's part: claim and hand the jobs to the adapter's table.
  db::PgSchedulingRepository scheduling(tdb_->db());
  db::PgBackendJobRepository jobs(tdb_->db());
  auto pending = scheduling.ClaimForLink(
      "LOCAL_src", "LOCAL_dst", db::ClaimLimits{10, 10, 10, "", 0}, absl::Now(),
      [](const std::vector<db::ClaimedFile>& f) { return scheduler::PlanJobs(f, scheduler::JobLimits{}); });
  ASSERT_TRUE(pending.ok()) << pending.status();
  ASSERT_EQ(pending->size(), 1u);
  const auto& pj = (*pending)[0];
  const aso::fts_adapter::v1::Job job = scheduler::JobMessage(pj);
  ASSERT_TRUE(jobs.InsertJob(job, "gfal2", absl::Now()).ok());
  ASSERT_EQ(*scheduling.MarkSubmitted({pj.job_id}, absl::Now()), 5);

  // Adapter: copy everything with gfal2, then report.
  auto copier = backend::NewGfal2Copier({});
  ASSERT_TRUE(copier.ok()) << copier.status();
  fts_adapter::CopyWorker worker(jobs, std::move(*copier), RealClock::Get(),
                                 {"test-worker", absl::Seconds(60)}, *metrics_);
  int copied = 0;
  while (*worker.RunOnce()) ++copied;
  EXPECT_EQ(copied, 5);
  db::PgOutcomeRepository outcomes(tdb_->db());
  bookkeeping::OutcomeApplier applier(outcomes,
                                      bookkeeping::RetryPolicy({3, absl::Seconds(30), absl::Hours(1), 0}),
                                      RealClock::Get(), *metrics_);
  InProcessBookkeeping bk(applier);
  fts_adapter::OutcomeReporter reporter(jobs, bk);
  EXPECT_EQ(*reporter.RunOnce(), 5);
  EXPECT_EQ(*reporter.RunOnce(), 0);  // everything acknowledged

  // The database and the storage tell what happened.
  EXPECT_EQ(tdb_->QueryInt("SELECT count(*) FROM transfers WHERE state = 'DONE'"), 3);
  for (auto name : {"empty.root", "small.root", "large.root"}) {
    auto src = Adler32OfFile((root_ / "src" / name).string());
    auto dst = Adler32OfFile((root_ / "dst" / "sub/dir" / name).string());
    ASSERT_TRUE(dst.ok()) << name;
    EXPECT_EQ(*src, *dst) << name;
  }
  EXPECT_EQ(tdb_->QueryInt("SELECT size_bytes FROM transfers WHERE idempotency_key = 'large.root'"), 3 << 20);
  EXPECT_EQ(tdb_->QueryText("SELECT checksum FROM transfers WHERE idempotency_key = 'small.root'"),
            "adler32:" + FormatAdler32(*Adler32OfFile((root_ / "src" / "small.root").string())));
  EXPECT_EQ(tdb_->QueryText(
                "SELECT state || ' ' || failure_class FROM transfers WHERE idempotency_key = 'missing.root'"),
            "FAILED SOURCE");
  EXPECT_THAT(tdb_->QueryText("SELECT failure_reason FROM transfers WHERE idempotency_key = 'missing.root'"),
              HasSubstr("No such file"));
  EXPECT_EQ(tdb_->QueryText(
                "SELECT state || ' ' || failure_class FROM transfers WHERE idempotency_key = 'corrupt.root'"),
            "FAILED CHECKSUM");
  EXPECT_FALSE(fs::exists(root_ / "dst" / "sub/dir/corrupt.root"));
  EXPECT_EQ(tdb_->QueryInt("SELECT count(*) FROM attempts"), 5);

  // Monitoring counts the same, from the database.
  db::PgStatsRepository stats_repo(tdb_->db());
  monitoring::FleetStatsConfig every_attempt;
  every_attempt.count_from_start = false;  // the attempts were recorded before it started
  monitoring::FleetStats stats(stats_repo, *metrics_, every_attempt);
  EXPECT_EQ(*stats.RunOnce(), 5);
  EXPECT_EQ(*stats.RunOnce(), 0);
  const std::string text = metrics_->Serialize();
  EXPECT_THAT(text, HasSubstr("aso_transfer_attempts_total{destination_site=\"LOCAL_dst\",result=\"done\","
                              "source_site=\"LOCAL_src\"} 3"));
  EXPECT_THAT(text, HasSubstr("aso_transfer_failures_total{destination_site=\"LOCAL_dst\",failure_class="
                              "\"SOURCE\",source_site=\"LOCAL_src\"} 1"));
  EXPECT_THAT(text,
              HasSubstr(absl::StrCat(
                  "aso_transferred_bytes_total{destination_site=\"LOCAL_dst\",source_site=\"LOCAL_src\"} ",
                  1024 + (3 << 20))));
  auto site = stats.SiteStats("LOCAL_src");
  ASSERT_EQ(site.size(), 1u);
  EXPECT_EQ(site[0].done_files(), 3);
  EXPECT_EQ(site[0].failed_attempts(), 2);
}

}  // namespace
}  // namespace aso
