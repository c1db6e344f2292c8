// The gfal2 backend's copier against a real XRootD site (the FTS3 fixture's site B) and local folders:
// file -> root -> file copies with adler32 checked on both ends, the overwrite policy, source deletion,
// cancelling a running file -> root copy, the classification of its failures, and copies with users' own
// proxies to the fixture's GSI site C, which lets user U write below /data/user/U only.
#include "libs/backend/gfal2_copier.h"

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "libs/auth/testing/dev_pki.h"
#include "libs/common/adler32.h"
#include "libs/transfer/failure_classifier.h"

namespace aso::backend {
namespace {

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? "" : v;
}

std::string Read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class Gfal2CopierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string endpoint = Env("ASO_TEST_FTS3");
    const std::string dir = Env("ASO_TEST_FTS3_DIR");
    ASSERT_FALSE(endpoint.empty() || dir.empty()) << "run through ctest (fixture fts3)";
    const int port = std::stoi(endpoint.substr(endpoint.rfind(':') + 1));
    prefix_ = absl::StrCat("g", absl::ToUnixNanos(absl::Now()));
    site_ = absl::StrCat("root://127.0.0.1:", port + 2, "//data/", prefix_);
    https_ = absl::StrCat("davs://127.0.0.1:", port + 3, "/data/", prefix_);  // the same site over WebDAV
    site_dir_ = absl::StrCat(dir, "/site-b/root/data/", prefix_);
    local_ = absl::StrCat(::testing::TempDir(), "/", prefix_);
    std::filesystem::create_directories(local_);
    auto copier = NewGfal2Copier({});
    ASSERT_TRUE(copier.ok()) << copier.status();
    copier_ = std::move(*copier);
  }
  void TearDown() override { std::filesystem::remove_all(local_); }

  // A local source file with `content`, and its request to `destination`.
  CopyRequest Request(const std::string& name, const std::string& content, const std::string& destination) {
    const std::string path = absl::StrCat(local_, "/", name);
    std::ofstream(path, std::ios::binary) << content;
    CopyRequest r;
    r.source_url = "file://" + path;
    r.destination_url = destination;
    r.size_bytes = static_cast<int64_t>(content.size());
    r.checksum = absl::StrCat("adler32:", FormatAdler32(Adler32OfFile(path).value_or(0)));
    return r;
  }
  transfer::Classification Classify(const CopyResult& r) {
    return transfer::ClassifyFailure(r.scope, r.error_number, r.error);
  }

  std::string prefix_, site_, https_, site_dir_, local_;
  std::unique_ptr<Copier> copier_;
};

TEST_F(Gfal2CopierTest, FileToRootToFileVerifiesChecksums) {
  const std::string content(300000, 'q');
  CopyRequest up = Request("a.root", content, site_ + "/sub/dir/a.root");
  CopyResult r = copier_->Copy(up);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.bytes, 300000);
  EXPECT_EQ(r.checksum, up.checksum);
  EXPECT_EQ(Read(site_dir_ + "/sub/dir/a.root"), content);  // parent folders created

  CopyRequest down;
  down.source_url = up.destination_url;
  down.destination_url = absl::StrCat("file://", local_, "/back/a.root");
  down.checksum = up.checksum;
  r = copier_->Copy(down);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(Read(absl::StrCat(local_, "/back/a.root")), content);
}

