// Storage URLs from submissions and the site catalog: ParseStorageUrl on any bytes never crashes, and what it
// accepts is well formed (a known lower-case scheme, a host unless file://, a port in range, an absolute
// path naming a file, no "..", no whitespace or control character, no credentials).
#include <cstdint>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "libs/transfer/url.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text = aso::fuzz::AsString(data, size);
  auto url = aso::transfer::ParseStorageUrl(text);
  if (!url.ok()) {
    FUZZ_CHECK(!url.status().message().empty());
    return 0;
  }
  FUZZ_CHECK(url->scheme == absl::AsciiStrToLower(url->scheme));
  FUZZ_CHECK(url->scheme == "file" || !url->host.empty());
  FUZZ_CHECK(url->port >= 0 && url->port <= 65535);
  FUZZ_CHECK(!absl::StrContains(url->host, '@'));
  FUZZ_CHECK(url->path.size() > 1 && url->path.front() == '/' && url->path.back() != '/');
  for (absl::string_view part : absl::StrSplit(url->path, '/')) FUZZ_CHECK(part != "..");
  for (char c : text) FUZZ_CHECK(static_cast<unsigned char>(c) > 0x20 && c != 0x7f);
  return 0;
}
