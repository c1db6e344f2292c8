// Fts3Client against the FTS3 test server (tests/fts3/fts3_server.py, started by the CTest fixture with two
// XRootD sites): real submissions whose files are really copied, and the error paths of FTS3_REST.md.
#include "libs/backend/fts3_client.h"

#include <cstdlib>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/common/adler32.h"

namespace aso::backend {
namespace {

using ::testing::HasSubstr;

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? "" : v;
}

class Fts3ClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    endpoint_ = Env("ASO_TEST_FTS3");
    certs_ = Env("ASO_TEST_CERTS");
    dir_ = Env("ASO_TEST_FTS3_DIR");
    ASSERT_FALSE(endpoint_.empty() || certs_.empty() || dir_.empty())
        << "run through ctest (ASO_TEST_FTS3, ASO_TEST_CERTS, ASO_TEST_FTS3_DIR)";
    const std::string port = endpoint_.substr(endpoint_.rfind(':') + 1);
    site_a_ = absl::StrCat("root://127.0.0.1:", std::stoi(port) + 1, "//data");
    site_b_ = absl::StrCat("root://127.0.0.1:", std::stoi(port) + 2, "//data");
    prefix_ = absl::StrCat("t", absl::ToUnixNanos(absl::Now()));  // test-unique names on shared sites
  }
  Fts3Config Config() const {
    Fts3Config c;
    c.endpoint = endpoint_;
    c.ca_file = certs_ + "/ca.pem";
    c.cert_file = certs_ + "/aso-service.pem";
    c.key_file = certs_ + "/aso-service.key";
    c.backoff = absl::Milliseconds(50);
    return c;
  }
  // A file on site A (written on disk, readable and writable by the server), with its adler32.
  std::string Seed(const std::string& name, const std::string& content) {
    const std::string path = absl::StrCat(dir_, "/site-a/root/data/", prefix_, "-", name);
    std::ofstream(path) << content;
    auto sum = Adler32OfFile(path);
    EXPECT_TRUE(sum.ok()) << sum.status();
    return absl::StrCat("adler32:", FormatAdler32(sum.value_or(0)));
  }
  std::string SourceUrl(const std::string& name) const {
    return absl::StrCat(site_a_, "/", prefix_, "-", name);
  }
  std::string DestinationUrl(const std::string& name) const {
    return absl::StrCat(site_b_, "/", prefix_, "/", name);
  }
  std::string DestinationPath(const std::string& name) const {
    return absl::StrCat(dir_, "/site-b/root/data/", prefix_, "/", name);
  }
  // Posts to the test server's fault injection (not part of FTS3).
  void Fault(const std::string& body) {
    const std::string cmd = absl::StrCat("curl -sf --cacert ", certs_, "/ca.pem -X POST -d '", body, "' ",
                                         endpoint_, "/_test/faults >/dev/null");
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  }
  JobStatus WaitTerminal(const Fts3Client& client, const std::string& id) {
    for (int i = 0; i < 300; ++i) {
      auto jobs = client.GetJobs({id});
      if (jobs.ok() && jobs->size() == 1 && IsTerminalJobState((*jobs)[0].job_state)) return (*jobs)[0];
      absl::SleepFor(absl::Milliseconds(100));
    }
    ADD_FAILURE() << "job " << id << " did not end within 30 s";
    return {};
  }
  FileRequest File(const std::string& name, const std::string& checksum, int64_t size, int64_t transfer_id) {
    FileRequest f;
    f.source = SourceUrl(name);
    f.destination = DestinationUrl(name);
    f.checksum = checksum;
    f.filesize = size;
    f.metadata = {{"transfer_id", std::to_string(transfer_id)}, {"attempt", "1"}};
    return f;
  }
  std::string endpoint_, certs_, dir_, site_a_, site_b_, prefix_;
};

TEST_F(Fts3ClientTest, WhoamiNamesTheCertificate) {
  Fts3Client client(Config());
  auto dn = client.Whoami();
  ASSERT_TRUE(dn.ok()) << dn.status();
  EXPECT_THAT(*dn, HasSubstr("CN=aso-service"));
  Fts3Config token = Config();
  token.cert_file.clear();
  token.key_file.clear();
  token.bearer_token = "eyJhbGciOiJSUzI1NiJ9.test";
  auto t = Fts3Client(token).Whoami();
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_THAT(*t, HasSubstr("token:"));
}

