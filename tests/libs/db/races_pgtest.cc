// Concurrency and failure cases of the transfer store on a real PostgreSQL: every race named in the
// design ends in one consistent state.
#include <atomic>
#include <set>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/db/internal/transaction.h"
#include "libs/db/outcome_repository.h"
#include "libs/db/scheduling_repository.h"
#include "tests/libs/db/db_test_util.h"

namespace aso::db {
namespace {
namespace v1 = aso::common::v1;

std::vector<JobPlan> JobsOf100(const std::vector<ClaimedFile>& files) {
  std::vector<JobPlan> plans;
  for (size_t i = 0; i < files.size(); i += 100) {
    JobPlan p;
    p.job_id = absl::StrCat("job-", files[i].transfer_id, "-", files[i].attempt);
    for (size_t j = i; j < files.size() && j < i + 100; ++j) p.transfer_ids.push_back(files[j].transfer_id);
    plans.push_back(std::move(p));
  }
  return plans;
}

FileOutcome Outcome(int64_t id, int attempt, v1::TransferState state) {
  FileOutcome o;
  o.set_transfer_id(id);
  o.set_attempt(attempt);
  o.set_backend_job_id("j");
  o.set_state(state);
  o.mutable_finished()->set_seconds(1'800'000'001);
  if (state != v1::TRANSFER_STATE_DONE) o.set_failure_class(v1::FAILURE_CLASS_TRANSFER);
  return o;
}

class RacesTest : public PgTest {
 protected:
  void SetUp() override {
    PgTest::SetUp();
    if (HasFatalFailure()) return;
    AddSite(tdb_->db(), "A", 1'000'000);
    AddSite(tdb_->db(), "B", 0, 1'000'000);
  }
};

TEST_F(RacesTest, EightClaimersOverOneHundredThousandRowsClaimEachOnce) {
  // Bulk-load the queue in one statement (the insert path has its own tests and benchmark).
  tdb_->Exec(
      "INSERT INTO tasks (task_id, username, created, updated) VALUES ('t', 'alice', now(), now());"
      "INSERT INTO transfers (idempotency_key, task_id, username, source_site, source_url, "
      "destination_site, destination_url, size_bytes, not_before, created, updated) "
      "SELECT 'k' || g, 't', 'alice', 'A', 'root://A.example//s/' || g, 'B', 'root://B.example//d/' || g, "
      "1, to_timestamp(0), now(), now() FROM generate_series(1, 100000) g");
  absl::Mutex mu;
  std::vector<int64_t> claimed;
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      PgSchedulingRepository repo(tdb_->db());
      for (;;) {
        auto jobs =
            repo.ClaimForLink("A", "B", ClaimLimits{1'000'000, 1'000'000, 2000, "", 0}, kT0, JobsOf100);
        ASSERT_TRUE(jobs.ok()) << jobs.status();
        if (jobs->empty()) return;
        absl::MutexLock lock(&mu);
        for (const auto& j : *jobs) {
          for (const auto& f : j.files) claimed.push_back(f.transfer_id);
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(claimed.size(), 100000u);
  EXPECT_EQ(std::set<int64_t>(claimed.begin(), claimed.end()).size(), 100000u);
  EXPECT_EQ(tdb_->QueryInt("SELECT count(*) FROM transfers WHERE state = 'SUBMITTING' AND attempt = 1"),
            100000);
}

TEST_F(RacesTest, DuplicateSubmissionsRacingMakeOneRowEach) {
  std::vector<Transfer> batch;
  for (int i = 0; i < 200; ++i) batch.push_back(MakeTransfer(absl::StrCat("k", i), "A", "B"));
  absl::Mutex mu;
  std::set<std::vector<int64_t>> answers;
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      PgTransferRepository repo(tdb_->db());
      auto r = repo.InsertBatch(batch, kT0);
      ASSERT_TRUE(r.ok()) << r.status();
      absl::MutexLock lock(&mu);
      answers.insert(r->ids);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(answers.size(), 1u);  // every caller got the same ids
  EXPECT_EQ(tdb_->QueryInt("SELECT count(*) FROM transfers"), 200);
}

TEST_F(RacesTest, ConcurrentDuplicateOutcomesApplyOnce) {
  auto ids = InsertTransfers(tdb_->db(), 50, "f");
  tdb_->Exec("UPDATE transfers SET state = 'ACTIVE', attempt = 1");
  std::atomic<int> applied{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      PgOutcomeRepository repo(tdb_->db());
      for (int64_t id : ids) {
        // Half the threads report DONE, half a recoverable failure, for the same attempt.
        auto state = t % 2 == 0 ? v1::TRANSFER_STATE_DONE : v1::TRANSFER_STATE_FAILED;
        auto r = repo.ApplyFinished(Outcome(id, 1, state), kT0 + absl::Seconds(30), kT0);
        ASSERT_TRUE(r.ok()) << r.status();
        if (*r) ++applied;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(applied.load(), 50);
  EXPECT_EQ(tdb_->QueryInt("SELECT count(*) FROM attempts"), 50);
  // The state agrees with the one attempt recorded for each transfer.
  EXPECT_EQ(tdb_->QueryInt("SELECT count(*) FROM transfers t JOIN attempts a ON a.transfer_id = t.id "
                           "WHERE (a.result = 'DONE') <> (t.state = 'DONE')"),
            0);
}

TEST_F(RacesTest, KillRacingCompletionEndsInOneConsistentTerminalState) {
  auto ids = InsertTransfers(tdb_->db(), 300, "f");
  std::thread worker([&] {
    // Scheduler, adapter and bookkeeping in one: claim, then finish everything claimed.
    PgSchedulingRepository sched(tdb_->db());
    PgOutcomeRepository outcomes(tdb_->db());
    for (;;) {
      auto jobs = sched.ClaimForLink("A", "B", ClaimLimits{1000, 1000, 20, "", 0}, kT0, JobsOf100);
      ASSERT_TRUE(jobs.ok());
      if (jobs->empty()) return;
      for (const auto& j : *jobs) {
        ASSERT_TRUE(sched.MarkSubmitted({j.job_id}, kT0).ok());
        for (const auto& f : j.files) {
          ASSERT_TRUE(outcomes
                          .ApplyFinished(Outcome(f.transfer_id, f.attempt, v1::TRANSFER_STATE_DONE),
                                         std::nullopt, kT0)
                          .ok());
        }
      }
    }
  });
  std::thread killer([&] {
    PgTransferRepository repo(tdb_->db());
    for (int i = 0; i < 20; ++i) ASSERT_TRUE(repo.Kill({"task-1", {}, ""}, "user asked", kT0).ok());
  });
  worker.join();
  killer.join();
  // The adapter's part for kills that reached handed-over files: report the cancel.
  PgOutcomeRepository outcomes(tdb_->db());
  for (int64_t id : ids) {
    if (tdb_->QueryInt(absl::StrCat("SELECT count(*) FROM transfers WHERE id = ", id,
                                    " AND kill_requested AND state IN ('SUBMITTING','ACTIVE')")) > 0) {
      ASSERT_TRUE(outcomes.ApplyFinished(Outcome(id, 1, v1::TRANSFER_STATE_KILLED), std::nullopt, kT0).ok());
    }
  }
  EXPECT_EQ(tdb_->QueryInt("SELECT count(*) FROM transfers WHERE state IN ('DONE','KILLED')"), 300);
  EXPECT_EQ(tdb_->QueryInt("SELECT count(*) FROM transfers t WHERE state = 'DONE' AND NOT EXISTS "
                           "(SELECT 1 FROM attempts a WHERE a.transfer_id = t.id AND a.result = 'DONE')"),
            0);
  EXPECT_EQ(tdb_->QueryInt("SELECT count(*) FROM transfers t WHERE state = 'KILLED' AND EXISTS "
                           "(SELECT 1 FROM attempts a WHERE a.transfer_id = t.id AND a.result = 'DONE')"),
            0);
  EXPECT_EQ(tdb_->QueryInt("SELECT count(*) FROM (SELECT transfer_id FROM attempts GROUP BY 1 "
                           "HAVING count(*) > 1) x"),
            0);
}

TEST_F(RacesTest, ConnectionKilledMidTransactionWritesNothingAndTheNextCallWorks) {
  absl::Status s = Transact(
      tdb_->db(),
      [](pqxx::work& txn) {
        txn.exec("INSERT INTO sites (name, updated) VALUES ('HALF', now())");
        txn.exec("SELECT pg_terminate_backend(pg_backend_pid())");
        return absl::OkStatus();
      },
      /*retry_on_broken=*/false);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_EQ(tdb_->QueryInt("SELECT count(*) FROM sites WHERE name = 'HALF'"), 0);
  PgSiteRepository sites(tdb_->db());
  EXPECT_TRUE(sites.List().ok());
  // Pooled connections killed from outside while idle: the next call reconnects transparently.
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(sites.List().ok());
  tdb_->Exec(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
      "WHERE datname = current_database() AND pid <> pg_backend_pid()");
  auto listed = sites.List();
  ASSERT_TRUE(listed.ok()) << listed.status();
  EXPECT_EQ(listed->size(), 2u);
}

}  // namespace
}  // namespace aso::db
