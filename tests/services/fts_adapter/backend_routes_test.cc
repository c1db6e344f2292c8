// Per-link choice of the transfer backend: route parsing, glob matching, first match wins.
#include "services/fts_adapter/backend_routes.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace aso::fts_adapter {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(BackendRoutesTest, BackendNames) {
  EXPECT_EQ(*BackendName("gfal2"), "gfal2");
  EXPECT_EQ(*BackendName("https://fts3.example:8446"), "fts3:https://fts3.example:8446");
  EXPECT_EQ(*BackendName("fts3:https://fts3.example:8446"), "fts3:https://fts3.example:8446");
  EXPECT_EQ(Fts3Endpoint("fts3:https://fts3.example:8446"), "https://fts3.example:8446");
  EXPECT_EQ(Fts3Endpoint("gfal2"), "");
  for (const char* bad :
       {"", "fts3", "http://fts3.example:8446", "https://", "https://h:8446/jobs", "xrdcp"}) {
    EXPECT_TRUE(absl::IsInvalidArgument(BackendName(bad).status())) << bad;
  }
}

TEST(BackendRoutesTest, ParseRoutes) {
  auto r = ParseBackendRoute("T2_US_*:*=https://fts3-us.example:8446");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->source, "T2_US_*");
  EXPECT_EQ(r->destination, "*");
  EXPECT_EQ(r->backend, "fts3:https://fts3-us.example:8446");
  EXPECT_THAT(ParseBackendRoute("T2_US_*=gfal2").status().message(), HasSubstr("SOURCE:DESTINATION=BACKEND"));
  EXPECT_THAT(ParseBackendRoute(":T1_*=gfal2").status().message(), HasSubstr("empty site pattern"));
  EXPECT_THAT(ParseBackendRoute("*:*=ftp://x").status().message(), HasSubstr("\"*:*=ftp://x\""));
}

TEST(BackendRoutesTest, FirstMatchingRouteWinsElseTheDefault) {
  BackendRouter router("gfal2", {*ParseBackendRoute("T2_US_*:*=https://fts3-us:8446"),
                                 *ParseBackendRoute("*:T1_DE_*=https://fts3-de:8446"),
                                 *ParseBackendRoute("T2_US_MIT:T1_DE_KIT=gfal2")});
  EXPECT_EQ(router.For("T2_US_MIT", "T1_DE_KIT"), "fts3:https://fts3-us:8446");  // first match, not the last
  EXPECT_EQ(router.For("T2_CH_CERN", "T1_DE_KIT"), "fts3:https://fts3-de:8446");
  EXPECT_EQ(router.For("T2_CH_CERN", "T2_IT_Pisa"), "gfal2");
  EXPECT_EQ(router.For("T2_USX", "T1_DE_KIT"), "fts3:https://fts3-de:8446");  // globs match whole names
  EXPECT_THAT(router.Backends(),
              ElementsAre("gfal2", "fts3:https://fts3-us:8446", "fts3:https://fts3-de:8446"));
}

}  // namespace
}  // namespace aso::fts_adapter
