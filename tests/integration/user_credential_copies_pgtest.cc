// Copies with their owners' own proxies (aso-fts-adapter --user_credentials) on real parts: proxies
// delegated as ASO stores them (sealed in PostgreSQL), opened into private files by UserCredentials, and
// copies by the gfal2 backend to the fixture's GSI site C, which lets user U write below /data/user/U only.
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/auth/credential_cipher.h"
#include "libs/auth/testing/dev_pki.h"
#include "libs/backend/gfal2_copier.h"
#include "libs/common/clock.h"
#include "libs/db/backend_job_repository.h"
#include "libs/db/credential_repository.h"
#include "libs/db/scheduling_repository.h"
#include "services/fts_adapter/copy_worker.h"
#include "services/fts_adapter/user_credentials.h"
#include "services/scheduler/job_planner.h"
#include "tests/libs/db/db_test_util.h"

namespace aso {
namespace {
namespace fs = std::filesystem;
namespace cv1 = aso::common::v1;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kKey[] = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? "" : v;
}

using auth::testing::ReadFile;

class UserCredentialCopiesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(Env("ASO_TEST_CERTS").empty() || Env("ASO_TEST_FTS3").empty())
        << "run through ctest (fixtures pg, fts3, certs)";
    auto t = db::testing::TestDatabase::Create();
    ASSERT_TRUE(t.ok()) << t.status();
    tdb_ = std::move(*t);
    root_ = fs::path(::testing::TempDir()) / absl::StrCat("aso_user_copies_", getpid());
    fs::remove_all(root_);
    fs::create_directories(root_ / "src");
    const std::string endpoint = Env("ASO_TEST_FTS3");
    const int port = std::stoi(endpoint.substr(endpoint.rfind(':') + 1));
    prefix_ = absl::StrCat("u", absl::ToUnixNanos(absl::Now()));
    gsi_ = absl::StrCat("root://localhost:", port + 4, "//data/user");
    gsi_dir_ = absl::StrCat(Env("ASO_TEST_FTS3_DIR"), "/site-c/root/data/user");
    db::PgSiteRepository sites(tdb_->db());
    cv1::Site src, dst;
    src.set_name("LOCAL_SRC");
    src.add_url_prefixes("file://" + (root_ / "src").string() + "/");
    dst.set_name("T2_GSI");
    dst.add_url_prefixes(absl::StrCat("root://localhost:", port + 4, "//data/"));
    ASSERT_TRUE(sites.Upsert(src, absl::Now()).ok());
    ASSERT_TRUE(sites.Upsert(dst, absl::Now()).ok());
    metrics_ = std::move(*metrics::Metrics::Start("test", ""));
  }
  void TearDown() override { fs::remove_all(root_); }

  // Stores `user`'s proxy as ASO does after a delegation: a fresh key, a proxy signed with the user's
  // certificate (dev PKI), sealed with kKey and bound to the user. Returns the proxy file's text.
  std::string Delegate(const std::string& user, absl::Duration lifetime = absl::Hours(12)) {
    auto proxy = auth::testing::DelegatedProxyOf(Env("ASO_TEST_CERTS"), user, lifetime);
    EXPECT_TRUE(proxy.ok()) << proxy.status();
    auto cipher = auth::CredentialCipher::FromKeyText(kKey);
    db::PgCredentialRepository repo(tdb_->db());
    EXPECT_TRUE(repo.AddRequest("d-" + user, user, "unused", absl::Now(), absl::Hours(1)).ok());
    db::StoredCredential c{user,           "x509_proxy",
                           proxy->subject, proxy->not_after,
                           absl::Now(),    cipher->Seal(proxy->proxy_pem, user)};
    EXPECT_TRUE(repo.CompleteDelegation("d-" + user, c, absl::Now()).ok());
    return proxy->proxy_pem;
  }

  // One file of `user`, from the local source to `destination_path` below the GSI site's /data/user.
  cv1::Transfer Transfer(const std::string& user, const std::string& name,
                         const std::string& destination_path) {
    std::ofstream(root_ / "src" / name, std::ios::binary) << user << "'s " << name;
    cv1::Transfer t;
    t.set_task_id("task-" + user);
    t.set_user(user);
    t.mutable_source()->set_site("LOCAL_SRC");
    t.mutable_source()->set_url("file://" + (root_ / "src" / name).string());
    t.mutable_destination()->set_site("T2_GSI");
    t.mutable_destination()->set_url(absl::StrCat(gsi_, "/", destination_path, "/", prefix_, "/", name));
    t.set_size_bytes(-1);
    t.set_priority(3);
    t.set_idempotency_key(name);
    return t;
  }

  std::unique_ptr<db::testing::TestDatabase> tdb_;
  fs::path root_;
  std::string prefix_, gsi_, gsi_dir_;
  std::unique_ptr<metrics::Metrics> metrics_;
};

