#include "libs/transfer/lfn_rules.h"

#include <re2/re2.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace aso::transfer {

struct LfnResolver::Rule {
  std::string protocol;
  std::unique_ptr<RE2> match;
  std::string pfn;
};

LfnResolver::LfnResolver(std::vector<std::unique_ptr<Rule>> rules) : rules_(std::move(rules)) {}
LfnResolver::LfnResolver(LfnResolver&&) noexcept = default;
LfnResolver& LfnResolver::operator=(LfnResolver&&) noexcept = default;
LfnResolver::~LfnResolver() = default;

absl::StatusOr<LfnResolver> LfnResolver::Create(
    const google::protobuf::RepeatedPtrField<common::v1::LfnRule>& rules) {
  std::vector<std::unique_ptr<Rule>> compiled;
  for (int i = 0; i < rules.size(); ++i) {
    const auto& r = rules[i];
    const std::string where = absl::StrCat("lfn_rules[", i, "]");
    if (r.protocol().empty()) return absl::InvalidArgumentError(absl::StrCat(where, ".protocol is empty"));
    if (r.pfn().empty()) return absl::InvalidArgumentError(absl::StrCat(where, ".pfn is empty"));
    RE2::Options options;
    options.set_log_errors(false);
    auto re = std::make_unique<RE2>(r.match(), options);
    if (!re->ok()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ".match: ", re->error()));
    }
    std::string error;
    if (!re->CheckRewriteString(r.pfn(), &error)) {
      return absl::InvalidArgumentError(absl::StrCat(where, ".pfn: ", error));
    }
    compiled.push_back(std::make_unique<Rule>(Rule{r.protocol(), std::move(re), r.pfn()}));
  }
  return LfnResolver(std::move(compiled));
}

absl::StatusOr<std::string> LfnResolver::Resolve(const std::string& lfn, const std::string& protocol) const {
  if (!absl::StartsWith(lfn, "/")) return absl::InvalidArgumentError("is not an absolute path");
  if (absl::StrContains(lfn, "/../") || absl::EndsWith(lfn, "/..")) {
    return absl::InvalidArgumentError("contains '..'");
  }
  if (rules_.empty()) return absl::NotFoundError("the site has no LFN rules");
  const std::string& wanted = protocol.empty() ? rules_.front()->protocol : protocol;
  bool any_of_protocol = false;
  for (const auto& rule : rules_) {
    if (rule->protocol != wanted) continue;
    any_of_protocol = true;
    std::string url;
    // Rewrite fails unless the whole LFN matches (the rule is anchored here).
    if (RE2::FullMatch(lfn, *rule->match) && RE2::Extract(lfn, *rule->match, rule->pfn, &url)) return url;
  }
  if (!any_of_protocol)
    return absl::NotFoundError(absl::StrCat("the site has no LFN rule for protocol ", wanted));
  return absl::NotFoundError(absl::StrCat("no LFN rule of protocol ", wanted, " matches"));
}

bool LfnResolver::empty() const { return rules_.empty(); }

absl::Status ValidateLfnRules(const google::protobuf::RepeatedPtrField<common::v1::LfnRule>& rules) {
  return LfnResolver::Create(rules).status();
}

}  // namespace aso::transfer
