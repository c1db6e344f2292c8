// Publication over a real PostgreSQL: the catalog entry is written once per file, files fill dataset
// blocks that close after N files or T idle, a taken LFN is refused, and the outbox is delivered to the
// external catalog with retries.
#include "services/bookkeeping/publisher.h"

#include <map>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/db/outcome_repository.h"
#include "tests/libs/db/db_test_util.h"

namespace aso::bookkeeping {
namespace {
namespace v1 = aso::common::v1;
using ::testing::HasSubstr;

class FakeCatalog : public ExternalCatalog {
 public:
  absl::Status Publish(int64_t transfer_id, const std::string& entry_json) override {
    if (failures > 0) {
      --failures;
      return absl::UnavailableError("catalog answered HTTP 503");
    }
    received[transfer_id] = entry_json;
    ++calls;
    return absl::OkStatus();
  }
  int failures = 0;
  int calls = 0;
  std::map<int64_t, std::string> received;
};

class PublisherTest : public db::PgTest {
 protected:
  void SetUp() override {
    PgTest::SetUp();
    if (HasFatalFailure()) return;
    db::AddSite(tdb_->db(), "A");
    db::AddSite(tdb_->db(), "B");
    outcomes_ = std::make_unique<db::PgOutcomeRepository>(tdb_->db());
    repo_ = std::make_unique<db::PgPublicationRepository>(tdb_->db());
    metrics_ = std::move(*metrics::Metrics::Start("publisher", ""));
    config_.block_max_files = 2;
    config_.block_idle = absl::Minutes(10);
    config_.retry_delay = absl::Seconds(30);
  }
  // A DONE transfer; `publish` with `dataset` and LFN /store/user/alice/<name>.
  int64_t Done(const std::string& name, bool publish, const std::string& dataset, std::string lfn = "") {
    if (lfn.empty()) lfn = name;
    const int64_t id = db::InsertTransfers(tdb_->db(), 1, name)[0];
    tdb_->Exec(absl::StrCat(
        "UPDATE transfers SET state = 'SUBMITTING', attempt = 1, publish = ", publish ? "true" : "false",
        ", dataset = '", dataset, "', destination_lfn = '/store/user/alice/", lfn,
        "', checksum = '', metadata = '{\"run\": \"7\"}' WHERE id = ", id));
    v1::FileOutcome o;
    o.set_transfer_id(id);
    o.set_attempt(1);
    o.set_state(v1::TRANSFER_STATE_DONE);
    o.set_checksum("adler32:0000abcd");
    o.set_bytes(1000);
    EXPECT_TRUE(*outcomes_->ApplyFinished(o, std::nullopt, clock_.Now()));
    return id;
  }
  std::string Publication(int64_t id) {
    return tdb_->QueryText(
        absl::StrCat("SELECT publication_state || ' ' || publication_error FROM transfers WHERE id = ", id));
  }

