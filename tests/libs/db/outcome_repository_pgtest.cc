#include "libs/db/outcome_repository.h"

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/libs/db/db_test_util.h"

namespace aso::db {
namespace {
namespace v1 = aso::common::v1;

class OutcomeRepositoryTest : public PgTest {
 protected:
  void SetUp() override {
    PgTest::SetUp();
    if (HasFatalFailure()) return;
    AddSite(tdb_->db(), "A");
    AddSite(tdb_->db(), "B");
    id_ = InsertTransfers(tdb_->db(), 1, "f")[0];
    // As if claimed for attempt 1.
    tdb_->Exec("UPDATE transfers SET state = 'SUBMITTING', attempt = 1, backend_job_id = 'j1'");
    repo_ = std::make_unique<PgOutcomeRepository>(tdb_->db());
  }
  FileOutcome Outcome(v1::TransferState state, int attempt = 1) {
    FileOutcome o;
    o.set_transfer_id(id_);
    o.set_attempt(attempt);
    o.set_backend_job_id("j1");
    o.set_state(state);
    o.mutable_started()->set_seconds(1'800'000'000);
    o.mutable_finished()->set_seconds(1'800'000'002);
    o.set_bytes(1000);
    if (state == v1::TRANSFER_STATE_FAILED) {
      o.set_failure_class(v1::FAILURE_CLASS_TRANSFER);
      o.set_error("TRANSFER connection reset");
      o.set_recoverable(true);
    }
    return o;
  }
  std::string State() { return tdb_->QueryText("SELECT state FROM transfers"); }

  std::unique_ptr<PgOutcomeRepository> repo_;
  int64_t id_ = 0;
};

TEST_F(OutcomeRepositoryTest, DoneIsAppliedExactlyOnce) {
  EXPECT_TRUE(*repo_->ApplyStarted(Outcome(v1::TRANSFER_STATE_ACTIVE), kT0));
  EXPECT_EQ(State(), "ACTIVE");
  EXPECT_FALSE(*repo_->ApplyStarted(Outcome(v1::TRANSFER_STATE_ACTIVE), kT0));
  EXPECT_TRUE(*repo_->ApplyFinished(Outcome(v1::TRANSFER_STATE_DONE), std::nullopt, kT0));
  EXPECT_FALSE(*repo_->ApplyFinished(Outcome(v1::TRANSFER_STATE_DONE), std::nullopt, kT0));
  EXPECT_EQ(State(), "DONE");
  EXPECT_EQ(tdb_->QueryInt("SELECT count(*) FROM attempts"), 1);
  EXPECT_EQ(tdb_->QueryInt("SELECT round(throughput) FROM attempts"), 500);  // 1000 B in 2 s
}

// A report's DONE outcomes go in one statement: each applied once, repeats and stale attempts (even in the
// same batch) change nothing, and a size or checksum the job did not know is learnt.
TEST_F(OutcomeRepositoryTest, DoneOutcomesAreAppliedInBatches) {
  const auto more = InsertTransfers(tdb_->db(), 2, "g");
  tdb_->Exec(
      "UPDATE transfers SET state = 'SUBMITTING', attempt = 1, backend_job_id = 'j1', size_bytes = -1, "
      "checksum = '' WHERE state = 'QUEUED'");
  FileOutcome second = Outcome(v1::TRANSFER_STATE_DONE);
  second.set_transfer_id(more[0]);
  second.set_checksum("adler32:0000abcd");
  FileOutcome stale = Outcome(v1::TRANSFER_STATE_DONE, /*attempt=*/2);
  stale.set_transfer_id(more[1]);
  FileOutcome started = Outcome(v1::TRANSFER_STATE_ACTIVE);
  started.set_transfer_id(more[0]);
  FileOutcome stale_start = Outcome(v1::TRANSFER_STATE_ACTIVE, /*attempt=*/2);
  stale_start.set_transfer_id(more[1]);
  auto starts = repo_->ApplyStartedBatch({started, stale_start, started}, kT0);
  ASSERT_TRUE(starts.ok()) << starts.status();
  EXPECT_THAT(*starts, ::testing::ElementsAre(true, false, false));
  EXPECT_EQ(tdb_->QueryText("SELECT string_agg(state, ',' ORDER BY id) FROM transfers"),
            "SUBMITTING,ACTIVE,SUBMITTING");
  auto applied = repo_->ApplyDone({Outcome(v1::TRANSFER_STATE_DONE), second, second, stale}, kT0);
  ASSERT_TRUE(applied.ok()) << applied.status();
  EXPECT_THAT(*applied, ::testing::ElementsAre(true, true, false, false));
  EXPECT_EQ(tdb_->QueryText("SELECT string_agg(state, ',' ORDER BY id) FROM transfers"),
            "DONE,DONE,SUBMITTING");
  EXPECT_EQ(tdb_->QueryText(
                absl::StrCat("SELECT size_bytes || ' ' || checksum FROM transfers WHERE id = ", more[0])),
            "1000 adler32:0000abcd");
  EXPECT_EQ(tdb_->QueryInt("SELECT count(*) FROM attempts"), 2);
  applied = repo_->ApplyDone({Outcome(v1::TRANSFER_STATE_DONE)}, kT0);  // reported again
  ASSERT_TRUE(applied.ok());
  EXPECT_THAT(*applied, ::testing::ElementsAre(false));
  EXPECT_EQ(tdb_->QueryInt("SELECT count(*) FROM attempts"), 2);
}

// A report's failures and cancels go in one statement: a retry goes back to the queue after its own
// cool-off, a final failure fails, a cancel kills, a transfer with a kill request is killed whatever the
// failure; repeats (even in the same batch) and stale attempts change nothing, and each attempt is recorded
// once.
TEST_F(OutcomeRepositoryTest, FailuresAndCancelsAreAppliedInBatches) {
  const auto more = InsertTransfers(tdb_->db(), 4, "g");
  tdb_->Exec(
      "UPDATE transfers SET state = 'SUBMITTING', attempt = 1, backend_job_id = 'j1' WHERE state = 'QUEUED'");
  tdb_->Exec(
      absl::StrCat("UPDATE transfers SET kill_requested = true, failure_reason = 'killed by alice' "
                   "WHERE id = ",
                   more[2]));
  auto with_id = [&](FileOutcome o, int64_t id) {
    o.set_transfer_id(id);
    return o;
  };
  const FileOutcome retry = Outcome(v1::TRANSFER_STATE_FAILED);
  const FileOutcome final_failure = with_id(Outcome(v1::TRANSFER_STATE_FAILED), more[0]);
  const FileOutcome cancel = with_id(Outcome(v1::TRANSFER_STATE_KILLED), more[1]);
  const FileOutcome killed = with_id(Outcome(v1::TRANSFER_STATE_FAILED), more[2]);
  const FileOutcome stale = with_id(Outcome(v1::TRANSFER_STATE_FAILED, /*attempt=*/2), more[3]);
  auto applied =
      repo_->ApplyNotDone({retry, final_failure, cancel, killed, stale, retry},
                          {kT0 + absl::Seconds(90), std::nullopt, std::nullopt, kT0 + absl::Seconds(5),
                           kT0 + absl::Seconds(5), kT0 + absl::Seconds(90)},
                          kT0);
  ASSERT_TRUE(applied.ok()) << applied.status();
  EXPECT_THAT(*applied, ::testing::ElementsAre(true, true, true, true, false, false));
  EXPECT_EQ(
      tdb_->QueryText("SELECT string_agg(state || ':' || failure_class, ',' ORDER BY id) FROM transfers"),
      "QUEUED:TRANSFER,FAILED:TRANSFER,KILLED:CANCELED,KILLED:TRANSFER,SUBMITTING:");
  EXPECT_EQ(tdb_->QueryInt(absl::StrCat(
                "SELECT extract(epoch FROM not_before)::bigint FROM transfers WHERE id = ", id_)),
            absl::ToUnixSeconds(kT0 + absl::Seconds(90)));
  EXPECT_EQ(tdb_->QueryText(absl::StrCat("SELECT failure_reason FROM transfers WHERE id = ", more[2])),
            "killed by alice");
  EXPECT_EQ(tdb_->QueryText("SELECT string_agg(result, ',' ORDER BY transfer_id) FROM attempts"),
            "FAILED,FAILED,CANCELED,FAILED");
  EXPECT_EQ(tdb_->QueryInt("SELECT count(*) FROM transfer_queue"), 1);
  EXPECT_EQ(tdb_->QueryInt("SELECT count(*) FROM transfer_live"), 1);  // the stale one's transfer
  auto again = repo_->ApplyNotDone({retry}, {kT0 + absl::Seconds(90)}, kT0);
  ASSERT_TRUE(again.ok());
  EXPECT_THAT(*again, ::testing::ElementsAre(false));
  EXPECT_TRUE(absl::IsInvalidArgument(repo_->ApplyNotDone({retry}, {}, kT0).status()));
  auto budgets = repo_->RetryBudgetsOf({id_, more[0], 999'999});
  ASSERT_TRUE(budgets.ok()) << budgets.status();
  EXPECT_EQ(budgets->size(), 2u);
}

TEST_F(OutcomeRepositoryTest, RecoverableFailureRequeuesWithCoolOff) {
  // A retry time with a fraction of a second, as the jittered backoff produces.
  auto applied =
      repo_->ApplyFinished(Outcome(v1::TRANSFER_STATE_FAILED), kT0 + absl::Milliseconds(30'250), kT0);
  ASSERT_TRUE(applied.ok()) << applied.status();
  ASSERT_TRUE(*applied);
  EXPECT_EQ(State(), "QUEUED");
  EXPECT_EQ(tdb_->QueryInt("SELECT (extract(epoch from not_before) * 1000)::bigint FROM transfers"),
            1'800'000'030'250);
  EXPECT_EQ(tdb_->QueryText("SELECT failure_class FROM transfers"), "TRANSFER");
  EXPECT_EQ(tdb_->QueryInt("SELECT count(*) FROM transfers WHERE backend_job_id IS NULL"), 1);
  // A late duplicate of the same attempt changes nothing.
  EXPECT_FALSE(*repo_->ApplyFinished(Outcome(v1::TRANSFER_STATE_DONE), std::nullopt, kT0));
  EXPECT_EQ(State(), "QUEUED");
}

TEST_F(OutcomeRepositoryTest, FinalFailureAndStaleAttempts) {
  tdb_->Exec("UPDATE transfers SET attempt = 2");
  // An outcome of attempt 1 arriving while attempt 2 runs is ignored.
  EXPECT_FALSE(*repo_->ApplyFinished(Outcome(v1::TRANSFER_STATE_DONE, 1), std::nullopt, kT0));
  EXPECT_EQ(State(), "SUBMITTING");
  EXPECT_EQ(tdb_->QueryInt("SELECT count(*) FROM attempts"), 0);
  EXPECT_TRUE(*repo_->ApplyFinished(Outcome(v1::TRANSFER_STATE_FAILED, 2), std::nullopt, kT0));
  EXPECT_EQ(State(), "FAILED");
  EXPECT_EQ(tdb_->QueryText("SELECT failure_reason FROM transfers"), "TRANSFER connection reset");
}

TEST_F(OutcomeRepositoryTest, IllegalTransitionsChangeNothing) {
  tdb_->Exec("UPDATE transfers SET state = 'QUEUED'");
  // A queued transfer is not started or finished by an outcome: it must be claimed first.
  EXPECT_FALSE(*repo_->ApplyStarted(Outcome(v1::TRANSFER_STATE_ACTIVE), kT0));
  EXPECT_FALSE(*repo_->ApplyFinished(Outcome(v1::TRANSFER_STATE_DONE), std::nullopt, kT0));
  EXPECT_EQ(State(), "QUEUED");
  for (const char* terminal : {"DONE", "FAILED", "KILLED"}) {
    tdb_->Exec(absl::StrCat("DELETE FROM attempts; UPDATE transfers SET state = '", terminal, "'"));
    EXPECT_FALSE(*repo_->ApplyStarted(Outcome(v1::TRANSFER_STATE_ACTIVE), kT0)) << terminal;
    EXPECT_FALSE(*repo_->ApplyFinished(Outcome(v1::TRANSFER_STATE_FAILED), kT0, kT0)) << terminal;
    EXPECT_FALSE(*repo_->ApplyFinished(Outcome(v1::TRANSFER_STATE_DONE), std::nullopt, kT0)) << terminal;
    EXPECT_EQ(State(), terminal);
  }
}

TEST_F(OutcomeRepositoryTest, KillRequestTurnsAFailureOrCancelIntoKilled) {
  tdb_->Exec("UPDATE transfers SET kill_requested = true, failure_reason = 'user asked'");
  // A recoverable failure would be retried, but the user killed the transfer.
  EXPECT_TRUE(*repo_->ApplyFinished(Outcome(v1::TRANSFER_STATE_FAILED), kT0 + absl::Seconds(30), kT0));
  EXPECT_EQ(State(), "KILLED");
  EXPECT_EQ(tdb_->QueryText("SELECT failure_reason FROM transfers"), "user asked");
}

TEST_F(OutcomeRepositoryTest, CancelOutcomeKills) {
  EXPECT_TRUE(*repo_->ApplyFinished(Outcome(v1::TRANSFER_STATE_KILLED), std::nullopt, kT0));
  EXPECT_EQ(State(), "KILLED");
  EXPECT_EQ(tdb_->QueryText("SELECT result FROM attempts"), "CANCELED");
}

TEST_F(OutcomeRepositoryTest, KilledTransferStaysKilled) {
  tdb_->Exec("UPDATE transfers SET state = 'KILLED'");
  EXPECT_FALSE(*repo_->ApplyFinished(Outcome(v1::TRANSFER_STATE_DONE), std::nullopt, kT0));
  EXPECT_EQ(State(), "KILLED");
}

TEST_F(OutcomeRepositoryTest, NoRetryAfterTheTaskDeadline) {
  tdb_->Exec("UPDATE tasks SET deadline = to_timestamp(1800000000 - 1)");
  EXPECT_TRUE(*repo_->ApplyFinished(Outcome(v1::TRANSFER_STATE_FAILED), kT0 + absl::Seconds(30), kT0));
  EXPECT_EQ(State(), "FAILED");
  EXPECT_THAT(tdb_->QueryText("SELECT failure_reason FROM transfers"),
              ::testing::HasSubstr("deadline has passed"));
}

TEST_F(OutcomeRepositoryTest, RetryBaseCountsFromTheLastManualRetry) {
  EXPECT_EQ(repo_->RetryBudgetOf(id_)->base, 0);
  EXPECT_EQ(repo_->RetryBudgetOf(id_)->task_max_attempts, 0);
  tdb_->Exec("UPDATE transfers SET retry_base = 3");
  EXPECT_EQ(repo_->RetryBudgetOf(id_)->base, 3);
  tdb_->Exec("UPDATE tasks SET max_attempts = 7");
  EXPECT_EQ(repo_->RetryBudgetOf(id_)->task_max_attempts, 7);
  EXPECT_EQ(repo_->RetryBudgetOf(987654).status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace aso::db
