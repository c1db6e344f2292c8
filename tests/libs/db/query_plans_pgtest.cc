// The hot queries use the indexes chosen for them (docs/database.md), checked with EXPLAIN on a table
// large enough for the planner to prefer an index when one fits.
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/db/stats_repository.h"
#include "tests/libs/db/db_test_util.h"

namespace aso::db {
namespace {
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

// A fresh database with 20 sites (S0..S19), 100 users with a task each (userN, taskN), and the function
// query_plan(q) returning the rows of any statement (EXPLAIN's). Null, with a test failure, when no
// database can be made.
testing::TestDatabase* SitesAndUsers() {
  auto t = testing::TestDatabase::Create();
  if (!t.ok()) {
    ADD_FAILURE() << t.status();
    return nullptr;
  }
  testing::TestDatabase* tdb = t->release();
  std::string sites;
  for (int i = 0; i < 20; ++i) sites += absl::StrCat(i ? "," : "", "('S", i, "', now())");
  tdb->Exec(absl::StrCat("INSERT INTO sites (name, updated) VALUES ", sites));
  tdb->Exec(
      "INSERT INTO tasks (task_id, username, created, updated) "
      "SELECT 'task' || u, 'user' || u, now(), now() FROM generate_series(0, 99) u");
  tdb->Exec(
      "CREATE FUNCTION query_plan(q text) RETURNS SETOF text LANGUAGE plpgsql AS "
      "$$ BEGIN RETURN QUERY EXECUTE q; END $$");
  return tdb;
}

// The plan PostgreSQL chooses for `query`: EXPLAIN `options` `query`, one line per plan node.
std::string Explain(testing::TestDatabase& tdb, const std::string& options, const std::string& query) {
  return tdb.QueryText(absl::StrCat("SELECT string_agg(p, E'\\n') FROM query_plan($q$EXPLAIN ", options, " ",
                                    query, "$q$) x(p)"));
}

class QueryPlansTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // 60,000 transfers over 400 links; 90% finished, the rest queued or live.
    tdb_ = SitesAndUsers();
    ASSERT_NE(tdb_, nullptr);
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

