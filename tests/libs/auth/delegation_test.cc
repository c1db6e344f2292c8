// Proxy delegation and credential sealing against the PKI of scripts/dev-certs (a CA, alice, bob, alice's
// RFC 3820 proxy, mallory of a foreign CA): the round trip, and the refusals.
#include "libs/auth/delegation.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/auth/authenticator.h"
#include "libs/auth/credential_cipher.h"
#include "libs/auth/testing/dev_pki.h"

namespace aso::auth {
namespace {
using ::testing::HasSubstr;

int Count(const std::string& text, const std::string& what) {
  int n = 0;
  for (size_t p = text.find(what); p != std::string::npos; p = text.find(what, p + 1)) ++n;
  return n;
}

class DelegationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(auth::testing::CertsDir().empty()) << "ASO_TEST_CERTS is not set (run through ctest)";
    AuthConfig c;
    c.ca_file = auth::testing::CertsDir() + "/ca.pem";
    c.gridmap_file = auth::testing::CertsDir() + "/gridmap";
    auto a = Authenticator::Create(c);
    ASSERT_TRUE(a.ok()) << a.status();
    auth_ = std::move(*a);
    auto r = NewDelegationRequest();
    ASSERT_TRUE(r.ok()) << r.status();
    request_ = *r;
  }
  std::unique_ptr<Authenticator> auth_;
  DelegationRequest request_;
};

TEST_F(DelegationTest, AProxySignedWithTheUsersProxyComesBackWhole) {
  EXPECT_TRUE(absl::StartsWith(request_.csr_pem, "-----BEGIN CERTIFICATE REQUEST-----"));
  const absl::Time now = absl::Now();
  auto chain = SignProxy(request_.csr_pem, auth::testing::ReadCert("alice-proxy.pem"), absl::Hours(12), now);
  ASSERT_TRUE(chain.ok()) << chain.status();
  // The new proxy, alice's proxy and alice's certificate; no private key travels back.
  EXPECT_EQ(Count(*chain, "BEGIN CERTIFICATE"), 3);
  EXPECT_EQ(Count(*chain, "PRIVATE KEY"), 0);
  auto proxy = AssembleDelegatedProxy(*chain, request_.key_pem);
  ASSERT_TRUE(proxy.ok()) << proxy.status();
  EXPECT_THAT(proxy->subject, HasSubstr("/DC=org/DC=aso-test/OU=Users/CN=alice/CN=1234567/CN="));
  EXPECT_NEAR(absl::ToDoubleSeconds(proxy->not_after - now), 12 * 3600, 2);
  // The stored file is a proxy file: certificate, key, chain.
  EXPECT_EQ(Count(proxy->proxy_pem, "BEGIN CERTIFICATE"), 3);
  EXPECT_EQ(Count(proxy->proxy_pem, "BEGIN PRIVATE KEY"), 1);
  EXPECT_LT(proxy->proxy_pem.find("BEGIN CERTIFICATE"), proxy->proxy_pem.find("BEGIN PRIVATE KEY"));
  auto owner = auth_->VerifyChain(*chain);
  ASSERT_TRUE(owner.ok()) << owner.status();
  EXPECT_EQ(owner->name, "alice");
  // The proxy file can itself delegate further (a chain of two proxies still verifies as alice).
  auto next = NewDelegationRequest();
  ASSERT_TRUE(next.ok());
  auto chain2 = SignProxy(next->csr_pem, proxy->proxy_pem, absl::Hours(24), now);
  ASSERT_TRUE(chain2.ok()) << chain2.status();
  auto proxy2 = AssembleDelegatedProxy(*chain2, next->key_pem);
  ASSERT_TRUE(proxy2.ok()) << proxy2.status();
  EXPECT_EQ(proxy2->not_after, proxy->not_after) << "never beyond the proxy that signed it";
  EXPECT_EQ(auth_->VerifyChain(*chain2)->name, "alice");
}

