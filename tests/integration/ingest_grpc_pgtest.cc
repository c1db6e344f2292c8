// aso-ingest's gRPC API served in-process over a real PostgreSQL: statuses a client sees, idempotency,
// and that a refused request changes nothing.
#include <functional>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "libs/db/site_repository.h"
#include "libs/db/testing/test_database.h"
#include "libs/db/transfer_repository.h"
#include "services/ingest/ingest_service.h"

namespace aso::ingest {
namespace {
using ::testing::HasSubstr;
namespace cv1 = aso::common::v1;

class IngestGrpcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto t = db::testing::TestDatabase::Create();
    ASSERT_TRUE(t.ok()) << t.status();
    tdb_ = std::move(*t);
    transfers_ = std::make_unique<db::PgTransferRepository>(tdb_->db());
    sites_ = std::make_unique<db::PgSiteRepository>(tdb_->db());
    for (auto [name, prefix] : {std::pair{"T2_SRC", "root://src.example//store/"},
                                std::pair{"T2_DST", "root://dst.example//store/"}}) {
      cv1::Site s;
      s.set_name(name);
      s.add_url_prefixes(prefix);
      ASSERT_TRUE(sites_->Upsert(s, clock_.Now()).ok());
    }
    metrics_ = std::move(*metrics::Metrics::Start("ingest", ""));
    auth::AuthConfig auth_config;
    auth_config.insecure = true;
    auth_ = std::move(*auth::Authenticator::Create(auth_config));
    service_ =
        std::make_unique<IngestService>(*transfers_, *sites_, clock_, SubmissionLimits{}, *metrics_, *auth_);
    grpc::ServerBuilder builder;
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    stub_ = v1::Ingest::NewStub(server_->InProcessChannel({}));
  }
  void TearDown() override { server_->Shutdown(); }

  grpc::Status Submit(const v1::SubmitTransfersRequest& req, v1::SubmitTransfersResponse* resp) {
    grpc::ClientContext ctx;
    ctx.AddMetadata("x-aso-user", "alice");
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    return stub_->SubmitTransfers(&ctx, req, resp);
  }
  v1::SubmitTransfersRequest Request(int files) {
    v1::SubmitTransfersRequest req;
    req.set_task_id("260101_alice_crab_test");
    req.set_user("alice");
    for (int i = 0; i < files; ++i) {
      auto* f = req.add_files();
      f->set_source_url("root://src.example//store/temp/user/alice/out_" + std::to_string(i) + ".root");
      f->set_destination_url("root://dst.example//store/user/alice/out_" + std::to_string(i) + ".root");
      f->set_size_bytes(1024);
      f->set_job_id("17");
    }
    return req;
  }

  FakeClock clock_;
  std::unique_ptr<db::testing::TestDatabase> tdb_;
  std::unique_ptr<db::PgTransferRepository> transfers_;
  std::unique_ptr<db::PgSiteRepository> sites_;
  std::unique_ptr<metrics::Metrics> metrics_;
  std::unique_ptr<auth::Authenticator> auth_;
  std::unique_ptr<IngestService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::Ingest::Stub> stub_;
};

TEST_F(IngestGrpcTest, SubmitIsDurableAndIdempotent) {
  v1::SubmitTransfersResponse first, second;
  ASSERT_TRUE(Submit(Request(3), &first).ok());
  EXPECT_EQ(first.transfer_ids_size(), 3);
  EXPECT_EQ(first.created(), 3);
  EXPECT_EQ(tdb_->QueryInt("SELECT count(*) FROM transfers WHERE state = 'QUEUED'"), 3);
  ASSERT_TRUE(Submit(Request(3), &second).ok());  // a job retrying its call
  EXPECT_EQ(second.created(), 0);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(first.transfer_ids(i), second.transfer_ids(i));
  EXPECT_EQ(tdb_->QueryInt("SELECT count(*) FROM transfers"), 3);
  EXPECT_THAT(metrics_->Serialize(), HasSubstr("aso_ingest_files_accepted_total{result=\"created\"} 3"));
}