TEST_F(UserCredentialCopiesTest, ProxyFilesAreWrittenPrivatelyRenewedAndRemoved) {
  db::PgCredentialRepository repo(tdb_->db());
  FakeClock clock(absl::Now());
  const std::string dir = (root_ / "proxies").string();
  std::string path;
  {
    fts_adapter::UserCredentials proxies(repo, *auth::CredentialCipher::FromKeyText(kKey), {.dir = dir},
                                         clock);
    ASSERT_TRUE(proxies.Init().ok());
    EXPECT_EQ(fs::status(dir).permissions() & fs::perms::all, fs::perms::owner_all);

    auto none = proxies.For("alice");
    EXPECT_TRUE(absl::IsFailedPrecondition(none.status())) << none.status();
    EXPECT_THAT(none.status().message(), HasSubstr("alice has not delegated a credential to ASO"));

    const std::string first = Delegate("alice");
    auto file = proxies.For("alice");
    ASSERT_TRUE(file.ok()) << file.status();
    path = file->proxy_file;
    EXPECT_EQ(ReadFile(path), first);
    EXPECT_EQ(fs::status(path).permissions() & fs::perms::all,
              fs::perms::owner_read | fs::perms::owner_write);

    // A new delegation is picked up once the stored value is read again.
    const std::string second = Delegate("alice");
    ASSERT_NE(first, second);
    EXPECT_EQ(ReadFile(proxies.For("alice")->proxy_file), first);
    clock.AdvanceTime(absl::Seconds(31));
    EXPECT_EQ(proxies.For("alice")->proxy_file, path);
    EXPECT_EQ(ReadFile(path), second);

    // Expiry: 12 h proxies do not last 13 h.
    clock.AdvanceTime(absl::Hours(13));
    auto expired = proxies.For("alice");
    EXPECT_TRUE(absl::IsFailedPrecondition(expired.status())) << expired.status();
    EXPECT_THAT(expired.status().message(), HasSubstr("alice's delegated credential expired at"));
  }
  EXPECT_FALSE(fs::exists(path)) << "the proxy file outlived its UserCredentials";

  // A key other than the one the credentials were sealed with opens nothing, and says so without content.
  fts_adapter::UserCredentials wrong_key(repo, *auth::CredentialCipher::FromKeyText(std::string(64, 'f')),
                                         {.dir = dir}, RealClock::Get());
  ASSERT_TRUE(wrong_key.Init().ok());
  auto refused = wrong_key.For("alice");
  EXPECT_TRUE(absl::IsDataLoss(refused.status())) << refused.status();
  EXPECT_THAT(std::string(refused.status().message()), Not(HasSubstr("BEGIN")));
}

