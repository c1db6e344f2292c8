// aso.ingest.v1.Credentials over real TLS (the PKI of scripts/dev-certs) on a real PostgreSQL: a user
// delegates their proxy the way aso-submit does (the service's request signed with the user's own proxy),
// the stored proxy is sealed and opens to a proxy file of that user; another user's chain, an expired one,
// a chain for another request and a forged one are refused by name and change nothing; listings are
// per user for users and global for admins; without a credential key every call is refused.
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "libs/auth/authenticator.h"
#include "libs/auth/credential_cipher.h"
#include "libs/auth/credentials.h"
#include "libs/auth/delegation.h"
#include "libs/auth/testing/dev_pki.h"
#include "libs/auth/testing/jwt_signer.h"
#include "libs/common/clock.h"
#include "libs/db/credential_repository.h"
#include "libs/db/testing/test_database.h"
#include "services/ingest/credential_service.h"

namespace aso::ingest {
namespace {
using ::testing::HasSubstr;

class CredentialServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(auth::testing::CertsDir().empty()) << "ASO_TEST_CERTS is not set (run through ctest)";
    auto t = db::testing::TestDatabase::Create();
    ASSERT_TRUE(t.ok()) << t.status();
    tdb_ = std::move(*t);
    repo_ = std::make_unique<db::PgCredentialRepository>(tdb_->db());
    auth::AuthConfig config;
    config.ca_file = auth::testing::CertsDir() + "/ca.pem";
    config.gridmap_file = auth::testing::CertsDir() + "/gridmap";
    config.admins = {"admin"};
    // A trusted token issuer: tokens delegated to ASO must be signed by it.
    issuer_key_ = auth::testing::GenerateRsaKey();
    auth::JwtConfig jwt;
    jwt.public_key_pems = {issuer_key_.public_pem};
    jwt.issuers = {"https://issuer.test"};
    jwt.audience = "aso";
    config.jwt = jwt;
    auto a = auth::Authenticator::Create(config);
    ASSERT_TRUE(a.ok()) << a.status();
    auth_ = std::move(*a);
    auto c = auth::CredentialCipher::FromKeyText(std::string(64, '7'));
    ASSERT_TRUE(c.ok());
    cipher_ = *c;
    Serve(cipher_);
  }
  void TearDown() override {
    if (server_) server_->Shutdown();
  }
  void Serve(std::optional<auth::CredentialCipher> cipher) {
    if (server_) server_->Shutdown();
    service_ = std::make_unique<CredentialService>(*repo_, cipher, clock_, *auth_);
    auth::ServerTlsConfig tls;
    tls.cert_file = auth::testing::CertsDir() + "/server.pem";
    tls.key_file = auth::testing::CertsDir() + "/server.key";
    tls.ca_file = auth::testing::CertsDir() + "/ca.pem";
    auto creds = auth::MakeServerCredentials(tls, "127.0.0.1:0");
    ASSERT_TRUE(creds.ok()) << creds.status();
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", *creds, &port_);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
  }
  // "alice", "bob", "admin" (certificate) or "alice-proxy".
  std::unique_ptr<v1::Credentials::Stub> Client(const std::string& who) {
    auth::ClientAuthConfig c;
    c.ca_file = auth::testing::CertsDir() + "/ca.pem";
    if (who == "alice-proxy") {
      c.proxy_file = auth::testing::CertsDir() + "/alice-proxy.pem";
    } else {
      c.cert_file = auth::testing::CertsDir() + "/" + who + ".pem";
      c.key_file = auth::testing::CertsDir() + "/" + who + ".key";
    }
    auto a = auth::ClientAuth::Create(c);
    EXPECT_TRUE(a.ok()) << a.status();
    client_auth_[who] = *a;
    return v1::Credentials::NewStub((*a)->Channel(absl::StrCat("localhost:", port_)));
  }
  void Prepare(grpc::ClientContext& ctx, const std::string& who) {
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    client_auth_[who]->Apply(ctx);
  }
  // A delegation as `who`, the request signed with `signer` (a proxy file, or certificate + key).
  grpc::Status Delegate(const std::string& who, const std::string& signer, v1::Credential* out,
                        absl::Time signed_at = absl::Now(), absl::Duration lifetime = absl::Hours(12),
                        std::string* delegation_id = nullptr) {
    auto stub = Client(who);
    v1::DelegationRequest req;
    {
      grpc::ClientContext ctx;
      Prepare(ctx, who);
      grpc::Status s = stub->GetDelegationRequest(&ctx, v1::GetDelegationRequestRequest(), &req);
      if (!s.ok()) return s;
    }
    if (delegation_id != nullptr) *delegation_id = req.delegation_id();
    auto chain = auth::SignProxy(req.csr_pem(), signer, lifetime, signed_at);
    EXPECT_TRUE(chain.ok()) << chain.status();
    v1::PutDelegatedProxyRequest put;
    put.set_delegation_id(req.delegation_id());
    put.set_chain_pem(*chain);
    grpc::ClientContext ctx;
    Prepare(ctx, who);
    return stub->PutDelegatedProxy(&ctx, put, out);
  }
  // A token of `sub` for a storage (audience not ASO's), valid `ttl` from now, signed by `key`.
  std::string Token(const std::string& sub, absl::Duration ttl, const auth::testing::TestKey* key = nullptr) {
    const int64_t now = absl::ToUnixSeconds(absl::Now());
    return auth::testing::SignJwt(
        key != nullptr ? *key : issuer_key_,
        absl::StrCat(R"({"iss":"https://issuer.test","sub":")", sub, R"(","aud":"https://storage.example",)",
                     R"("iat":)", now, R"(,"exp":)", now + absl::ToInt64Seconds(ttl), "}"));
  }
  grpc::Status PutToken(const std::string& who, const v1::PutBearerTokenRequest& req, v1::Credential* out) {
    auto stub = Client(who);
    grpc::ClientContext ctx;
    Prepare(ctx, who);
    return stub->PutBearerToken(&ctx, req, out);
  }
  std::string Fingerprint() {
    return tdb_->QueryText(
        "SELECT (SELECT count(*) FROM user_credentials) || '/' || "
        "(SELECT COALESCE(string_agg(username || not_after || sealed, ','), '') FROM user_credentials)");
  }

