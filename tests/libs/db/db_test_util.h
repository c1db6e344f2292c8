// Shared set-up for the repository tests: sites and transfers in a fresh database.
#ifndef ASO_TESTS_LIBS_DB_DB_TEST_UTIL_H_
#define ASO_TESTS_LIBS_DB_DB_TEST_UTIL_H_

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "libs/db/site_repository.h"
#include "libs/db/testing/test_database.h"
#include "libs/db/transfer_repository.h"

namespace aso::db {

inline const absl::Time kT0 = absl::FromUnixSeconds(1'800'000'000);

// Files the API shows as SUBMITTED: SUBMITTING rows whose bulk job the backend accepted.
inline constexpr char kCountSubmitted[] =
    "SELECT count(*) FROM transfers t JOIN submissions s ON s.job_id = t.backend_job_id "
    "WHERE aso_file_state(t.state, s.accepted_at) = 'SUBMITTED'";

// The claim tables (migration 0003) hold exactly the QUEUED transfers, with their claim keys, and the
// transfers in flight.
inline void ExpectClaimTablesConsistent(testing::TestDatabase& tdb) {
  EXPECT_EQ(
      tdb.QueryInt("SELECT count(*) FROM (SELECT * FROM transfers WHERE state = 'QUEUED') t "
                   "FULL JOIN transfer_queue q ON q.transfer_id = t.id AND q.source_site = t.source_site "
                   "AND q.destination_site = t.destination_site AND q.priority = t.priority "
                   "AND q.not_before = t.not_before AND q.username = t.username WHERE t.id IS NULL OR "
                   "q.transfer_id IS NULL"),
      0)
      << "transfer_queue differs from the QUEUED transfers";
  EXPECT_EQ(
      tdb.QueryInt("SELECT count(*) FROM (SELECT * FROM transfers WHERE state IN ('SUBMITTING', 'ACTIVE')) t "
                   "FULL JOIN transfer_live l ON l.transfer_id = t.id AND l.source_site = t.source_site "
                   "AND l.destination_site = t.destination_site "
                   "WHERE t.id IS NULL OR l.transfer_id IS NULL"),
      0)
      << "transfer_live differs from the transfers in flight";
}

// A test with its own fresh, migrated database in tdb_; at its end the claim tables must agree with the
// transfers, whatever the test did.
class PgTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto t = testing::TestDatabase::Create();
    ASSERT_TRUE(t.ok()) << t.status();
    tdb_ = std::move(*t);
  }
  void TearDown() override {
    if (tdb_ != nullptr) ExpectClaimTablesConsistent(*tdb_);
  }
  std::unique_ptr<testing::TestDatabase> tdb_;
};

inline void AddSite(Database& db, const std::string& name, int max_out = 0, int max_in = 0,
                    aso::common::v1::SiteState state = aso::common::v1::SITE_STATE_ENABLED) {
  PgSiteRepository sites(db);
  Site s;
  s.set_name(name);
  s.add_url_prefixes(absl::StrCat("root://", name, ".example//"));
  s.set_max_active_outbound(max_out);
  s.set_max_active_inbound(max_in);
  s.set_state(state);
  ASSERT_TRUE(sites.Upsert(s, kT0).ok());
}

inline Transfer MakeTransfer(const std::string& key, const std::string& src_site, const std::string& dst_site,
                             const std::string& user = "alice", const std::string& task = "task-1") {
  Transfer t;
  t.set_task_id(task);
  t.set_user(user);
  t.set_job_id("job-1");
  t.mutable_source()->set_site(src_site);
  t.mutable_source()->set_url(absl::StrCat("root://", src_site, ".example//store/temp/", key));
  t.mutable_destination()->set_site(dst_site);
  t.mutable_destination()->set_url(absl::StrCat("root://", dst_site, ".example//store/user/", key));
  t.set_size_bytes(1000);
  t.set_checksum("adler32:00000001");
  t.set_priority(3);
  t.set_idempotency_key(key);
  return t;
}

// Inserts n transfers A->B named prefix0..prefix{n-1} into the user's task ("task-1" for alice,
// "task-<user>" otherwise, as a task belongs to one user); returns their ids.
inline std::vector<int64_t> InsertTransfers(Database& db, int n, const std::string& prefix,
                                            const std::string& src = "A", const std::string& dst = "B",
                                            const std::string& user = "alice") {
  PgTransferRepository repo(db);
  std::vector<Transfer> batch;
  const std::string task = user == "alice" ? "task-1" : absl::StrCat("task-", user);
  for (int i = 0; i < n; ++i) batch.push_back(MakeTransfer(absl::StrCat(prefix, i), src, dst, user, task));
  auto r = repo.InsertBatch(batch, kT0);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? r->ids : std::vector<int64_t>{};
}

}  // namespace aso::db

#endif  // ASO_TESTS_LIBS_DB_DB_TEST_UTIL_H_