// HTTPS/WebDAV endpoints (XRootD's XrdHttp with TLS): file -> davs, davs -> file and root -> davs through
// gfalt_copy_file, adler32 checked on both ends; overwrite policy and deletion over WebDAV.
TEST_F(Gfal2CopierTest, HttpsWebDavEndpoints) {
  const std::string content(200000, 'w');
  CopyRequest up = Request("h.root", content, https_ + "/web/h.root");
  CopyResult r = copier_->Copy(up);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.checksum, up.checksum);
  EXPECT_EQ(Read(site_dir_ + "/web/h.root"), content);

  CopyRequest down;
  down.source_url = up.destination_url;
  down.destination_url = absl::StrCat("file://", local_, "/from-web/h.root");
  down.checksum = up.checksum;
  r = copier_->Copy(down);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(Read(absl::StrCat(local_, "/from-web/h.root")), content);

  CopyRequest across;
  across.source_url = site_ + "/web/h.root";  // the root:// view of the same file
  across.destination_url = https_ + "/web/h2.root";
  across.checksum = up.checksum;
  r = copier_->Copy(across);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(Read(site_dir_ + "/web/h2.root"), content);

  CopyRequest other = Request("h3.root", "something else", https_ + "/web/h.root");
  other.overwrite = false;
  r = copier_->Copy(other);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(Classify(r).failure_class, common::v1::FAILURE_CLASS_DESTINATION_EXISTS) << r.error;
  EXPECT_EQ(Read(site_dir_ + "/web/h.root"), content);

  EXPECT_TRUE(copier_->Delete(https_ + "/web/h2.root", {}).ok());
  EXPECT_FALSE(std::filesystem::exists(site_dir_ + "/web/h2.root"));
  EXPECT_TRUE(absl::IsNotFound(copier_->Delete(https_ + "/web/h2.root", {})));

  CopyRequest missing;
  missing.source_url = https_ + "/web/never-written.root";
  missing.destination_url = absl::StrCat("file://", local_, "/from-web/missing.root");
  r = copier_->Copy(missing);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(Classify(r).failure_class, common::v1::FAILURE_CLASS_SOURCE) << r.error;
  EXPECT_FALSE(Classify(r).recoverable);
}

TEST_F(Gfal2CopierTest, OverwritePolicy) {
  CopyRequest first = Request("o.root", "first version", site_ + "/o.root");
  ASSERT_TRUE(copier_->Copy(first).ok);

  // Without overwrite another file at the destination stays, and the failure is final.
  CopyRequest other = Request("o2.root", "another file entirely", site_ + "/o.root");
  other.overwrite = false;
  CopyResult r = copier_->Copy(other);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error_number, EEXIST) << r.error;
  EXPECT_EQ(Classify(r).failure_class, common::v1::FAILURE_CLASS_DESTINATION_EXISTS) << r.error;
  EXPECT_FALSE(Classify(r).recoverable);
  EXPECT_EQ(Read(site_dir_ + "/o.root"), "first version");

  // The same file already there (a copy done before a crash) counts as copied.
  first.overwrite = false;
  r = copier_->Copy(first);
  EXPECT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.checksum, first.checksum);

  // With overwrite it is replaced.
  other.overwrite = true;
  r = copier_->Copy(other);
  EXPECT_TRUE(r.ok) << r.error;
  EXPECT_EQ(Read(site_dir_ + "/o.root"), "another file entirely");

  EXPECT_TRUE(MayOverwrite(OverwritePolicy::kAlways, 1));
  EXPECT_FALSE(MayOverwrite(OverwritePolicy::kRetries, 1));
  EXPECT_TRUE(MayOverwrite(OverwritePolicy::kRetries, 2));
  EXPECT_FALSE(MayOverwrite(OverwritePolicy::kNever, 3));
  EXPECT_EQ(*ParseOverwritePolicy("retries"), OverwritePolicy::kRetries);
  EXPECT_TRUE(absl::IsInvalidArgument(ParseOverwritePolicy("sometimes").status()));
}

TEST_F(Gfal2CopierTest, DeleteRemovesASourceOnce) {
  CopyRequest r = Request("d.root", "to be cleaned up", site_ + "/d.root");
  ASSERT_TRUE(copier_->Copy(r).ok);
  EXPECT_TRUE(copier_->Delete(r.destination_url, {}).ok());
  EXPECT_FALSE(std::filesystem::exists(site_dir_ + "/d.root"));
  EXPECT_TRUE(absl::IsNotFound(copier_->Delete(r.destination_url, {})));
  EXPECT_TRUE(copier_->Delete(r.source_url, {}).ok());
  EXPECT_FALSE(std::filesystem::exists(absl::StrCat(local_, "/d.root")));
  EXPECT_TRUE(absl::IsInvalidArgument(copier_->Delete("file://" + local_, {})));  // a directory
}