  std::unique_ptr<db::PgOutcomeRepository> outcomes_;
  std::unique_ptr<db::PgPublicationRepository> repo_;
  std::unique_ptr<metrics::Metrics> metrics_;
  FakeCatalog external_;
  FakeClock clock_;
  PublisherConfig config_;
};

TEST_F(PublisherTest, FilesAreCataloguedOnceInDatasetBlocks) {
  const int64_t a = Done("a", true, "/Prim/alice-v1/USER");
  const int64_t b = Done("b", true, "/Prim/alice-v1/USER");
  const int64_t c = Done("c", true, "/Prim/alice-v1/USER");
  const int64_t quiet = Done("q", false, "/Prim/alice-v1/USER");
  EXPECT_EQ(Publication(a), "PENDING ");
  EXPECT_EQ(Publication(quiet), "NONE ");
  Publisher publisher(*repo_, nullptr, clock_, config_, *metrics_);
  EXPECT_EQ(*publisher.RunOnce(), 3);
  EXPECT_EQ(Publication(a), "DONE ");
  EXPECT_EQ(tdb_->QueryInt("SELECT count(*) FROM catalog_entries"), 3);
  // Two files fill the first block, which closes; the third opens the next.
  EXPECT_EQ(tdb_->QueryText("SELECT string_agg(files || ':' || state, ',' ORDER BY id) FROM dataset_blocks"),
            "2:CLOSED,1:OPEN");
  EXPECT_EQ(tdb_->QueryInt("SELECT count(*) FROM publication_outbox"), 0);  // no external catalog

  // Run again as after a crash before the state was seen: nothing is catalogued twice.
  tdb_->Exec(
      absl::StrCat("UPDATE transfers SET publication_state = 'PENDING' WHERE id IN (", a, ",", b, ")"));
  EXPECT_EQ(*publisher.RunOnce(), 2);
  EXPECT_EQ(tdb_->QueryInt("SELECT count(*) FROM catalog_entries"), 3);
  EXPECT_EQ(tdb_->QueryText("SELECT string_agg(files::text, ',' ORDER BY id) FROM dataset_blocks"), "2,1");

  // An idle block closes.
  clock_.AdvanceTime(absl::Minutes(11));
  EXPECT_EQ(*publisher.RunOnce(), 0);
  EXPECT_EQ(tdb_->QueryText("SELECT string_agg(state, ',' ORDER BY id) FROM dataset_blocks"),
            "CLOSED,CLOSED");

  aso::bookkeeping::v1::ListCatalogRequest q;
  q.set_dataset("/Prim/alice-v1/USER");
  auto entries = repo_->ListCatalog(q);
  ASSERT_TRUE(entries.ok()) << entries.status();
  ASSERT_EQ(entries->size(), 3u);
  const auto& e = (*entries)[2];  // newest first: a is last
  EXPECT_EQ(e.transfer_id(), a);
  EXPECT_EQ(e.lfn(), "/store/user/alice/a");
  EXPECT_EQ(e.site(), "B");
  EXPECT_EQ(e.checksum(), "adler32:0000abcd");
  EXPECT_EQ(e.block_state(), "CLOSED");
  EXPECT_EQ(e.metadata().at("run"), "7");
  q.Clear();
  q.set_lfn("/store/user/alice/c");
  EXPECT_EQ(repo_->ListCatalog(q)->size(), 1u);
  EXPECT_EQ(c, (*repo_->ListCatalog(q))[0].transfer_id());
}

TEST_F(PublisherTest, ATakenLfnIsRefused) {
  Done("first", true, "", "same");
  const int64_t again = Done("second", true, "", "same");  // another transfer to the same LFN and site
  Publisher publisher(*repo_, nullptr, clock_, config_, *metrics_);
  EXPECT_EQ(*publisher.RunOnce(), 2);
  EXPECT_THAT(Publication(again), HasSubstr("FAILED the LFN is already in the catalog at this site"));
  EXPECT_EQ(tdb_->QueryInt("SELECT count(*) FROM catalog_entries"), 1);
}

TEST_F(PublisherTest, TheOutboxIsDeliveredWithRetries) {
  const int64_t a = Done("a", true, "/D/x/USER");
  external_.failures = 1;
  Publisher publisher(*repo_, &external_, clock_, config_, *metrics_);
  EXPECT_EQ(*publisher.RunOnce(), 1);  // catalogued; its delivery failed
  EXPECT_EQ(tdb_->QueryText("SELECT attempts || ' ' || (delivered IS NULL) || ' ' || last_error "
                            "FROM publication_outbox"),
            "1 true catalog answered HTTP 503");
  EXPECT_EQ(*publisher.RunOnce(), 0);  // waits its delay
  clock_.AdvanceTime(absl::Seconds(31));
  EXPECT_EQ(*publisher.RunOnce(), 1);
  EXPECT_EQ(tdb_->QueryText("SELECT attempts || ' ' || (delivered IS NOT NULL) FROM publication_outbox"),
            "2 true");
  ASSERT_EQ(external_.received.count(a), 1u);
  EXPECT_THAT(external_.received[a], HasSubstr("\"lfn\": \"/store/user/alice/a\""));
  EXPECT_THAT(external_.received[a], HasSubstr("\"dataset\": \"/D/x/USER\""));
  clock_.AdvanceTime(absl::Hours(2));
  EXPECT_EQ(*publisher.RunOnce(), 0);  // delivered once
  EXPECT_EQ(external_.calls, 1);
}

}  // namespace
}  // namespace aso::bookkeeping
