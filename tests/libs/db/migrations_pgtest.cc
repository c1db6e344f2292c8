#include "libs/db/migrations.h"

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/db/testing/test_database.h"

namespace aso::db {
namespace {
using ::testing::HasSubstr;

TEST(MigrationsTest, EmptyDatabaseIsRefusedWithTheCommandToRun) {
  auto t = testing::TestDatabase::Create(/*migrate=*/false);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(*CurrentSchemaVersion((*t)->db()), 0);
  absl::Status s = CheckSchema((*t)->db());
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("asoctl db migrate"));
}

TEST(MigrationsTest, MigrateOnceThenNothingToDo) {
  auto t = testing::TestDatabase::Create(/*migrate=*/false);
  ASSERT_TRUE(t.ok()) << t.status();
  auto applied = Migrate((*t)->db());
  ASSERT_TRUE(applied.ok()) << applied.status();
  EXPECT_EQ(applied->size(), EmbeddedMigrations().size());
  EXPECT_EQ(*CurrentSchemaVersion((*t)->db()), RequiredSchemaVersion());
  EXPECT_TRUE(CheckSchema((*t)->db()).ok());
  auto again = Migrate((*t)->db());
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->empty());
}

TEST(MigrationsTest, NewerSchemaIsRefused) {
  auto t = testing::TestDatabase::Create();
  ASSERT_TRUE(t.ok()) << t.status();
  (*t)->Exec("INSERT INTO schema_migrations (version, name) VALUES (9999, 'future')");
  EXPECT_THAT(CheckSchema((*t)->db()).message(), HasSubstr("newer than this binary"));
}

// A version 2 database with transfers in every state gets its claim tables and per-job acceptance from
// migration 3: nothing queued or in flight is lost, and what was SUBMITTED still reads SUBMITTED; the queue
// gets its users from migration 5.
TEST(MigrationsTest, Version3KeepsQueuedAndInFlightTransfers) {
  auto t = testing::TestDatabase::Create(/*migrate=*/false);
  ASSERT_TRUE(t.ok()) << t.status();
  testing::TestDatabase& tdb = **t;
  tdb.Exec(
      "CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL, "
      "applied timestamptz NOT NULL DEFAULT now())");
  for (const Migration& m : EmbeddedMigrations()) {
    if (m.version > 2) break;
    tdb.Exec(m.sql);
    tdb.Exec(absl::StrCat("INSERT INTO schema_migrations (version, name) VALUES (", m.version, ", '", m.name,
                          "')"));
  }
  tdb.Exec("INSERT INTO sites (name, updated) VALUES ('A', now()), ('B', now())");
  tdb.Exec("INSERT INTO tasks (task_id, username, created, updated) VALUES ('t', 'u', now(), now())");
  tdb.Exec(
      "INSERT INTO transfers (idempotency_key, task_id, username, source_site, source_url, destination_site, "
      "destination_url, state, attempt, backend_job_id, claimed_at, not_before, created, updated) "
      "SELECT 'k' || g, 't', 'u', 'A', 'root://a//' || g, 'B', 'root://b//' || g, "
      "(ARRAY['QUEUED','SUBMITTING','SUBMITTED','SUBMITTED','ACTIVE','DONE'])[g], "
      "CASE WHEN g = 1 THEN 0 ELSE 1 END, "
      "(ARRAY[NULL,'j1','j2','j2','j3','j4'])[g], CASE WHEN g > 1 THEN now() END, now(), now(), now() "
      "FROM generate_series(1, 6) g");
  ASSERT_TRUE(Migrate(tdb.db()).ok());
  EXPECT_EQ(tdb.QueryText("SELECT string_agg(transfer_id::text, ',') FROM transfer_queue"), "1");
  EXPECT_EQ(tdb.QueryText("SELECT username FROM transfer_queue"), "u");  // migration 5: the queue knows users
  EXPECT_EQ(
      tdb.QueryText("SELECT string_agg(transfer_id::text, ',' ORDER BY transfer_id) FROM transfer_live"),
      "2,3,4,5");
  EXPECT_EQ(
      tdb.QueryText("SELECT string_agg(job_id || ':' || (accepted_at IS NOT NULL), ',' ORDER BY job_id) "
                    "FROM submissions"),
      "j1:false,j2:true,j3:true");
  EXPECT_EQ(tdb.QueryText("SELECT string_agg(aso_file_state(t.state, s.accepted_at), ',' ORDER BY t.id) "
                          "FROM transfers t LEFT JOIN submissions s ON s.job_id = t.backend_job_id"),
            "QUEUED,SUBMITTING,SUBMITTED,SUBMITTED,ACTIVE,DONE");
}

}  // namespace
}  // namespace aso::db
