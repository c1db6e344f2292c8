#include "libs/db/backend_job_repository.h"

#include "gtest/gtest.h"
#include "tests/libs/db/db_test_util.h"

namespace aso::db {
namespace {
namespace v1 = aso::common::v1;

Job MakeJob(const std::string& id, std::vector<int64_t> transfers) {
  Job job;
  job.set_job_id(id);
  job.set_user("alice");
  job.set_source_site("A");
  job.set_destination_site("B");
  for (int64_t t : transfers) {
    auto* f = job.add_files();
    f->set_transfer_id(t);
    f->set_attempt(1);
    f->set_source_url(absl::StrCat("root://a//src/", t));
    f->set_destination_url(absl::StrCat("root://b//dst/", t));
    f->set_size_bytes(10);
  }
  return job;
}

class BackendJobRepositoryTest : public PgTest {
 protected:
  void SetUp() override {
    PgTest::SetUp();
    if (HasFatalFailure()) return;
    repo_ = std::make_unique<PgBackendJobRepository>(tdb_->db());
  }
  std::unique_ptr<PgBackendJobRepository> repo_;
};

TEST_F(BackendJobRepositoryTest, ResubmissionIsRecognisedAndMerged) {
  EXPECT_FALSE(*repo_->InsertJob(MakeJob("j1", {1, 2}), "gfal2", kT0));
  EXPECT_TRUE(*repo_->InsertJob(MakeJob("j1", {1, 2}), "gfal2", kT0));
  EXPECT_TRUE(*repo_->InsertJob(MakeJob("j1", {2, 3}), "gfal2", kT0));
  EXPECT_EQ(tdb_->QueryInt("SELECT count(*) FROM backend_job_files WHERE job_id = 'j1'"), 3);
}

TEST_F(BackendJobRepositoryTest, LeasesAreExclusiveUntilTheyExpire) {
  ASSERT_TRUE(repo_->InsertJob(MakeJob("j1", {1, 2}), "gfal2", kT0).ok());
  auto a = repo_->LeaseFiles("w1", 1, absl::Seconds(60), kT0);
  auto b = repo_->LeaseFiles("w2", 5, absl::Seconds(60), kT0);
  ASSERT_EQ(a->size(), 1u);
  ASSERT_EQ(b->size(), 1u);
  EXPECT_NE((*a)[0].transfer_id, (*b)[0].transfer_id);
  EXPECT_TRUE(repo_->LeaseFiles("w3", 5, absl::Seconds(60), kT0 + absl::Seconds(10))->empty());
  // w1 died: after its lease ends the file is taken over, and w1's late outcome is refused.
  auto c = repo_->LeaseFiles("w3", 5, absl::Seconds(60), kT0 + absl::Seconds(61));
  ASSERT_EQ(c->size(), 2u);
  FileOutcome o;
  o.set_backend_job_id("j1");
  o.set_transfer_id((*a)[0].transfer_id);
  o.set_attempt(1);
  o.set_state(v1::TRANSFER_STATE_DONE);
  EXPECT_EQ(repo_->RecordOutcome("w1", o).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(repo_->RecordOutcome("w3", o).ok());
}

// A copy worker records one file and leases the next in one transaction; a lost lease records nothing and
// leases nothing.
TEST_F(BackendJobRepositoryTest, RecordAndLeaseTheNext) {
  ASSERT_TRUE(repo_->InsertJob(MakeJob("j1", {1, 2, 3}), "gfal2", kT0).ok());
  auto first = repo_->LeaseFiles("w", 1, absl::Seconds(60), kT0);
  ASSERT_EQ(first->size(), 1u);
  FileOutcome o;
  o.set_backend_job_id("j1");
  o.set_transfer_id((*first)[0].transfer_id);
  o.set_attempt(1);
  o.set_state(v1::TRANSFER_STATE_DONE);
  auto next = repo_->RecordAndLease("w", o, 1, absl::Seconds(60), kT0);
  ASSERT_TRUE(next.ok()) << next.status();
  ASSERT_EQ(next->size(), 1u);
  EXPECT_NE((*next)[0].transfer_id, o.transfer_id());
  EXPECT_EQ(tdb_->QueryText("SELECT string_agg(state, ',' ORDER BY transfer_id) FROM backend_job_files"),
            "FINISHED,ACTIVE,SUBMITTED");
  auto lost = repo_->RecordAndLease("someone-else", o, 1, absl::Seconds(60), kT0);
  EXPECT_EQ(lost.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(tdb_->QueryInt("SELECT count(*) FROM backend_job_files WHERE state = 'SUBMITTED'"), 1);
}

TEST_F(BackendJobRepositoryTest, LeaseCarriesTheKillRequest) {
  AddSite(tdb_->db(), "A");
  AddSite(tdb_->db(), "B");
  auto ids = InsertTransfers(tdb_->db(), 2, "f");
  tdb_->Exec("UPDATE transfers SET state = 'SUBMITTING', attempt = 1");
  tdb_->Exec(absl::StrCat("UPDATE transfers SET kill_requested = true WHERE id = ", ids[1]));
  ASSERT_TRUE(repo_->InsertJob(MakeJob("j1", {ids[0], ids[1]}), "gfal2", kT0).ok());
  auto leased = repo_->LeaseFiles("w", 2, absl::Seconds(60), kT0);
  ASSERT_EQ(leased->size(), 2u);
  for (const auto& f : *leased) EXPECT_EQ(f.kill_requested, f.transfer_id == ids[1]) << f.transfer_id;
}

TEST_F(BackendJobRepositoryTest, OutcomesAreReportedUntilAcknowledged) {
  ASSERT_TRUE(repo_->InsertJob(MakeJob("j1", {1, 2}), "gfal2", kT0).ok());
  auto leased = repo_->LeaseFiles("w", 2, absl::Seconds(60), kT0);
  ASSERT_EQ(leased->size(), 2u);
  auto started = repo_->UnreportedOutcomes(10);
  ASSERT_EQ(started->size(), 2u);
  EXPECT_EQ((*started)[0].state(), v1::TRANSFER_STATE_ACTIVE);
  ASSERT_TRUE(repo_->MarkReported(*started).ok());
  EXPECT_TRUE(repo_->UnreportedOutcomes(10)->empty());
  FileOutcome o;
  o.set_backend_job_id("j1");
  o.set_transfer_id(1);
  o.set_attempt(1);
  o.set_state(v1::TRANSFER_STATE_FAILED);
  o.set_failure_class(v1::FAILURE_CLASS_SOURCE);
  o.set_error("SOURCE no such file");
  ASSERT_TRUE(repo_->RecordOutcome("w", o).ok());
  auto pending = repo_->UnreportedOutcomes(10);
  ASSERT_EQ(pending->size(), 1u);
  EXPECT_EQ((*pending)[0].state(), v1::TRANSFER_STATE_FAILED);
  EXPECT_EQ((*pending)[0].failure_class(), v1::FAILURE_CLASS_SOURCE);
  auto job = repo_->GetJob("j1");
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->state(), aso::fts_adapter::v1::JOB_STATE_ACTIVE);
  EXPECT_EQ(repo_->GetJob("nope").status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace aso::db
