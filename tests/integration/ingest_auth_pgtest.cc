// aso-ingest served over real TLS (the PKI of scripts/dev-certs, tokens from the test signer) on a real
// PostgreSQL: who may call what (each role, each RPC, own and other's transfers), refused credentials,
// the bad-input table, quotas, retries, LFN rules and WatchTask. Every refusal asserts its exact status
// and that the database did not change.
#include <array>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "libs/auth/authenticator.h"
#include "libs/auth/credentials.h"
#include "libs/auth/testing/jwt_signer.h"
#include "libs/db/site_repository.h"
#include "libs/db/testing/test_database.h"
#include "libs/db/transfer_repository.h"
#include "services/ingest/ingest_service.h"

namespace aso::ingest {
namespace {
using ::testing::HasSubstr;
namespace cv1 = aso::common::v1;

std::string Certs() {
  const char* dir = std::getenv("ASO_TEST_CERTS");
  return dir != nullptr ? dir : "";
}

class IngestAuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(Certs().empty()) << "ASO_TEST_CERTS is not set (run through ctest)";
    auto t = db::testing::TestDatabase::Create();
    ASSERT_TRUE(t.ok()) << t.status();
    tdb_ = std::move(*t);
    transfers_ = std::make_unique<db::PgTransferRepository>(tdb_->db());
    sites_ = std::make_unique<db::PgSiteRepository>(tdb_->db());
    AddSite("T2_SRC", {"root://src.example//store/"}, cv1::SITE_STATE_ENABLED,
            {{"root", "/store/(.*)", "root://src.example//store/\\1"}});
    AddSite("T2_DST", {"root://dst.example//store/", "davs://dst.example:443/store/"},
            cv1::SITE_STATE_ENABLED,
            {{"root", "/store/user/(.*)", "root://dst.example//store/user/\\1"},
             {"davs", "/store/(.*)", "davs://dst.example:443/store/\\1"}});
    AddSite("T2_BANNED", {"root://banned.example//"}, cv1::SITE_STATE_BANNED, {});
    key_ = auth::testing::GenerateEcKey();
    auth::AuthConfig config;
    config.ca_file = Certs() + "/ca.pem";
    config.gridmap_file = Certs() + "/gridmap";
    config.admins = {"admin"};
    config.services = {"aso-service"};
    auth::JwtConfig jwt;
    jwt.public_key_pems = {key_.public_pem};
    jwt.issuers = {"https://iam.example"};
    jwt.audience = "aso";
    config.jwt = jwt;
    auto a = auth::Authenticator::Create(config);
    ASSERT_TRUE(a.ok()) << a.status();
    auth_ = std::move(*a);
    metrics_ = std::move(*metrics::Metrics::Start("ingest", ""));
    IngestLimits limits;
    limits.user_max_live_files = 40;
    limits.watch_poll = absl::Milliseconds(50);
    Serve(limits);
  }
  void TearDown() override {
    if (service_) service_->StopWatches();
    if (server_) server_->Shutdown();
  }

  void Serve(IngestLimits limits) {
    if (server_) {
      service_->StopWatches();
      server_->Shutdown();
    }
    SubmissionLimits submission;
    submission.max_files = 10;
    service_ =
        std::make_unique<IngestService>(*transfers_, *sites_, clock_, submission, *metrics_, *auth_, limits);
    auth::ServerTlsConfig tls;
    tls.cert_file = Certs() + "/server.pem";
    tls.key_file = Certs() + "/server.key";
    tls.ca_file = Certs() + "/ca.pem";
    auto creds = auth::MakeServerCredentials(tls, "127.0.0.1:0");
    ASSERT_TRUE(creds.ok()) << creds.status();
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", *creds, &port_);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
  }

  void AddSite(const std::string& name, const std::vector<std::string>& prefixes, cv1::SiteState state,
               std::vector<std::array<std::string, 3>> rules) {
    cv1::Site s;
    s.set_name(name);
    s.set_state(state);
    for (const auto& p : prefixes) s.add_url_prefixes(p);
    for (const auto& [protocol, match, pfn] : rules) {
      auto* r = s.add_lfn_rules();
      r->set_protocol(protocol);
      r->set_match(match);
      r->set_pfn(pfn);
    }
    ASSERT_TRUE(sites_->Upsert(s, clock_.Now()).ok());
  }

