// Source cleanup over a real PostgreSQL with a scripted adapter: what makes a file due, what each storage
// answer does to it, and that a destination not verified is never followed by a deletion.
#include "services/bookkeeping/source_cleaner.h"

#include <map>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/db/outcome_repository.h"
#include "libs/db/site_repository.h"
#include "tests/libs/db/db_test_util.h"

namespace aso::bookkeeping {
namespace {
namespace v1 = aso::common::v1;

// The adapter's DeleteFiles with a chosen answer per URL (OK when not scripted).
class ScriptedStorage : public StorageStub {
 public:
  absl::StatusOr<std::vector<absl::Status>> DeleteFiles(const std::vector<std::string>& urls,
                                                        const std::vector<std::string>& owners) override {
    if (!reachable) return absl::UnavailableError("adapter down");
    owners_asked.insert(owners_asked.end(), owners.begin(), owners.end());
    std::vector<absl::Status> out;
    for (const auto& url : urls) {
      asked.push_back(url);
      auto it = answers.find(url);
      out.push_back(it == answers.end() ? absl::OkStatus() : it->second);
    }
    return out;
  }
  bool reachable = true;
  std::map<std::string, absl::Status> answers;
  std::vector<std::string> asked;
  std::vector<std::string> owners_asked;  // the owner named with each URL
};

class SourceCleanerTest : public db::PgTest {
 protected:
  void SetUp() override {
    PgTest::SetUp();
    if (HasFatalFailure()) return;
    db::PgSiteRepository sites(tdb_->db());
    v1::Site a;
    a.set_name("A");
    a.add_url_prefixes("root://a.example//");
    a.set_cleanup_source(true);  // A deletes its temporary files; B keeps them
    ASSERT_TRUE(sites.Upsert(a, db::kT0).ok());
    db::AddSite(tdb_->db(), "B");
    outcomes_ = std::make_unique<db::PgOutcomeRepository>(tdb_->db());
    repo_ = std::make_unique<db::PgCleanupRepository>(tdb_->db());
    metrics_ = std::move(*metrics::Metrics::Start("cleaner", ""));
    config_.retry_delay = absl::Minutes(1);
    config_.max_attempts = 3;
  }
  // A transfer from `source_site`, claimed for attempt 1, then reported DONE with `checksum`.
  int64_t Done(const std::string& source_site, const std::string& checksum) {
    const std::string dst = source_site == "A" ? "B" : "A";
    const int64_t id = db::InsertTransfers(tdb_->db(), 1, absl::StrCat("f", next_++), source_site, dst)[0];
    tdb_->Exec(
        absl::StrCat("UPDATE transfers SET state = 'SUBMITTING', attempt = 1, backend_job_id = 'j', "
                     "source_url = 'root://a.example//temp/",
                     id, "' WHERE id = ", id));
    v1::FileOutcome o;
    o.set_transfer_id(id);
    o.set_attempt(1);
    o.set_backend_job_id("j");
    o.set_state(v1::TRANSFER_STATE_DONE);
    o.set_checksum(checksum);
    o.mutable_finished()->set_seconds(1'800'000'000);
    EXPECT_TRUE(*outcomes_->ApplyFinished(o, std::nullopt, db::kT0));
    return id;
  }
  std::string Cleanup(int64_t id) {
    return tdb_->QueryText(
        absl::StrCat("SELECT cleanup_state || ' ' || cleanup_attempts || ' ' || cleanup_error "
                     "FROM transfers WHERE id = ",
                     id));
  }

  std::unique_ptr<db::PgOutcomeRepository> outcomes_;
  std::unique_ptr<db::PgCleanupRepository> repo_;
  std::unique_ptr<metrics::Metrics> metrics_;
  ScriptedStorage storage_;
  FakeClock clock_;
  SourceCleanerConfig config_;
  int next_ = 0;
};

TEST_F(SourceCleanerTest, OnlyVerifiedCopiesFromCleaningSitesAreDeleted) {
  const int64_t verified = Done("A", "adler32:0000abcd");
  const int64_t unverified = Done("A", "");
  const int64_t kept_site = Done("B", "adler32:0000abcd");
  EXPECT_EQ(Cleanup(verified), "PENDING 0 ");
  EXPECT_EQ(Cleanup(unverified), "SKIPPED 0 not deleted: the destination checksum was not verified");
  EXPECT_EQ(Cleanup(kept_site), "NONE 0 ");
  SourceCleaner cleaner(*repo_, storage_, clock_, config_, *metrics_);
  EXPECT_EQ(*cleaner.RunOnce(), 1);
  EXPECT_THAT(storage_.asked, ::testing::ElementsAre(absl::StrCat("root://a.example//temp/", verified)));
  // Site A moves files with the service's credential (the deployment's default): no owner is named.
  EXPECT_THAT(storage_.owners_asked, ::testing::ElementsAre(""));
  EXPECT_EQ(Cleanup(verified), "DONE 1 ");
  EXPECT_EQ(*cleaner.RunOnce(), 0);
  EXPECT_EQ(tdb_->QueryText(absl::StrCat("SELECT state FROM transfers WHERE id = ", verified)), "DONE");

  // Where the source site moves files with their owners' credentials (its own setting, or the
  // deployment's for a 'default' site), the deletion names the file's owner, whose credential deletes it.
  tdb_->Exec("UPDATE sites SET credentials = 'owner' WHERE name = 'A'");
  const int64_t owned = Done("A", "adler32:0000abcd");
  EXPECT_EQ(*cleaner.RunOnce(), 1);
  const std::string owner =
      tdb_->QueryText(absl::StrCat("SELECT username FROM transfers WHERE id = ", owned));
  EXPECT_NE(owner, "");
  EXPECT_THAT(storage_.owners_asked, ::testing::ElementsAre("", owner));
  tdb_->Exec("UPDATE sites SET credentials = 'default' WHERE name = 'A'");
  tdb_->Exec("INSERT INTO deployment_settings VALUES ('site_credentials', 'owner', now())");
  const int64_t by_default = Done("A", "adler32:0000abcd");
  EXPECT_EQ(*cleaner.RunOnce(), 1);
  EXPECT_EQ(storage_.owners_asked.back(),
            tdb_->QueryText(absl::StrCat("SELECT username FROM transfers WHERE id = ", by_default)));
}

TEST_F(SourceCleanerTest, StorageAnswersDecideRetries) {
  const absl::Time start = clock_.Now();
  const int64_t gone = Done("A", "adler32:1");
  const int64_t flaky = Done("A", "adler32:2");
  const int64_t refused = Done("A", "adler32:3");
  storage_.answers[absl::StrCat("root://a.example//temp/", gone)] = absl::NotFoundError("no such file");
  storage_.answers[absl::StrCat("root://a.example//temp/", flaky)] = absl::UnavailableError("[3012] busy");
  storage_.answers[absl::StrCat("root://a.example//temp/", refused)] =
      absl::PermissionDeniedError("[3010] no");
  SourceCleaner cleaner(*repo_, storage_, clock_, config_, *metrics_);
  EXPECT_EQ(*cleaner.RunOnce(), 3);
  EXPECT_EQ(Cleanup(gone), "DONE 1 ");  // already gone counts as deleted
  EXPECT_EQ(Cleanup(flaky), "PENDING 1 [3012] busy");
  EXPECT_EQ(Cleanup(refused), "FAILED 1 [3010] no");  // retrying cannot fix a refusal
  EXPECT_EQ(*cleaner.RunOnce(), 0);                   // the retry waits its delay
  clock_.AdvanceTime(absl::Seconds(61));
  EXPECT_EQ(*cleaner.RunOnce(), 1);
  EXPECT_EQ(Cleanup(flaky), "PENDING 2 [3012] busy");
  clock_.AdvanceTime(absl::Seconds(61));  // the second delay is two minutes
  EXPECT_EQ(*cleaner.RunOnce(), 0);
  clock_.AdvanceTime(absl::Seconds(61));
  EXPECT_EQ(*cleaner.RunOnce(), 1);
  EXPECT_EQ(Cleanup(flaky), "FAILED 3 [3012] busy");  // max_attempts
  // When each cleanup ended is kept for the file's timeline: the refusal at the first pass, the flaky
  // source at its third.
  auto finished = [&](int64_t id) {
    return tdb_->QueryText(
        absl::StrCat("SELECT COALESCE(extract(epoch from cleanup_finished)::bigint::text, 'none') FROM "
                     "transfers WHERE id = ",
                     id));
  };
  EXPECT_EQ(finished(refused), absl::StrCat(absl::ToUnixSeconds(start)));
  EXPECT_EQ(finished(gone), absl::StrCat(absl::ToUnixSeconds(start)));
  EXPECT_EQ(finished(flaky), absl::StrCat(absl::ToUnixSeconds(clock_.Now())));
}

TEST_F(SourceCleanerTest, AnUnreachableAdapterChangesNothing) {
  const int64_t id = Done("A", "adler32:1");
  storage_.reachable = false;
  SourceCleaner cleaner(*repo_, storage_, clock_, config_, *metrics_);
  EXPECT_TRUE(absl::IsUnavailable(cleaner.RunOnce().status()));
  EXPECT_EQ(Cleanup(id), "PENDING 0 ");
  storage_.reachable = true;
  EXPECT_EQ(*cleaner.RunOnce(), 0);  // held by the first try for `hold`
  clock_.AdvanceTime(config_.hold + absl::Seconds(1));
  EXPECT_EQ(*cleaner.RunOnce(), 1);
  EXPECT_EQ(Cleanup(id), "DONE 1 ");
}

TEST_F(SourceCleanerTest, AFileToPublishIsCleanedAfterItsPublication) {
  const int64_t id = Done("A", "adler32:1");
  tdb_->Exec(absl::StrCat("UPDATE transfers SET publication_state = 'PENDING' WHERE id = ", id));
  SourceCleaner cleaner(*repo_, storage_, clock_, config_, *metrics_);
  EXPECT_EQ(*cleaner.RunOnce(), 0);
  tdb_->Exec(absl::StrCat("UPDATE transfers SET publication_state = 'DONE' WHERE id = ", id));
  EXPECT_EQ(*cleaner.RunOnce(), 1);
}

// The batch path of DONE outcomes marks cleanups the same way.
TEST_F(SourceCleanerTest, BatchedDoneOutcomesMarkCleanups) {
  const int64_t id = db::InsertTransfers(tdb_->db(), 1, "batch")[0];
  tdb_->Exec(absl::StrCat("UPDATE transfers SET state = 'SUBMITTING', attempt = 1 WHERE id = ", id));
  v1::FileOutcome o;
  o.set_transfer_id(id);
  o.set_attempt(1);
  o.set_state(v1::TRANSFER_STATE_DONE);
  o.set_checksum("adler32:00000001");
  ASSERT_TRUE(outcomes_->ApplyDone({o}, db::kT0).ok());
  EXPECT_EQ(Cleanup(id), "PENDING 0 ");
}

}  // namespace
}  // namespace aso::bookkeeping
