// Sealing of stored credentials (delegated proxies and their keys): AES-256-GCM with a key read from a
// file (a Kubernetes Secret mounted as a file in a deployment). Each sealed value carries its own random
// nonce and is bound to a context (the user it belongs to), so a value copied to another user's row does
// not open. Thread-safe.
#ifndef ASO_LIBS_AUTH_CREDENTIAL_CIPHER_H_
#define ASO_LIBS_AUTH_CREDENTIAL_CIPHER_H_

#include <array>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace aso::auth {

class CredentialCipher {
 public:
  // The key file holds 32 bytes as 64 hex digits or as base64 (surrounding whitespace ignored), e.g. from
  // `openssl rand -hex 32`. INVALID_ARGUMENT naming the file (never its content) otherwise.
  static absl::StatusOr<CredentialCipher> FromKeyFile(const std::string& path);
  static absl::StatusOr<CredentialCipher> FromKeyText(absl::string_view text);

  // "v1:" + base64(nonce | ciphertext | tag).
  std::string Seal(absl::string_view plaintext, absl::string_view context) const;
  // DATA_LOSS when the value was not sealed with this key and context, or was altered.
  absl::StatusOr<std::string> Open(absl::string_view sealed, absl::string_view context) const;

 private:
  std::array<unsigned char, 32> key_{};
};

}  // namespace aso::auth

#endif  // ASO_LIBS_AUTH_CREDENTIAL_CIPHER_H_
