// The Authenticator against a real grid-style PKI made by scripts/dev-certs (CA, users, an RFC 3820
// proxy, a foreign CA) and tokens minted by the test signer.
#include "libs/auth/authenticator.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/auth/credentials.h"
#include "libs/auth/testing/dev_pki.h"
#include "libs/auth/testing/jwt_signer.h"

namespace aso::auth {
namespace {
using ::testing::HasSubstr;

const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);

// The certificates of a proxy file, without its key, as a peer presents them.
std::string CertsOnly(const std::string& pem) {
  std::string out;
  size_t pos = 0;
  while ((pos = pem.find("-----BEGIN CERTIFICATE-----", pos)) != std::string::npos) {
    const size_t end = pem.find("-----END CERTIFICATE-----", pos) + 25;
    out += pem.substr(pos, end - pos) + "\n";
    pos = end;
  }
  return out;
}

class AuthenticatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(auth::testing::CertsDir().empty()) << "ASO_TEST_CERTS is not set (run through ctest)";
    key_ = testing::GenerateEcKey();
    AuthConfig c;
    c.ca_file = auth::testing::CertsDir() + "/ca.pem";
    c.gridmap_file = auth::testing::CertsDir() + "/gridmap";
    c.admins = {"admin"};
    c.services = {"aso-service"};
    JwtConfig jwt;
    jwt.public_key_pems = {key_.public_pem};
    jwt.issuers = {"https://iam.example"};
    jwt.audience = "aso";
    c.jwt = jwt;
    auto a = Authenticator::Create(c);
    ASSERT_TRUE(a.ok()) << a.status();
    auth_ = std::move(*a);
  }
  absl::StatusOr<Principal> WithCert(const std::string& chain) {
    return auth_->Authenticate(std::nullopt, chain, std::nullopt, kNow);
  }
  absl::StatusOr<Principal> WithToken(const std::string& token) {
    return auth_->Authenticate(absl::StrCat("Bearer ", token), "", std::nullopt, kNow);
  }
  std::string Token(const std::string& sub, int64_t exp, const std::string& aud = "aso") {
    return testing::SignJwt(key_, absl::StrCat(R"({"iss":"https://iam.example","sub":")", sub, R"(","aud":")",
                                               aud, R"(","exp":)", exp, "}"));
  }
  testing::TestKey key_;
  std::unique_ptr<Authenticator> auth_;
};

TEST_F(AuthenticatorTest, UserCertificateMapsThroughTheGridmap) {
  auto p = WithCert(auth::testing::ReadCert("alice.pem"));
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->name, "alice");
  EXPECT_EQ(p->role, Role::kUser);
  EXPECT_EQ(p->mechanism, "x509");
  EXPECT_EQ(p->subject, "/DC=org/DC=aso-test/OU=Users/CN=alice");
}

TEST_F(AuthenticatorTest, GridProxyIsItsOwner) {
  auto p = WithCert(CertsOnly(auth::testing::ReadCert("alice-proxy.pem")));
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->name, "alice");
  EXPECT_EQ(p->subject, "/DC=org/DC=aso-test/OU=Users/CN=alice");
}

TEST_F(AuthenticatorTest, RolesFromTheConfiguredIdentities) {
  EXPECT_EQ(WithCert(auth::testing::ReadCert("admin.pem"))->role, Role::kAdmin);
  EXPECT_EQ(WithCert(auth::testing::ReadCert("aso-service.pem"))->role, Role::kService);
  EXPECT_EQ(WithCert(auth::testing::ReadCert("server.pem"))->name,
            "aso-service");  // a service presents its host certificate
  EXPECT_EQ(WithCert(auth::testing::ReadCert("bob.pem"))->role, Role::kUser);
}

