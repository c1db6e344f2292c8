// The adapter's FTS3 backend end to end against the FTS3 test server and two XRootD sites (CTest fixtures):
// jobs recorded in the adapter's table are submitted, really copied by "FTS3", polled and recorded; a job
// FTS3 already has is adopted; FTS3 errors leave the job for a later round.
#include "services/fts_adapter/backend_runner.h"

#include "services/fts_adapter/copy_worker.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/auth/credential_cipher.h"
#include "libs/auth/testing/dev_pki.h"
#include "libs/auth/testing/jwt_signer.h"
#include "libs/backend/fts3_client.h"
#include "libs/backend/gfal2_copier.h"
#include "libs/common/adler32.h"
#include "libs/db/credential_repository.h"
#include "services/fts_adapter/user_credentials.h"
#include "services/fts_adapter/user_fts3_clients.h"
#include "tests/libs/db/db_test_util.h"

namespace aso::fts_adapter {
namespace {

using ::testing::HasSubstr;
namespace cv1 = aso::common::v1;

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? "" : v;
}

class BackendRunnerTest : public db::PgTest {
 protected:
  void SetUp() override {
    PgTest::SetUp();
    if (HasFatalFailure()) return;
    endpoint_ = Env("ASO_TEST_FTS3");
    certs_ = Env("ASO_TEST_CERTS");
    dir_ = Env("ASO_TEST_FTS3_DIR");
    ASSERT_FALSE(endpoint_.empty() || certs_.empty() || dir_.empty()) << "run through ctest";
    const int port = std::stoi(endpoint_.substr(endpoint_.rfind(':') + 1));
    site_a_ = absl::StrCat("root://127.0.0.1:", port + 1, "//data");
    site_b_ = absl::StrCat("root://127.0.0.1:", port + 2, "//data");
    prefix_ = absl::StrCat("r", absl::ToUnixNanos(absl::Now()));
    backend::Fts3Config c;
    c.endpoint = endpoint_;
    c.ca_file = certs_ + "/ca.pem";
    c.cert_file = certs_ + "/aso-service.pem";
    c.key_file = certs_ + "/aso-service.key";
    c.backoff = absl::Milliseconds(50);
    client_ = std::make_unique<backend::Fts3Client>(c);
    repo_ = std::make_unique<db::PgBackendJobRepository>(tdb_->db());
    auto m = metrics::Metrics::Start("backend_runner_test", "");
    ASSERT_TRUE(m.ok());
    metrics_ = std::move(*m);
    config_.backend = "fts3:" + endpoint_;
  }
  // A job of files from site A to site B; `content` empty = the source does not exist.
  aso::fts_adapter::v1::Job MakeJob(const std::string& id, const std::vector<std::string>& contents) {
    aso::fts_adapter::v1::Job job;
    job.set_job_id(absl::StrCat(prefix_, "-", id));
    job.set_user("alice");
    job.set_task_id("task-1");
    job.set_source_site("A");
    job.set_destination_site("B");
    for (size_t i = 0; i < contents.size(); ++i) {
      const std::string name = absl::StrCat(prefix_, "-", id, "-", i);
      auto* f = job.add_files();
      f->set_transfer_id(next_transfer_++);
      f->set_attempt(1);
      f->set_source_url(absl::StrCat(site_a_, "/", name));
      f->set_destination_url(absl::StrCat(site_b_, "/", prefix_, "/", name));
      f->set_size_bytes(static_cast<int64_t>(contents[i].size()));
      if (!contents[i].empty()) {
        const std::string path = absl::StrCat(dir_, "/site-a/root/data/", name);
        std::ofstream(path) << contents[i];
        f->set_checksum(absl::StrCat("adler32:", FormatAdler32(Adler32OfFile(path).value_or(0))));
      } else {
        f->set_checksum("adler32:00000001");
      }
    }
    return job;
  }
  // Rounds until every file of `job_id` is terminal (at most 30 s).
  void RunUntilDone(BackendRunner& runner, const std::string& job_id) {
    for (int i = 0; i < 300; ++i) {
      auto r = runner.RunOnce();
      ASSERT_TRUE(r.ok()) << r.status();
      if (tdb_->QueryInt(absl::StrCat("SELECT count(*) FROM backend_jobs WHERE done AND job_id = '", job_id,
                                      "'")) == 1) {
        return;
      }
      absl::SleepFor(absl::Milliseconds(100));
    }
    FAIL() << "job " << job_id << " not over within 30 s";
  }
  std::string FileState(const std::string& job_id, int index) {
    return tdb_->QueryText(
        absl::StrCat("SELECT state || ' ' || failure_class || ' ' || recoverable::text "
                     "FROM backend_job_files WHERE job_id = '",
                     job_id, "' AND file_index = ", index));
  }
  void Fault(const std::string& body) {
    const std::string cmd = absl::StrCat("curl -sf --cacert ", certs_, "/ca.pem -X POST -d '", body, "' ",
                                         endpoint_, "/_test/faults >/dev/null");
    ASSERT_EQ(std::system(cmd.c_str()), 0);
  }

