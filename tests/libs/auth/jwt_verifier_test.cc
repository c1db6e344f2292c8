#include "libs/auth/jwt_verifier.h"

#include <atomic>
#include <cstdint>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/substitute.h"
#include "libs/auth/testing/jwt_signer.h"

namespace aso::auth {
namespace {

using ::aso::auth::testing::Base64Url;
using ::aso::auth::testing::GenerateEcKey;
using ::aso::auth::testing::GenerateRsaKey;
using ::aso::auth::testing::SignJwt;
using ::aso::auth::testing::TestKey;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

constexpr int64_t kNowSeconds = 1'800'000'000;
constexpr absl::string_view kIssuer = "https://cms-auth.web.cern.ch/";
constexpr absl::string_view kAudience = "https://aso.example.org";

absl::Time Now() { return absl::FromUnixSeconds(kNowSeconds); }

// The claims every accepted token carries, then `more` (raw JSON members, each led by a comma).
std::string Claims(absl::string_view more = "", int64_t exp = kNowSeconds + 600) {
  return absl::Substitute(R"({"iss":"$0","aud":"$1","sub":"alice","exp":$2$3})", kIssuer, kAudience, exp,
                          more);
}

::testing::AssertionResult IsRefused(const absl::StatusOr<JwtIdentity>& result, absl::StatusCode code,
                                     absl::string_view fragment) {
  if (result.ok()) return ::testing::AssertionFailure() << "accepted, expected " << code;
  if (result.status().code() != code || result.status().message().find(fragment) == absl::string_view::npos) {
    return ::testing::AssertionFailure()
           << "got " << result.status() << ", expected " << code << " with \"" << fragment << "\"";
  }
  return ::testing::AssertionSuccess();
}

class JwtVerifierTest : public ::testing::Test {
 protected:
  // Key generation is slow, so every test shares the same keys.
  static void SetUpTestSuite() {
    rsa_ = new TestKey(GenerateRsaKey());
    ec_ = new TestKey(GenerateEcKey());
    other_rsa_ = new TestKey(GenerateRsaKey());
  }
  static void TearDownTestSuite() {
    delete rsa_;
    delete ec_;
    delete other_rsa_;
  }

  static JwtConfig Config() {
    JwtConfig config;
    config.public_key_pems = {rsa_->public_pem, ec_->public_pem};
    config.issuers = {"https://other-issuer.example.org", std::string(kIssuer)};
    config.audience = std::string(kAudience);
    return config;
  }

  static absl::StatusOr<JwtIdentity> VerifyWith(JwtConfig config, absl::string_view token) {
    auto verifier = JwtVerifier::Create(std::move(config));
    if (!verifier.ok()) return verifier.status();
    return (*verifier)->Verify(token, Now());
  }

  static absl::StatusOr<JwtIdentity> Verify(absl::string_view token) { return VerifyWith(Config(), token); }

