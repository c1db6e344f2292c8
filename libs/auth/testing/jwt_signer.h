// Token minting for tests of code that verifies grid bearer tokens: fresh key pairs and signed compact
// JWTs, so tests need no key files and no token issuer. Not for production use: failures abort.
#ifndef ASO_LIBS_AUTH_TESTING_JWT_SIGNER_H_
#define ASO_LIBS_AUTH_TESTING_JWT_SIGNER_H_

#include <string>

#include "absl/strings/string_view.h"

namespace aso::auth::testing {

struct TestKey {
  std::string private_pem;  // PKCS#8
  std::string public_pem;   // SubjectPublicKeyInfo, as JwtConfig::public_key_pems takes it
  std::string alg;          // "RS256" or "ES256"; an RSA key may be relabelled "RS384" or "RS512"
};

// A new 2048-bit RSA key pair, alg RS256.
TestKey GenerateRsaKey();

// A new EC P-256 key pair, alg ES256.
TestKey GenerateEcKey();

// Signs the header {"alg":key.alg,"typ":"JWT"} plus any members in `extra_header`, given as raw JSON
// (e.g. R"("kid":"k1")"), together with `payload_json` taken verbatim, and returns the compact token.
// ES256 signatures are in the JWS form, raw r||s. Aborts if key.alg is not RS256/384/512 or ES256.
std::string SignJwt(const TestKey& key, const std::string& payload_json,
                    const std::string& extra_header = "");

// base64url without padding, for assembling malformed tokens by hand.
std::string Base64Url(absl::string_view bytes);

}  // namespace aso::auth::testing

#endif  // ASO_LIBS_AUTH_TESTING_JWT_SIGNER_H_