  std::string endpoint_, certs_, dir_, site_a_, site_b_, prefix_;
  int64_t next_transfer_ = 1;
  std::unique_ptr<backend::Fts3Client> client_;
  std::unique_ptr<db::PgBackendJobRepository> repo_;
  std::unique_ptr<metrics::Metrics> metrics_;
  FakeClock clock_;
  BackendRunnerConfig config_;
};

TEST_F(BackendRunnerTest, JobsAreCopiedByFts3AndTheirOutcomesRecorded) {
  auto job = MakeJob("a", {std::string(5000, 'x'), "", "third"});
  ASSERT_TRUE(repo_->InsertJob(job, config_.backend, clock_.Now()).ok());
  BackendRunner runner(*repo_, *client_, clock_, config_, *metrics_);
  RunUntilDone(runner, job.job_id());
  EXPECT_EQ(FileState(job.job_id(), 0), "FINISHED  false");
  EXPECT_EQ(FileState(job.job_id(), 1), "FAILED SOURCE false");  // missing source: not retried
  EXPECT_EQ(FileState(job.job_id(), 2), "FINISHED  false");
  EXPECT_EQ(tdb_->QueryText(
                absl::StrCat("SELECT external_state FROM backend_jobs WHERE job_id = '", job.job_id(), "'")),
            "FINISHEDDIRTY");
  // What the reporter sends to bookkeeping.
  auto outcomes = repo_->UnreportedOutcomes(10);
  ASSERT_TRUE(outcomes.ok());
  ASSERT_EQ(outcomes->size(), 3u);
  int done = 0;
  for (const auto& o : *outcomes) {
    if (o.state() == cv1::TRANSFER_STATE_DONE) {
      ++done;
      EXPECT_EQ(o.checksum(), job.files(static_cast<int>(o.transfer_id() - 1)).checksum());
      EXPECT_EQ(o.bytes(), job.files(static_cast<int>(o.transfer_id() - 1)).size_bytes());
    } else {
      EXPECT_EQ(o.state(), cv1::TRANSFER_STATE_FAILED);
      EXPECT_THAT(o.error(), HasSubstr("SOURCE [2]"));
    }
  }
  EXPECT_EQ(done, 2);
  std::ifstream copied(absl::StrCat(dir_, "/site-b/root/data/", prefix_, "/", prefix_, "-a-0"));
  EXPECT_TRUE(copied.good());
}

// --user_credentials: alice's job goes to FTS3 over a connection authenticated with her delegated proxy
// (FTS3 records her DN, and took the job only after her client delegated to it: the test server answers
// 419 to a certificate client without a delegation) and is copied; carol, who never delegated, gets no
// submission at all: her files fail recoverably, to wait in the queue.
TEST_F(BackendRunnerTest, JobsAreSubmittedAsTheirOwners) {
  const std::string key(64, 'a');
  auto cipher = auth::CredentialCipher::FromKeyText(key);
  ASSERT_TRUE(cipher.ok());
  db::PgCredentialRepository credentials(tdb_->db());
  auto proxy = auth::testing::DelegatedProxyOf(certs_, "alice");
  ASSERT_TRUE(proxy.ok()) << proxy.status();
  ASSERT_TRUE(credentials.AddRequest("d-alice", "alice", "unused", absl::Now(), absl::Hours(1)).ok());
  ASSERT_TRUE(credentials
                  .CompleteDelegation("d-alice",
                                      {"alice", "x509_proxy", proxy->subject, proxy->not_after, absl::Now(),
                                       cipher->Seal(proxy->proxy_pem, "alice")},
                                      absl::Now())
                  .ok());
  UserCredentials proxies(credentials, *cipher,
                          {.dir = absl::StrCat(::testing::TempDir(), "/proxies-", prefix_)},
                          RealClock::Get());
  ASSERT_TRUE(proxies.Init().ok());
  backend::Fts3Config base;
  base.endpoint = endpoint_;
  base.ca_file = certs_ + "/ca.pem";
  base.backoff = absl::Milliseconds(50);
  UserFts3Clients clients(base, proxies);
  config_.submit_as = [&clients](const std::string& user) { return clients.For(user); };

  // A moves files with the service's credential, B with their owners': A -> B jobs go as their owners.
  db::AddSite(tdb_->db(), "A");
  db::AddSite(tdb_->db(), "B");
  tdb_->Exec("UPDATE sites SET credentials = CASE name WHEN 'B' THEN 'owner' ELSE 'service' END");
  auto job = MakeJob("owner", {"alice's file"});
  auto carols = MakeJob("carol", {"carol's file"});
  carols.set_user("carol");
  ASSERT_TRUE(repo_->InsertJob(job, config_.backend, clock_.Now()).ok());
  ASSERT_TRUE(repo_->InsertJob(carols, config_.backend, clock_.Now()).ok());
  // Between two service-credential sites, carol's files move with the service's credential.
  auto service = MakeJob("service", {"carol's other file"});
  service.set_user("carol");
  service.set_destination_site("A2");
  db::AddSite(tdb_->db(), "A2");
  tdb_->Exec("UPDATE sites SET credentials = 'service' WHERE name = 'A2'");
  ASSERT_TRUE(repo_->InsertJob(service, config_.backend, clock_.Now()).ok());
  BackendRunner runner(*repo_, *client_, clock_, config_, *metrics_);
  RunUntilDone(runner, job.job_id());
  RunUntilDone(runner, service.job_id());
  EXPECT_EQ(FileState(service.job_id(), 0), "FINISHED  false");
  EXPECT_EQ(FileState(job.job_id(), 0), "FINISHED  false");
  EXPECT_EQ(FileState(carols.job_id(), 0), "FAILED CREDENTIAL_EXPIRED true");
  EXPECT_THAT(tdb_->QueryText(
                  absl::StrCat("SELECT error FROM backend_job_files WHERE job_id = '", carols.job_id(), "'")),
              HasSubstr("carol has not delegated a credential to ASO"));
  EXPECT_EQ(tdb_->QueryText(absl::StrCat(
                "SELECT COALESCE(external_id, '') FROM backend_jobs WHERE job_id = '", carols.job_id(), "'")),
            "");

  // FTS3's record of the jobs: alice's submitted by her proxy, not by the service; carol's service-site
  // job by the service.
  auto fts3_record = [&](const auto& j) {
    const std::string external = tdb_->QueryText(
        absl::StrCat("SELECT external_id FROM backend_jobs WHERE job_id = '", j.job_id(), "'"));
    const std::string out = absl::StrCat(::testing::TempDir(), "/job-", prefix_, "-", j.job_id(), ".json");
    const std::string cmd =
        absl::StrCat("curl -sf --cacert ", certs_, "/ca.pem --cert ", certs_, "/aso-service.pem --key ",
                     certs_, "/aso-service.key ", endpoint_, "/jobs/", external, " -o ", out);
    EXPECT_EQ(std::system(cmd.c_str()), 0);
    return auth::testing::ReadFile(out);
  };
  EXPECT_THAT(fts3_record(job), HasSubstr("\"user_dn\": \"/DC=org/DC=aso-test/OU=Users/CN=alice/CN="));
  EXPECT_THAT(fts3_record(service), HasSubstr("CN=aso-service"));

  // An adapter without users' credentials fails an owner-credential job for good, naming what is missing.
  config_.submit_as = nullptr;
  auto unkeyed = MakeJob("unkeyed", {"a file"});
  ASSERT_TRUE(repo_->InsertJob(unkeyed, config_.backend, clock_.Now()).ok());
  BackendRunner without(*repo_, *client_, clock_, config_, *metrics_);
  ASSERT_TRUE(without.RunOnce().ok());
  EXPECT_EQ(FileState(unkeyed.job_id(), 0), "FAILED GENERAL false");
  EXPECT_THAT(
      tdb_->QueryText(
          absl::StrCat("SELECT error FROM backend_job_files WHERE job_id = '", unkeyed.job_id(), "'")),
      HasSubstr("moves files with their owners' credentials, and this fts-adapter holds no credential key"));
}

// --user_credentials with a user who delegated a bearer token (2 h left: a job needs an hour): tina's job
// goes to FTS3 with her token (Authorization: Bearer, no delegation) and each file carries it as its source
// and destination token.
TEST_F(BackendRunnerTest, ATokenUsersJobCarriesTheirToken) {
  // A storage token of tina's (FTS3 passes it on; its signature is the storages' business).
  const int64_t now = absl::ToUnixSeconds(absl::Now());
  const std::string token = auth::testing::SignJwt(
      auth::testing::GenerateRsaKey(),
      absl::StrCat(R"({"iss":"https://issuer.test","sub":"tina","aud":"https://storage.example","exp":)",
                   now + 7200, "}"));
  auto cipher = auth::CredentialCipher::FromKeyText(std::string(64, 'c'));
  db::PgCredentialRepository credentials(tdb_->db());
  ASSERT_TRUE(
      credentials
          .Put({"tina", "bearer_token", "https://aso.dev-certs.invalid tina", absl::Now() + absl::Hours(2),
                absl::Now(), cipher->Seal(absl::StrCat(R"({"access_token":")", token, R"("})"), "tina")},
               absl::Now())
          .ok());
  UserCredentials users(credentials, *cipher,
                        {.dir = absl::StrCat(::testing::TempDir(), "/tokens-", prefix_)}, RealClock::Get());
  ASSERT_TRUE(users.Init().ok());
  backend::Fts3Config base;
  base.endpoint = endpoint_;
  base.ca_file = certs_ + "/ca.pem";
  base.backoff = absl::Milliseconds(50);
  UserFts3Clients clients(base, users);
  config_.submit_as = [&clients](const std::string& user) { return clients.For(user); };

  db::AddSite(tdb_->db(), "A");
  db::AddSite(tdb_->db(), "B");
  tdb_->Exec("UPDATE sites SET credentials = 'owner'");
  auto job = MakeJob("token", {"tina's file"});
  job.set_user("tina");
  ASSERT_TRUE(repo_->InsertJob(job, config_.backend, clock_.Now()).ok());
  BackendRunner runner(*repo_, *client_, clock_, config_, *metrics_);
  RunUntilDone(runner, job.job_id());
  EXPECT_EQ(FileState(job.job_id(), 0), "FINISHED  false");
  const std::string external = tdb_->QueryText(
      absl::StrCat("SELECT external_id FROM backend_jobs WHERE job_id = '", job.job_id(), "'"));
  const std::string out = absl::StrCat(::testing::TempDir(), "/job-", prefix_, "-token.json");
  const std::string cmd =
      absl::StrCat("curl -sf --cacert ", certs_, "/ca.pem --cert ", certs_, "/aso-service.pem --key ", certs_,
                   "/aso-service.key ", endpoint_, "/jobs/", external, " -o ", out);
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  const std::string seen = auth::testing::ReadFile(out);
  EXPECT_THAT(seen, HasSubstr("\"source_token_sub\": \"tina\""));
  EXPECT_THAT(seen, HasSubstr("\"destination_token_sub\": \"tina\""));
  EXPECT_THAT(seen, HasSubstr("\"user_dn\": \"token:"));
}

// The adapter stopped after FTS3 took the job but before recording FTS3's id: the next submission is a 409
// and the job is adopted, not run twice.
TEST_F(BackendRunnerTest, AJobFts3AlreadyHasIsAdopted) {
  auto job = MakeJob("b", {"adopt me"});
  ASSERT_TRUE(repo_->InsertJob(job, config_.backend, clock_.Now()).ok());
  backend::JobRequest earlier;
  earlier.sid = job.job_id();
  earlier.job_metadata = {{"user", "alice"}};
  earlier.files.push_back({job.files(0).source_url(),
                           job.files(0).destination_url(),
                           job.files(0).checksum(),
                           8,
                           {{"transfer_id", absl::StrCat(job.files(0).transfer_id())}},
                           "ASO"});
  auto fts3_id = client_->Submit(earlier);
  ASSERT_TRUE(fts3_id.ok()) << fts3_id.status();
  BackendRunner runner(*repo_, *client_, clock_, config_, *metrics_);
  RunUntilDone(runner, job.job_id());
  EXPECT_EQ(tdb_->QueryText(
                absl::StrCat("SELECT external_id FROM backend_jobs WHERE job_id = '", job.job_id(), "'")),
            *fts3_id);
  EXPECT_EQ(FileState(job.job_id(), 0), "FINISHED  false");
}

// FTS3 without a delegated credential (419) or overloaded (503): the round ends with that error, the job
// waits, and the next round submits it.
TEST_F(BackendRunnerTest, CredentialAndOverloadErrorsLeaveTheJobForLater) {
  BackendRunner runner(*repo_, *client_, clock_, config_, *metrics_);
  ASSERT_TRUE(runner.RunOnce().ok());  // nothing to do; the health check (next one in 30 s) is done
  auto job = MakeJob("c", {"later"});
  ASSERT_TRUE(repo_->InsertJob(job, config_.backend, clock_.Now()).ok());
  Fault(R"({"status": 419})");
  auto r = runner.RunOnce();
  EXPECT_TRUE(absl::IsFailedPrecondition(r.status())) << r.status();
  EXPECT_THAT(r.status().message(), HasSubstr("delegated credential"));
  Fault(R"({"status": 503})");
  r = runner.RunOnce();
  EXPECT_TRUE(absl::IsResourceExhausted(r.status())) << r.status();
  EXPECT_EQ(
      tdb_->QueryInt(absl::StrCat(
          "SELECT count(*) FROM backend_jobs WHERE external_id IS NULL AND job_id = '", job.job_id(), "'")),
      1);
  RunUntilDone(runner, job.job_id());
  EXPECT_EQ(FileState(job.job_id(), 0), "FINISHED  false");
  const std::string text = metrics_->Serialize();
  EXPECT_THAT(text,
              HasSubstr(absl::StrCat("aso_fts3_credential_errors_total{endpoint=\"", endpoint_, "\"} 1")));
  EXPECT_THAT(text, HasSubstr(absl::StrCat("aso_fts3_up{endpoint=\"", endpoint_, "\"} 1")));
}

// A job FTS3 refuses for good (here a local file, which FTS3 does not copy) fails its files with FTS3's
// reason.
TEST_F(BackendRunnerTest, ARefusedJobFailsItsFiles) {
  auto job = MakeJob("d", {"local"});
  job.mutable_files(0)->set_source_url("file:///etc/hostname");
  ASSERT_TRUE(repo_->InsertJob(job, config_.backend, clock_.Now()).ok());
  BackendRunner runner(*repo_, *client_, clock_, config_, *metrics_);
  ASSERT_TRUE(runner.RunOnce().ok());
  EXPECT_EQ(FileState(job.job_id(), 0), "FAILED BACKEND false");
  EXPECT_THAT(tdb_->QueryText(
                  absl::StrCat("SELECT error FROM backend_job_files WHERE job_id = '", job.job_id(), "'")),
              HasSubstr("local files"));
}

// A job FTS3 accepted and then no longer knows (404 on status): after three polls its files fail as
// recoverable BACKEND failures naming the lost job, so they are retried rather than left in flight forever.
TEST_F(BackendRunnerTest, AJobFts3LosesFailsItsFilesRecoverably) {
  auto job = MakeJob("lost", {"one", "two"});
  ASSERT_TRUE(repo_->InsertJob(job, config_.backend, clock_.Now()).ok());
  Fault(R"({"lose_jobs": 1})");
  BackendRunner runner(*repo_, *client_, clock_, config_, *metrics_);
  ASSERT_TRUE(runner.RunOnce().ok());  // submitted (accepted, then forgotten) and polled once
  EXPECT_EQ(FileState(job.job_id(), 0), "SUBMITTED  false");
  for (int i = 0; i < 5 && FileState(job.job_id(), 1) == "SUBMITTED  false"; ++i) {
    clock_.AdvanceTime(absl::Seconds(10));
    ASSERT_TRUE(runner.RunOnce().ok());
  }
  EXPECT_EQ(FileState(job.job_id(), 0), "FAILED BACKEND true");
  EXPECT_EQ(FileState(job.job_id(), 1), "FAILED BACKEND true");
  EXPECT_THAT(tdb_->QueryText(absl::StrCat("SELECT error FROM backend_job_files WHERE job_id = '",
                                           job.job_id(), "' AND file_index = 0")),
              HasSubstr("answered 404 for a job it had accepted"));
  EXPECT_EQ(tdb_->QueryInt(absl::StrCat("SELECT count(*) FROM backend_jobs WHERE done AND job_id = '",
                                        job.job_id(), "'")),
            1);
}

// A transfer killed while FTS3 holds its file: the file is cancelled in FTS3 and recorded CANCELED.
TEST_F(BackendRunnerTest, AKilledTransferIsCancelledInFts3) {
  db::AddSite(tdb_->db(), "A");
  db::AddSite(tdb_->db(), "B");
  auto ids = db::InsertTransfers(tdb_->db(), 1, "kill");
  ASSERT_EQ(ids.size(), 1u);
  tdb_->Exec("UPDATE transfers SET state = 'SUBMITTING', attempt = 1, kill_requested = true");
  next_transfer_ = ids[0];
  auto job = MakeJob("k", {"kill me"});
  ASSERT_TRUE(repo_->InsertJob(job, config_.backend, clock_.Now()).ok());
  Fault(R"({"pause_copies": true})");
  BackendRunner runner(*repo_, *client_, clock_, config_, *metrics_);
  auto first = runner.RunOnce();   // submitted, then polled: FTS3's file id recorded
  auto second = runner.RunOnce();  // cancel sent, then polled
  Fault(R"({"pause_copies": false})");
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(FileState(job.job_id(), 0), "CANCELED CANCELED false");
  EXPECT_EQ(tdb_->QueryText("SELECT cancel_sent::text FROM backend_job_files"), "true");
}

// Files of FTS3's jobs are FTS3's to run: the adapter's copy workers lease only in-process (gfal2) files,
// even when one adapter serves both kinds of links.
TEST_F(BackendRunnerTest, CopyWorkersLeaveFts3JobsAlone) {
  ASSERT_TRUE(repo_->InsertJob(MakeJob("f", {"by fts3"}), config_.backend, clock_.Now()).ok());
  ASSERT_TRUE(repo_->InsertJob(MakeJob("l", {"by gfal2"}), "gfal2", clock_.Now()).ok());
  auto leased = repo_->LeaseFiles("w", 10, absl::Minutes(1), clock_.Now());
  ASSERT_TRUE(leased.ok()) << leased.status();
  ASSERT_EQ(leased->size(), 1u);
  EXPECT_EQ((*leased)[0].job_id, prefix_ + "-l");
}

// Under the "retries" policy a first attempt does not replace a file already at the destination: FTS3
// fails it as DESTINATION_EXISTS, not retried, and the file stays; a job of retries replaces it.
TEST_F(BackendRunnerTest, OverwritePolicyReachesFts3) {
  config_.overwrite = backend::OverwritePolicy::kRetries;
  auto job = MakeJob("x", {"the new file"});
  const std::string there = absl::StrCat(dir_, "/site-b/root/data/", prefix_, "/", prefix_, "-x-0");
  std::filesystem::create_directories(std::filesystem::path(there).parent_path());
  std::ofstream(there) << "a file the user had";
  std::filesystem::permissions(there, std::filesystem::perms::all);
  ASSERT_TRUE(repo_->InsertJob(job, config_.backend, clock_.Now()).ok());
  BackendRunner runner(*repo_, *client_, clock_, config_, *metrics_);
  RunUntilDone(runner, job.job_id());
  EXPECT_EQ(FileState(job.job_id(), 0), "FAILED DESTINATION_EXISTS false");
  std::stringstream kept;
  kept << std::ifstream(there).rdbuf();
  EXPECT_EQ(kept.str(), "a file the user had");

  auto retry = MakeJob("y", {});
  auto* f = retry.add_files();
  *f = job.files(0);
  f->set_attempt(2);
  ASSERT_TRUE(repo_->InsertJob(retry, config_.backend, clock_.Now()).ok());
  RunUntilDone(runner, retry.job_id());
  EXPECT_EQ(FileState(retry.job_id(), 0), "FINISHED  false");
  std::stringstream replaced;
  replaced << std::ifstream(there).rdbuf();
  EXPECT_EQ(replaced.str(), "the new file");
}

// A streamed root->root copy stops when its progress callback says so (the transfer was killed), and
// leaves no partial file.
TEST_F(BackendRunnerTest, AStreamedCopyStopsWhenAsked) {
  const std::string name = absl::StrCat(prefix_, "-big");
  {
    std::ofstream big(absl::StrCat(dir_, "/site-a/root/data/", name), std::ios::binary);
    big << std::string(32 << 20, 'b');
  }
  auto copier = backend::NewGfal2Copier({});
  ASSERT_TRUE(copier.ok()) << copier.status();
  backend::CopyRequest r;
  r.source_url = absl::StrCat(site_a_, "/", name);
  r.destination_url = absl::StrCat(site_b_, "/", prefix_, "/", name);
  int calls = 0;
  r.progress = [&](int64_t) { return ++calls < 2; };
  backend::CopyResult result = (*copier)->Copy(r);
  EXPECT_FALSE(result.ok);
  EXPECT_EQ(result.error_number, ECANCELED) << result.error;
  EXPECT_EQ(calls, 2);
  EXPECT_FALSE(std::ifstream(absl::StrCat(dir_, "/site-b/root/data/", prefix_, "/", name)).good());
}

// A copy worker whose file's transfer is killed while it copies stops the copy and reports it KILLED.
class ProgressingCopier final : public backend::Copier {
 public:
  explicit ProgressingCopier(std::function<void(int)> at_step) : at_step_(std::move(at_step)) {}
  backend::CopyResult Copy(const backend::CopyRequest& r) override {
    backend::CopyResult out;
    for (steps = 1; steps <= 100; ++steps) {
      at_step_(steps);
      if (!r.progress(steps * 1000)) {
        out.error_number = ECANCELED;
        out.error = "TRANSFER canceled while copying";
        return out;
      }
    }
    out.ok = true;
    return out;
  }
  absl::Status Delete(const std::string&, const backend::StorageCredential&) override {
    return absl::UnimplementedError("not needed");
  }
  int steps = 0;