  RealClock& clock_ = RealClock::Get();
  std::unique_ptr<db::testing::TestDatabase> tdb_;
  std::unique_ptr<db::PgCredentialRepository> repo_;
  auth::testing::TestKey issuer_key_;
  std::unique_ptr<auth::Authenticator> auth_;
  auth::CredentialCipher cipher_;
  std::unique_ptr<CredentialService> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::map<std::string, std::shared_ptr<auth::ClientAuth>> client_auth_;
};

TEST_F(CredentialServiceTest, AUserDelegatesTheirProxyAndItIsStoredSealed) {
  v1::Credential cred;
  grpc::Status s = Delegate("alice-proxy", auth::testing::ReadCert("alice-proxy.pem"), &cred);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(cred.user(), "alice");
  EXPECT_EQ(cred.kind(), "x509_proxy");
  EXPECT_THAT(cred.subject(), HasSubstr("/CN=alice/CN=1234567/CN="));
  EXPECT_NEAR(static_cast<double>(cred.not_after().seconds()),
              absl::ToUnixSeconds(absl::Now() + absl::Hours(12)), 5);
  // At rest: sealed, no PEM in the database; it opens (for alice only) to a proxy file that verifies as hers.
  EXPECT_EQ(tdb_->QueryInt("SELECT count(*) FROM user_credentials WHERE sealed LIKE '%BEGIN%'"), 0);
  EXPECT_EQ(tdb_->QueryInt("SELECT count(*) FROM delegation_requests"), 0) << "the delegation is complete";
  auto stored = repo_->Get("alice", "x509_proxy");
  ASSERT_TRUE(stored.ok()) << stored.status();
  auto pem = cipher_.Open(stored->sealed, "alice");
  ASSERT_TRUE(pem.ok()) << pem.status();
  EXPECT_TRUE(absl::StrContains(*pem, "BEGIN PRIVATE KEY"));
  EXPECT_EQ(auth_->VerifyChain(*pem)->name, "alice");
  EXPECT_FALSE(cipher_.Open(stored->sealed, "bob").ok());
  // Delegating again replaces it.
  ASSERT_TRUE(Delegate("alice", auth::testing::ReadCert("alice.pem") + auth::testing::ReadCert("alice.key"),
                       &cred, absl::Now(), absl::Hours(48))
                  .ok());
  EXPECT_EQ(tdb_->QueryInt("SELECT count(*) FROM user_credentials"), 1);
  EXPECT_NEAR(static_cast<double>(cred.not_after().seconds()),
              absl::ToUnixSeconds(absl::Now() + absl::Hours(48)), 5);
}