// The adapter's copy worker in --user_credentials mode: alice's file is written as alice into her folder;
// bob's file aimed at alice's folder is refused by the site (his own proxy is used, not a service
// credential that could write anywhere); carol, who never delegated, gets no copy at all.
TEST_F(UserCredentialCopiesTest, EachCopyRunsAsItsOwner) {
  Delegate("alice");
  Delegate("bob");
  db::PgTransferRepository transfers(tdb_->db());
  // One submission per user (a batch belongs to one task and its owner).
  ASSERT_TRUE(transfers.InsertBatch({Transfer("alice", "a.root", "alice")}, absl::Now()).ok());
  ASSERT_TRUE(
      transfers
          .InsertBatch({Transfer("bob", "b.root", "alice"), Transfer("bob", "b2.root", "bob")}, absl::Now())
          .ok());
  ASSERT_TRUE(transfers.InsertBatch({Transfer("carol", "c.root", "carol")}, absl::Now()).ok());
  db::PgSchedulingRepository scheduling(tdb_->db());
  db::PgBackendJobRepository jobs(tdb_->db());
  auto pending = scheduling.ClaimForLink(
      "LOCAL_SRC", "T2_GSI", db::ClaimLimits{10, 10, 10, "", 0}, absl::Now(),
      [](const std::vector<db::ClaimedFile>& f) { return scheduler::PlanJobs(f, scheduler::JobLimits{}); });
  ASSERT_TRUE(pending.ok()) << pending.status();
  for (const auto& pj : *pending)
    ASSERT_TRUE(jobs.InsertJob(scheduler::JobMessage(pj), "gfal2", absl::Now()).ok());
  // The GSI site moves files with their owners' credentials (its own setting; the deployment's is the
  // service's). Set after the claim, which would have held carol: the copy worker's refusal is under test.
  tdb_->Exec("UPDATE sites SET credentials = 'owner' WHERE name = 'T2_GSI'");

  db::PgCredentialRepository repo(tdb_->db());
  fts_adapter::UserCredentials proxies(repo, *auth::CredentialCipher::FromKeyText(kKey),
                                       {.dir = (root_ / "proxies").string()}, RealClock::Get());
  ASSERT_TRUE(proxies.Init().ok());
  auto copier = backend::NewGfal2Copier({});
  ASSERT_TRUE(copier.ok()) << copier.status();
  fts_adapter::CopyWorkerConfig config{"test-worker", absl::Seconds(60)};
  config.user_credentials = &proxies;
  fts_adapter::CopyWorker worker(jobs, std::move(*copier), RealClock::Get(), config, *metrics_);
  int copied = 0;
  while (*worker.RunOnce()) ++copied;
  EXPECT_EQ(copied, 4);

  auto outcome = [&](const std::string& key) {
    return tdb_->QueryText(absl::StrCat(
        "SELECT f.state || ' ' || f.failure_class || ' ' || f.recoverable FROM backend_job_files f "
        "JOIN transfers t ON t.id = f.transfer_id WHERE t.idempotency_key = '",
        key, "'"));
  };
  EXPECT_EQ(outcome("a.root"), "FINISHED  false");
  EXPECT_EQ(ReadFile(absl::StrCat(gsi_dir_, "/alice/", prefix_, "/a.root")), "alice's a.root");
  EXPECT_EQ(outcome("b.root"), "FAILED DESTINATION_PERMISSION false");
  EXPECT_FALSE(fs::exists(absl::StrCat(gsi_dir_, "/alice/", prefix_, "/b.root")));
  EXPECT_EQ(outcome("b2.root"), "FINISHED  false");
  EXPECT_EQ(ReadFile(absl::StrCat(gsi_dir_, "/bob/", prefix_, "/b2.root")), "bob's b2.root");
  EXPECT_EQ(outcome("c.root"), "FAILED CREDENTIAL_EXPIRED true");
  EXPECT_THAT(
      tdb_->QueryText("SELECT f.error FROM backend_job_files f JOIN transfers t ON t.id = f.transfer_id "
                      "WHERE t.idempotency_key = 'c.root'"),
      HasSubstr("carol has not delegated a credential to ASO"));
  EXPECT_FALSE(fs::exists(absl::StrCat(gsi_dir_, "/carol/", prefix_, "/c.root")));
}