TEST_F(IngestGrpcTest, BadInputIsRefusedPreciselyAndChangesNothing) {
  v1::SubmitTransfersResponse resp;
  auto req = Request(3);
  req.mutable_files(2)->set_checksum("adler32:nothex!");
  grpc::Status s = Submit(req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("files[2].checksum"));
  req = Request(2);
  req.mutable_files(1)->set_source_url("root://unknown.example//store/x");
  s = Submit(req, &resp);
  EXPECT_THAT(s.error_message(), HasSubstr("files[1].source_site: no site in the catalog serves"));
  req = Request(1);
  req.set_user("bob");  // alice may not submit for bob
  EXPECT_EQ(Submit(req, &resp).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  req = Request(1);
  req.set_max_attempts(21);
  s = Submit(req, &resp);
  EXPECT_THAT(s.error_message(), HasSubstr("max_attempts must be 0 (the default) to 20, got 21"));
  EXPECT_EQ(tdb_->QueryInt("SELECT count(*) FROM transfers"), 0);
  // Each refusal is counted under its reason.
  const std::string text = metrics_->Serialize();
  EXPECT_THAT(text, HasSubstr("aso_ingest_submissions_refused_total{reason=\"invalid_files\"} 2"));
  EXPECT_THAT(text, HasSubstr("aso_ingest_submissions_refused_total{reason=\"wrong_user\"} 1"));
  EXPECT_THAT(text, HasSubstr("aso_ingest_submissions_refused_total{reason=\"invalid_request\"} 1"));
}

TEST_F(IngestGrpcTest, ATaskKeepsItsOwnAttemptBudget) {
  v1::SubmitTransfersResponse resp;
  auto req = Request(1);
  req.set_max_attempts(5);
  ASSERT_TRUE(Submit(req, &resp).ok());
  EXPECT_EQ(tdb_->QueryInt("SELECT max_attempts FROM tasks"), 5);
}

TEST_F(IngestGrpcTest, ReadBackThroughTheApi) {
  v1::SubmitTransfersResponse resp;
  ASSERT_TRUE(Submit(Request(2), &resp).ok());
  grpc::ClientContext c1;
  c1.AddMetadata("x-aso-user", "alice");
  v1::GetTransferRequest get;
  get.set_id(resp.transfer_ids(0));
  cv1::Transfer t;
  ASSERT_TRUE(stub_->GetTransfer(&c1, get, &t).ok());
  EXPECT_EQ(t.source().site(), "T2_SRC");
  EXPECT_EQ(t.state(), cv1::TRANSFER_STATE_QUEUED);
  EXPECT_THAT(t.waiting_reason(), HasSubstr("T2_SRC -> T2_DST"));
  grpc::ClientContext c2;
  c2.AddMetadata("x-aso-user", "alice");
  get.set_id(123456);
  EXPECT_EQ(stub_->GetTransfer(&c2, get, &t).error_code(), grpc::StatusCode::NOT_FOUND);
  grpc::ClientContext c3;
  c3.AddMetadata("x-aso-user", "alice");
  v1::GetTaskSummaryRequest sreq;
  sreq.set_task_id("260101_alice_crab_test");
  cv1::TaskSummary summary;
  ASSERT_TRUE(stub_->GetTaskSummary(&c3, sreq, &summary).ok());
  EXPECT_EQ(summary.total_files(), 2);
  EXPECT_EQ(summary.total_bytes(), 2048);
  grpc::ClientContext c4;
  c4.AddMetadata("x-aso-user", "alice");
  v1::ListTransfersRequest lreq;
  lreq.set_page_size(5000);
  v1::ListTransfersResponse lresp;
  EXPECT_EQ(stub_->ListTransfers(&c4, lreq, &lresp).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

// Free-text fields carry whatever printable text a client chooses (quotes, backslashes, SQL, placeholders,
// format directives, markup, non-ASCII) and read back byte for byte: statements take text only as parameters.
// Control characters (NUL among them, which PostgreSQL text cannot hold) are refused naming the field, and
// change nothing.
TEST_F(IngestGrpcTest, HostileStringsAreStoredVerbatimOrRefusedByName) {
  const std::vector<std::string> hostile = {"'; DROP TABLE transfers; --",
                                            "\" OR 1=1 --",
                                            "\\x27\\\\'",
                                            "$1 $2 %s %n {} {{",
                                            "Robert'); DELETE FROM sites;--",
                                            "\xC3\xBC\xE2\x82\xAC\xF0\x9F\x98\x80",
                                            "<script>alert(1)</script>",
                                            std::string(500, '\'')};
  v1::SubmitTransfersRequest req = Request(static_cast<int>(hostile.size()));
  for (size_t i = 0; i < hostile.size(); ++i) {
    auto* f = req.mutable_files(static_cast<int>(i));
    f->set_idempotency_key(absl::StrCat(hostile[i], "#", i));
    (*f->mutable_metadata())[hostile[i]] = hostile[i];
    f->set_destination_url(
        absl::StrCat("root://dst.example//store/user/alice/it's;a\"file$1%s'--_", i, ".root"));
  }
  v1::SubmitTransfersResponse resp;
  grpc::Status submitted = Submit(req, &resp);
  ASSERT_TRUE(submitted.ok()) << submitted.error_message();
  ASSERT_EQ(resp.transfer_ids_size(), static_cast<int>(hostile.size()));
  for (size_t i = 0; i < hostile.size(); ++i) {
    grpc::ClientContext ctx;
    ctx.AddMetadata("x-aso-user", "alice");
    v1::GetTransferRequest get;
    get.set_id(resp.transfer_ids(static_cast<int>(i)));
    cv1::Transfer t;
    ASSERT_TRUE(stub_->GetTransfer(&ctx, get, &t).ok());
    EXPECT_EQ(t.idempotency_key(), absl::StrCat(hostile[i], "#", i));
    ASSERT_EQ(t.metadata().count(hostile[i]), 1u) << hostile[i];
    EXPECT_EQ(t.metadata().at(hostile[i]), hostile[i]);
    EXPECT_EQ(t.destination().url(), req.files(static_cast<int>(i)).destination_url());
  }
  EXPECT_EQ(tdb_->QueryInt("SELECT count(*) FROM sites"), 2);
  EXPECT_EQ(tdb_->QueryInt("SELECT count(*) FROM transfers"), static_cast<int64_t>(hostile.size()));

  struct Bad {
    const char* field;
    std::function<void(v1::FileRequest&)> set;
  };
  const std::vector<Bad> bad = {
      {"files[0].metadata",
       [](v1::FileRequest& f) { (*f.mutable_metadata())["k"] = std::string("a\0b", 3); }},
      {"files[0].metadata", [](v1::FileRequest& f) { (*f.mutable_metadata())["line\nbreak"] = "v"; }},
      {"files[0].idempotency_key", [](v1::FileRequest& f) { f.set_idempotency_key(std::string("k\0", 2)); }},
      {"files[0].idempotency_key", [](v1::FileRequest& f) { f.set_idempotency_key("k\x1b[31m"); }},
  };
  for (const Bad& b : bad) {
    v1::SubmitTransfersRequest r = Request(1);
    r.mutable_files(0)->set_destination_url("root://dst.example//store/user/alice/control.root");
    b.set(*r.mutable_files(0));
    grpc::Status s = Submit(r, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << b.field << ": " << s.error_message();
    EXPECT_THAT(s.error_message(), HasSubstr(b.field));
  }
  EXPECT_EQ(tdb_->QueryInt("SELECT count(*) FROM transfers"), static_cast<int64_t>(hostile.size()));
}

TEST_F(IngestGrpcTest, KillTransfers) {
  v1::SubmitTransfersResponse resp;
  ASSERT_TRUE(Submit(Request(3), &resp).ok());
  // One of them is already with the backend.
  tdb_->Exec(
      absl::StrCat("UPDATE transfers SET state = 'ACTIVE', attempt = 1 WHERE id = ", resp.transfer_ids(2)));
  v1::KillTransfersRequest req;
  v1::KillTransfersResponse out;
  {
    grpc::ClientContext ctx;
    ctx.AddMetadata("x-aso-user", "alice");
    EXPECT_EQ(stub_->KillTransfers(&ctx, req, &out).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  }
  req.set_task_id("260101_alice_crab_test");
  req.set_user("alice");
  req.set_reason("wrong output dataset");
  {
    grpc::ClientContext ctx;
    ctx.AddMetadata("x-aso-user", "alice");
    ASSERT_TRUE(stub_->KillTransfers(&ctx, req, &out).ok());
  }
  EXPECT_EQ(out.killed(), 2);
  EXPECT_EQ(out.kill_requested(), 1);
  EXPECT_EQ(tdb_->QueryInt("SELECT count(*) FROM transfers WHERE state = 'KILLED' AND "
                           "failure_reason = 'wrong output dataset'"),
            2);
  EXPECT_EQ(tdb_->QueryInt("SELECT count(*) FROM transfers WHERE kill_requested"), 1);
}

}  // namespace
}  // namespace aso::ingest