TEST_F(Gfal2CopierTest, ARunningFileToRootCopyIsCancelled) {
  CopyRequest r = Request("big.root", std::string(32 << 20, 'b'), site_ + "/big.root");
  int calls = 0;
  r.progress = [&](int64_t) { return ++calls < 2; };
  CopyResult result = copier_->Copy(r);
  EXPECT_FALSE(result.ok);
  EXPECT_EQ(result.error_number, ECANCELED) << result.error;
  EXPECT_EQ(calls, 2);
  EXPECT_FALSE(std::filesystem::exists(site_dir_ + "/big.root"));  // no partial file left
}

TEST_F(Gfal2CopierTest, ACopyPastItsTimeoutStopsAndMayBeRetried) {
  CopyRequest r = Request("slow.root", std::string(32 << 20, 's'), site_ + "/slow.root");
  r.timeout = absl::Nanoseconds(1);
  CopyResult result = copier_->Copy(r);
  EXPECT_FALSE(result.ok);
  EXPECT_EQ(Classify(result).failure_class, common::v1::FAILURE_CLASS_TIMEOUT) << result.error;
  EXPECT_TRUE(Classify(result).recoverable);
  EXPECT_FALSE(std::filesystem::exists(site_dir_ + "/slow.root"));
}

TEST_F(Gfal2CopierTest, FailuresAreClassified) {
  CopyRequest missing;
  missing.source_url = absl::StrCat("file://", local_, "/never-written.root");
  missing.destination_url = site_ + "/missing.root";
  CopyResult r = copier_->Copy(missing);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(Classify(r).failure_class, common::v1::FAILURE_CLASS_SOURCE) << r.error;
  EXPECT_FALSE(Classify(r).recoverable);

  CopyRequest corrupt = Request("c.root", "the data the job wrote", site_ + "/c.root");
  corrupt.checksum = "adler32:0badc0de";  // the job declared another file
  r = copier_->Copy(corrupt);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(Classify(r).failure_class, common::v1::FAILURE_CLASS_CHECKSUM) << r.error;
  EXPECT_FALSE(std::filesystem::exists(site_dir_ + "/c.root"));

  CopyRequest down = Request("u.root", "x", "root://127.0.0.1:1//data/u.root");  // nothing listens
  down.timeout = absl::Seconds(20);
  r = copier_->Copy(down);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(Classify(r).failure_class, common::v1::FAILURE_CLASS_NETWORK) << r.error;
  EXPECT_TRUE(Classify(r).recoverable) << r.error;
}

