#include "libs/db/site_repository.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/libs/db/db_test_util.h"

namespace aso::db {
namespace {
namespace v1 = aso::common::v1;
using ::testing::ElementsAre;

TEST(SiteRepositoryTest, UpsertGetListRoundTrip) {
  auto t = testing::TestDatabase::Create();
  ASSERT_TRUE(t.ok()) << t.status();
  PgSiteRepository repo((*t)->db());
  Site s;
  s.set_name("T2_CH_CERN");
  s.add_url_prefixes("root://eoscms.cern.ch//eos/cms/");
  s.add_url_prefixes("davs://eoscms.cern.ch:443/eos/cms/");
  s.set_state(v1::SITE_STATE_DRAINING);
  s.set_max_active_outbound(40);
  s.set_max_active_inbound(60);
  s.set_cleanup_source(true);
  auto stored = repo.Upsert(s, kT0);
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(stored->updated().seconds(), absl::ToUnixSeconds(kT0));
  auto got = repo.Get("T2_CH_CERN");
  ASSERT_TRUE(got.ok());
  EXPECT_THAT(got->url_prefixes(),
              ElementsAre("root://eoscms.cern.ch//eos/cms/", "davs://eoscms.cern.ch:443/eos/cms/"));
  EXPECT_EQ(got->state(), v1::SITE_STATE_DRAINING);
  EXPECT_EQ(got->max_active_outbound(), 40);
  EXPECT_EQ(got->max_active_inbound(), 60);
  EXPECT_TRUE(got->cleanup_source());
  // Upsert replaces.
  s.set_state(v1::SITE_STATE_BANNED);
  s.clear_url_prefixes();
  ASSERT_TRUE(repo.Upsert(s, kT0).ok());
  EXPECT_EQ(repo.Get("T2_CH_CERN")->state(), v1::SITE_STATE_BANNED);
  EXPECT_TRUE(repo.Get("T2_CH_CERN")->url_prefixes().empty());
  EXPECT_EQ(repo.Get("T9_NONE").status().code(), absl::StatusCode::kNotFound);
  AddSite((*t)->db(), "A_FIRST");
  auto all = repo.List();
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].name(), "A_FIRST");
  // A negative limit is refused by the schema.
  s.set_max_active_inbound(-1);
  EXPECT_EQ(repo.Upsert(s, kT0).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace aso::db
