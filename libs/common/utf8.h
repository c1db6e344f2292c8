// UTF-8 validity of text from outside (files, catalogs): the encoding PostgreSQL, protobuf strings and YAML
// expect.
#ifndef ASO_LIBS_COMMON_UTF8_H_
#define ASO_LIBS_COMMON_UTF8_H_

#include <string>

#include "absl/strings/string_view.h"

namespace aso {

// True when `text` is well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing above
// U+10FFFF). NUL is valid UTF-8; callers that refuse control characters check those themselves.
bool IsValidUtf8(absl::string_view text);

// True when well-formed `text` holds a Unicode noncharacter (U+FDD0..U+FDEF, or U+xFFFE/U+xFFFF in any
// plane): code points reserved for a program's internal use, which text formats such as YAML do not carry
// (yaml-cpp reads them back as U+FFFD).
bool HoldsNoncharacter(absl::string_view text);

// `text` made safe to store and show, for messages from outside (storage and FTS3 errors): at most
// `max_bytes`, every byte of a malformed sequence and every control character but newline and tab
// replaced by '?'.
std::string PrintableUtf8(absl::string_view text, size_t max_bytes = 4096);

}  // namespace aso

#endif  // ASO_LIBS_COMMON_UTF8_H_