  std::string Plan(const std::string& query) { return Explain(*tdb_, "", query); }
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
  // Either index has both columns.
  EXPECT_THAT(
      Plan("SELECT 1 FROM transfer_live WHERE source_site = 'S1' AND destination_site = 'S2' LIMIT 100"),
      AllOf(HasSubstr("Index"), Not(HasSubstr("Seq Scan"))));
  EXPECT_THAT(Plan("SELECT 1 FROM transfer_live WHERE source_site = 'S1' "
                   "ORDER BY source_site, destination_site LIMIT 100"),
              HasSubstr("transfer_live_by_link"));
  EXPECT_THAT(Plan("SELECT 1 FROM transfer_live WHERE destination_site = 'S2' "
                   "ORDER BY destination_site, source_site LIMIT 100"),
              HasSubstr("transfer_live_by_destination_source"));
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

TEST_F(QueryPlansTest, RetentionReadsFinishedFilesByAge) {
  EXPECT_THAT(Plan("SELECT id FROM transfers t WHERE t.finished < now() - interval '1 day' "
                   "ORDER BY t.finished LIMIT 500"),
              AllOf(HasSubstr("transfers_finished_by_age"), Not(HasSubstr("Seq Scan"))));
}

// A file's transitions before its end (claimed, started, requeued for a retry) change no column any index
// of `transfers` reads, so PostgreSQL keeps them on the row's page without new index entries (HOT); the
// terminal one does not (the file leaves the live indexes). Counted within one transaction by
// pg_stat_get_xact_tuples_hot_updated, which sees the transaction's own updates at once (each query's
// transaction is rolled back; five rows leave room on their page for every new version).
TEST(TransferUpdatesTest, NonTerminalTransitionsAreHotUpdates) {
  auto t = testing::TestDatabase::Create();
  ASSERT_TRUE(t.ok()) << t.status();
  testing::TestDatabase& tdb = **t;
  tdb.Exec("INSERT INTO sites (name, updated) VALUES ('A', now()), ('B', now())");
  tdb.Exec("INSERT INTO tasks (task_id, username, created, updated) VALUES ('t', 'u', now(), now())");
  tdb.Exec(
      "INSERT INTO transfers (idempotency_key, task_id, username, source_site, source_url, destination_site, "
      "destination_url, not_before, created, updated) "
      "SELECT 'k' || g, 't', 'u', 'A', 'root://a//f' || g, 'B', 'root://b//f' || g, now(), now(), now() "
      "FROM generate_series(1, 5) g");
  const std::string hot = "pg_stat_get_xact_tuples_hot_updated('transfers'::regclass)";
  const std::string updated = "pg_stat_get_xact_tuples_updated('transfers'::regclass)";
  EXPECT_EQ(tdb.QueryText(absl::StrCat(
                "UPDATE transfers SET state = 'SUBMITTING', attempt = attempt + 1, claimed_at = now(), "
                "  backend_job_id = 'j1', updated = now() + interval '1 s'; "
                "UPDATE transfers SET state = 'ACTIVE', updated = now() + interval '2 s'; "
                "UPDATE transfers SET state = 'QUEUED', backend_job_id = NULL, failure_class = 'NETWORK', "
                "  not_before = now() + interval '1 min', updated = now() + interval '3 s'; "
                "SELECT ",
                hot, " || '/' || ", updated, ";")),
            "15/15");
  EXPECT_EQ(tdb.QueryText(absl::StrCat("UPDATE transfers SET state = 'DONE', updated = now(); SELECT ", hot,
                                       " || '/' || ", updated, ";")),
            "0/5");
  tdb.Exec("UPDATE transfers SET state = 'DONE', updated = now()");
  EXPECT_EQ(tdb.QueryInt("SELECT count(*) FROM transfers WHERE finished IS NOT NULL"), 5);
}

// Schema 14: the claim tables follow every UPDATE of transfers (queued again, another priority or time,
// claimed, started, finished, killed), and the trigger finds their rows by primary key: a statement
// changing n transfers reads about n entries of a claim table's key, however many rows the table holds
// (version 12 joined the whole of transfer_live with the statement's rows: n x m).
TEST(ClaimTablesTest, FollowEveryUpdateByKeyProbes) {
  auto t = testing::TestDatabase::Create();
  ASSERT_TRUE(t.ok()) << t.status();
  testing::TestDatabase& tdb = **t;
  tdb.Exec("INSERT INTO sites (name, updated) VALUES ('A', now()), ('B', now()), ('C', now())");
  tdb.Exec("INSERT INTO tasks (task_id, username, created, updated) VALUES ('t', 'u', now(), now())");
  tdb.Exec(
      "INSERT INTO transfers (idempotency_key, task_id, username, source_site, source_url, destination_site, "
      "destination_url, not_before, created, updated) "
      "SELECT 'k' || g, 't', 'u', CASE WHEN g % 2 = 0 THEN 'A' ELSE 'C' END, 'root://a//f' || g, 'B', "
      "'root://b//f' || g, now(), now(), now() FROM generate_series(1, 3000) g");
  auto in_step = [&tdb](const std::string& step) {
    EXPECT_EQ(tdb.QueryInt("SELECT count(*) FROM ((SELECT id, source_site, destination_site, priority, "
                           "not_before, username FROM transfers WHERE state = 'QUEUED' "
                           "EXCEPT SELECT * FROM transfer_queue) UNION ALL (SELECT * FROM transfer_queue "
                           "EXCEPT SELECT id, source_site, destination_site, priority, not_before, username "
                           "FROM transfers WHERE state = 'QUEUED')) x"),
              0)
        << "transfer_queue after: " << step;
    EXPECT_EQ(tdb.QueryInt("SELECT count(*) FROM ((SELECT id, source_site, destination_site FROM transfers "
                           "WHERE state IN ('SUBMITTING', 'ACTIVE') EXCEPT SELECT * FROM transfer_live) "
                           "UNION ALL (SELECT * FROM transfer_live EXCEPT SELECT id, source_site, "
                           "destination_site FROM transfers WHERE state IN ('SUBMITTING', 'ACTIVE'))) x"),
              0)
        << "transfer_live after: " << step;
  };
  in_step("insert");
  const std::vector<std::string> steps = {
      "UPDATE transfers SET state = 'SUBMITTING', attempt = 1, updated = now() WHERE id <= 2000",
      "UPDATE transfers SET state = 'ACTIVE', updated = now() WHERE id <= 1500",
      "UPDATE transfers SET priority = 5, updated = now() WHERE id BETWEEN 2900 AND 3000",
      "UPDATE transfers SET not_before = now() + interval '1 h' WHERE id BETWEEN 2800 AND 2850",
      "UPDATE transfers SET failure_reason = 'unchanged in the queue' WHERE id > 2500",
      "UPDATE transfers SET state = 'QUEUED', not_before = now() + interval '5 min', priority = 2 "
      "WHERE id BETWEEN 1 AND 300",
      "UPDATE transfers SET state = 'DONE', updated = now() WHERE id BETWEEN 301 AND 500",
      "UPDATE transfers SET state = 'KILLED', updated = now() WHERE id BETWEEN 2990 AND 3000",
      "UPDATE transfers SET source_site = 'A' WHERE id BETWEEN 2001 AND 2100 AND state = 'QUEUED'",
  };
  for (const std::string& step : steps) {
    tdb.Exec(step);
    in_step(step);
  }
  // 1,500 in flight; 10 of them finish: the statement reads about 10 rows of transfer_live, by its key or
  // any other way (version 12's trigger read all 1,500).
  tdb.Exec("ANALYZE transfer_live");
  ASSERT_EQ(tdb.QueryInt("SELECT count(*) FROM transfer_live"), 1500);
  EXPECT_LE(tdb.QueryInt(
                "UPDATE transfers SET state = 'DONE', updated = now() WHERE id BETWEEN 1001 AND 1010; "
                "SELECT sum(pg_stat_get_xact_tuples_returned(c.oid)) FROM pg_class c "
                "WHERE c.oid = 'transfer_live'::regclass "
                "OR c.oid IN (SELECT indexrelid FROM pg_index WHERE indrelid = 'transfer_live'::regclass)"),
            20);
  in_step("10 of 1,500 in flight DONE");
}

// aso-monitoring refreshes every few seconds: its queries must cost what is queued and in flight, not what
// the history holds. 300,000 transfers of which 2,000 are queued and 300 in flight, 300,000 attempts of
// which the last 1,000 were recorded within the hour.
class MonitoringPlansTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tdb_ = SitesAndUsers();
    ASSERT_NE(tdb_, nullptr);
    tdb_->Exec(
        "INSERT INTO transfers (idempotency_key, task_id, username, source_site, source_url, "
        "destination_site, destination_url, state, not_before, claimed_at, created, updated) "
        "SELECT 'k' || g, 'task' || (g % 100), 'user' || (g % 100), 'S' || (g % 20), 'root://s//src/' || g, "
        "'S' || ((g / 20) % 20), 'root://d//dst/' || g, "
        "CASE WHEN g % 150 = 0 THEN 'QUEUED' WHEN g % 1000 = 1 THEN 'ACTIVE' ELSE 'DONE' END, "
        "to_timestamp(0), now(), now() - interval '2 days', now() FROM generate_series(1, 300000) g");
    tdb_->Exec(
        "INSERT INTO attempts (transfer_id, attempt, backend_job_id, result, source_site, destination_site, "
        "finished, bytes, recorded) "
        "SELECT id, 1, 'j', 'DONE', source_site, destination_site, now(), 1000, "
        "CASE WHEN id > 299000 THEN now() ELSE now() - interval '2 days' END FROM transfers ORDER BY id");
    tdb_->Exec("ANALYZE");
  }
  static void TearDownTestSuite() { delete tdb_; }
  std::string Explain(const std::string& options, const std::string& query) {
    return aso::db::Explain(*tdb_, options, query);
  }
  static testing::TestDatabase* tdb_;
};
testing::TestDatabase* MonitoringPlansTest::tdb_ = nullptr;