// A user who delegated a renewable bearer token (and no proxy): when the access token runs short, ASO gets a
// new one from the issuer's token endpoint (the FTS3 fixture's /token, OAuth2 refresh_token grant) and
// stores it sealed with the rotated refresh token; a refresh token the issuer no longer honours gives a
// reason naming what to do, without any token in it. A user with a proxy and a token is served the proxy.
TEST_F(UserCredentialCopiesTest, TokensAreRenewedAtTheirIssuer) {
  const std::string endpoint = Env("ASO_TEST_FTS3");
  db::PgCredentialRepository repo(tdb_->db());
  auto cipher = auth::CredentialCipher::FromKeyText(kKey);
  auto store_token = [&](const std::string& user, const std::string& refresh, absl::Duration left) {
    const std::string value =
        absl::StrCat(R"({"access_token":"stale-token-of-)", user, R"(","refresh_token":")", refresh,
                     R"(","token_endpoint":")", endpoint, R"(/token","client_id":"aso-client"})");
    db::StoredCredential c{user,
                           "bearer_token",
                           "https://aso.dev-certs.invalid " + user,
                           absl::Now() + left,
                           absl::Now(),
                           cipher->Seal(value, user),
                           /*refreshable=*/true};
    ASSERT_TRUE(repo.Put(c, absl::Now()).ok());
  };
  store_token("tina", "rt-tina-1", -absl::Minutes(1));
  fts_adapter::UserCredentialsConfig config;
  config.dir = (root_ / "proxies").string();
  config.token_ca_file = Env("ASO_TEST_CERTS") + "/ca.pem";
  fts_adapter::UserCredentials credentials(repo, *cipher, config, RealClock::Get());
  ASSERT_TRUE(credentials.Init().ok());

  auto got = credentials.For("tina");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(got->proxy_file.empty());
  ASSERT_NE(got->bearer_token.find('.'), std::string::npos) << "a JWT from the issuer";
  EXPECT_NE(got->bearer_token, "stale-token-of-tina");
  EXPECT_GT(tdb_->QueryInt("SELECT extract(epoch FROM not_after - now())::int FROM user_credentials "
                           "WHERE username = 'tina'"),
            3000);
  auto sealed =
      cipher->Open(tdb_->QueryText("SELECT sealed FROM user_credentials WHERE username = 'tina'"), "tina");
  ASSERT_TRUE(sealed.ok());
  EXPECT_THAT(*sealed, HasSubstr(R"("refresh_token":"rt-tina-2")")) << "the rotated refresh token is kept";
  EXPECT_THAT(*sealed, HasSubstr(got->bearer_token));
  EXPECT_EQ(credentials.For("tina")->bearer_token, got->bearer_token) << "renewed once, not at every use";

  // An issuer that no longer honours the stored refresh token (used elsewhere since).
  store_token("tina", "rt-tina-1", -absl::Minutes(1));
  fts_adapter::UserCredentials later(repo, *cipher, config, RealClock::Get());
  auto refused = later.For("tina");
  EXPECT_TRUE(absl::IsFailedPrecondition(refused.status())) << refused.status();
  EXPECT_THAT(refused.status().message(), HasSubstr("the issuer refused to renew tina's token (HTTP 400, "
                                                    "invalid_grant: refresh token already used)"));
  EXPECT_THAT(std::string(refused.status().message()), Not(HasSubstr("rt-tina")));
  EXPECT_EQ(tdb_->QueryText("SELECT refreshable FROM user_credentials WHERE username = 'tina'"), "f")
      << "a refused token is no longer counted as renewable (the scheduler holds tina's files)";

  // An issuer answering with another user's token: not taken.
  store_token("tom", "rt-uma-1", -absl::Minutes(1));
  auto other = later.For("tom");
  EXPECT_TRUE(absl::IsFailedPrecondition(other.status())) << other.status();
  EXPECT_THAT(other.status().message(),
              HasSubstr("answered with a token of https://aso.dev-certs.invalid uma, not "
                        "of https://aso.dev-certs.invalid tom"));

  // A proxy that lasts comes first.
  Delegate("alice");
  store_token("alice", "rt-alice-1", absl::Hours(1));
  auto alice = later.For("alice");
  ASSERT_TRUE(alice.ok()) << alice.status();
  EXPECT_FALSE(alice->proxy_file.empty());
  EXPECT_TRUE(alice->bearer_token.empty());
}

}  // namespace
}  // namespace aso