 private:
  std::function<void(int)> at_step_;
};

TEST_F(BackendRunnerTest, AKillStopsARunningGfal2Copy) {
  db::AddSite(tdb_->db(), "A");
  db::AddSite(tdb_->db(), "B");
  auto ids = db::InsertTransfers(tdb_->db(), 1, "running");
  tdb_->Exec("UPDATE transfers SET state = 'SUBMITTING', attempt = 1");
  next_transfer_ = ids[0];
  auto job = MakeJob("g", {"copying"});
  ASSERT_TRUE(repo_->InsertJob(job, "gfal2", clock_.Now()).ok());
  auto copier = std::make_unique<ProgressingCopier>([&](int step) {
    if (step == 3) tdb_->Exec("UPDATE transfers SET kill_requested = true");
  });
  ProgressingCopier* raw = copier.get();
  CopyWorkerConfig wc;
  wc.owner = "w1";
  wc.kill_check_interval = absl::ZeroDuration();
  CopyWorker worker(*repo_, std::move(copier), clock_, wc, *metrics_);
  ASSERT_TRUE(*worker.RunOnce());
  EXPECT_EQ(raw->steps, 3);
  auto outcomes = repo_->UnreportedOutcomes(10);
  ASSERT_TRUE(outcomes.ok());
  ASSERT_EQ(outcomes->size(), 1u);
  EXPECT_EQ((*outcomes)[0].state(), cv1::TRANSFER_STATE_KILLED);
  EXPECT_EQ((*outcomes)[0].failure_class(), cv1::FAILURE_CLASS_CANCELED);
}

// After a crash, the files a dead copy worker of this host had leased are leased again at once; a live
// process's leases are left alone.
TEST_F(BackendRunnerTest, LeasesOfADeadLocalProcessAreTakenBack) {
  auto job = MakeJob("l", {"one", "two"});
  ASSERT_TRUE(repo_->InsertJob(job, "gfal2", clock_.Now()).ok());
  const pid_t child = fork();
  if (child == 0) _exit(0);
  waitpid(child, nullptr, 0);  // a pid that is gone
  const std::string dead = absl::StrCat("testhost/", child, "/0");
  const std::string live = absl::StrCat("testhost/", getpid(), "/0");
  ASSERT_EQ(repo_->LeaseFiles(dead, 1, absl::Hours(1), clock_.Now())->size(), 1u);
  ASSERT_EQ(repo_->LeaseFiles(live, 1, absl::Hours(1), clock_.Now())->size(), 1u);
  EXPECT_TRUE(repo_->LeaseFiles("other", 5, absl::Hours(1), clock_.Now())->empty());
  auto freed = ReclaimLeasesOfDeadProcesses(*repo_, "testhost", clock_.Now());
  ASSERT_TRUE(freed.ok()) << freed.status();
  EXPECT_EQ(*freed, 1);
  clock_.AdvanceTime(absl::Seconds(1));
  auto again = repo_->LeaseFiles("restarted", 5, absl::Hours(1), clock_.Now());
  ASSERT_TRUE(again.ok());
  ASSERT_EQ(again->size(), 1u);  // the dead worker's file; the live one keeps its own
}

// A killed adapter nobody has reaped yet (a zombie; an init that does not reap orphans leaves it so) is
// dead too: its leases are taken back at once, not after they run out.
TEST_F(BackendRunnerTest, LeasesOfAnUnreapedDeadProcessAreTakenBack) {
  auto job = MakeJob("z", {"one"});
  ASSERT_TRUE(repo_->InsertJob(job, "gfal2", clock_.Now()).ok());
  const pid_t child = fork();
  if (child == 0) _exit(0);
  // Not waited for yet: the child is a zombie until waitpid below.
  for (int i = 0; i < 200; ++i) {
    std::ifstream stat(absl::StrCat("/proc/", child, "/stat"));
    std::string line;
    std::getline(stat, line);
    if (line.find(") Z") != std::string::npos) break;
    absl::SleepFor(absl::Milliseconds(10));
  }
  const std::string zombie = absl::StrCat("testhost/", child, "/0");
  ASSERT_EQ(repo_->LeaseFiles(zombie, 1, absl::Hours(1), clock_.Now())->size(), 1u);
  auto freed = ReclaimLeasesOfDeadProcesses(*repo_, "testhost", clock_.Now());
  waitpid(child, nullptr, 0);
  ASSERT_TRUE(freed.ok()) << freed.status();
  EXPECT_EQ(*freed, 1);
}

// The gfal2 backend's copy timeout follows FTS3's rule unless one is configured.
TEST(CopyTimeoutTest, Fts3RuleUnlessConfigured) {
  EXPECT_EQ(CopyTimeout(absl::ZeroDuration(), 0), absl::Seconds(600));
  EXPECT_EQ(CopyTimeout(absl::ZeroDuration(), 1'000'000'000), absl::Seconds(600 + 2000));
  EXPECT_EQ(CopyTimeout(absl::Minutes(5), 1'000'000'000), absl::Minutes(5));
}

TEST(Fts3StatesTest, FileStatesAndFailureClasses) {
  EXPECT_EQ(AdapterFileState("READY"), "SUBMITTED");
  EXPECT_EQ(AdapterFileState("STARTED"), "ACTIVE");
  EXPECT_EQ(AdapterFileState("FINISHED"), "FINISHED");
  backend::FileStatus f;
  f.file_state = "FAILED";
  f.reason = "DESTINATION [28] No space left on device";
  auto s = ExternalStateOf(f, 7, "adler32:00000001");
  EXPECT_EQ(s.failure_class, "NO_SPACE");
  EXPECT_FALSE(s.recoverable);
  f.reason = std::string("SOURCE [2] No such file or directory\0 (source)", 45);
  s = ExternalStateOf(f, 7, "");
  EXPECT_EQ(s.failure_class, "SOURCE");
  EXPECT_EQ(s.error.find('\0'), std::string::npos);  // PostgreSQL text cannot hold it
  f.reason = "TRANSFER [110] Connection timed out";
  s = ExternalStateOf(f, 7, "");
  EXPECT_TRUE(s.recoverable);
  f.file_state = "FINISHED";
  f.filesize = 42;
  s = ExternalStateOf(f, 7, "adler32:00000001");
  EXPECT_EQ(s.bytes, 42);
  EXPECT_EQ(s.checksum, "adler32:00000001");
}

}  // namespace
}  // namespace aso::fts_adapter
