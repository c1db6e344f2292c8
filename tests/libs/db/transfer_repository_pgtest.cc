#include "libs/db/transfer_repository.h"

#include <pqxx/pqxx>

#include "absl/time/clock.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/libs/db/db_test_util.h"

namespace aso::db {
namespace {
namespace v1 = aso::common::v1;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

class TransferRepositoryTest : public PgTest {
 protected:
  void SetUp() override {
    PgTest::SetUp();
    if (HasFatalFailure()) return;
    AddSite(tdb_->db(), "A");
    AddSite(tdb_->db(), "B");
    repo_ = std::make_unique<PgTransferRepository>(tdb_->db());
  }
  std::unique_ptr<PgTransferRepository> repo_;
};

TEST_F(TransferRepositoryTest, SameKeyGivesSameIdAlsoInsideOneBatch) {
  auto first = repo_->InsertBatch(
      {MakeTransfer("k1", "A", "B"), MakeTransfer("k2", "A", "B"), MakeTransfer("k1", "A", "B")}, kT0);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->created, 2);
  EXPECT_EQ(first->ids[0], first->ids[2]);
  EXPECT_NE(first->ids[0], first->ids[1]);
  auto again = repo_->InsertBatch({MakeTransfer("k2", "A", "B"), MakeTransfer("k1", "A", "B")}, kT0);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->created, 0);
  EXPECT_THAT(again->ids, ElementsAre(first->ids[1], first->ids[0]));
  EXPECT_EQ(tdb_->QueryInt("SELECT count(*) FROM transfers"), 2);
}

TEST_F(TransferRepositoryTest, AKeyReusedForAnotherFileIsRefused) {
  ASSERT_TRUE(repo_->InsertBatch({MakeTransfer("k1", "A", "B")}, kT0).ok());
  Transfer other = MakeTransfer("elsewhere", "A", "B");
  other.set_idempotency_key("k1");
  auto r = repo_->InsertBatch({other}, kT0);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(r.status().message(), HasSubstr("files[0].idempotency_key was used before"));
  EXPECT_EQ(tdb_->QueryInt("SELECT count(*) FROM transfers"), 1);
}

TEST_F(TransferRepositoryTest, LiveDestinationConflictStoresNothing) {
  ASSERT_TRUE(repo_->InsertBatch({MakeTransfer("k1", "A", "B")}, kT0).ok());
  Transfer other = MakeTransfer("k9", "A", "B");
  other.mutable_destination()->set_url(MakeTransfer("k1", "A", "B").destination().url());
  auto r = repo_->InsertBatch({MakeTransfer("fresh", "A", "B"), other}, kT0);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(r.status().message(), HasSubstr("files[1].destination_url"));
  EXPECT_EQ(tdb_->QueryInt("SELECT count(*) FROM transfers"), 1);
  // Once the first transfer is terminal, the destination may be written again.
  tdb_->Exec("UPDATE transfers SET state = 'FAILED'");
  EXPECT_TRUE(repo_->InsertBatch({other}, kT0).ok());
}

