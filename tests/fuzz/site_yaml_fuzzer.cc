// The site catalog as `asoctl sites import` reads it: SitesFromYaml on any text never crashes, and every
// site it accepts has a name and survives a round trip through SitesToYaml (what `asoctl sites export`
// writes, import reads back the same).
#include <cstdint>
#include <string>

#include "google/protobuf/util/message_differencer.h"
#include "services/asoctl/site_yaml.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto sites = aso::asoctl::SitesFromYaml(aso::fuzz::AsString(data, size));
  if (!sites.ok()) {
    FUZZ_CHECK(!sites.status().message().empty());
    return 0;
  }
  for (const auto& site : *sites) {
    FUZZ_CHECK(!site.name().empty());
  }
  auto again = aso::asoctl::SitesFromYaml(aso::asoctl::SitesToYaml(*sites));
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(again->size() == sites->size());
  for (size_t i = 0; i < sites->size(); ++i) {
    FUZZ_CHECK(google::protobuf::util::MessageDifferencer::Equals((*sites)[i], (*again)[i]));
  }
  return 0;
}