  // A client: "alice", "bob", "admin", "aso-service", "mallory" (certificate), "alice-proxy",
  // "token:<payload json>" or "none".
  std::unique_ptr<v1::Ingest::Stub> Client(const std::string& who) {
    auth::ClientAuthConfig c;
    c.ca_file = Certs() + "/ca.pem";
    if (who == "alice-proxy") {
      c.proxy_file = Certs() + "/alice-proxy.pem";
    } else if (absl::StartsWith(who, "token:")) {
      c.token = auth::testing::SignJwt(key_, who.substr(6));
    } else if (who != "none") {
      c.cert_file = Certs() + "/" + who + ".pem";
      c.key_file = Certs() + "/" + who + ".key";
    }
    auto a = auth::ClientAuth::Create(c);
    EXPECT_TRUE(a.ok()) << a.status();
    client_auth_[who] = *a;
    return v1::Ingest::NewStub((*a)->Channel(absl::StrCat("localhost:", port_)));
  }
  std::string Token(const std::string& sub, int64_t exp_from_now = 600, const std::string& aud = "aso") {
    return absl::StrCat("token:{\"iss\":\"https://iam.example\",\"sub\":\"", sub, "\",\"aud\":\"", aud,
                        "\",\"exp\":", absl::ToUnixSeconds(absl::Now()) + exp_from_now, "}");
  }
  void Prepare(grpc::ClientContext& ctx, const std::string& who) {
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    if (auto it = client_auth_.find(who); it != client_auth_.end()) it->second->Apply(ctx);
  }

  v1::SubmitTransfersRequest Request(const std::string& task, const std::string& user, int files,
                                     const std::string& tag = "f") {
    v1::SubmitTransfersRequest req;
    req.set_task_id(task);
    req.set_user(user);
    for (int i = 0; i < files; ++i) {
      auto* f = req.add_files();
      f->set_source_url(absl::StrCat("root://src.example//store/temp/", task, "/", tag, i));
      f->set_destination_url(absl::StrCat("root://dst.example//store/user/", task, "/", tag, i));
      f->set_size_bytes(100);
    }
    return req;
  }
  grpc::Status Submit(const std::string& who, const v1::SubmitTransfersRequest& req,
                      v1::SubmitTransfersResponse* resp = nullptr) {
    auto stub = Client(who);
    grpc::ClientContext ctx;
    Prepare(ctx, who);
    v1::SubmitTransfersResponse ignored;
    return stub->SubmitTransfers(&ctx, req, resp != nullptr ? resp : &ignored);
  }
  // Everything a refused call must leave as it was.
  std::string Fingerprint() {
    return tdb_->QueryText(
        "SELECT count(*) || '/' || COALESCE(sum(hashtext(id || state || attempt || kill_requested || "
        "failure_reason)), 0) || '/' || (SELECT count(*) FROM tasks) FROM transfers");
  }

  FakeClock clock_;
  std::unique_ptr<db::testing::TestDatabase> tdb_;
  std::unique_ptr<db::PgTransferRepository> transfers_;
  std::unique_ptr<db::PgSiteRepository> sites_;
  auth::testing::TestKey key_;
  std::unique_ptr<auth::Authenticator> auth_;
  std::unique_ptr<metrics::Metrics> metrics_;
  std::unique_ptr<IngestService> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::map<std::string, std::shared_ptr<auth::ClientAuth>> client_auth_;
};

