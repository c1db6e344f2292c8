// Verification of grid bearer tokens (WLCG / SciTokens profile JWTs) against locally configured issuer
// public keys. Keys come from PEM files rather than fetched JWKS documents, so a service authenticates
// callers with no network dependency on the token issuer.
#ifndef ASO_LIBS_AUTH_JWT_VERIFIER_H_
#define ASO_LIBS_AUTH_JWT_VERIFIER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace aso::auth {

struct JwtConfig {
  // PEM public keys (RSA of at least 2048 bits, or EC P-256), any of which may sign. One entry may hold
  // several keys back to back, as an issuer's rotation bundle does.
  std::vector<std::string> public_key_pems;
  // Accepted "iss" values, compared exactly. Must not be empty.
  std::vector<std::string> issuers;
  // Must appear in "aud" (a string or an array of strings). Must not be empty.
  std::string audience;
  // The claim that names the user; it must be a non-empty string.
  std::string username_claim = "sub";
  // Clock skew allowed on exp, nbf and iat.
  absl::Duration leeway = absl::Seconds(60);
};

// Who a verified token speaks for.
struct JwtIdentity {
  std::string username;  // value of JwtConfig::username_claim
  std::string issuer;
  std::string subject;  // "sub"; empty if the token has none
  absl::Time expires;
  std::vector<std::string> groups;  // "wlcg.groups", else "groups", else empty
  std::vector<std::string> scopes;  // "scope" split on spaces; empty if absent
};

// Verifies compact JWS tokens signed with RS256, RS384, RS512 or ES256. Immutable after Create, so Verify
// may be called from any number of threads at once.
class JwtVerifier {
 public:
  // Parses the keys and checks the config. INVALID_ARGUMENT naming the problem: no keys, an unparsable
  // PEM entry (by index), a key of an unsupported type or size, empty issuers or audience, an empty
  // username_claim or a negative leeway.
  static absl::StatusOr<std::unique_ptr<JwtVerifier>> Create(JwtConfig config);

  JwtVerifier(const JwtVerifier&) = delete;
  JwtVerifier& operator=(const JwtVerifier&) = delete;
  ~JwtVerifier();

  // Returns the identity in `token` if it is well formed, signed by one of the configured keys with an
  // accepted algorithm, and its issuer, audience and validity window (at `now`, within the leeway) are
  // acceptable. Otherwise UNAUTHENTICATED with a message saying why, e.g. "malformed token: ...",
  // "token algorithm none is not accepted", "token signature does not verify with any configured key",
  // "token expired at ...", "token issuer ... is not accepted", "token audience ... does not include ...".
  // Thread-safe.
  absl::StatusOr<JwtIdentity> Verify(absl::string_view token, absl::Time now) const;

  // The same, for a token meant for others than ASO (a storage access token delegated to ASO): every
  // check but the audience, which need not include ASO's.
  absl::StatusOr<JwtIdentity> VerifyAnyAudience(absl::string_view token, absl::Time now) const;

 private:
  struct Key;  // a parsed public key; defined with the OpenSSL code

  JwtVerifier(JwtConfig config, std::vector<Key> keys);
  absl::StatusOr<JwtIdentity> VerifyToken(absl::string_view token, absl::Time now, bool check_audience) const;

  // UNAUTHENTICATED unless one of the keys suited to `alg` verifies `signature` over `signed_part`.
  absl::Status VerifySignature(absl::string_view alg, absl::string_view signed_part,
                               absl::string_view signature) const;

  const JwtConfig config_;
  const std::vector<Key> keys_;
};

// Appends the contents of every PEM file in `comma_separated_paths` (blanks around names are ignored) to
// config.public_key_pems. NOT_FOUND naming the file if one does not exist, PERMISSION_DENIED if it cannot
// be read, UNAVAILABLE on another I/O error; `config` is unchanged on error.
absl::Status LoadPublicKeyFiles(absl::string_view comma_separated_paths, JwtConfig& config);

}  // namespace aso::auth

#endif  // ASO_LIBS_AUTH_JWT_VERIFIER_H_
