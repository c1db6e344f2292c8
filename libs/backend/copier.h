// Copies one file between two storage URLs with checksum verification, and deletes files. One Copier per
// thread: an implementation may hold per-thread library state (a gfal2 context), so a Copier is not
// thread-safe.
#ifndef ASO_LIBS_BACKEND_COPIER_H_
#define ASO_LIBS_BACKEND_COPIER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "libs/transfer/failure_classifier.h"

namespace aso::backend {

// What a copy or deletion authenticates to the storage with, for the file's owner: a proxy file
// (certificate, key and chain in one PEM file, mode 0600), or a bearer token sent to both ends (HTTP as
// "Authorization: Bearer", XRootD as its authz). Both empty: the process's own credential
// ($X509_USER_PROXY, or none).
struct StorageCredential {
  std::string proxy_file = "";
  std::string bearer_token = "";
};

struct CopyRequest {
  std::string source_url;
  std::string destination_url;
  int64_t size_bytes = -1;  // -1 when unknown
  std::string checksum;     // "adler32:xxxxxxxx" the source must match; empty to compare ends only
  absl::Duration timeout = absl::Minutes(10);
  // Called as the copy progresses with the bytes copied so far (after every block of a streamed
  // root->root copy, every few seconds otherwise). Returning false cancels a streamed copy, whose result
  // then has error_number ECANCELED; other copies run to their end. May be empty.
  std::function<bool(int64_t bytes)> progress;
  // Whether a file already at the destination is replaced; if not, the copy fails with EEXIST
  // (DESTINATION_EXISTS) and leaves that file as it is.
  bool overwrite = true;
  // What each end is accessed with: the file owner's credential, or this service's own given explicitly
  // (where another copy of this process used an owner's, XRootD's GSI client would otherwise reuse that
  // one). Empty: the process's own, as gfal2 finds it.
  StorageCredential source_credential = {};
  StorageCredential destination_credential = {};
};

// Which copies may replace a file that is already at their destination.
enum class OverwritePolicy {
  kAlways,   // every attempt replaces it (CRAB's choice: a re-run job writes the same LFN again)
  kRetries,  // only retries replace it: a file that was there before ASO's first attempt is kept
  kNever,    // no copy replaces a file; an existing destination is a non-recoverable failure
};
// "always", "retries" or "never"; INVALID_ARGUMENT otherwise.
absl::StatusOr<OverwritePolicy> ParseOverwritePolicy(absl::string_view text);
// Whether attempt `attempt` (1 = first) of a transfer may replace its destination under `policy`.
bool MayOverwrite(OverwritePolicy policy, int attempt);

struct CopyResult {
  bool ok = false;
  int64_t bytes = 0;
  std::string checksum;  // verified at the destination ("adler32:..."), when ok
  transfer::ErrorScope scope = transfer::ErrorScope::kGeneral;
  int error_number = 0;  // errno, when !ok
  std::string error;     // the storage's message, when !ok
};

class Copier {
 public:
  virtual ~Copier() = default;
  // Copies, creating parent directories, and verifies adler32 on both ends. Never throws; failures are
  // described in the result.
  virtual CopyResult Copy(const CopyRequest& request) = 0;

  // Deletes one file (a source after its stage-out). NOT_FOUND if it is not there, PERMISSION_DENIED,
  // INVALID_ARGUMENT (a directory, an unsupported protocol), UNAVAILABLE for storage errors worth a retry.
  // `credential`: as CopyRequest::source_credential.
  virtual absl::Status Delete(const std::string& url, const StorageCredential& credential) = 0;
};

using CopierFactory = std::function<absl::StatusOr<std::unique_ptr<Copier>>()>;

}  // namespace aso::backend

#endif  // ASO_LIBS_BACKEND_COPIER_H_