TEST_F(CredentialServiceTest, RefusedProxiesChangeNothing) {
  v1::Credential cred;
  ASSERT_TRUE(Delegate("alice", auth::testing::ReadCert("alice-proxy.pem"), &cred).ok());
  const std::string before = Fingerprint();
  // bob's chain sent by alice.
  grpc::Status s =
      Delegate("alice", auth::testing::ReadCert("bob.pem") + auth::testing::ReadCert("bob.key"), &cred);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(s.error_message(), HasSubstr("belongs to bob"));
  // Expired: signed two days ago for an hour.
  s = Delegate("alice", auth::testing::ReadCert("alice-proxy.pem"), &cred, absl::Now() - absl::Hours(48),
               absl::Hours(1));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("expired"));
  // Five minutes left: less than the ten required.
  s = Delegate("alice", auth::testing::ReadCert("alice-proxy.pem"), &cred, absl::Now(), absl::Minutes(5));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("less than 10m left"));
  // A foreign CA's user.
  s = Delegate("alice", auth::testing::ReadCert("mallory.pem") + auth::testing::ReadCert("mallory.key"),
               &cred);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("does not verify"));
  // Signed for another delegation (bob's request id used by alice): not found; garbage: invalid.
  auto alice = Client("alice");
  v1::PutDelegatedProxyRequest put;
  put.set_delegation_id("0123456789abcdef");
  put.set_chain_pem(auth::testing::ReadCert("alice-proxy.pem"));
  {
    grpc::ClientContext ctx;
    Prepare(ctx, "alice");
    EXPECT_EQ(alice->PutDelegatedProxy(&ctx, put, &cred).error_code(), grpc::StatusCode::NOT_FOUND);
  }
  std::string bobs_id;
  ASSERT_FALSE(Delegate("bob", auth::testing::ReadCert("alice-proxy.pem"), &cred, absl::Now(), absl::Hours(1),
                        &bobs_id)
                   .ok());
  put.set_delegation_id(bobs_id);
  {
    grpc::ClientContext ctx;
    Prepare(ctx, "alice");
    EXPECT_EQ(alice->PutDelegatedProxy(&ctx, put, &cred).error_code(), grpc::StatusCode::NOT_FOUND);
  }
  std::string own_id;
  {
    v1::DelegationRequest req;
    grpc::ClientContext ctx;
    Prepare(ctx, "alice");
    ASSERT_TRUE(alice->GetDelegationRequest(&ctx, {}, &req).ok());
    own_id = req.delegation_id();
  }
  put.set_delegation_id(own_id);
  put.set_chain_pem("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n");
  {
    grpc::ClientContext ctx;
    Prepare(ctx, "alice");
    grpc::Status st = alice->PutDelegatedProxy(&ctx, put, &cred);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(st.error_message(), HasSubstr("no PEM certificate"));
  }
  // alice's own proxy file (signed for some other key, not this request's).
  put.set_chain_pem(auth::testing::ReadCert("alice-proxy.pem"));
  {
    grpc::ClientContext ctx;
    Prepare(ctx, "alice");
    grpc::Status st = alice->PutDelegatedProxy(&ctx, put, &cred);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(st.error_message(), HasSubstr("not for this delegation's key"));
  }
  EXPECT_EQ(Fingerprint(), before);
  // The refused delegation is still open: alice can complete it with a good proxy.
  auto chain_for = [&](const std::string& id) {
    return tdb_->QueryInt(
        absl::StrCat("SELECT count(*) FROM delegation_requests WHERE delegation_id = '", id, "'"));
  };
  EXPECT_EQ(chain_for(own_id), 1);
}