TEST_F(TransferRepositoryTest, GetListAndSummary) {
  auto ids = InsertTransfers(tdb_->db(), 5, "f");
  ASSERT_EQ(ids.size(), 5u);
  tdb_->Exec(
      absl::StrCat("UPDATE transfers SET state = 'FAILED', failure_class = 'SOURCE', "
                   "failure_reason = 'no such file' WHERE id = ",
                   ids[4]));
  auto t = repo_->Get(ids[0], kT0);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->state(), v1::TRANSFER_STATE_QUEUED);
  EXPECT_EQ(t->source().site(), "A");
  EXPECT_THAT(t->waiting_reason(), HasSubstr("waiting for the scheduler's next round on link A -> B"));
  EXPECT_EQ(repo_->Get(999999, kT0).status().code(), absl::StatusCode::kNotFound);

  TransferFilter filter;
  filter.task_id = "task-1";
  auto page1 = repo_->List(filter, 2, "", kT0);
  ASSERT_TRUE(page1.ok());
  ASSERT_EQ(page1->transfers.size(), 2u);
  auto page2 = repo_->List(filter, 2, page1->next_page_token, kT0);
  auto page3 = repo_->List(filter, 2, page2->next_page_token, kT0);
  EXPECT_EQ(page2->transfers[0].id(), ids[2]);
  EXPECT_EQ(page3->transfers.size(), 1u);
  EXPECT_EQ(page3->next_page_token, "");
  filter.states = {v1::TRANSFER_STATE_FAILED};
  auto failed = repo_->List(filter, 10, "", kT0);
  ASSERT_EQ(failed->transfers.size(), 1u);
  EXPECT_EQ(failed->transfers[0].failure_reason(), "no such file");
  EXPECT_EQ(repo_->List(filter, 10, "garbage", kT0).status().code(), absl::StatusCode::kInvalidArgument);

  auto summary = repo_->Summarize("task-1", kT0);
  ASSERT_TRUE(summary.ok());
  EXPECT_EQ(summary->total_files(), 5);
  EXPECT_EQ(summary->total_bytes(), 5000);
  EXPECT_FALSE(summary->finished());
  ASSERT_EQ(summary->failures_size(), 1);
  EXPECT_EQ(summary->failures(0).failure_class(), v1::FAILURE_CLASS_SOURCE);
  EXPECT_EQ(repo_->Summarize("nope", kT0).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(TransferRepositoryTest, ATaskBelongsToOneUser) {
  ASSERT_TRUE(repo_->InsertBatch({MakeTransfer("k1", "A", "B", "alice", "t")}, kT0).ok());
  auto r = repo_->InsertBatch({MakeTransfer("k2", "A", "B", "mallory", "t")}, kT0);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(tdb_->QueryInt("SELECT count(*) FROM transfers"), 1);
  EXPECT_EQ(tdb_->QueryText("SELECT username FROM tasks WHERE task_id = 't'"), "alice");
  // Nor can another task reuse one of its idempotency keys to learn or touch its transfers.
  auto stolen = repo_->InsertBatch({MakeTransfer("k1", "A", "B", "mallory", "mallorys-task")}, kT0);
  EXPECT_EQ(stolen.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(stolen.status().message(), HasSubstr("files[0].idempotency_key"));
}

TEST_F(TransferRepositoryTest, KillEndsQueuedAtOnceAndFlagsHandedOver) {
  auto ids = InsertTransfers(tdb_->db(), 4, "f");
  tdb_->Exec(absl::StrCat("UPDATE transfers SET state = 'ACTIVE', attempt = 1 WHERE id = ", ids[1]));
  tdb_->Exec(absl::StrCat("UPDATE transfers SET state = 'DONE' WHERE id = ", ids[2]));
  EXPECT_EQ(repo_->Kill({}, "x", kT0).status().code(), absl::StatusCode::kInvalidArgument);
  auto other_user = repo_->Kill({"task-1", {}, "mallory"}, "x", kT0);
  ASSERT_TRUE(other_user.ok());
  EXPECT_EQ(other_user->killed + other_user->kill_requested, 0);
  auto r = repo_->Kill({"task-1", {}, "alice"}, "wrong dataset", kT0);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->killed, 2);
  EXPECT_EQ(r->kill_requested, 1);
  EXPECT_EQ(tdb_->QueryInt(
                "SELECT count(*) FROM transfers WHERE state = 'KILLED' AND failure_reason = 'wrong dataset'"),
            2);
  EXPECT_EQ(tdb_->QueryText(absl::StrCat("SELECT state FROM transfers WHERE id = ", ids[2])), "DONE");
  auto active = repo_->Get(ids[1], kT0);
  EXPECT_EQ(active->state(), v1::TRANSFER_STATE_ACTIVE);
  EXPECT_THAT(active->waiting_reason(), HasSubstr("kill requested"));
  // Killing again changes nothing; killing by id works too.
  auto again = repo_->Kill({"", {ids[0], ids[1], ids[2]}, ""}, "x", kT0);
  EXPECT_EQ(again->killed + again->kill_requested, 0);
}

TEST_F(TransferRepositoryTest, MetadataRoundTrips) {
  Transfer t = MakeTransfer("m", "A", "B");
  (*t.mutable_metadata())["dataset"] = "/Prim/alice-v1/USER";
  (*t.mutable_metadata())["quote\"d"] = "line\nbreak";
  auto r = repo_->InsertBatch({t}, kT0);
  ASSERT_TRUE(r.ok()) << r.status();
  auto back = repo_->Get(r->ids[0], kT0);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->metadata().at("dataset"), "/Prim/alice-v1/USER");
  EXPECT_EQ(back->metadata().at("quote\"d"), "line\nbreak");
}