// A proxy file for `user` as ASO stores a delegated one: a fresh key, and a proxy certificate for it signed
// by the user's certificate (the dev PKI's CERTS/<user>.pem and .key), mode 0600 as XRootD requires.
std::string UserProxyFile(const std::string& user, const std::string& dir) {
  auto proxy = auth::testing::DelegatedProxyOf(Env("ASO_TEST_CERTS"), user, absl::Hours(2));
  EXPECT_TRUE(proxy.ok()) << proxy.status();
  const std::string path = absl::StrCat(dir, "/", user, ".proxy");
  std::ofstream(path, std::ios::binary) << proxy->proxy_pem;
  std::filesystem::permissions(path,
                               std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  return path;
}

// Each copy authenticates with its owner's proxy: alice writes into her folder of the GSI site, bob is
// refused there (the site knows him by his DN) but writes into his own, one copier alternating between
// them (XRootD keeps a connection per proxy file: none authenticated as one user serves the other);
// without a proxy the site refuses the copy, and reads back work with the owner's proxy.
TEST_F(Gfal2CopierTest, CopiesAuthenticateWithTheOwnersProxy) {
  ASSERT_FALSE(Env("ASO_TEST_CERTS").empty()) << "run through ctest (fixture certs)";
  const std::string endpoint = Env("ASO_TEST_FTS3");
  const int port = std::stoi(endpoint.substr(endpoint.rfind(':') + 1));
  const std::string gsi = absl::StrCat("root://localhost:", port + 4, "//data/user");
  const std::string gsi_dir = absl::StrCat(Env("ASO_TEST_FTS3_DIR"), "/site-c/root/data/user");
  const std::string alice = UserProxyFile("alice", local_), bob = UserProxyFile("bob", local_);

  // First, before this process used any proxy: XRootD's GSI client, once it loaded one, authenticates a
  // later connection made without a proxy with it (seen: a copy without a proxy logged in as bob). So an
  // adapter that copies with users' proxies never copies without one (copy_worker.cc).
  CopyRequest anonymous = Request("n.root", "no proxy", absl::StrCat(gsi, "/alice/", prefix_, "/n.root"));
  CopyResult r = copier_->Copy(anonymous);
  EXPECT_FALSE(r.ok) << "a copy without a proxy reached the GSI-only site";

  CopyRequest mine = Request("a1.root", "alice's data", absl::StrCat(gsi, "/alice/", prefix_, "/a1.root"));
  mine.source_credential.proxy_file = mine.destination_credential.proxy_file = alice;
  r = copier_->Copy(mine);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.checksum, mine.checksum);
  EXPECT_EQ(Read(absl::StrCat(gsi_dir, "/alice/", prefix_, "/a1.root")), "alice's data");

  CopyRequest intruder = Request("b1.root", "bob's data", absl::StrCat(gsi, "/alice/", prefix_, "/b1.root"));
  intruder.source_credential.proxy_file = intruder.destination_credential.proxy_file = bob;
  r = copier_->Copy(intruder);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(Classify(r).failure_class, common::v1::FAILURE_CLASS_DESTINATION_PERMISSION) << r.error;
  EXPECT_FALSE(std::filesystem::exists(absl::StrCat(gsi_dir, "/alice/", prefix_, "/b1.root")));

  CopyRequest his = Request("b2.root", "bob's data", absl::StrCat(gsi, "/bob/", prefix_, "/b2.root"));
  his.source_credential.proxy_file = his.destination_credential.proxy_file = bob;
  r = copier_->Copy(his);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(Read(absl::StrCat(gsi_dir, "/bob/", prefix_, "/b2.root")), "bob's data");

  // Back to alice on the same copier: her copy is hers again, and bob's proxy no longer writes there.
  CopyRequest again =
      Request("a2.root", "more of alice's", absl::StrCat(gsi, "/alice/", prefix_, "/a2.root"));
  again.source_credential.proxy_file = again.destination_credential.proxy_file = alice;
  r = copier_->Copy(again);
  ASSERT_TRUE(r.ok) << r.error;
  intruder.source_credential.proxy_file = intruder.destination_credential.proxy_file = bob;
  r = copier_->Copy(intruder);
  EXPECT_FALSE(r.ok) << "bob wrote into alice's folder";

  // Deletions too run as the owner: bob cannot remove alice's file, alice can.
  EXPECT_TRUE(absl::IsPermissionDenied(copier_->Delete(again.destination_url, {bob})));
  EXPECT_TRUE(std::filesystem::exists(absl::StrCat(gsi_dir, "/alice/", prefix_, "/a2.root")));
  EXPECT_TRUE(copier_->Delete(again.destination_url, {alice}).ok());
  EXPECT_FALSE(std::filesystem::exists(absl::StrCat(gsi_dir, "/alice/", prefix_, "/a2.root")));

  CopyRequest down;
  down.source_url = mine.destination_url;
  down.destination_url = absl::StrCat("file://", local_, "/from-gsi/a1.root");
  down.checksum = mine.checksum;
  down.source_credential.proxy_file = down.destination_credential.proxy_file = alice;
  r = copier_->Copy(down);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(Read(absl::StrCat(local_, "/from-gsi/a1.root")), "alice's data");
}

