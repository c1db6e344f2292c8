// Retention: old finished files move with their attempts to the archive tables; live, recent and
// not-yet-published or not-yet-cleaned files stay; the catalog keeps its entries.
#include "libs/db/retention_repository.h"

#include "libs/db/transfer_repository.h"

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/libs/db/db_test_util.h"

namespace aso::db {
namespace {

class RetentionTest : public PgTest {
 protected:
  void SetUp() override {
    PgTest::SetUp();
    if (HasFatalFailure()) return;
    AddSite(tdb_->db(), "A");
    AddSite(tdb_->db(), "B");
    ids_ = InsertTransfers(tdb_->db(), 7, "r");
    // 0..4 finished long ago, 5 finished recently, 6 still queued.
    tdb_->Exec(
        absl::StrCat("UPDATE transfers SET state = 'DONE', attempt = 1, updated = now() - interval '40 days' "
                     "WHERE id <= ",
                     ids_[4]));
    tdb_->Exec(absl::StrCat("UPDATE transfers SET state = 'FAILED', attempt = 1 WHERE id = ", ids_[5]));
    tdb_->Exec(
        "INSERT INTO attempts (transfer_id, attempt, backend_job_id, result, source_site, destination_site, "
        "finished) SELECT id, 1, 'j', 'DONE', 'A', 'B', now() FROM transfers WHERE state = 'DONE'");
    // 1 waits for its cleanup, 2 for the delivery of its announcement; 3 is in the catalog, delivered.
    tdb_->Exec(absl::StrCat("UPDATE transfers SET cleanup_state = 'PENDING' WHERE id = ", ids_[1]));
    for (int i : {2, 3}) {
      tdb_->Exec(absl::StrCat(
          "INSERT INTO catalog_entries (transfer_id, lfn, site, url, size_bytes, checksum, task_id, created) "
          "VALUES (",
          ids_[i], ", '/store/f", i, "', 'B', 'root://b//f', 1, 'adler32:1', 'task-1', now())"));
      tdb_->Exec(absl::StrCat(
          "INSERT INTO publication_outbox (transfer_id, payload, not_before, delivered) VALUES (", ids_[i],
          ", '{}', now(), ", i == 3 ? "now()" : "NULL", ")"));
    }
    repo_ = std::make_unique<PgRetentionRepository>(tdb_->db());
  }
  std::vector<int64_t> ids_;
  std::unique_ptr<PgRetentionRepository> repo_;
};

TEST_F(RetentionTest, OldFinishedFilesMoveToTheArchive) {
  const absl::Time cutoff = absl::Now() - absl::Hours(24 * 30);
  auto moved = repo_->ArchiveBefore(cutoff, 2);  // in batches
  ASSERT_TRUE(moved.ok()) << moved.status();
  EXPECT_EQ(*moved, 2);
  moved = repo_->ArchiveBefore(cutoff, 100);
  ASSERT_TRUE(moved.ok()) << moved.status();
  EXPECT_EQ(*moved, 1);
  EXPECT_EQ(*repo_->ArchiveBefore(cutoff, 100), 0);
  auto index_of = [&](const std::string& table) {
    std::string out;
    for (size_t i = 0; i < ids_.size(); ++i) {
      if (tdb_->QueryInt(absl::StrCat("SELECT count(*) FROM ", table, " WHERE id = ", ids_[i])) == 1) {
        absl::StrAppend(&out, i);
      }
    }
    return out;
  };
  EXPECT_EQ(index_of("transfers_archive"), "034");
  EXPECT_EQ(index_of("transfers"), "1256");
  EXPECT_EQ(tdb_->QueryInt("SELECT count(*) FROM attempts_archive"), 3);
  EXPECT_EQ(tdb_->QueryInt("SELECT count(*) FROM attempts"), 2);
  EXPECT_EQ(tdb_->QueryInt("SELECT count(*) FROM catalog_entries"), 2);  // the catalog is permanent
  EXPECT_EQ(tdb_->QueryInt("SELECT count(*) FROM publication_outbox"), 1);
  EXPECT_EQ(tdb_->QueryText(absl::StrCat(
                "SELECT idempotency_key || ' ' || state FROM transfers_archive WHERE id = ", ids_[0])),
            "r0 DONE");
  // The task's summary still counts every file.
  auto summary = PgTransferRepository(tdb_->db()).Summarize("task-1", absl::Now());
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->total_files(), 7);
}

}  // namespace
}  // namespace aso::db
