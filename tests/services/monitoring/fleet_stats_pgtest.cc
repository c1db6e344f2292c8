// aso-monitoring's figures over a real PostgreSQL: every metric's value for a known state, counters that
// start with the process while the throughput windows see the last hour, the bounded user label, and the
// gRPC views.
#include "services/monitoring/fleet_stats.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/db/stats_repository.h"
#include "tests/libs/db/db_test_util.h"

namespace aso::monitoring {
namespace {
using ::testing::HasSubstr;
using ::testing::Not;

class FleetStatsTest : public db::PgTest {
 protected:
  void SetUp() override {
    PgTest::SetUp();
    if (HasFatalFailure()) return;
    db::AddSite(tdb_->db(), "A");
    db::AddSite(tdb_->db(), "B");
    repo_ = std::make_unique<db::PgStatsRepository>(tdb_->db());
    metrics_ = std::move(*metrics::Metrics::Start("monitoring", ""));
  }
  // An attempt of `id` recorded now (or `recorded_ago` earlier) that finished `finished_ago` earlier.
  void Attempt(int64_t id, int attempt, const std::string& result, const std::string& failure_class,
               int64_t bytes, const std::string& finished_ago, const std::string& recorded_ago = "0 s") {
    tdb_->Exec(absl::StrCat(
        "INSERT INTO attempts (transfer_id, attempt, backend_job_id, result, source_site, destination_site, "
        "started, finished, bytes, failure_class, recorded) VALUES (",
        id, ", ", attempt, ", 'j', '", result, "', 'A', 'B', now() - interval '", finished_ago,
        "' - interval '1 s', now() - interval '", finished_ago, "', ", bytes, ", '", failure_class,
        "', clock_timestamp() - interval '", recorded_ago, "')"));
  }
  std::string Scrape() { return metrics_->Serialize(); }