// Each caller against each RPC on its own and on another user's task and transfer.
TEST_F(IngestAuthTest, AuthorizationMatrix) {
  v1::SubmitTransfersResponse alice_ids, bob_ids;
  ASSERT_TRUE(Submit("alice", Request("task-alice", "", 2), &alice_ids).ok());
  ASSERT_TRUE(Submit("bob", Request("task-bob", "bob", 2), &bob_ids).ok());
  tdb_->Exec(absl::StrCat("UPDATE transfers SET state = 'FAILED' WHERE id IN (", alice_ids.transfer_ids(1),
                          ", ", bob_ids.transfer_ids(1), ")"));
  EXPECT_EQ(tdb_->QueryText("SELECT username FROM tasks WHERE task_id = 'task-alice'"), "alice");

  enum Rpc { kSubmit, kGet, kList, kSummary, kKill, kRetry, kWatch };
  const std::vector<std::pair<Rpc, std::string>> rpcs = {
      {kSubmit, "SubmitTransfers"}, {kGet, "GetTransfer"},    {kList, "ListTransfers"},
      {kSummary, "GetTaskSummary"}, {kKill, "KillTransfers"}, {kRetry, "RetryTransfers"},
      {kWatch, "WatchTask"}};
  // Calls `rpc` as `who` on bob's task (or, for Get/Kill/Retry by id, bob's transfer).
  auto call_on_bob = [&](const std::string& who, Rpc rpc, bool by_id) -> grpc::Status {
    auto stub = Client(who);
    grpc::ClientContext ctx;
    Prepare(ctx, who);
    switch (rpc) {
      case kSubmit: {
        v1::SubmitTransfersResponse r;
        return stub->SubmitTransfers(&ctx, Request("task-bob", "bob", 1, absl::StrCat("by-", who)), &r);
      }
      case kGet: {
        v1::GetTransferRequest req;
        req.set_id(bob_ids.transfer_ids(0));
        cv1::Transfer t;
        return stub->GetTransfer(&ctx, req, &t);
      }
      case kList: {
        v1::ListTransfersRequest req;
        req.set_user("bob");
        v1::ListTransfersResponse r;
        return stub->ListTransfers(&ctx, req, &r);
      }
      case kSummary: {
        v1::GetTaskSummaryRequest req;
        req.set_task_id("task-bob");
        cv1::TaskSummary r;
        return stub->GetTaskSummary(&ctx, req, &r);
      }
      case kKill: {
        v1::KillTransfersRequest req;
        if (by_id) {
          req.add_ids(bob_ids.transfer_ids(0));
        } else {
          req.set_task_id("task-bob");
        }
        v1::KillTransfersResponse r;
        return stub->KillTransfers(&ctx, req, &r);
      }
      case kRetry: {
        v1::RetryTransfersRequest req;
        if (by_id) {
          req.add_ids(bob_ids.transfer_ids(1));
        } else {
          req.set_task_id("task-bob");
        }
        v1::RetryTransfersResponse r;
        return stub->RetryTransfers(&ctx, req, &r);
      }
      case kWatch: {
        v1::WatchTaskRequest req;
        req.set_task_id("task-bob");
        auto reader = stub->WatchTask(&ctx, req);
        v1::TaskEvent e;
        if (reader->Read(&e)) {
          ctx.TryCancel();
          reader->Finish();
          return grpc::Status::OK;
        }
        return reader->Finish();
      }
    }
    return grpc::Status(grpc::StatusCode::INTERNAL, "unreachable");
  };

  // Another user, with a certificate, a grid proxy or a token: refused with PERMISSION_DENIED, and
  // nothing changes. Kill/Retry are tried also on bob's task by id.
  for (const std::string& who : {std::string("alice"), std::string("alice-proxy"), Token("alice")}) {
    for (const auto& [rpc, name] : rpcs) {
      for (bool by_id : {false, true}) {
        if (by_id && rpc != kKill && rpc != kRetry) continue;
        const std::string before = Fingerprint();
        grpc::Status s = call_on_bob(who, rpc, by_id);
        EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED)
            << who.substr(0, 20) << " " << name << (by_id ? " by id" : "") << ": " << s.error_message();
        EXPECT_EQ(Fingerprint(), before) << who.substr(0, 20) << " " << name;
      }
    }
  }
  // No credential, a foreign CA, and bad tokens: UNAUTHENTICATED, nothing changes.
  for (const std::string& who :
       {std::string("none"), std::string("mallory"), Token("bob", -3600),
        Token("bob", 600, "another-service"),
        std::string("token:{\"iss\":\"https://evil.example\",\"sub\":\"bob\",\"aud\":\"aso\","
                    "\"exp\":9999999999}")}) {
    for (const auto& [rpc, name] : rpcs) {
      const std::string before = Fingerprint();
      grpc::Status s = call_on_bob(who, rpc, false);
      EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED)
          << who.substr(0, 40) << " " << name << ": " << s.error_message();
      EXPECT_EQ(Fingerprint(), before);
    }
  }
  // A token signed by an unknown key.
  {
    auth::testing::TestKey forger = auth::testing::GenerateEcKey();
    auth::ClientAuthConfig c;
    c.ca_file = Certs() + "/ca.pem";
    c.token = auth::testing::SignJwt(
        forger, R"({"iss":"https://iam.example","sub":"bob","aud":"aso","exp":9999999999})");
    auto forged = *auth::ClientAuth::Create(c);
    auto stub = v1::Ingest::NewStub(forged->Channel(absl::StrCat("localhost:", port_)));
    grpc::ClientContext ctx;
    forged->Apply(ctx);
    v1::GetTaskSummaryRequest req;
    req.set_task_id("task-bob");
    cv1::TaskSummary r;
    grpc::Status s = stub->GetTaskSummary(&ctx, req, &r);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
    EXPECT_THAT(s.error_message(), HasSubstr("signature"));
  }
  // ASO's own services have the internal RPCs only.
  for (const auto& [rpc, name] : rpcs) {
    const std::string before = Fingerprint();
    grpc::Status s = call_on_bob("aso-service", rpc, false);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << "aso-service " << name;
    EXPECT_EQ(Fingerprint(), before);
  }
  // The owner and an admin may; bob with a token too.
  for (const std::string& who : {std::string("bob"), Token("bob"), std::string("admin")}) {
    for (const auto& [rpc, name] : rpcs) {
      for (bool by_id : {false, true}) {
        if (by_id && rpc != kKill && rpc != kRetry) continue;
        grpc::Status s = call_on_bob(who, rpc, by_id);
        EXPECT_TRUE(s.ok()) << who.substr(0, 20) << " " << name << (by_id ? " by id" : "") << ": "
                            << s.error_code() << " " << s.error_message();
      }
    }
  }
  // Own work with the proxy: alice's listing holds only alice's transfers.
  auto stub = Client("alice-proxy");
  grpc::ClientContext ctx;
  Prepare(ctx, "alice-proxy");
  v1::ListTransfersResponse mine;
  ASSERT_TRUE(stub->ListTransfers(&ctx, v1::ListTransfersRequest(), &mine).ok());
  ASSERT_EQ(mine.transfers_size(), 2);
  for (const auto& t : mine.transfers()) EXPECT_EQ(t.user(), "alice");
}

