// Storage URLs as grid tools write them: scheme://host[:port]/path (root://h//store/x, davs://h:443/x)
// and file:///abs/path. Parsing is strict so a malformed URL is refused at the door, not in a copy.
#ifndef ASO_LIBS_TRANSFER_URL_H_
#define ASO_LIBS_TRANSFER_URL_H_

#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"

namespace aso::transfer {

struct StorageUrl {
  std::string scheme;  // lower case: file, root, xroot, davs, https, http, gsiftp, srm, s3
  std::string host;    // empty for file://
  int port = 0;        // 0 when absent
  std::string path;    // starts with '/'
};

// Parses and validates a storage URL. INVALID_ARGUMENT with the reason otherwise: unknown scheme, no host
// (except file), a non-numeric port, no absolute path, "..", whitespace or control characters.
absl::StatusOr<StorageUrl> ParseStorageUrl(absl::string_view url);

}  // namespace aso::transfer

#endif  // ASO_LIBS_TRANSFER_URL_H_
