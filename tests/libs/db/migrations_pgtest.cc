#include "libs/db/migrations.h"

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

}  // namespace
}  // namespace aso::db