// Each bad request is refused with INVALID_ARGUMENT (or the status named) naming the field and file,
// and stores nothing.
TEST_F(IngestAuthTest, BadInputTable) {
  struct Case {
    std::string what;
    std::function<void(v1::SubmitTransfersRequest&)> spoil;
    grpc::StatusCode code;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"malformed URL", [](auto& r) { r.mutable_files(0)->set_source_url("not a url"); },
       grpc::StatusCode::INVALID_ARGUMENT, "files[0].source_url"},
      {"unknown scheme", [](auto& r) { r.mutable_files(1)->set_destination_url("ftp://dst.example/x"); },
       grpc::StatusCode::INVALID_ARGUMENT, "files[1].destination_url"},
      {"unknown site", [](auto& r) { r.mutable_files(0)->set_source_site("T2_NOWHERE"); },
       grpc::StatusCode::INVALID_ARGUMENT, "files[0].source_site: unknown site T2_NOWHERE"},
      {"banned site", [](auto& r) { r.mutable_files(0)->set_source_url("root://banned.example//x"); },
       grpc::StatusCode::INVALID_ARGUMENT, "site T2_BANNED is banned"},
      {"negative size", [](auto& r) { r.mutable_files(1)->set_size_bytes(-5); },
       grpc::StatusCode::INVALID_ARGUMENT, "files[1].size_bytes"},
      {"huge size", [](auto& r) { r.mutable_files(0)->set_size_bytes(int64_t{1} << 60); },
       grpc::StatusCode::INVALID_ARGUMENT, "files[0].size_bytes"},
      {"bad checksum", [](auto& r) { r.mutable_files(0)->set_checksum("adler32:xyz"); },
       grpc::StatusCode::INVALID_ARGUMENT, "files[0].checksum"},
      {"md5 checksum",
       [](auto& r) { r.mutable_files(0)->set_checksum("md5:00112233445566778899aabbccddeeff"); },
       grpc::StatusCode::INVALID_ARGUMENT, "files[0].checksum"},
      {"oversized metadata",
       [](auto& r) { (*r.mutable_files(0)->mutable_metadata())["k"] = std::string(20000, 'x'); },
       grpc::StatusCode::INVALID_ARGUMENT, "files[0].metadata"},
      {"empty batch", [](auto& r) { r.clear_files(); }, grpc::StatusCode::INVALID_ARGUMENT, "files is empty"},
      {"oversized batch",
       [](auto& r) {
         for (int i = 0; i < 9; ++i) *r.add_files() = r.files(0);
       },
       grpc::StatusCode::INVALID_ARGUMENT, "exceeds the limit of 10"},
      {"exact repeat in one batch", [](auto& r) { *r.mutable_files(1) = r.files(0); },
       grpc::StatusCode::INVALID_ARGUMENT, "files[1].destination_url: another file of this batch"},
      {"short checksum", [](auto& r) { r.mutable_files(0)->set_checksum("adler32:1a2b3c4"); },
       grpc::StatusCode::INVALID_ARGUMENT, "files[0].checksum: must be adler32: and 8 hex digits"},
      {"duplicate destination",
       [](auto& r) { r.mutable_files(1)->set_destination_url(r.files(0).destination_url()); },
       grpc::StatusCode::INVALID_ARGUMENT, "files[1].destination_url: another file of this batch"},
      {"LFN without site",
       [](auto& r) {
         r.mutable_files(0)->clear_source_url();
         r.mutable_files(0)->set_source_lfn("/store/temp/x");
       },
       grpc::StatusCode::INVALID_ARGUMENT, "files[0].source_site: is required with source_lfn"},
      {"LFN no rule matches",
       [](auto& r) {
         r.mutable_files(0)->clear_destination_url();
         r.mutable_files(0)->set_destination_lfn("/other/x");
         r.mutable_files(0)->set_destination_site("T2_DST");
       },
       grpc::StatusCode::INVALID_ARGUMENT, "files[0].destination_lfn: /other/x at site T2_DST: no LFN rule"},
      {"URL and LFN", [](auto& r) { r.mutable_files(0)->set_source_lfn("/store/x"); },
       grpc::StatusCode::INVALID_ARGUMENT, "give either source_url or source_lfn"},
      {"bad task id", [](auto& r) { r.set_task_id("task with spaces"); }, grpc::StatusCode::INVALID_ARGUMENT,
       "task_id may contain only"},
      {"deadline in the past", [](auto& r) { r.mutable_deadline()->set_seconds(1); },
       grpc::StatusCode::INVALID_ARGUMENT, "deadline is in the past"},
      {"another user", [](auto& r) { r.set_user("bob"); }, grpc::StatusCode::PERMISSION_DENIED,
       "alice may not submit for bob"},
  };
  ASSERT_TRUE(Submit("alice", Request("task-ok", "", 1)).ok());
  for (const auto& c : cases) {
    auto req = Request("task-1", "", 2);
    c.spoil(req);
    const std::string before = Fingerprint();
    grpc::Status s = Submit("alice", req);
    EXPECT_EQ(s.error_code(), c.code) << c.what << ": " << s.error_message();
    EXPECT_THAT(s.error_message(), HasSubstr(c.message)) << c.what;
    EXPECT_EQ(Fingerprint(), before) << c.what;
  }
  // A task belongs to its first submitter.
  const std::string before = Fingerprint();
  grpc::Status s = Submit("bob", Request("task-ok", "", 1, "b"));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(s.error_message(), HasSubstr("task task-ok belongs to another user"));
  EXPECT_EQ(Fingerprint(), before);
}