// A change committed while an older transaction is still open is held back until that one ends, so a
// watcher that moved past it cannot miss the older change; each change is delivered once.
TEST_F(TransferRepositoryTest, WatchNeverSkipsAChangeOfAnOlderOpenTransaction) {
  AddSite(tdb_->db(), "A");
  AddSite(tdb_->db(), "B");
  auto ids = InsertTransfers(tdb_->db(), 2, "w");
  // The horizon is the cluster's: transactions of other tests on the same server may hold it back for a
  // moment, so wait until the expected changes are deliverable.
  auto watch_until = [&](const std::string& cursor, size_t n, int limit = 100) {
    absl::StatusOr<WatchPage> page;
    for (int i = 0; i < 200; ++i) {
      page = repo_->Watch("task-1", cursor, limit, kT0);
      if (!page.ok() || page->changed.size() >= n) break;
      absl::SleepFor(absl::Milliseconds(50));
    }
    return page;
  };
  auto initial = watch_until("", 2);
  ASSERT_TRUE(initial.ok()) << initial.status();
  ASSERT_EQ(initial->changed.size(), 2u);
  EXPECT_TRUE(repo_->Watch("task-1", initial->cursor, 100, kT0)->changed.empty());

  pqxx::connection older_conn(tdb_->dsn());
  pqxx::work older(older_conn);
  older.exec(absl::StrCat("UPDATE transfers SET state = 'KILLED' WHERE id = ", ids[0]));  // open, older xid
  tdb_->Exec(absl::StrCat("UPDATE transfers SET state = 'FAILED' WHERE id = ", ids[1]));  // committed, newer
  auto held = repo_->Watch("task-1", initial->cursor, 100, kT0);
  ASSERT_TRUE(held.ok());
  EXPECT_TRUE(held->changed.empty()) << "a newer change must wait for the older open transaction";
  older.commit();
  auto both = watch_until(held->cursor, 2);
  ASSERT_TRUE(both.ok());
  ASSERT_EQ(both->changed.size(), 2u);
  EXPECT_EQ(both->changed[0].state(), common::v1::TRANSFER_STATE_KILLED);
  EXPECT_EQ(both->changed[1].state(), common::v1::TRANSFER_STATE_FAILED);
  EXPECT_TRUE(repo_->Watch("task-1", both->cursor, 100, kT0)->changed.empty());
  // Paging inside one window: the cursor of the first file resumes with the second.
  auto page = watch_until(held->cursor, 1, 1);
  ASSERT_EQ(page->changed.size(), 1u);
  auto next = watch_until(page->cursors[0], 1, 1);
  ASSERT_EQ(next->changed.size(), 1u);
  EXPECT_EQ(next->changed[0].id(), ids[1]);
  EXPECT_EQ(repo_->Watch("task-1", "w1:abc", 10, kT0).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(TransferRepositoryTest, SummaryProgressEstimateAndDeadline) {
  AddSite(tdb_->db(), "A");
  AddSite(tdb_->db(), "B");
  std::vector<Transfer> batch;
  for (int i = 0; i < 4; ++i) batch.push_back(MakeTransfer(absl::StrCat("s", i), "A", "B"));
  ASSERT_TRUE(repo_->InsertBatch(batch, kT0, TaskOptions{kT0 + absl::Hours(2)}).ok());
  // One file finished 5 minutes ago: 3 remain at one per 15 minutes.
  tdb_->Exec(
      "UPDATE transfers SET state = 'DONE', updated = to_timestamp(1800000000 - 300) WHERE idempotency_key = "
      "'s0'");
  auto s = repo_->Summarize("task-1", kT0);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_DOUBLE_EQ(s->progress(), 0.25);
  EXPECT_EQ(s->deadline().seconds(), 1'800'000'000 + 7200);
  EXPECT_EQ(s->estimated_completion().seconds(), 1'800'000'000 + 3 * 900);
  // Filters by creation time.
  TransferFilter later;
  later.created_after = kT0 + absl::Seconds(1);
  EXPECT_TRUE(repo_->List(later, 10, "", kT0)->transfers.empty());
  TransferFilter window;
  window.created_after = kT0;
  window.created_before = kT0 + absl::Seconds(1);
  EXPECT_EQ(repo_->List(window, 10, "", kT0)->transfers.size(), 4u);
}

// GetTransfer tells a file's story: submitted, each attempt with its end and what followed, publication.
TEST_F(TransferRepositoryTest, TimelineTellsWhatHappened) {
  AddSite(tdb_->db(), "A");
  AddSite(tdb_->db(), "B");
  const int64_t id = InsertTransfers(tdb_->db(), 1, "story")[0];
  tdb_->Exec(absl::StrCat(
      "UPDATE transfers SET state = 'DONE', attempt = 2, dataset = '/D/v1/USER', publication_state = 'DONE', "
      "cleanup_state = 'SKIPPED', cleanup_error = 'not deleted: the destination checksum was not verified' "
      "WHERE id = ",
      id));
  tdb_->Exec(absl::StrCat(
      "INSERT INTO attempts (transfer_id, attempt, backend_job_id, result, source_site, destination_site, "
      "started, "
      "finished, bytes, throughput, failure_class, error, recoverable) VALUES "
      "(",
      id, ", 1, 'j1', 'FAILED', 'A', 'B', now(), now(), 0, 0, 'NETWORK', 'TRANSFER [111] refused', true), (",
      id, ", 2, 'j2', 'DONE', 'A', 'B', now(), now(), 2000000, 1000000, '', '', false)"));
  tdb_->Exec(
      "INSERT INTO submissions (job_id, source_site, destination_site, transfer_ids, claimed_at, "
      "link_waiting_reason) "
      "SELECT 'j2', 'A', 'B', '{}', finished + interval '90 seconds', "
      "'link A -> B is full: 5 of 5 transfers active' FROM attempts WHERE attempt = 1");
  tdb_->Exec(
      absl::StrCat("INSERT INTO catalog_entries (transfer_id, lfn, site, url, size_bytes, checksum, task_id, "
                   "created) VALUES (",
                   id, ", '', 'B', 'root://b//x', 2000000, 'adler32:1', 'task-1', now())"));
  auto t = repo_->Get(id, kT0);
  ASSERT_TRUE(t.ok()) << t.status();
  std::vector<std::string> what;
  for (const auto& e : t->timeline()) what.push_back(e.what());
  EXPECT_THAT(what,
              ElementsAre(HasSubstr("submitted by alice (task task-1"), "attempt 1 started (backend job j1)",
                          "attempt 1 FAILED (NETWORK, recoverable): TRANSFER [111] refused -> retried",
                          "attempt 2 scheduled after 1m30s in the queue (cool-off included); the link had "
                          "been held: link A -> B is full: 5 of 5 transfers active",
                          "attempt 2 started (backend job j2)", "attempt 2 DONE: 2000000 bytes at 1.0 MB/s",
                          "published in the file catalog (dataset /D/v1/USER)",
                          "source cleanup SKIPPED: not deleted: the destination checksum was not verified"));
  // Every step has its time: the skipped cleanup is dated by the copy that ended the file.
  for (const auto& e : t->timeline()) EXPECT_TRUE(e.has_at()) << e.what();
  EXPECT_EQ(t->timeline().rbegin()->at().seconds(), t->attempts(1).finished().seconds());
}

}  // namespace
}  // namespace aso::db