// One job: a good file, a missing source and a wrong checksum. The good file is copied; the job ends
// FINISHEDDIRTY with each failure's scope and reason as FTS3 words them.
TEST_F(Fts3ClientTest, BulkJobCopiesAndReportsEachFile) {
  const std::string good = Seed("good.root", std::string(100000, 'g'));
  Seed("corrupt.root", "not what the checksum says");
  Fts3Client client(Config());
  JobRequest job;
  job.sid = absl::StrCat("aso-", prefix_, "-1");
  job.files = {File("good.root", good, 100000, 1), File("missing.root", "adler32:00000001", 10, 2),
               File("corrupt.root", "adler32:0badc0de", 26, 3)};
  job.job_metadata = {{"user", "alice"}, {"task", "t1"}};
  auto id = client.Submit(job);
  ASSERT_TRUE(id.ok()) << id.status();
  JobStatus done = WaitTerminal(client, *id);
  EXPECT_EQ(done.job_state, "FINISHEDDIRTY");
  ASSERT_EQ(done.files.size(), 3u);
  std::map<std::string, FileStatus> by_transfer;
  for (const auto& f : done.files) by_transfer[f.metadata.at("transfer_id")] = f;
  EXPECT_EQ(by_transfer["1"].file_state, "FINISHED");
  EXPECT_EQ(by_transfer["1"].filesize, 100000);
  std::ifstream copied(DestinationPath("good.root"));
  EXPECT_TRUE(copied.good()) << "the good file was not written at the destination";
  EXPECT_EQ(by_transfer["2"].file_state, "FAILED");
  EXPECT_THAT(by_transfer["2"].reason, HasSubstr("[2]"));
  EXPECT_FALSE(by_transfer["2"].recoverable);
  EXPECT_EQ(by_transfer["3"].file_state, "FAILED");
  EXPECT_THAT(by_transfer["3"].reason, HasSubstr("CHECKSUM MISMATCH"));
  EXPECT_FALSE(by_transfer["3"].recoverable);
}

// A job submitted again after a crash: FTS3 answers 409 for the same sid and the client finds the job.
TEST_F(Fts3ClientTest, ResubmissionIsAConflictAndTheJobIsFoundBySid) {
  const std::string sum = Seed("again.root", "again");
  Fts3Client client(Config());
  JobRequest job;
  job.sid = absl::StrCat("aso-", prefix_, "-2");
  job.files = {File("again.root", sum, 5, 7)};
  auto first = client.Submit(job);
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = client.Submit(job);
  EXPECT_TRUE(absl::IsAlreadyExists(second.status())) << second.status();
  auto found = client.FindJobBySid(job.sid);
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(*found, *first);
  EXPECT_TRUE(absl::IsNotFound(client.FindJobBySid("aso-never-submitted").status()));
}

TEST_F(Fts3ClientTest, BulkStatusAnswersPerJob) {
  const std::string sum = Seed("bulk.root", "bulk");
  Fts3Client client(Config());
  JobRequest job;
  job.sid = absl::StrCat("aso-", prefix_, "-3");
  job.files = {File("bulk.root", sum, 4, 8)};
  auto id = client.Submit(job);
  ASSERT_TRUE(id.ok()) << id.status();
  auto jobs = client.GetJobs({*id, "00000000-0000-0000-0000-000000000000"});
  ASSERT_TRUE(jobs.ok()) << jobs.status();
  ASSERT_EQ(jobs->size(), 2u);
  EXPECT_EQ((*jobs)[0].job_id, *id);
  EXPECT_THAT((*jobs)[0].http_status, HasSubstr("200"));
  EXPECT_THAT((*jobs)[1].http_status, HasSubstr("404"));
  auto unknown = client.GetJobs({"00000000-0000-0000-0000-000000000000"});
  ASSERT_TRUE(unknown.ok()) << unknown.status();
  EXPECT_THAT((*unknown)[0].http_status, HasSubstr("404"));
}

// Cancel: a waiting job ends CANCELED; cancelling it again is FTS3's "304 Not Modified" in the body.
TEST_F(Fts3ClientTest, CancelAndCancelAgain) {
  const std::string sum = Seed("cancel.root", "cancel me");
  Fts3Client client(Config());
  Fault(R"({"pause_copies": true})");
  JobRequest job;
  job.sid = absl::StrCat("aso-", prefix_, "-4");
  job.files = {File("cancel.root", sum, 9, 9)};
  auto id = client.Submit(job);
  ASSERT_TRUE(id.ok()) << id.status();
  auto cancelled = client.Cancel({*id});
  Fault(R"({"pause_copies": false})");
  ASSERT_TRUE(cancelled.ok()) << cancelled.status();
  EXPECT_EQ((*cancelled)[0].job_state, "CANCELED");
  auto again = client.Cancel({*id});
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_THAT((*again)[0].http_status, HasSubstr("304"));
  auto jobs = client.GetJobs({*id});
  ASSERT_TRUE(jobs.ok());
  EXPECT_EQ((*jobs)[0].files[0].file_state, "CANCELED");
}