  static TestKey* rsa_;
  static TestKey* ec_;
  static TestKey* other_rsa_;
};

TestKey* JwtVerifierTest::rsa_ = nullptr;
TestKey* JwtVerifierTest::ec_ = nullptr;
TestKey* JwtVerifierTest::other_rsa_ = nullptr;

TEST_F(JwtVerifierTest, AcceptsRs256AndReturnsIdentity) {
  std::string token = SignJwt(
      *rsa_,
      Claims(R"(,"wlcg.groups":["/cms","/cms/uscms"],"scope":"storage.read:/ storage.create:/store")"));
  auto identity = Verify(token);
  ASSERT_TRUE(identity.ok()) << identity.status();
  EXPECT_EQ(identity->username, "alice");
  EXPECT_EQ(identity->subject, "alice");
  EXPECT_EQ(identity->issuer, kIssuer);
  EXPECT_EQ(identity->expires, absl::FromUnixSeconds(kNowSeconds + 600));
  EXPECT_THAT(identity->groups, ElementsAre("/cms", "/cms/uscms"));
  EXPECT_THAT(identity->scopes, ElementsAre("storage.read:/", "storage.create:/store"));
}

TEST_F(JwtVerifierTest, AcceptsEs256) {
  std::string token = SignJwt(*ec_, Claims(R"(,"groups":["/atlas"],"scope":"  storage.read:/  ")"));
  auto identity = Verify(token);
  ASSERT_TRUE(identity.ok()) << identity.status();
  EXPECT_EQ(identity->username, "alice");
  EXPECT_EQ(identity->issuer, kIssuer);
  EXPECT_THAT(identity->groups, ElementsAre("/atlas"));
  EXPECT_THAT(identity->scopes, ElementsAre("storage.read:/"));
}

TEST_F(JwtVerifierTest, AcceptsRs384AndRs512) {
  for (const char* alg : {"RS384", "RS512"}) {
    TestKey key = *rsa_;
    key.alg = alg;
    auto identity = Verify(SignJwt(key, Claims()));
    EXPECT_TRUE(identity.ok()) << alg << ": " << identity.status();
  }
}

TEST_F(JwtVerifierTest, GroupsAndScopesAreEmptyWhenAbsent) {
  auto identity = Verify(SignJwt(*rsa_, Claims()));
  ASSERT_TRUE(identity.ok()) << identity.status();
  EXPECT_THAT(identity->groups, IsEmpty());
  EXPECT_THAT(identity->scopes, IsEmpty());
}

TEST_F(JwtVerifierTest, AcceptsAudienceArrayContainingOurs) {
  std::string payload =
      absl::Substitute(R"({"iss":"$0","aud":["https://fts.example.org","$1"],"sub":"bob","exp":$2})", kIssuer,
                       kAudience, kNowSeconds + 60);
  auto identity = Verify(SignJwt(*rsa_, payload));
  ASSERT_TRUE(identity.ok()) << identity.status();
  EXPECT_EQ(identity->username, "bob");
}

TEST_F(JwtVerifierTest, RefusesAudienceArrayWithoutOurs) {
  std::string payload = absl::Substitute(
      R"({"iss":"$0","aud":["https://fts.example.org"],"sub":"bob","exp":$1})", kIssuer, kNowSeconds + 60);
  EXPECT_TRUE(
      IsRefused(Verify(SignJwt(*rsa_, payload)), absl::StatusCode::kUnauthenticated,
                R"(token audience ["https://fts.example.org"] does not include "https://aso.example.org")"));
}

TEST_F(JwtVerifierTest, RefusesWrongAudience) {
  std::string payload =
      absl::Substitute(R"({"iss":"$0","aud":"https://elsewhere.example.org","sub":"alice","exp":$1})",
                       kIssuer, kNowSeconds + 60);
  EXPECT_TRUE(IsRefused(Verify(SignJwt(*rsa_, payload)), absl::StatusCode::kUnauthenticated,
                        "does not include \"https://aso.example.org\""));
}

TEST_F(JwtVerifierTest, RefusesTokenExpiredBeyondLeeway) {
  EXPECT_TRUE(IsRefused(Verify(SignJwt(*rsa_, Claims("", kNowSeconds - 61))),
                        absl::StatusCode::kUnauthenticated, "token expired at 2027-01-15T07:58:59Z"));
}

TEST_F(JwtVerifierTest, AcceptsTokenExpiredWithinLeeway) {
  auto identity = Verify(SignJwt(*rsa_, Claims("", kNowSeconds - 60)));
  EXPECT_TRUE(identity.ok()) << identity.status();
}

TEST_F(JwtVerifierTest, LeewayIsConfigurable) {
  JwtConfig config = Config();
  config.leeway = absl::ZeroDuration();
  EXPECT_TRUE(IsRefused(VerifyWith(config, SignJwt(*rsa_, Claims("", kNowSeconds - 1))),
                        absl::StatusCode::kUnauthenticated, "token expired at"));
}

TEST_F(JwtVerifierTest, RefusesTokenNotYetValid) {
  std::string token = SignJwt(*rsa_, Claims(absl::StrCat(R"(,"nbf":)", kNowSeconds + 120)));
  EXPECT_TRUE(IsRefused(Verify(token), absl::StatusCode::kUnauthenticated,
                        "token is not valid before 2027-01-15T08:02:00Z"));
}

TEST_F(JwtVerifierTest, AcceptsNotBeforeWithinLeeway) {
  auto identity = Verify(SignJwt(*rsa_, Claims(absl::StrCat(R"(,"nbf":)", kNowSeconds + 30))));
  EXPECT_TRUE(identity.ok()) << identity.status();
}

TEST_F(JwtVerifierTest, RefusesTokenIssuedInTheFuture) {
  std::string token = SignJwt(*rsa_, Claims(absl::StrCat(R"(,"iat":)", kNowSeconds + 3600)));
  EXPECT_TRUE(IsRefused(Verify(token), absl::StatusCode::kUnauthenticated, "token was issued in the future"));
}

TEST_F(JwtVerifierTest, RefusesTokenWithoutExp) {
  std::string payload = absl::Substitute(R"({"iss":"$0","aud":"$1","sub":"alice"})", kIssuer, kAudience);
  EXPECT_TRUE(IsRefused(Verify(SignJwt(*rsa_, payload)), absl::StatusCode::kUnauthenticated,
                        R"(token has no "exp" claim)"));
}

TEST_F(JwtVerifierTest, RefusesNonNumericExp) {
  std::string payload =
      absl::Substitute(R"({"iss":"$0","aud":"$1","sub":"alice","exp":"tomorrow"})", kIssuer, kAudience);
  EXPECT_TRUE(IsRefused(Verify(SignJwt(*rsa_, payload)), absl::StatusCode::kUnauthenticated,
                        R"(malformed token: claim "exp" is not a number)"));
}

TEST_F(JwtVerifierTest, RefusesWrongIssuer) {
  std::string payload = absl::Substitute(
      R"({"iss":"https://evil.example.org","aud":"$0","sub":"alice","exp":$1})", kAudience, kNowSeconds + 60);
  EXPECT_TRUE(IsRefused(Verify(SignJwt(*rsa_, payload)), absl::StatusCode::kUnauthenticated,
                        R"(token issuer "https://evil.example.org" is not accepted)"));
}

TEST_F(JwtVerifierTest, RefusesTokenSignedByAnotherKey) {
  EXPECT_TRUE(IsRefused(Verify(SignJwt(*other_rsa_, Claims())), absl::StatusCode::kUnauthenticated,
                        "token signature does not verify with any configured key"));
}

TEST_F(JwtVerifierTest, RefusesPayloadTamperedAfterSigning) {
  std::string token = SignJwt(*rsa_, Claims());
  std::vector<std::string> parts = absl::StrSplit(token, '.');
  ASSERT_EQ(parts.size(), 3u);
  std::string forged = absl::StrCat(
      parts[0], ".", Base64Url(absl::StrReplaceAll(Claims(), {{"\"alice\"", "\"root\""}})), ".", parts[2]);
  EXPECT_TRUE(IsRefused(Verify(forged), absl::StatusCode::kUnauthenticated,
                        "token signature does not verify with any configured key"));
}

TEST_F(JwtVerifierTest, RefusesTamperedEs256Signature) {
  std::string token = SignJwt(*ec_, Claims());
  std::vector<std::string> parts = absl::StrSplit(token, '.');
  ASSERT_EQ(parts.size(), 3u);
  // Flip the first signature character to another base64url digit.
  parts[2][0] = parts[2][0] == 'A' ? 'B' : 'A';
  EXPECT_TRUE(IsRefused(Verify(absl::StrJoin(parts, ".")), absl::StatusCode::kUnauthenticated,
                        "token signature does not verify with any configured key"));
}

TEST_F(JwtVerifierTest, RefusesEs256SignatureOfWrongLength) {
  std::string token = SignJwt(*ec_, Claims());
  std::vector<std::string> parts = absl::StrSplit(token, '.');
  ASSERT_EQ(parts.size(), 3u);
  std::string forged = absl::StrCat(parts[0], ".", parts[1], ".", Base64Url(std::string(70, 'x')));
  EXPECT_TRUE(IsRefused(Verify(forged), absl::StatusCode::kUnauthenticated,
                        "malformed token: an ES256 signature is 64 bytes, not 70"));
}

TEST_F(JwtVerifierTest, RefusesAlgorithmWithNoKeyOfItsType) {
  JwtConfig config = Config();
  config.public_key_pems = {rsa_->public_pem};
  EXPECT_TRUE(IsRefused(
      VerifyWith(config, SignJwt(*ec_, Claims())), absl::StatusCode::kUnauthenticated,
      "token signature does not verify with any configured key: no ES256-capable key is configured"));
}

TEST_F(JwtVerifierTest, RefusesAlgNone) {
  std::string token = absl::StrCat(Base64Url(R"({"alg":"none","typ":"JWT"})"), ".", Base64Url(Claims()), ".");
  EXPECT_TRUE(
      IsRefused(Verify(token), absl::StatusCode::kUnauthenticated, "token algorithm none is not accepted"));
}

TEST_F(JwtVerifierTest, RefusesHs256) {
  // The classic confusion attack: an HMAC keyed with the issuer's public key. Refused before any MAC check.
  std::string token = absl::StrCat(Base64Url(R"({"alg":"HS256","typ":"JWT"})"), ".", Base64Url(Claims()), ".",
                                   Base64Url(std::string(32, '\x5a')));
  EXPECT_TRUE(
      IsRefused(Verify(token), absl::StatusCode::kUnauthenticated, "token algorithm HS256 is not accepted"));
}

TEST_F(JwtVerifierTest, RefusesHeaderWithoutAlg) {
  std::string token =
      absl::StrCat(Base64Url(R"({"typ":"JWT"})"), ".", Base64Url(Claims()), ".", Base64Url("signature"));
  EXPECT_TRUE(IsRefused(Verify(token), absl::StatusCode::kUnauthenticated, "malformed token: header has no"));
}

TEST_F(JwtVerifierTest, RefusesCriticalHeaderExtensions) {
  std::string token = SignJwt(*rsa_, Claims(), R"("crit":["exp"])");
  EXPECT_TRUE(IsRefused(Verify(token), absl::StatusCode::kUnauthenticated, "critical extensions"));
}

TEST_F(JwtVerifierTest, TriesEveryKeyWhenHeaderHasKid) {
  JwtConfig config = Config();
  config.public_key_pems = {other_rsa_->public_pem, ec_->public_pem, rsa_->public_pem};
  auto identity = VerifyWith(config, SignJwt(*rsa_, Claims(), R"("kid":"k1")"));
  EXPECT_TRUE(identity.ok()) << identity.status();
}

TEST_F(JwtVerifierTest, AcceptsKeysFromOnePemBundle) {
  JwtConfig config = Config();
  config.public_key_pems = {absl::StrCat(other_rsa_->public_pem, "\n", ec_->public_pem)};
  EXPECT_TRUE(VerifyWith(config, SignJwt(*ec_, Claims())).ok());
  EXPECT_TRUE(VerifyWith(config, SignJwt(*other_rsa_, Claims())).ok());
  EXPECT_TRUE(IsRefused(VerifyWith(config, SignJwt(*rsa_, Claims())), absl::StatusCode::kUnauthenticated,
                        "token signature does not verify"));
}

TEST_F(JwtVerifierTest, RefusesTwoPartToken) {
  std::string token = SignJwt(*rsa_, Claims());
  std::string two_parts = token.substr(0, token.rfind('.'));
  EXPECT_TRUE(IsRefused(Verify(two_parts), absl::StatusCode::kUnauthenticated,
                        "malformed token: expected 3 dot-separated parts, found 2"));
}

TEST_F(JwtVerifierTest, RefusesBadBase64) {
  std::string token = SignJwt(*rsa_, Claims());
  EXPECT_TRUE(IsRefused(Verify(absl::StrCat("e!J", token)), absl::StatusCode::kUnauthenticated,
                        "malformed token: header is not base64url"));
}

TEST_F(JwtVerifierTest, RefusesPaddedBase64) {
  // "{}" encodes to "e30" unpadded; JWS forbids the "=" form.
  std::string token = absl::StrCat("e30=.", Base64Url(Claims()), ".", Base64Url("sig"));
  EXPECT_TRUE(IsRefused(Verify(token), absl::StatusCode::kUnauthenticated,
                        "malformed token: header is not base64url without padding"));
}

TEST_F(JwtVerifierTest, RefusesNonJsonHeader) {
  std::string token = absl::StrCat(Base64Url("alg=RS256"), ".", Base64Url(Claims()), ".", Base64Url("sig"));
  EXPECT_TRUE(IsRefused(Verify(token), absl::StatusCode::kUnauthenticated,
                        "malformed token: header is not a JSON object"));
}

TEST_F(JwtVerifierTest, RefusesSignedNonJsonPayload) {
  EXPECT_TRUE(IsRefused(Verify(SignJwt(*rsa_, "sub=alice; exp=never")), absl::StatusCode::kUnauthenticated,
                        "malformed token: payload is not a JSON object"));
}

TEST_F(JwtVerifierTest, RefusesOversizedToken) {
  EXPECT_TRUE(IsRefused(Verify(std::string(70'000, 'a')), absl::StatusCode::kUnauthenticated,
                        "malformed token: longer than"));
}

TEST_F(JwtVerifierTest, RefusesMissingUsernameClaim) {
  std::string payload =
      absl::Substitute(R"({"iss":"$0","aud":"$1","exp":$2})", kIssuer, kAudience, kNowSeconds + 60);
  EXPECT_TRUE(IsRefused(Verify(SignJwt(*rsa_, payload)), absl::StatusCode::kUnauthenticated,
                        R"(token has no "sub" claim)"));
}

TEST_F(JwtVerifierTest, RefusesEmptyUsername) {
  std::string payload =
      absl::Substitute(R"({"iss":"$0","aud":"$1","sub":"","exp":$2})", kIssuer, kAudience, kNowSeconds + 60);
  EXPECT_TRUE(IsRefused(Verify(SignJwt(*rsa_, payload)), absl::StatusCode::kUnauthenticated,
                        R"(token claim "sub" is not a non-empty string)"));
}

TEST_F(JwtVerifierTest, UsesConfiguredUsernameClaim) {
  JwtConfig config = Config();
  config.username_claim = "preferred_username";
  auto identity = VerifyWith(config, SignJwt(*rsa_, Claims(R"(,"preferred_username":"asouser")")));
  ASSERT_TRUE(identity.ok()) << identity.status();
  EXPECT_EQ(identity->username, "asouser");
  EXPECT_EQ(identity->subject, "alice");
}

TEST_F(JwtVerifierTest, RefusesGroupsThatAreNotStrings) {
  EXPECT_TRUE(IsRefused(Verify(SignJwt(*rsa_, Claims(R"(,"wlcg.groups":"/cms")"))),
                        absl::StatusCode::kUnauthenticated,
                        R"(malformed token: claim "wlcg.groups" is not an array of strings)"));
}

TEST_F(JwtVerifierTest, VerifiesFromManyThreadsAtOnce) {
  auto verifier = JwtVerifier::Create(Config());
  ASSERT_TRUE(verifier.ok()) << verifier.status();
  const std::string good_rsa = SignJwt(*rsa_, Claims());
  const std::string good_ec = SignJwt(*ec_, Claims());
  const std::string forged = SignJwt(*other_rsa_, Claims());
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        if (!(*verifier)->Verify(good_rsa, Now()).ok()) ++wrong;
        if (!(*verifier)->Verify(good_ec, Now()).ok()) ++wrong;
        if ((*verifier)->Verify(forged, Now()).ok()) ++wrong;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0);
}

TEST(JwtVerifierCreateTest, RefusesGarbagePem) {
  JwtConfig config;
  config.public_key_pems = {GenerateEcKey().public_pem,
                            "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"};
  config.issuers = {std::string(kIssuer)};
  config.audience = std::string(kAudience);
  auto verifier = JwtVerifier::Create(config);
  ASSERT_FALSE(verifier.ok());
  EXPECT_EQ(verifier.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(verifier.status().message()),
              ::testing::HasSubstr("public_key_pems[1] is not a parsable PEM public key"));
}

TEST(JwtVerifierCreateTest, RefusesPrivateKeyInPlaceOfPublicKey) {
  JwtConfig config;
  config.public_key_pems = {GenerateEcKey().private_pem};
  config.issuers = {std::string(kIssuer)};
  config.audience = std::string(kAudience);
  auto verifier = JwtVerifier::Create(config);
  ASSERT_FALSE(verifier.ok());
  EXPECT_EQ(verifier.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(verifier.status().message()), ::testing::HasSubstr("public_key_pems[0]"));
}

TEST(JwtVerifierCreateTest, RefusesEmptyAudienceIssuersAndKeys) {
  JwtConfig good;
  good.public_key_pems = {GenerateEcKey().public_pem};
  good.issuers = {std::string(kIssuer)};
  good.audience = std::string(kAudience);
  ASSERT_TRUE(JwtVerifier::Create(good).ok());

  JwtConfig no_audience = good;
  no_audience.audience.clear();
  auto verifier = JwtVerifier::Create(no_audience);
  ASSERT_FALSE(verifier.ok());
  EXPECT_EQ(verifier.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(verifier.status().message()), ::testing::HasSubstr("audience is empty"));

  JwtConfig no_issuers = good;
  no_issuers.issuers.clear();
  verifier = JwtVerifier::Create(no_issuers);
  ASSERT_FALSE(verifier.ok());
  EXPECT_EQ(verifier.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(verifier.status().message()), ::testing::HasSubstr("no accepted issuers"));

  JwtConfig no_keys = good;
  no_keys.public_key_pems.clear();
  verifier = JwtVerifier::Create(no_keys);
  ASSERT_FALSE(verifier.ok());
  EXPECT_EQ(verifier.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(verifier.status().message()), ::testing::HasSubstr("no public keys"));
}

TEST(LoadPublicKeyFilesTest, LoadsEveryNamedFile) {
  std::string a = ::testing::TempDir() + "jwt_verifier_test_a.pem";
  std::string b = ::testing::TempDir() + "jwt_verifier_test_b.pem";
  TestKey key_a = GenerateEcKey();
  TestKey key_b = GenerateEcKey();
  std::ofstream(a) << key_a.public_pem;
  std::ofstream(b) << key_b.public_pem;
  JwtConfig config;
  ASSERT_TRUE(LoadPublicKeyFiles(absl::StrCat(a, ", ", b), config).ok());
  EXPECT_THAT(config.public_key_pems, ElementsAre(key_a.public_pem, key_b.public_pem));
}

TEST(LoadPublicKeyFilesTest, NamesMissingFileAndLeavesConfigUnchanged) {
  std::string a = ::testing::TempDir() + "jwt_verifier_test_present.pem";
  std::ofstream(a) << GenerateEcKey().public_pem;
  std::string missing = ::testing::TempDir() + "jwt_verifier_test_missing.pem";
  JwtConfig config;
  absl::Status status = LoadPublicKeyFiles(absl::StrCat(a, ",", missing), config);
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(status.message()), ::testing::HasSubstr(missing));
  EXPECT_THAT(config.public_key_pems, IsEmpty());
}

}  // namespace
}  // namespace aso::auth
