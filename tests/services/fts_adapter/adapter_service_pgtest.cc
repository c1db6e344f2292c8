// aso-fts-adapter's gRPC API served in-process over a real PostgreSQL: jobs recorded under the backend
// that serves their link, and deleting storage files (a staged-out job's temporary outputs).
#include "services/fts_adapter/adapter_service.h"

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "libs/auth/credential_cipher.h"
#include "libs/backend/gfal2_copier.h"
#include "libs/db/credential_repository.h"
#include "tests/libs/db/db_test_util.h"

namespace aso::fts_adapter {
namespace {
using ::testing::ElementsAre;
using ::testing::HasSubstr;

class AdapterServiceTest : public db::PgTest {
 protected:
  void SetUp() override {
    PgTest::SetUp();
    if (HasFatalFailure()) return;
    repo_ = std::make_unique<db::PgBackendJobRepository>(tdb_->db());
    auth::AuthConfig auth_config;
    auth_config.insecure = true;
    auth_config.services = {"aso-service"};
    auth_ = std::move(*auth::Authenticator::Create(auth_config));
    auto storage = backend::NewGfal2Copier({});
    ASSERT_TRUE(storage.ok()) << storage.status();
    service_ = std::make_unique<AdapterService>(*repo_, clock_, router_, *auth_, std::move(*storage));
    grpc::ServerBuilder builder;
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    stub_ = v1::FtsAdapter::NewStub(server_->InProcessChannel({}));
    dir_ = absl::StrCat(::testing::TempDir(), "/adapter-", absl::ToUnixNanos(absl::Now()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    server_->Shutdown();
    std::filesystem::remove_all(dir_);
    PgTest::TearDown();
  }
  std::unique_ptr<grpc::ClientContext> Context(const std::string& user = "aso-service") {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->AddMetadata("x-aso-user", user);
    return ctx;
  }
  v1::Job Job(const std::string& id, const std::string& source_site, const std::string& destination_site) {
    v1::Job job;
    job.set_job_id(id);
    job.set_user("alice");
    job.set_source_site(source_site);
    job.set_destination_site(destination_site);
    auto* f = job.add_files();
    f->set_transfer_id(next_id_++);
    f->set_attempt(1);
    f->set_source_url("root://a.example//store/temp/f.root");
    f->set_destination_url("root://b.example//store/user/f.root");
    return job;
  }
  std::string Touch(const std::string& name) {
    const std::string path = absl::StrCat(dir_, "/", name);
    std::ofstream(path) << "job output";
    return "file://" + path;
  }

  FakeClock clock_;
  BackendRouter router_{"gfal2", {*ParseBackendRoute("T2_US_*:*=https://fts3-us.example:8446")}};
  std::unique_ptr<db::PgBackendJobRepository> repo_;
  std::unique_ptr<auth::Authenticator> auth_;
  std::unique_ptr<AdapterService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::FtsAdapter::Stub> stub_;
  std::string dir_;
  int64_t next_id_ = 1;
};

TEST_F(AdapterServiceTest, JobsAreRecordedUnderTheBackendOfTheirLink) {
  for (const auto& job : {Job("j-us", "T2_US_MIT", "T1_DE_KIT"), Job("j-ch", "T2_CH_CERN", "T1_DE_KIT")}) {
    v1::SubmitJobRequest req;
    *req.mutable_job() = job;
    v1::SubmitJobResponse resp;
    ASSERT_TRUE(stub_->SubmitJob(Context().get(), req, &resp).ok());
    EXPECT_FALSE(resp.already_known());
  }
  EXPECT_EQ(
      tdb_->QueryText("SELECT string_agg(job_id || '=' || backend, ' ' ORDER BY job_id) FROM backend_jobs"),
      "j-ch=gfal2 j-us=fts3:https://fts3-us.example:8446");
  // Only the in-process job's file is for the copy workers.
  EXPECT_EQ(
      tdb_->QueryText("SELECT string_agg(in_process::text, ',' ORDER BY job_id) FROM backend_job_files"),
      "true,false");
  v1::SubmitJobRequest again;
  *again.mutable_job() = Job("j-us", "T2_US_MIT", "T1_DE_KIT");
  v1::SubmitJobResponse resp;
  ASSERT_TRUE(stub_->SubmitJob(Context().get(), again, &resp).ok());
  EXPECT_TRUE(resp.already_known());
}

TEST_F(AdapterServiceTest, DeleteFilesAnswersEachFile) {
  const std::string a = Touch("a.root"), b = Touch("b.root");
  v1::DeleteFilesRequest req;
  req.add_urls(a);
  req.add_urls(b);
  req.add_urls(absl::StrCat("file://", dir_, "/never-there.root"));
  v1::DeleteFilesResponse resp;
  grpc::Status s = stub_->DeleteFiles(Context().get(), req, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_THAT(resp.codes(), ElementsAre(0, 0, static_cast<int>(absl::StatusCode::kNotFound)));
  EXPECT_THAT(resp.errors(2), HasSubstr("never-there.root"));
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/a.root"));
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/b.root"));
}

TEST_F(AdapterServiceTest, BadDeleteRequestsDeleteNothing) {
  const std::string kept = Touch("kept.root");
  v1::DeleteFilesRequest req;
  req.add_urls(kept);
  req.add_urls("not a url");
  v1::DeleteFilesResponse resp;
  grpc::Status s = stub_->DeleteFiles(Context().get(), req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("urls[1]"));

  v1::DeleteFilesRequest many;
  for (int i = 0; i <= AdapterService::kMaxDeletes; ++i) many.add_urls(kept);
  s = stub_->DeleteFiles(Context().get(), many, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("1001 URLs exceed the limit of 1000"));

  v1::DeleteFilesRequest unmatched;
  unmatched.add_urls(kept);
  unmatched.add_owners("alice");
  unmatched.add_owners("bob");
  s = stub_->DeleteFiles(Context().get(), unmatched, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("2 owners for 1 URLs"));

  v1::DeleteFilesRequest mine;
  mine.add_urls(kept);
  s = stub_->DeleteFiles(Context("alice").get(), mine, &resp);  // a user may not delete storage files
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(std::filesystem::exists(dir_ + "/kept.root"));
}

// A deletion that names the file's owner (its source site moves files with their owners' credentials) runs
// with the owner's delegated credential or not at all, never with the service's instead; one naming no
// owner runs with the service's credential. An adapter without users' credentials refuses named owners.
TEST_F(AdapterServiceTest, WithUsersCredentialsADeletionNeedsItsOwnersProxy) {
  db::PgCredentialRepository credentials(tdb_->db());  // nobody delegated
  UserCredentials proxies(credentials, *auth::CredentialCipher::FromKeyText(std::string(64, 'b')),
                          {.dir = dir_ + "/proxies"}, clock_);
  ASSERT_TRUE(proxies.Init().ok());
  auto storage = backend::NewGfal2Copier({});
  ASSERT_TRUE(storage.ok()) << storage.status();
  AdapterService as_owners(*repo_, clock_, router_, *auth_, std::move(*storage), &proxies);
  grpc::ServerBuilder builder;
  builder.RegisterService(&as_owners);
  auto server = builder.BuildAndStart();
  auto stub = v1::FtsAdapter::NewStub(server->InProcessChannel({}));

  const std::string a = Touch("carol.root"), b = Touch("nobody.root");
  v1::DeleteFilesRequest req;
  req.add_urls(a);
  req.add_owners("carol");
  v1::DeleteFilesResponse resp;
  ASSERT_TRUE(stub->DeleteFiles(Context().get(), req, &resp).ok());
  EXPECT_THAT(resp.codes(), ElementsAre(static_cast<int>(absl::StatusCode::kFailedPrecondition)));
  EXPECT_THAT(resp.errors(0), HasSubstr("not deleted: carol has not delegated a credential to ASO"));
  EXPECT_TRUE(std::filesystem::exists(dir_ + "/carol.root"));

  v1::DeleteFilesRequest anonymous;  // a service-credential site's file
  anonymous.add_urls(b);
  anonymous.add_owners("");
  ASSERT_TRUE(stub->DeleteFiles(Context().get(), anonymous, &resp).ok());
  EXPECT_THAT(resp.codes(), ElementsAre(0));
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/nobody.root"));
  server->Shutdown();

  // The fixture's adapter holds no credential key: a named owner is refused, the file kept.
  v1::DeleteFilesRequest owned;
  owned.add_urls(a);
  owned.add_owners("carol");
  ASSERT_TRUE(stub_->DeleteFiles(Context().get(), owned, &resp).ok());
  EXPECT_THAT(resp.codes(), ElementsAre(static_cast<int>(absl::StatusCode::kFailedPrecondition)));
  EXPECT_THAT(resp.errors(0), HasSubstr("holds no credential key to delete as the file's owner"));
  EXPECT_TRUE(std::filesystem::exists(dir_ + "/carol.root"));
}

}  // namespace
}  // namespace aso::fts_adapter