// 419 (credential), 503 (overloaded) and a 500 that passes on retry.
// FTS3 takes submissions only from a client that delegated a proxy (419 otherwise): the client delegates
// before its first submission, not again while the delegation lasts, and again when FTS3 lost it.
TEST_F(Fts3ClientTest, DelegatesBeforeSubmittingAndAgainWhenFts3LostIt) {
  auto count = [&](const std::string& what) {
    const std::string cmd =
        absl::StrCat("curl -sf --cacert ", certs_, "/ca.pem ", endpoint_, "/_test/requests");
    std::string out;
    if (FILE* p = popen(cmd.c_str(), "r")) {
      char buf[4096];
      size_t n;
      while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
      pclose(p);
    }
    const size_t at = out.find(absl::StrCat("\"", what, "\": "));
    return at == std::string::npos ? 0 : std::atoi(out.c_str() + at + what.size() + 4);
  };
  auto drop_delegation = [&]() {
    const std::string cmd =
        absl::StrCat("id=$(curl -sf --cacert ", certs_, "/ca.pem --cert ", certs_, "/aso-service.pem --key ",
                     certs_, "/aso-service.key ", endpoint_,
                     "/whoami | sed 's/.*\"delegation_id\": \"\\([0-9a-f]*\\)\".*/\\1/') && ",
                     "curl -sf --cacert ", certs_, "/ca.pem --cert ", certs_, "/aso-service.pem --key ",
                     certs_, "/aso-service.key -X DELETE ", endpoint_, "/delegation/$id");
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  };
  drop_delegation();
  const int before = count("PUT delegation");
  Fts3Client client(Config());
  JobRequest job;
  job.sid = absl::StrCat("aso-", prefix_, "-dlg1");
  job.files = {File("d1.root", Seed("d1.root", "delegated"), 9, 40)};
  auto id = client.Submit(job);
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(count("PUT delegation"), before + 1) << "delegated once before the first submission";
  job.sid = absl::StrCat("aso-", prefix_, "-dlg2");
  ASSERT_TRUE(client.Submit(job).ok());
  EXPECT_EQ(count("PUT delegation"), before + 1) << "not again while it lasts";
  // A second client finds the delegation in place and does not renew it (48 h > the 24 h threshold).
  Fts3Client other(Config());
  ASSERT_TRUE(other.EnsureDelegation().ok());
  EXPECT_EQ(count("PUT delegation"), before + 1);
  // FTS3 loses it: the next submission is answered 419 and the client delegates again, once.
  drop_delegation();
  job.sid = absl::StrCat("aso-", prefix_, "-dlg3");
  job.files = {File("d3.root", Seed("d3.root", "delegated again"), 15, 41)};
  auto again = client.Submit(job);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(count("PUT delegation"), before + 2);
  EXPECT_EQ(WaitTerminal(client, *again).job_state, "FINISHED");
  // A bearer token needs no delegation.
  Fts3Config bearer = Config();
  bearer.cert_file.clear();
  bearer.key_file.clear();
  bearer.bearer_token = "eyJhbGciOiJSUzI1NiJ9.test";
  EXPECT_TRUE(Fts3Client(bearer).EnsureDelegation().ok());
  EXPECT_EQ(count("PUT delegation"), before + 2);
}

TEST_F(Fts3ClientTest, ErrorAnswersMapToStatuses) {
  Fts3Client client(Config());
  JobRequest job;
  job.sid = absl::StrCat("aso-", prefix_, "-5");
  job.files = {File("x.root", "", 1, 10)};
  Fault(R"({"status": 419})");
  auto expired = client.Submit(job);
  EXPECT_TRUE(absl::IsFailedPrecondition(expired.status())) << expired.status();
  EXPECT_THAT(expired.status().message(), HasSubstr("delegated credential"));
  Fault(R"({"status": 503})");
  auto busy = client.Submit(job);
  EXPECT_TRUE(absl::IsResourceExhausted(busy.status())) << busy.status();
  Fault(R"({"status": 500, "count": 2})");
  auto dn = client.Whoami();  // a GET: retried past the two 500s
  EXPECT_TRUE(dn.ok()) << dn.status();
  FileRequest local = File("y.root", "", 1, 11);
  local.source = "file:///etc/hostname";
  job.files = {local};
  auto refused = client.Submit(job);
  EXPECT_TRUE(absl::IsInvalidArgument(refused.status())) << refused.status();
  EXPECT_THAT(refused.status().message(), HasSubstr("local files"));
  Fts3Config nowhere = Config();
  nowhere.endpoint = "https://127.0.0.1:1";
  nowhere.max_attempts = 2;
  EXPECT_TRUE(absl::IsUnavailable(Fts3Client(nowhere).Whoami().status()));
}

}  // namespace
}  // namespace aso::backend
