// The hot queries use the indexes chosen for them (docs/database.md), checked with EXPLAIN on a table
// large enough for the planner to prefer an index when one fits.
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/libs/db/db_test_util.h"

namespace aso::db {
namespace {
using ::testing::HasSubstr;

class QueryPlansTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto t = testing::TestDatabase::Create();
    ASSERT_TRUE(t.ok()) << t.status();
    tdb_ = t->release();
    // 60,000 transfers: 20 sites, 400 links, 100 users and tasks; 90% finished, the rest queued or live.
    std::string sites;
    for (int i = 0; i < 20; ++i) sites += absl::StrCat(i ? "," : "", "('S", i, "', now())");
    tdb_->Exec(absl::StrCat("INSERT INTO sites (name, updated) VALUES ", sites));
    tdb_->Exec(
        "INSERT INTO tasks (task_id, username, created, updated) "
        "SELECT 'task' || u, 'user' || u, now(), now() FROM generate_series(0, 99) u");
    tdb_->Exec(
        "INSERT INTO transfers (idempotency_key, task_id, username, source_site, source_url, "
        "destination_site, "
        "destination_url, state, not_before, created, updated) "
        "SELECT 'k' || g, 'task' || (g % 100), 'user' || (g % 100), 'S' || (g % 20), 'root://s//src/' || g, "
        "'S' || ((g / 20) % 20), 'root://d//dst/' || g, "
        "CASE WHEN g % 10 = 0 THEN 'QUEUED' WHEN g % 10 = 1 THEN 'ACTIVE' ELSE 'DONE' END, "
        "to_timestamp(0), now(), now() FROM generate_series(1, 60000) g");
    // 20,000 bulk jobs, one in ten not yet confirmed by the adapter.
    tdb_->Exec(
        "INSERT INTO submissions (job_id, source_site, destination_site, transfer_ids, claimed_at, "
        "accepted_at) "
        "SELECT 'j' || g, 'S1', 'S2', ARRAY[g]::bigint[], now() - interval '1 hour', "
        "CASE WHEN g % 10 = 0 THEN NULL ELSE now() END FROM generate_series(1, 20000) g");
    tdb_->Exec("ANALYZE");
  }
  static void TearDownTestSuite() { delete tdb_; }

  std::string Plan(const std::string& query) {
    return tdb_->QueryText(absl::StrCat("SELECT string_agg(p, E'\\n') FROM (SELECT * FROM ", "query_plan($q$",
                                        query, "$q$)) x(p)"));
  }
  void SetUp() override {
    tdb_->Exec(
        "CREATE OR REPLACE FUNCTION query_plan(q text) RETURNS SETOF text LANGUAGE plpgsql AS "
        "$$ BEGIN RETURN QUERY EXECUTE 'EXPLAIN ' || q; END $$");
  }
  static testing::TestDatabase* tdb_;
};
testing::TestDatabase* QueryPlansTest::tdb_ = nullptr;

TEST_F(QueryPlansTest, ClaimReadsTheLinksQueueIndex) {
  // A user's share of the link's queue, best priority first.
  EXPECT_THAT(
      Plan("SELECT transfer_id FROM transfer_queue WHERE source_site = 'S1' AND destination_site = 'S2' "
           "AND username = 'user7' AND not_before <= now() ORDER BY priority DESC, transfer_id LIMIT 100 "
           "FOR UPDATE SKIP LOCKED"),
      HasSubstr("transfer_queue_by_link_user"));
  // The next user with work on the link (the loose scan behind fair share): either (link, user) index.
  EXPECT_THAT(Plan("SELECT username FROM transfer_queue WHERE source_site = 'S1' AND destination_site = 'S2' "
                   "AND username > 'user1' ORDER BY username LIMIT 1"),
              HasSubstr("Index Only Scan using transfer_queue_by_link_user"));
  // Whether the user has a ready file: the cool-off is checked in the index (not_before is included).
  EXPECT_THAT(
      Plan("SELECT true FROM transfer_queue WHERE source_site = 'S1' AND destination_site = 'S2' "
           "AND username = 'user7' AND not_before <= now() ORDER BY priority DESC, transfer_id LIMIT 1"),
      HasSubstr("Index Only Scan using transfer_queue_by_link_user"));
}

TEST_F(QueryPlansTest, ThrottleCountsUseTheLiveIndexes) {
  EXPECT_THAT(
      Plan("SELECT 1 FROM transfer_live WHERE source_site = 'S1' AND destination_site = 'S2' LIMIT 100"),
      HasSubstr("transfer_live_by_link"));
  EXPECT_THAT(Plan("SELECT 1 FROM transfer_live WHERE destination_site = 'S2' LIMIT 100"),
              HasSubstr("transfer_live_by_destination"));
}

TEST_F(QueryPlansTest, UnconfirmedJobsUseTheirIndex) {
  EXPECT_THAT(Plan("SELECT job_id FROM submissions WHERE accepted_at IS NULL AND claimed_at < now() "
                   "ORDER BY claimed_at LIMIT 100"),
              HasSubstr("submissions_unconfirmed"));
}

TEST_F(QueryPlansTest, TaskAndUserListingsAndSummaries) {
  EXPECT_THAT(Plan("SELECT id FROM transfers WHERE task_id = 'task7' AND id > 0 ORDER BY id LIMIT 100"),
              HasSubstr("transfers_task"));
  EXPECT_THAT(Plan("SELECT id FROM transfers WHERE username = 'user7' AND id > 0 ORDER BY id LIMIT 100"),
              HasSubstr("transfers_user"));
  EXPECT_THAT(Plan("SELECT state, count(*) FROM transfers WHERE task_id = 'task7' GROUP BY state"),
              HasSubstr("transfers_task"));
}

TEST_F(QueryPlansTest, IdempotencyAndDestinationChecks) {
  EXPECT_THAT(Plan("SELECT id FROM transfers WHERE idempotency_key = ANY('{k1,k2}'::text[])"),
              HasSubstr("transfers_idempotency_key"));
  EXPECT_THAT(Plan("SELECT id FROM transfers WHERE destination_url = 'root://d//dst/10' AND live"),
              HasSubstr("transfers_live_destination"));
}

}  // namespace
}  // namespace aso::db