// A bearer token the GSI site's HTTPS side issued to `user` (a macaroon, asked for with the user's
// certificate) for everything below `path`, valid 30 minutes.
std::string SiteToken(const std::string& https, const std::string& user, const std::string& path,
                      const std::string& dir) {
  const std::string certs = Env("ASO_TEST_CERTS");
  const std::string out = absl::StrCat(dir, "/", user, ".macaroon.json");
  const std::string cmd = absl::StrCat(
      "curl -sf --cacert ", certs, "/ca.pem --cert ", certs, "/", user, ".pem --key ", certs, "/", user,
      ".key -X POST -H 'Content-Type: application/macaroon-request' -d '{\"caveats\": [\"activity:DOWNLOAD,"
      "UPLOAD,READ_METADATA,MANAGE,LIST,DELETE\"], \"validity\": \"PT30M\"}' ",
      https, path, " -o ", out);
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
  const std::string body = Read(out);
  const size_t key = body.find("\"macaroon\"");
  const size_t open = body.find('"', body.find(':', key) + 1);
  return body.substr(open + 1, body.find('"', open + 1) - open - 1);
}

// Copies with a bearer token (the owner's delegated token in --user_credentials mode): gfal2 sends it to
// the storage, which authorizes by it: alice's token writes below her folder of the site's HTTPS side,
// reads back and deletes there, and is refused in bob's folder; without it, nothing is written or deleted.
TEST_F(Gfal2CopierTest, CopiesCarryTheOwnersToken) {
  ASSERT_FALSE(Env("ASO_TEST_CERTS").empty()) << "run through ctest (fixture certs)";
  const std::string endpoint = Env("ASO_TEST_FTS3");
  const int port = std::stoi(endpoint.substr(endpoint.rfind(':') + 1));
  const std::string https = absl::StrCat("https://localhost:", port + 5);
  const std::string davs = absl::StrCat("davs://localhost:", port + 5, "/data/user");
  const std::string site_dir = absl::StrCat(Env("ASO_TEST_FTS3_DIR"), "/site-c/root/data/user");
  const std::string token = SiteToken(https, "alice", "/data/user/alice/", local_);
  ASSERT_GT(token.size(), 100u) << token;
  // As the adapter's copiers run with users' credentials: no connection outlives its request (the site
  // would take a later request on it as the first one's holder).
  Gfal2Options options;
  options.http_keep_alive = false;
  auto per_request = NewGfal2Copier(options);
  ASSERT_TRUE(per_request.ok()) << per_request.status();
  copier_ = *std::move(per_request);

  CopyRequest up = Request("t.root", "alice's token copy", absl::StrCat(davs, "/alice/", prefix_, "/t.root"));
  CopyRequest anonymous = up;
  CopyResult r = copier_->Copy(anonymous);
  EXPECT_FALSE(r.ok) << "a copy without the token wrote to the site";
  up.source_credential.bearer_token = up.destination_credential.bearer_token = token;
  r = copier_->Copy(up);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.checksum, up.checksum);
  EXPECT_EQ(Read(absl::StrCat(site_dir, "/alice/", prefix_, "/t.root")), "alice's token copy");

  CopyRequest elsewhere = Request("b.root", "not bob's", absl::StrCat(davs, "/bob/", prefix_, "/b.root"));
  elsewhere.source_credential.bearer_token = elsewhere.destination_credential.bearer_token = token;
  r = copier_->Copy(elsewhere);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(Classify(r).failure_class, common::v1::FAILURE_CLASS_DESTINATION_PERMISSION) << r.error;
  EXPECT_FALSE(std::filesystem::exists(absl::StrCat(site_dir, "/bob/", prefix_, "/b.root")));

  CopyRequest down;
  down.source_url = up.destination_url;
  down.destination_url = absl::StrCat("file://", local_, "/from-token/t.root");
  down.checksum = up.checksum;
  down.source_credential.bearer_token = down.destination_credential.bearer_token = token;
  r = copier_->Copy(down);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(Read(absl::StrCat(local_, "/from-token/t.root")), "alice's token copy");
  EXPECT_FALSE(copier_->Delete(up.destination_url, {}).ok()) << "deleted without the token";
  EXPECT_TRUE(copier_->Delete(up.destination_url, {.bearer_token = token}).ok());
  EXPECT_FALSE(std::filesystem::exists(absl::StrCat(site_dir, "/alice/", prefix_, "/t.root")));
}

}  // namespace
}  // namespace aso::backend
