// The site catalog's YAML: a whole grid round-trips, and a bad file is refused with the line and field.
#include "services/asoctl/site_yaml.h"

#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"

namespace aso::asoctl {
namespace {
namespace cv1 = aso::common::v1;
using ::testing::HasSubstr;

TEST(SiteYamlTest, AGridRoundTrips) {
  std::vector<cv1::Site> sites(2);
  sites[0].set_name("T2_CH_CERN");
  sites[0].set_state(cv1::SITE_STATE_DRAINING);
  sites[0].add_url_prefixes("root://eos.example//eos/cms/");
  sites[0].add_url_prefixes("davs://eos.example:443/eos/cms/");
  sites[0].set_max_active_outbound(40);
  sites[0].set_cleanup_source(true);
  auto* rule = sites[0].add_lfn_rules();
  rule->set_protocol("root");
  rule->set_match("/store/(.*)");
  rule->set_pfn("root://eos.example//eos/cms/store/\\1");
  sites[1].set_name("T3_US_Local");
  sites[1].set_state(cv1::SITE_STATE_ENABLED);
  sites[1].add_url_prefixes("file:///data/");
  const std::string yaml = SitesToYaml(sites);
  EXPECT_THAT(yaml, HasSubstr("state: draining"));
  auto back = SitesFromYaml(yaml);
  ASSERT_TRUE(back.ok()) << back.status() << "\n" << yaml;
  ASSERT_EQ(back->size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals((*back)[i], sites[i]))
        << (*back)[i].DebugString() << " vs " << sites[i].DebugString();
  }
}

TEST(SiteYamlTest, MistakesAreNamedWithTheirLine) {
  auto error = [](const std::string& text) { return std::string(SitesFromYaml(text).status().message()); };
  EXPECT_THAT(error("sites:\n  - name: A\n    prefixes: [root://a//]\n"),
              HasSubstr("line 3: sites[0]: unknown key \"prefixes\""));
  EXPECT_THAT(error("sites:\n  - name: A\n    state: closed\n"),
              HasSubstr("line 3: sites[0].state: must be enabled, draining or banned"));
  EXPECT_THAT(error("sites:\n  - name: A\n    max_active_inbound: many\n"),
              HasSubstr("sites[0].max_active_inbound: expected an integer, got \"many\""));
  EXPECT_THAT(error("sites:\n  - state: enabled\n"), HasSubstr("sites[0]: needs a name"));
  EXPECT_THAT(error("sites:\n  - name: A\n  - name: A\n"),
              HasSubstr("line 3: sites[1]: site A is named twice"));
  EXPECT_THAT(error("sites:\n  - name: A\n    lfn_rules:\n      - {protocol: root, match: x}\n"),
              HasSubstr("sites[0].lfn_rules[0]: needs protocol, match and pfn"));
  EXPECT_THAT(error("sites: [\n"), HasSubstr("malformed YAML"));
  EXPECT_THAT(error("grid: []\n"), HasSubstr("\"sites\" list"));
  // Keys that are not strings (yaml-cpp throws when asked for their text).
  EXPECT_THAT(error("sites:\n  - {[name]: A}\n"), HasSubstr("sites[0]: expected a key (a string)"));
  EXPECT_THAT(error("sites:\n  - name: A\n    lfn_rules:\n      - {{protocol: root}: x}\n"),
              HasSubstr("sites[0].lfn_rules[0]: expected a key (a string)"));
  EXPECT_THAT(error("sites: [{name: A, url_prefixes: [{a: b}]}]\n"),
              HasSubstr("sites[0].url_prefixes[0]: expected a string"));
  EXPECT_THAT(error("sites:\n  - name: \"u\xCF\xCF"
                    "A\"\n"),
              HasSubstr("line 2: sites[0].name: is not valid UTF-8"));
  // Noncharacters are well-formed UTF-8 but do not survive a YAML round trip (export, then import).
  EXPECT_THAT(error("sites:\n  - name: \"A\\uFFFFB\"\n"),
              HasSubstr("line 2: sites[0].name: holds a Unicode noncharacter"));
  EXPECT_THAT(error("sites:\n  - name: A\n    url_prefixes: [\"root://a/\\uFDD0\"]\n"),
              HasSubstr("sites[0].url_prefixes[0]: holds a Unicode noncharacter"));
}

}  // namespace
}  // namespace aso::asoctl