TEST_F(IngestAuthTest, BacklogAndRateQuotas) {
  // The backlog quota is 40 live files per user.
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(Submit("alice", Request("task-q", "", 10, absl::StrCat("b", i))).ok());
  }
  const std::string before = Fingerprint();
  grpc::Status s = Submit("alice", Request("task-q", "", 1, "over"));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(s.error_message(), HasSubstr("has 40 transfers in progress; the quota is 40"));
  EXPECT_EQ(Fingerprint(), before);
  EXPECT_TRUE(Submit("bob", Request("task-q-bob", "", 1)).ok());  // per user
  // A job repeating a call whose reply it lost gets its ids back even at the quota.
  const std::string before_repeat = Fingerprint();
  v1::SubmitTransfersResponse again;
  ASSERT_TRUE(Submit("alice", Request("task-q", "", 10, "b3"), &again).ok());
  EXPECT_EQ(again.created(), 0);
  EXPECT_EQ(Fingerprint(), before_repeat);
  // Finished transfers no longer count.
  tdb_->Exec("UPDATE transfers SET state = 'DONE' WHERE username = 'alice'");
  EXPECT_TRUE(Submit("alice", Request("task-q", "", 1, "after")).ok());

  IngestLimits rate;
  rate.user_files_per_second = 0.001;
  rate.user_burst_files = 15;
  Serve(rate);
  EXPECT_TRUE(Submit("bob", Request("task-r", "", 10, "r1")).ok());
  const std::string before_rate = Fingerprint();
  s = Submit("bob", Request("task-r", "", 10, "r2"));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(s.error_message(), HasSubstr("submits faster than"));
  EXPECT_EQ(Fingerprint(), before_rate);
}