TEST_F(DelegationTest, AUserCertificateAndKeyCanSignToo) {
  auto chain =
      SignProxy(request_.csr_pem, auth::testing::ReadCert("bob.pem") + auth::testing::ReadCert("bob.key"),
                absl::Hours(1), absl::Now());
  ASSERT_TRUE(chain.ok()) << chain.status();
  ASSERT_TRUE(AssembleDelegatedProxy(*chain, request_.key_pem).ok());
  EXPECT_EQ(auth_->VerifyChain(*chain)->name, "bob");
}

TEST_F(DelegationTest, RefusalsNameTheProblem) {
  const absl::Time now = absl::Now();
  // Signed for another request: ASO does not hold its key.
  auto other = NewDelegationRequest();
  ASSERT_TRUE(other.ok());
  auto chain = SignProxy(other->csr_pem, auth::testing::ReadCert("alice-proxy.pem"), absl::Hours(1), now);
  ASSERT_TRUE(chain.ok());
  EXPECT_THAT(AssembleDelegatedProxy(*chain, request_.key_pem).status().message(),
              HasSubstr("not for this delegation's key"));
  // Expired: signed two days ago for an hour.
  auto old = SignProxy(request_.csr_pem, auth::testing::ReadCert("alice-proxy.pem"), absl::Hours(1),
                       now - absl::Hours(48));
  ASSERT_TRUE(old.ok());
  EXPECT_THAT(auth_->VerifyChain(*old).status().message(), HasSubstr("expired"));
  // A foreign CA's user.
  auto foreign = SignProxy(request_.csr_pem,
                           auth::testing::ReadCert("mallory.pem") + auth::testing::ReadCert("mallory.key"),
                           absl::Hours(1), now);
  ASSERT_TRUE(foreign.ok());
  EXPECT_FALSE(auth_->VerifyChain(*foreign).ok());
  // A plain certificate is not a proxy.
  EXPECT_THAT(
      AssembleDelegatedProxy(auth::testing::ReadCert("alice.pem"), auth::testing::ReadCert("alice.key"))
          .status()
          .message(),
      HasSubstr("not an RFC 3820 proxy"));
  // Bad input to the signer.
  EXPECT_EQ(
      SignProxy("not a csr", auth::testing::ReadCert("alice-proxy.pem"), absl::Hours(1), now).status().code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(SignProxy(request_.csr_pem, auth::testing::ReadCert("alice.pem"), absl::Hours(1), now)
                  .status()
                  .message(),
              HasSubstr("no private key"));
  EXPECT_THAT(
      SignProxy(request_.csr_pem, auth::testing::ReadCert("alice.pem") + auth::testing::ReadCert("bob.key"),
                absl::Hours(1), now)
          .status()
          .message(),
      HasSubstr("not its first certificate's"));
}

TEST(CredentialCipherTest, SealsBoundToKeyAndContext) {
  auto c = CredentialCipher::FromKeyText(std::string(64, 'a'));
  ASSERT_TRUE(c.ok()) << c.status();
  const std::string secret = "-----BEGIN PRIVATE KEY-----\nsecret\n";
  const std::string sealed = c->Seal(secret, "alice");
  EXPECT_TRUE(absl::StartsWith(sealed, "v1:"));
  EXPECT_FALSE(absl::StrContains(sealed, "secret"));
  EXPECT_NE(sealed, c->Seal(secret, "alice")) << "a fresh nonce each time";
  EXPECT_EQ(*c->Open(sealed, "alice"), secret);
  EXPECT_EQ(c->Open(sealed, "bob").status().code(), absl::StatusCode::kDataLoss);
  std::string altered = sealed;
  altered[10] = altered[10] == 'A' ? 'B' : 'A';
  EXPECT_EQ(c->Open(altered, "alice").status().code(), absl::StatusCode::kDataLoss);
  auto other = CredentialCipher::FromKeyText(std::string(64, 'b'));
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(other->Open(sealed, "alice").status().code(), absl::StatusCode::kDataLoss);
  // Keys: 64 hex digits or base64 of 32 bytes; anything else is refused without echoing it.
  EXPECT_TRUE(CredentialCipher::FromKeyText("  MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\n").ok());
  auto bad = CredentialCipher::FromKeyText("tooshort-secret");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(absl::StrContains(bad.status().message(), "tooshort"));
  EXPECT_EQ(CredentialCipher::FromKeyFile("/nonexistent/key").status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace aso::auth