TEST_F(MonitoringPlansTest, TheSnapshotNeverScansTransfersOrAttempts) {
  ASSERT_EQ(tdb_->QueryInt("SELECT count(*) FROM transfer_queue"), 2000);
  ASSERT_EQ(tdb_->QueryInt("SELECT count(*) FROM transfer_live"), 300);
  for (const std::string& query : PgStatsRepository::SnapshotQueries()) {
    const std::string plan = Explain("", query);
    EXPECT_THAT(plan, Not(HasSubstr("Seq Scan on transfers"))) << query << "\n" << plan;
    EXPECT_THAT(plan, Not(HasSubstr("Seq Scan on attempts"))) << query << "\n" << plan;
  }
  // The whole snapshot, as run: it reads what is queued and in flight, and gets it right.
  PgStatsRepository repo(tdb_->db());
  auto snap = repo.Snapshot();
  ASSERT_TRUE(snap.ok()) << snap.status();
  int64_t queued = 0, in_flight = 0;
  for (const auto& q : snap->queues) queued += q.queued;
  for (const auto& f : snap->in_flight) in_flight += f.files;
  EXPECT_EQ(queued, 2000);
  EXPECT_EQ(in_flight, 300);
  EXPECT_EQ(snap->users.size(), 3u);  // user0 and user50 have queued files, user1 files in flight
}

TEST_F(MonitoringPlansTest, AttemptsAreReadFromTheNewestBackwardsOrByIdRange) {
  // The refresh reads the attempts after its watermark through the primary key.
  const std::string after = Explain("", "SELECT * FROM attempts WHERE id > 299500 ORDER BY id LIMIT 5000");
  EXPECT_THAT(after, HasSubstr("attempts_pkey"));
  // At start, the last hour is found by walking back from the newest attempt: the rows it reads are the
  // hour's 1,000 and the first older one, not the 300,000.
  const std::string back = Explain("(ANALYZE, COSTS OFF, TIMING OFF)",
                                   "SELECT id FROM attempts WHERE recorded < now() - make_interval(secs => "
                                   "3630) ORDER BY id DESC LIMIT 1");
  EXPECT_THAT(back, HasSubstr("Index Scan Backward using attempts_pkey"));
  int64_t removed = -1;
  for (absl::string_view line : absl::StrSplit(back, '\n')) {
    if (absl::StrContains(line, "Rows Removed by Filter: ")) {
      ASSERT_TRUE(absl::SimpleAtoi(line.substr(line.rfind(' ') + 1), &removed)) << line;
    }
  }
  EXPECT_EQ(removed, 1000) << back;
  PgStatsRepository repo(tdb_->db());
  auto id = repo.AttemptIdBefore(absl::Seconds(3630));
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(tdb_->QueryInt(absl::StrCat("SELECT count(*) FROM attempts WHERE id > ", *id)), 1000);
}

}  // namespace
}  // namespace aso::db
