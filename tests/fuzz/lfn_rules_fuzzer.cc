// A site's LFN -> URL rules and the LFNs submitted against them. Input: the LFN on the first line, the
// protocol asked for on the second, then one rule per line as "protocol<TAB>match<TAB>pfn". Building the
// rules and resolving never crash; a resolved LFN was absolute and without a ".." segment, and the URL is a
// string ParseStorageUrl can judge (the ingest validator parses it next).
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "libs/transfer/lfn_rules.h"
#include "libs/transfer/url.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 4096) return 0;  // RE2 compiles each rule; long inputs only slow the search down
  const std::vector<std::string> lines = absl::StrSplit(aso::fuzz::AsString(data, size), '\n');
  const std::string lfn = lines[0];
  const std::string protocol = lines.size() > 1 ? lines[1] : "";
  google::protobuf::RepeatedPtrField<aso::common::v1::LfnRule> rules;
  for (size_t i = 2; i < lines.size(); ++i) {
    const std::vector<std::string> f = absl::StrSplit(lines[i], absl::MaxSplits('\t', 2));
    auto* r = rules.Add();
    r->set_protocol(f[0]);
    if (f.size() > 1) r->set_match(f[1]);
    if (f.size() > 2) r->set_pfn(f[2]);
  }
  const absl::Status valid = aso::transfer::ValidateLfnRules(rules);
  auto resolver = aso::transfer::LfnResolver::Create(rules);
  FUZZ_CHECK(valid.ok() == resolver.ok());
  if (!resolver.ok()) return 0;
  auto url = resolver->Resolve(lfn, protocol);
  if (!url.ok()) return 0;
  FUZZ_CHECK(absl::StartsWith(lfn, "/"));
  FUZZ_CHECK(!absl::StrContains(lfn, "/../") && !absl::EndsWith(lfn, "/.."));
  FUZZ_CHECK(!resolver->empty());
  (void)aso::transfer::ParseStorageUrl(*url);
  return 0;
}
