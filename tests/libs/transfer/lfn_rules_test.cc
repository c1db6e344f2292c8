#include "libs/transfer/lfn_rules.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include <array>

namespace aso::transfer {
namespace {
using ::testing::HasSubstr;

google::protobuf::RepeatedPtrField<common::v1::LfnRule> Rules(std::vector<std::array<std::string, 3>> rules) {
  google::protobuf::RepeatedPtrField<common::v1::LfnRule> out;
  for (const auto& [protocol, match, pfn] : rules) {
    auto* r = out.Add();
    r->set_protocol(protocol);
    r->set_match(match);
    r->set_pfn(pfn);
  }
  return out;
}

TEST(LfnRulesTest, FirstMatchingRuleOfTheProtocolWins) {
  auto resolver =
      LfnResolver::Create(Rules({{"root", "/store/temp/(.*)", "root://tmp.example//scratch/\\1"},
                                 {"root", "/store/(.*)", "root://eos.example//eos/cms/store/\\1"},
                                 {"davs", "/store/(.*)", "davs://eos.example:443/eos/cms/store/\\1"}}));
  ASSERT_TRUE(resolver.ok()) << resolver.status();
  EXPECT_EQ(*resolver->Resolve("/store/temp/user/a.root"), "root://tmp.example//scratch/user/a.root");
  EXPECT_EQ(*resolver->Resolve("/store/user/a.root"), "root://eos.example//eos/cms/store/user/a.root");
  EXPECT_EQ(*resolver->Resolve("/store/user/a.root", "davs"),
            "davs://eos.example:443/eos/cms/store/user/a.root");
  EXPECT_THAT(resolver->Resolve("/other/a.root").status().message(),
              HasSubstr("no LFN rule of protocol root"));
  EXPECT_THAT(resolver->Resolve("/store/a", "gsiftp").status().message(),
              HasSubstr("no LFN rule for protocol gsiftp"));
  // The whole LFN must match, and paths that climb out are refused.
  auto anchored = LfnResolver::Create(Rules({{"root", "/store", "root://x//store"}}));
  EXPECT_EQ(anchored->Resolve("/store/more").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(resolver->Resolve("/store/../etc/passwd").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(resolver->Resolve("store/x").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(LfnRulesTest, BrokenRulesAreNamed) {
  EXPECT_THAT(LfnResolver::Create(Rules({{"root", "/store/(", "x"}})).status().message(),
              HasSubstr("lfn_rules[0].match"));
  EXPECT_THAT(LfnResolver::Create(Rules({{"root", "/a", "x"}, {"root", "/store/(.*)", "root://x/\\2"}}))
                  .status()
                  .message(),
              HasSubstr("lfn_rules[1].pfn"));
  EXPECT_THAT(LfnResolver::Create(Rules({{"", "/a", "x"}})).status().message(),
              HasSubstr("lfn_rules[0].protocol"));
  EXPECT_THAT(LfnResolver::Create(Rules({})).value().Resolve("/a").status().message(),
              HasSubstr("no LFN rules"));
}

}  // namespace
}  // namespace aso::transfer