TEST_F(AuthenticatorTest, ForeignCaProxyWithoutItsOwnerAndUnmappedDnAreRefused) {
  auto foreign = WithCert(auth::testing::ReadCert("mallory.pem"));
  EXPECT_EQ(foreign.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(foreign.status().message(), HasSubstr("does not verify"));
  // A proxy alone (without the certificate that signed it) does not chain to the CA.
  const std::string proxy_only =
      CertsOnly(auth::testing::ReadCert("alice-proxy.pem"))
          .substr(0, CertsOnly(auth::testing::ReadCert("alice-proxy.pem")).find("-----END CERTIFICATE-----") +
                         26);
  EXPECT_EQ(WithCert(proxy_only).status().code(), absl::StatusCode::kUnauthenticated);

  const std::string gridmap = absl::StrCat(::testing::TempDir(), "/gridmap-without-bob");
  std::ofstream(gridmap) << "\"/DC=org/DC=aso-test/OU=Users/CN=alice\" alice\n";
  AuthConfig c;
  c.ca_file = auth::testing::CertsDir() + "/ca.pem";
  c.gridmap_file = gridmap;
  auto strict = Authenticator::Create(c);
  ASSERT_TRUE(strict.ok());
  auto bob = (*strict)->Authenticate(std::nullopt, auth::testing::ReadCert("bob.pem"), std::nullopt, kNow);
  EXPECT_EQ(bob.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(bob.status().message(), HasSubstr("/DC=org/DC=aso-test/OU=Users/CN=bob is not mapped"));
}

TEST_F(AuthenticatorTest, BearerTokens) {
  auto ok = WithToken(Token("alice", 1'800'000'600));
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->name, "alice");
  EXPECT_EQ(ok->mechanism, "token");
  EXPECT_EQ(WithToken(Token("admin", 1'800'000'600))->role, Role::kAdmin);
  EXPECT_THAT(WithToken(Token("alice", 1'799'990'000)).status().message(), HasSubstr("expired"));
  EXPECT_THAT(WithToken(Token("alice", 1'800'000'600, "other")).status().message(), HasSubstr("audience"));
  testing::TestKey forger = testing::GenerateEcKey();
  auto forged = WithToken(testing::SignJwt(
      forger, R"({"iss":"https://iam.example","sub":"admin","aud":"aso","exp":1800000600})"));
  EXPECT_EQ(forged.status().code(), absl::StatusCode::kUnauthenticated);
  // A token wins over a certificate on the same call; a non-Bearer header is refused.
  EXPECT_EQ(auth_
                ->Authenticate(absl::StrCat("Bearer ", Token("bob", 1'800'000'600)),
                               auth::testing::ReadCert("alice.pem"), std::nullopt, kNow)
                ->name,
            "bob");
  EXPECT_EQ(auth_->Authenticate("Basic YWxpY2U6cHc=", "", std::nullopt, kNow).status().code(),
            absl::StatusCode::kUnauthenticated);
}

TEST_F(AuthenticatorTest, InsecureHeaderOnlyInInsecureMode) {
  EXPECT_EQ(auth_->Authenticate(std::nullopt, "", "alice", kNow).status().code(),
            absl::StatusCode::kUnauthenticated);
  AuthConfig c;
  c.insecure = true;
  c.admins = {"root"};
  auto dev = Authenticator::Create(c);
  ASSERT_TRUE(dev.ok());
  EXPECT_EQ((*dev)->Authenticate(std::nullopt, "", "alice", kNow)->name, "alice");
  EXPECT_EQ((*dev)->Authenticate(std::nullopt, "", "root", kNow)->role, Role::kAdmin);
  EXPECT_EQ((*dev)->Authenticate(std::nullopt, "", std::nullopt, kNow).status().code(),
            absl::StatusCode::kUnauthenticated);
}

TEST(CredentialsTest, InsecureModeOnlyOnLoopback) {
  EXPECT_TRUE(IsLoopbackAddress("127.0.0.1:50051"));
  EXPECT_TRUE(IsLoopbackAddress("[::1]:50051"));
  EXPECT_TRUE(IsLoopbackAddress("localhost:1"));
  EXPECT_FALSE(IsLoopbackAddress("0.0.0.0:50051"));
  EXPECT_FALSE(IsLoopbackAddress("10.0.0.1:50051"));
  EXPECT_FALSE(IsLoopbackAddress("127.example.org:50051"));
  EXPECT_TRUE(IsLoopbackAddress("127.0.0.2:50051"));
  ServerTlsConfig c;
  c.insecure = true;
  EXPECT_TRUE(MakeServerCredentials(c, "127.0.0.1:0").ok());
  auto refused = MakeServerCredentials(c, "0.0.0.0:50051");
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(refused.status().message(), HasSubstr("loopback"));
  ServerTlsConfig no_files;
  EXPECT_EQ(MakeServerCredentials(no_files, "0.0.0.0:1").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(CredentialsTest, UnreadableTokenFileIsNamed) {
  ClientAuthConfig c;
  c.token_file = "/nonexistent/aso-token";
  auto auth = ClientAuth::Create(c);
  EXPECT_EQ(auth.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(auth.status().message(), HasSubstr("/nonexistent/aso-token"));
}

TEST(GridmapTest, ParsesAndNamesBadLines) {
  auto m = ParseGridmap("# comment\n\"/DC=org/CN=a b\" alice,other\n\n\"/CN=x\" x\n");
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->at("/DC=org/CN=a b"), "alice");
  EXPECT_EQ(m->at("/CN=x"), "x");
  EXPECT_THAT(ParseGridmap("ok\n").status().message(), HasSubstr("line 1"));
  EXPECT_THAT(ParseGridmap("\"/CN=x\"\n").status().message(), HasSubstr("line 1"));
}

}  // namespace
}  // namespace aso::auth