  std::unique_ptr<db::PgStatsRepository> repo_;
  std::unique_ptr<metrics::Metrics> metrics_;
};

TEST_F(FleetStatsTest, EveryFigureForAKnownState) {
  // A -> B: alice has 3 queued files (one cooling off after a failure), bob 1; 2 of alice's in flight,
  // one SUBMITTED (its job accepted) and one ACTIVE; 3 finished.
  const auto alice = db::InsertTransfers(tdb_->db(), 8, "a", "A", "B", "alice");
  const auto bob = db::InsertTransfers(tdb_->db(), 1, "b", "A", "B", "bob");
  tdb_->Exec("UPDATE transfers SET created = now() - interval '10 minutes', not_before = now()");
  tdb_->Exec(
      absl::StrCat("UPDATE transfers SET not_before = now() + interval '1 hour' WHERE id = ", alice[2]));
  tdb_->Exec(
      absl::StrCat("UPDATE transfers SET state = 'SUBMITTING', backend_job_id = 'job-1', claimed_at = "
                   "now() - interval '2 minutes' WHERE id = ",
                   alice[3]));
  tdb_->Exec(
      "INSERT INTO submissions (job_id, source_site, destination_site, transfer_ids, claimed_at, "
      "accepted_at) "
      "VALUES ('job-1', 'A', 'B', '{}', now(), now())");
  tdb_->Exec(absl::StrCat(
      "UPDATE transfers SET state = 'ACTIVE', claimed_at = now() - interval '5 minutes' WHERE id = ",
      alice[4]));
  // Finished before the service started: seen by the 1 h window only.
  tdb_->Exec(absl::StrCat("UPDATE transfers SET state = 'DONE' WHERE id = ", alice[5]));
  Attempt(alice[5], 1, "DONE", "", 720'000, "20 minutes", "20 minutes");
  // A DONE file waiting for its catalog entry, one announcement undelivered, one source to delete.
  tdb_->Exec(
      absl::StrCat("UPDATE transfers SET state = 'DONE', publication_state = 'PENDING', "
                   "cleanup_state = 'PENDING' WHERE id = ",
                   alice[6]));
  tdb_->Exec(absl::StrCat("UPDATE transfers SET state = 'DONE' WHERE id = ", alice[7]));
  tdb_->Exec(absl::StrCat("INSERT INTO publication_outbox (transfer_id, payload, not_before) VALUES (",
                          alice[7], ", '{}', now())"));
  tdb_->Exec(
      "INSERT INTO links (source_site, destination_site, optimized_active, max_active, updated) "
      "VALUES ('A', 'B', 7, 0, now())");

  FleetStatsConfig config;
  config.top_users = 1;
  config.default_link_max_active = 100;
  FleetStats stats(*repo_, *metrics_, config);
  EXPECT_EQ(*stats.RunOnce(), 0);  // the attempt before the start is not counted
  // After the start: one success of 3,000,000 bytes, one NETWORK failure, one cancel.
  Attempt(alice[6], 1, "DONE", "", 3'000'000, "1 minute");
  Attempt(alice[7], 1, "FAILED", "NETWORK", 0, "30 seconds");
  Attempt(alice[7], 2, "CANCELED", "CANCELED", 0, "10 seconds");
  EXPECT_EQ(*stats.RunOnce(), 3);
  EXPECT_EQ(*stats.RunOnce(), 0);  // each attempt once

  const std::string text = Scrape();
  const std::string ab = "destination_site=\"B\",source_site=\"A\"";
  EXPECT_THAT(text, HasSubstr(absl::StrCat("aso_transfers{", ab, ",state=\"QUEUED\"} 4\n")));
  EXPECT_THAT(text, HasSubstr(absl::StrCat("aso_transfers{", ab, ",state=\"SUBMITTED\"} 1\n")));
  EXPECT_THAT(text, HasSubstr(absl::StrCat("aso_transfers{", ab, ",state=\"ACTIVE\"} 1\n")));
  EXPECT_THAT(text, Not(HasSubstr("state=\"DONE\"")));  // terminal files are counted by the counters
  EXPECT_THAT(text, HasSubstr(absl::StrCat("aso_queue_ready_files{", ab, "} 3\n")));
  EXPECT_THAT(text, HasSubstr(absl::StrCat("aso_link_active_transfers{", ab, "} 2\n")));
  EXPECT_THAT(text, HasSubstr(absl::StrCat("aso_link_limit_current{", ab, "} 7\n")));
  EXPECT_THAT(text, HasSubstr(absl::StrCat("aso_link_limit_configured{", ab, "} 100\n")));
  EXPECT_THAT(
      text,
      HasSubstr("aso_transfer_attempts_total{destination_site=\"B\",result=\"done\",source_site=\"A\"} 1\n"));
  EXPECT_THAT(
      text,
      HasSubstr(
          "aso_transfer_attempts_total{destination_site=\"B\",result=\"failed\",source_site=\"A\"} 1\n"));
  EXPECT_THAT(
      text,
      HasSubstr(
          "aso_transfer_attempts_total{destination_site=\"B\",result=\"canceled\",source_site=\"A\"} 1\n"));
  EXPECT_THAT(text, HasSubstr(absl::StrCat("aso_transferred_bytes_total{", ab, "} 3000000\n")));
  EXPECT_THAT(text, HasSubstr("aso_transfer_failures_total{destination_site=\"B\",failure_class=\"NETWORK\","
                              "source_site=\"A\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("aso_transfer_size_bytes_count 1\n"));
  // 5 minutes: the new success only; 1 hour: both successes.
  EXPECT_THAT(
      text, HasSubstr(absl::StrCat("aso_link_throughput_bytes_per_second{", ab, ",window=\"5m\"} 10000\n")));
  EXPECT_THAT(
      text, HasSubstr(absl::StrCat("aso_link_throughput_bytes_per_second{", ab, ",window=\"1h\"} 1033.333")));
  // alice has 3 queued files, bob 1: with one user series, bob is summed under (other).
  EXPECT_THAT(text, HasSubstr("aso_user_queued_files{user=\"alice\"} 3\n"));
  EXPECT_THAT(text, HasSubstr("aso_user_queued_files{user=\"(other)\"} 1\n"));
  EXPECT_THAT(text, Not(HasSubstr("user=\"bob\"")));
  EXPECT_THAT(text, HasSubstr("aso_publication_backlog_files{stage=\"catalog\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("aso_publication_backlog_files{stage=\"announcement\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("aso_cleanup_backlog_files 1\n"));
  EXPECT_THAT(text, HasSubstr("aso_monitoring_refresh_seconds_count 3\n"));

  // The oldest queued file was submitted 10 minutes ago; the oldest in flight was claimed 5 minutes ago.
  auto links = stats.LinkStats("A", "");
  ASSERT_EQ(links.size(), 1u);
  EXPECT_NEAR(links[0].oldest_waiting_seconds(), 600, 30);
  EXPECT_NEAR(links[0].oldest_in_flight_seconds(), 300, 30);
  EXPECT_EQ(links[0].queued(), 4);
  EXPECT_EQ(links[0].ready(), 3);
  EXPECT_EQ(links[0].in_flight(), 2);
  EXPECT_EQ(links[0].limit_current(), 7);
  EXPECT_EQ(links[0].limit_configured(), 100);
  EXPECT_EQ(links[0].done_files(), 1);
  EXPECT_EQ(links[0].done_bytes(), 3'000'000);
  EXPECT_EQ(links[0].failed_attempts(), 1);
  EXPECT_EQ(links[0].failures_by_class().at("NETWORK"), 1);
  EXPECT_DOUBLE_EQ(links[0].bytes_per_second_5m(), 10'000);
  EXPECT_TRUE(stats.LinkStats("B", "").empty());

  int64_t others = 0;
  auto users = stats.UserStats("", 1, &others);
  ASSERT_EQ(users.size(), 1u);
  EXPECT_EQ(users[0].user(), "alice");
  EXPECT_EQ(users[0].queued(), 3);
  EXPECT_EQ(users[0].ready(), 2);
  EXPECT_EQ(users[0].in_flight(), 2);
  EXPECT_EQ(others, 1);
  users = stats.UserStats("bob", 20, &others);
  ASSERT_EQ(users.size(), 1u);
  EXPECT_EQ(users[0].queued(), 1);

  auto sites = stats.SiteStats("A");
  ASSERT_EQ(sites.size(), 1u);
  EXPECT_EQ(sites[0].done_files(), 1);
  EXPECT_EQ(sites[0].failed_attempts(), 1);
  EXPECT_DOUBLE_EQ(sites[0].outbound_bytes_per_second_5m(), 10'000);

  // The queue drains and bob's backlog grows: alice leaves the top and loses her series; emptied link
  // series read 0 instead of vanishing.
  tdb_->Exec(absl::StrCat("UPDATE transfers SET state = 'FAILED' WHERE id IN (", alice[0], ",", alice[1], ",",
                          alice[2], ",", alice[3], ",", alice[4], ")"));
  db::InsertTransfers(tdb_->db(), 2, "b2", "A", "B", "bob");
  ASSERT_TRUE(stats.RunOnce().ok());
  const std::string later = Scrape();
  EXPECT_THAT(later, Not(HasSubstr("user=\"alice\"")));
  EXPECT_THAT(later, HasSubstr("aso_user_queued_files{user=\"bob\"} 3\n"));
  EXPECT_THAT(later, HasSubstr("aso_user_queued_files{user=\"(other)\"} 0\n"));
  EXPECT_THAT(later, HasSubstr(absl::StrCat("aso_transfers{", ab, ",state=\"ACTIVE\"} 0\n")));
  EXPECT_THAT(later, HasSubstr(absl::StrCat("aso_link_active_transfers{", ab, "} 0\n")));
  EXPECT_THAT(later, HasSubstr(absl::StrCat("aso_link_oldest_in_flight_seconds{", ab, "} 0\n")));

  // A link the scheduler has not recorded yet has its limits too: the default ceiling, no decision.
  db::InsertTransfers(tdb_->db(), 1, "ba", "B", "A", "bob");
  ASSERT_TRUE(stats.RunOnce().ok());
  const std::string ba = Scrape();
  EXPECT_THAT(ba, HasSubstr("aso_link_limit_configured{destination_site=\"A\",source_site=\"B\"} 100\n"));
  EXPECT_THAT(ba, HasSubstr("aso_link_limit_current{destination_site=\"A\",source_site=\"B\"} 0\n"));
}

}  // namespace
}  // namespace aso::monitoring
