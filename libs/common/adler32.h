// Adler-32 checksums in the form grid storage and FTS3 use: "adler32:" + 8 lowercase hex digits.
#ifndef ASO_LIBS_COMMON_ADLER32_H_
#define ASO_LIBS_COMMON_ADLER32_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"

namespace aso {

// The Adler-32 of a local file. NOT_FOUND if it does not exist, UNAVAILABLE on a read error.
absl::StatusOr<uint32_t> Adler32OfFile(const std::string& path);

// The Adler-32 of data fed in pieces (a stream being copied).
class Adler32 {
 public:
  void Update(const char* data, size_t size);
  uint32_t value() const { return value_; }

 private:
  uint32_t value_ = 1;  // Adler-32 of no data
};

// 8 lowercase hex digits, zero-padded (the way gfal2 and XRootD print it).
std::string FormatAdler32(uint32_t value);

// Parses "adler32:" + 1..8 hex digits (case-insensitive). INVALID_ARGUMENT otherwise.
absl::StatusOr<uint32_t> ParseAdler32Checksum(absl::string_view checksum);

}  // namespace aso

#endif  // ASO_LIBS_COMMON_ADLER32_H_
