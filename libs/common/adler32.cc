#include "libs/common/adler32.h"

#include <zlib.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_format.h"

namespace aso {

absl::StatusOr<uint32_t> Adler32OfFile(const std::string& path) {
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) {
    if (errno == ENOENT) return absl::NotFoundError(absl::StrCat("no such file: ", path));
    return absl::UnavailableError(absl::StrCat("cannot open ", path, ": ", std::strerror(errno)));
  }
  uLong sum = adler32(0L, Z_NULL, 0);
  std::vector<unsigned char> buf(1 << 20);
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), f.get())) > 0) {
    sum = adler32(sum, buf.data(), static_cast<uInt>(n));
  }
  if (std::ferror(f.get())) return absl::UnavailableError(absl::StrCat("read error on ", path));
  return static_cast<uint32_t>(sum);
}

void Adler32::Update(const char* data, size_t size) {
  value_ = static_cast<uint32_t>(adler32_z(value_, reinterpret_cast<const Bytef*>(data), size));
}

std::string FormatAdler32(uint32_t value) { return absl::StrFormat("%08x", value); }

absl::StatusOr<uint32_t> ParseAdler32Checksum(absl::string_view checksum) {
  constexpr absl::string_view kPrefix = "adler32:";
  if (!absl::StartsWithIgnoreCase(checksum, kPrefix)) {
    return absl::InvalidArgumentError("checksum must look like adler32:0a1b2c3d");
  }
  absl::string_view hex = checksum.substr(kPrefix.size());
  if (hex.empty() || hex.size() > 8) {
    return absl::InvalidArgumentError("adler32 checksum must have 1 to 8 hex digits");
  }
  uint32_t value = 0;
  for (char c : hex) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) {
      return absl::InvalidArgumentError("adler32 checksum has a non-hex digit");
    }
    value = value * 16 +
            static_cast<uint32_t>(absl::ascii_isdigit(static_cast<unsigned char>(c))
                                      ? c - '0'
                                      : absl::ascii_tolower(static_cast<unsigned char>(c)) - 'a' + 10);
  }
  return value;
}

}  // namespace aso