TEST_F(CredentialServiceTest, ListingsAreOwnForUsersAndAllForAdmins) {
  v1::Credential cred;
  ASSERT_TRUE(
      Delegate("alice", auth::testing::ReadCert("alice-proxy.pem"), &cred, absl::Now(), absl::Hours(2)).ok());
  ASSERT_TRUE(Delegate("bob", auth::testing::ReadCert("bob.pem") + auth::testing::ReadCert("bob.key"), &cred,
                       absl::Now(), absl::Hours(72))
                  .ok());
  auto list = [&](const std::string& who, const std::string& user, int64_t within,
                  v1::ListCredentialsResponse* out) {
    auto stub = Client(who);
    v1::ListCredentialsRequest req;
    req.set_user(user);
    req.set_expiring_within_seconds(within);
    grpc::ClientContext ctx;
    Prepare(ctx, who);
    return stub->ListCredentials(&ctx, req, out);
  };
  v1::ListCredentialsResponse r;
  ASSERT_TRUE(list("alice", "", 0, &r).ok());
  ASSERT_EQ(r.credentials_size(), 1);
  EXPECT_EQ(r.credentials(0).user(), "alice");
  EXPECT_EQ(list("alice", "bob", 0, &r).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  r.Clear();
  ASSERT_TRUE(list("admin", "", 0, &r).ok());
  ASSERT_EQ(r.credentials_size(), 2);
  EXPECT_EQ(r.credentials(0).user(), "alice") << "soonest expiry first";
  r.Clear();
  ASSERT_TRUE(list("admin", "", 24 * 3600, &r).ok());
  ASSERT_EQ(r.credentials_size(), 1);
  EXPECT_EQ(r.credentials(0).user(), "alice");
  EXPECT_EQ(list("admin", "", -1, &r).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(CredentialServiceTest, WithoutACredentialKeyDelegationIsOff) {
  Serve(std::nullopt);
  v1::Credential cred;
  grpc::Status s = Delegate("alice", auth::testing::ReadCert("alice-proxy.pem"), &cred);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(s.error_message(), HasSubstr("--credential_key_file"));
  EXPECT_EQ(tdb_->QueryInt("SELECT count(*) FROM delegation_requests"), 0);
}

// Bearer tokens: alice stores her storage token (any audience, signed by a trusted issuer) and it is kept
// sealed; refusals (another user's, expired, foreign issuer key, too short without a way to renew it, a
// refresh token without its endpoint) change nothing; with a refresh token the credential is renewable.
TEST_F(CredentialServiceTest, UsersStoreTheirBearerTokens) {
  v1::PutBearerTokenRequest req;
  req.set_access_token(Token("alice", absl::Hours(1)));
  v1::Credential out;
  grpc::Status s = PutToken("alice", req, &out);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(out.user(), "alice");
  EXPECT_EQ(out.kind(), "bearer_token");
  EXPECT_EQ(out.subject(), "https://issuer.test alice");
  EXPECT_FALSE(out.renewable());
  const std::string sealed = tdb_->QueryText(
      "SELECT sealed FROM user_credentials WHERE username = 'alice' AND kind = 'bearer_token'");
  EXPECT_EQ(sealed.find(req.access_token().substr(0, 40)), std::string::npos)
      << "the token is stored in clear";
  auto opened = cipher_.Open(sealed, "alice");
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_THAT(*opened, HasSubstr(req.access_token()));
  const std::string before = Fingerprint();

  auto refused = [&](const std::string& who, const v1::PutBearerTokenRequest& r, grpc::StatusCode code,
                     const std::string& why) {
    v1::Credential ignored;
    grpc::Status st = PutToken(who, r, &ignored);
    EXPECT_EQ(st.error_code(), code) << why << ": " << st.error_message();
    EXPECT_THAT(st.error_message(), HasSubstr(why));
    EXPECT_EQ(Fingerprint(), before) << why;
  };
  v1::PutBearerTokenRequest alices = req;
  refused("bob", alices, grpc::StatusCode::PERMISSION_DENIED, "the token belongs to alice, not to bob");
  v1::PutBearerTokenRequest expired;
  expired.set_access_token(Token("alice", -absl::Hours(1)));
  refused("alice", expired, grpc::StatusCode::INVALID_ARGUMENT, "token expired");
  const auth::testing::TestKey other = auth::testing::GenerateRsaKey();
  v1::PutBearerTokenRequest forged;
  forged.set_access_token(Token("alice", absl::Hours(1), &other));
  refused("alice", forged, grpc::StatusCode::INVALID_ARGUMENT, "does not verify");
  v1::PutBearerTokenRequest garbage;
  garbage.set_access_token("not.a.token");
  refused("alice", garbage, grpc::StatusCode::INVALID_ARGUMENT, "the token was refused");
  v1::PutBearerTokenRequest short_lived;
  short_lived.set_access_token(Token("alice", absl::Minutes(5)));
  refused("alice", short_lived, grpc::StatusCode::INVALID_ARGUMENT, "no refresh_token to renew it");
  v1::PutBearerTokenRequest no_endpoint = short_lived;
  no_endpoint.set_refresh_token("rt-alice");
  refused("alice", no_endpoint, grpc::StatusCode::INVALID_ARGUMENT, "token_endpoint");

  v1::PutBearerTokenRequest elsewhere = no_endpoint;
  elsewhere.set_token_endpoint("https://collector.example/token");
  elsewhere.set_client_id("aso-client");
  refused("alice", elsewhere, grpc::StatusCode::INVALID_ARGUMENT,
          "is not on the host of the token's issuer https://issuer.test");

  // With what renews it, a short token is taken, and marked renewable.
  v1::PutBearerTokenRequest renewable = no_endpoint;
  renewable.set_token_endpoint("https://issuer.test/token");
  renewable.set_client_id("aso-client");
  s = PutToken("alice", renewable, &out);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_TRUE(out.renewable());
  EXPECT_EQ(tdb_->QueryText("SELECT refreshable FROM user_credentials WHERE username = 'alice' AND "
                            "kind = 'bearer_token'"),
            "t");
  auto renewed = cipher_.Open(
      tdb_->QueryText(
          "SELECT sealed FROM user_credentials WHERE username = 'alice' AND kind = 'bearer_token'"),
      "alice");
  ASSERT_TRUE(renewed.ok());
  EXPECT_THAT(*renewed, HasSubstr(R"("refresh_token":"rt-alice")"));
  EXPECT_THAT(*renewed, HasSubstr(R"("token_endpoint":"https://issuer.test/token")"));
}

}  // namespace
}  // namespace aso::ingest
