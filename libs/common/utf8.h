// UTF-8 validity of text from outside (files, catalogs): the encoding PostgreSQL, protobuf strings and YAML
// expect.
#ifndef ASO_LIBS_COMMON_UTF8_H_
#define ASO_LIBS_COMMON_UTF8_H_

#include "absl/strings/string_view.h"

namespace aso {

// True when `text` is well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing above
// U+10FFFF). NUL is valid UTF-8; callers that refuse control characters check those themselves.
bool IsValidUtf8(absl::string_view text);

}  // namespace aso

#endif  // ASO_LIBS_COMMON_UTF8_H_