TEST_F(IngestAuthTest, LfnRulesPublishAndDeadline) {
  v1::SubmitTransfersRequest req;
  req.set_task_id("task-lfn");
  req.mutable_max_time_in_queue()->set_seconds(3600);
  auto* f = req.add_files();
  f->set_source_lfn("/store/temp/user/alice/out_1.root");
  f->set_source_site("T2_SRC");
  f->set_destination_lfn("/store/user/alice/out_1.root");
  f->set_destination_site("T2_DST");
  f->set_publish(true);
  f->set_dataset("/Primary/alice-Processed-v1/USER");
  v1::SubmitTransfersResponse resp;
  grpc::Status s = Submit("alice", req, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  auto t = transfers_->Get(resp.transfer_ids(0), clock_.Now());
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->source().url(), "root://src.example//store/temp/user/alice/out_1.root");
  EXPECT_EQ(t->destination().url(), "root://dst.example//store/user/alice/out_1.root");
  EXPECT_EQ(t->destination().lfn(), "/store/user/alice/out_1.root");
  EXPECT_TRUE(t->publish());
  EXPECT_EQ(t->dataset(), "/Primary/alice-Processed-v1/USER");
  EXPECT_EQ(
      tdb_->QueryInt("SELECT extract(epoch from deadline)::bigint FROM tasks WHERE task_id = 'task-lfn'"),
      absl::ToUnixSeconds(clock_.Now()) + 3600);
  // Another protocol of the destination's rules.
  req.set_task_id("task-lfn-davs");
  req.clear_max_time_in_queue();
  req.mutable_files(0)->set_protocol("davs");  // for both ends: the source is given by URL here
  req.mutable_files(0)->clear_source_lfn();
  req.mutable_files(0)->clear_source_site();
  req.mutable_files(0)->set_source_url("root://src.example//store/temp/user/alice/out_1.root");
  s = Submit("alice", req, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(transfers_->Get(resp.transfer_ids(0), clock_.Now())->destination().url(),
            "davs://dst.example:443/store/user/alice/out_1.root");
}

TEST_F(IngestAuthTest, RetryGivesFailedAndKilledFilesAnotherGo) {
  v1::SubmitTransfersResponse ids;
  ASSERT_TRUE(Submit("alice", Request("task-retry", "", 3), &ids).ok());
  tdb_->Exec(
      absl::StrCat("UPDATE transfers SET state = 'FAILED', attempt = 3, failure_reason = 'gone' WHERE id = ",
                   ids.transfer_ids(0)));
  tdb_->Exec(
      absl::StrCat("UPDATE transfers SET state = 'KILLED', attempt = 1 WHERE id = ", ids.transfer_ids(1)));
  auto stub = Client("alice");
  grpc::ClientContext ctx;
  Prepare(ctx, "alice");
  v1::RetryTransfersRequest req;
  req.set_task_id("task-retry");
  v1::RetryTransfersResponse resp;
  ASSERT_TRUE(stub->RetryTransfers(&ctx, req, &resp).ok());
  EXPECT_EQ(resp.requeued(), 2);
  EXPECT_EQ(tdb_->QueryInt("SELECT count(*) FROM transfers WHERE state = 'QUEUED' AND failure_reason = ''"),
            3);
  EXPECT_EQ(tdb_->QueryInt(absl::StrCat("SELECT retry_base FROM transfers WHERE id = ", ids.transfer_ids(0))),
            3);
  EXPECT_EQ(tdb_->QueryInt("SELECT count(*) FROM transfer_queue"), 3);
  // A named id that is not FAILED/KILLED is reported as skipped.
  grpc::ClientContext ctx2;
  Prepare(ctx2, "alice");
  v1::RetryTransfersRequest by_id;
  by_id.add_ids(ids.transfer_ids(2));
  ASSERT_TRUE(stub->RetryTransfers(&ctx2, by_id, &resp).ok());
  EXPECT_EQ(resp.requeued(), 0);
  ASSERT_EQ(resp.skipped_ids_size(), 1);
  EXPECT_EQ(resp.skipped_ids(0), ids.transfer_ids(2));
}

// WatchTask first sends every file, then each change; a stream resumed from the cursor of any event
// continues with exactly the events after it.
TEST_F(IngestAuthTest, WatchTaskStreamsAndResumes) {
  v1::SubmitTransfersResponse ids;
  ASSERT_TRUE(Submit("alice", Request("task-watch", "", 3), &ids).ok());
  auto stub = Client("alice");
  auto read = [&](const std::string& cursor, int n, std::vector<v1::TaskEvent>& out) {
    grpc::ClientContext ctx;
    Prepare(ctx, "alice");
    v1::WatchTaskRequest req;
    req.set_task_id("task-watch");
    req.set_cursor(cursor);
    auto reader = stub->WatchTask(&ctx, req);
    v1::TaskEvent e;
    while (static_cast<int>(out.size()) < n && reader->Read(&e)) out.push_back(e);
    ctx.TryCancel();
    reader->Finish();
  };
  std::vector<v1::TaskEvent> first;
  read("", 1, first);  // the stream breaks after one event
  ASSERT_EQ(first.size(), 1u);
  std::vector<v1::TaskEvent> rest;
  read(first[0].cursor(), 2, rest);
  ASSERT_EQ(rest.size(), 2u);
  std::set<int64_t> seen = {first[0].transfer().id(), rest[0].transfer().id(), rest[1].transfer().id()};
  EXPECT_EQ(seen.size(), 3u);  // each file once
  // A change after the last cursor arrives, and only it.
  tdb_->Exec(absl::StrCat("UPDATE transfers SET state = 'DONE' WHERE id = ", ids.transfer_ids(1)));
  std::vector<v1::TaskEvent> change;
  read(rest[1].cursor(), 1, change);
  ASSERT_EQ(change.size(), 1u);
  EXPECT_EQ(change[0].transfer().id(), ids.transfer_ids(1));
  EXPECT_EQ(change[0].transfer().state(), cv1::TRANSFER_STATE_DONE);
  // A cursor not issued by the service.
  grpc::ClientContext ctx;
  Prepare(ctx, "alice");
  v1::WatchTaskRequest bad;
  bad.set_task_id("task-watch");
  bad.set_cursor("garbage");
  auto reader = stub->WatchTask(&ctx, bad);
  v1::TaskEvent e;
  EXPECT_FALSE(reader->Read(&e));
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

}  // namespace
}  // namespace aso::ingest
