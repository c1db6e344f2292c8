// Bearer tokens as ingest and every service check them. Input: one byte choosing the mode, then
// - mode 0: a whole compact token. Its signature cannot be made without the key (a fresh EC key of this
//   process), so none may verify, whatever the header, payload or signature hold;
// - mode 1: a JSON payload, signed here with the configured key, so the claims checks are searched: a
//   token that verifies names a user, an accepted issuer and the audience, and is within its validity.
// Never crashes.
#include <cstdint>
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/time/time.h"
#include "libs/auth/jwt_verifier.h"
#include "libs/auth/testing/jwt_signer.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

struct Setup {
  aso::auth::testing::TestKey key = aso::auth::testing::GenerateEcKey();
  std::unique_ptr<aso::auth::JwtVerifier> verifier;
  Setup() {
    aso::auth::JwtConfig config;
    config.public_key_pems = {key.public_pem};
    config.issuers = {"https://issuer.example"};
    config.audience = "aso";
    auto v = aso::auth::JwtVerifier::Create(config);
    FUZZ_CHECK(v.ok());
    verifier = std::move(*v);
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Setup* setup = new Setup();
  if (size < 1) return 0;
  const std::string rest = aso::fuzz::AsString(data + 1, size - 1);
  const absl::Time now = absl::FromUnixSeconds(1800000000);
  if (data[0] % 2 == 0) {
    auto id = setup->verifier->Verify(rest, now);
    FUZZ_CHECK(!id.ok());
    FUZZ_CHECK(id.status().code() == absl::StatusCode::kUnauthenticated);
    return 0;
  }
  auto id = setup->verifier->Verify(aso::auth::testing::SignJwt(setup->key, rest), now);
  if (!id.ok()) {
    FUZZ_CHECK(id.status().code() == absl::StatusCode::kUnauthenticated);
    return 0;
  }
  FUZZ_CHECK(!id->username.empty());
  FUZZ_CHECK(id->issuer == "https://issuer.example");
  FUZZ_CHECK(id->expires + absl::Seconds(60) >= now);
  FUZZ_CHECK(absl::StrContains(rest, "aso"));  // the audience was in the payload
  return 0;
}
