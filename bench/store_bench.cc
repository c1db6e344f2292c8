// The transfer store against PostgreSQL's own speed, in one run on one server:
//   insert   N transfer requests through PgTransferRepository::InsertBatch (batches of 1,000; 1 and 4
//            writers) vs the same rows through raw COPY into the same table;
//   claim    claim + mark-submitted all N rows (scheduler path: ClaimForLink, jobs of 100, MarkSubmitted);
//   flatness cost per claimed row when 10k vs N rows are queued.
// Prints a table and one JSON line. Needs $ASO_TEST_PG (bench/run starts a private cluster).
#include <iostream>
#include <pqxx/pqxx>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "libs/db/pg_util.h"
#include "libs/db/scheduling_repository.h"
#include "libs/db/site_repository.h"
#include "libs/db/testing/test_database.h"
#include "libs/db/transfer_repository.h"
#include "services/scheduler/job_planner.h"

ABSL_FLAG(int, rows, 1'000'000, "Rows per phase");
ABSL_FLAG(int, batch, 1000, "Files per InsertBatch call");

namespace {
using aso::db::testing::TestDatabase;
namespace cv1 = aso::common::v1;

const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);

std::unique_ptr<TestDatabase> FreshDatabase() {
  auto t = TestDatabase::Create();
  if (!t.ok()) {
    std::cerr << t.status() << "\n";
    std::exit(1);
  }
  aso::db::PgSiteRepository sites((*t)->db());
  for (const char* name : {"T2_SRC", "T2_DST"}) {
    cv1::Site s;
    s.set_name(name);
    s.add_url_prefixes(absl::StrCat("root://", name, ".example//"));
    s.set_max_active_outbound(1'000'000'000);
    s.set_max_active_inbound(1'000'000'000);
    (void)sites.Upsert(s, kNow);
  }
  return std::move(*t);
}

cv1::Transfer Request(int64_t i, const std::string& task) {
  cv1::Transfer t;
  t.set_task_id(task);
  t.set_user("alice");
  t.set_job_id(absl::StrCat(i / 10));
  t.mutable_source()->set_site("T2_SRC");
  t.mutable_source()->set_url(absl::StrCat("root://T2_SRC.example//store/temp/user/alice/out_", i, ".root"));
  t.mutable_destination()->set_site("T2_DST");
  t.mutable_destination()->set_url(absl::StrCat("root://T2_DST.example//store/user/alice/out_", i, ".root"));
  t.set_size_bytes(2'000'000 + i);
  t.set_checksum("adler32:0a1b2c3d");
  t.set_priority(3);
  t.set_idempotency_key(absl::StrCat(task, "|", i / 10, "|", t.destination().url()));
  return t;
}

double Seconds(absl::Time start) { return absl::ToDoubleSeconds(absl::Now() - start); }

// Raw COPY of the same rows into the same table (with its indexes and constraints).
double CopyRows(TestDatabase& tdb, int rows) {
  pqxx::connection c(tdb.dsn());
  const absl::Time start = absl::Now();
  pqxx::work w(c);
  w.exec("INSERT INTO tasks (task_id, username, created, updated) VALUES ('copy', 'alice', now(), now())");
  pqxx::stream_to s(
      w, "transfers",
      std::vector<std::string>{"idempotency_key", "task_id", "username", "job_id", "source_site",
                               "source_url", "destination_site", "destination_url", "size_bytes", "checksum",
                               "priority", "metadata", "not_before", "created", "updated"});
  for (int i = 0; i < rows; ++i) {
    cv1::Transfer t = Request(i, "copy");
    s << std::make_tuple(t.idempotency_key(), t.task_id(), t.user(), t.job_id(), t.source().site(),
                         t.source().url(), t.destination().site(), t.destination().url(), t.size_bytes(),
                         t.checksum(), t.priority(), std::string("{}"), std::string("2026-11-22 00:00:00+00"),
                         std::string("2026-11-22 00:00:00+00"), std::string("2026-11-22 00:00:00+00"));
  }
  s.complete();
  w.commit();
  return rows / Seconds(start);
}

double RepositoryInsert(TestDatabase& tdb, int rows, int writers) {
  const int batch = absl::GetFlag(FLAGS_batch);
  std::atomic<int> next{0};
  const absl::Time start = absl::Now();
  std::vector<std::thread> threads;
  for (int w = 0; w < writers; ++w) {
    threads.emplace_back([&, w] {
      aso::db::PgTransferRepository repo(tdb.db());
      const std::string task = absl::StrCat("task-", w);
      for (;;) {
        const int first = next.fetch_add(batch);
        if (first >= rows) return;
        std::vector<cv1::Transfer> requests;
        for (int i = first; i < std::min(rows, first + batch); ++i) requests.push_back(Request(i, task));
        auto r = repo.InsertBatch(requests, kNow);
        if (!r.ok()) {
          std::cerr << r.status() << "\n";
          std::exit(1);
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  return rows / Seconds(start);
}

// Claims and marks submitted up to `limit` rows; returns rows/s of the claim + mark-submitted calls. As in
// a running system the link's in-flight set stays bounded: after each round the submitted rows complete
// (one UPDATE, not timed).
double ClaimCycle(TestDatabase& tdb, int limit) {
  aso::db::PgSchedulingRepository repo(tdb.db());
  pqxx::connection backend(tdb.dsn());
  absl::Duration timed;
  int claimed = 0;
  while (claimed < limit) {
    const absl::Time start = absl::Now();
    auto jobs = repo.ClaimForLink(
        "T2_SRC", "T2_DST",
        aso::db::ClaimLimits{1'000'000'000, 1'000'000'000, std::min(1000, limit - claimed)}, kNow,
        [](const std::vector<aso::db::ClaimedFile>& f) {
          return aso::scheduler::PlanJobs(f, aso::scheduler::JobLimits{100, int64_t{1} << 50});
        });
    if (!jobs.ok() || jobs->empty()) {
      timed += absl::Now() - start;
      break;
    }
    std::vector<std::string> ids;  // job ids
    for (const auto& j : *jobs) {
      ids.push_back(j.job_id);
      claimed += static_cast<int>(j.files.size());
    }
    (void)repo.MarkSubmitted(ids, kNow);
    timed += absl::Now() - start;
    pqxx::work w(backend);
    w.exec(absl::StrCat("UPDATE transfers SET state = 'DONE' WHERE id IN (SELECT unnest(transfer_ids) ",
                        "FROM submissions WHERE job_id = ANY(", w.quote(aso::db::TextArray(ids)),
                        "::text[]))"));
    w.commit();
  }
  return claimed / absl::ToDoubleSeconds(timed);
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const int rows = absl::GetFlag(FLAGS_rows);
  std::cerr << "store_bench: " << rows << " rows per phase\n";

  auto copy_db = FreshDatabase();
  const double copy_rate = CopyRows(*copy_db, rows);
  copy_db.reset();
  std::cerr << absl::StrFormat("  raw COPY             %10.0f rows/s\n", copy_rate);

  auto one_db = FreshDatabase();
  const double insert1 = RepositoryInsert(*one_db, rows, 1);
  std::cerr << absl::StrFormat("  repository, 1 writer %10.0f rows/s\n", insert1);
  auto four_db = FreshDatabase();
  const double insert4 = RepositoryInsert(*four_db, rows, 4);
  four_db.reset();
  std::cerr << absl::StrFormat("  repository, 4 writers%10.0f rows/s\n", insert4);

  // Claim cost with a small queue, then the full queue of `rows`.
  auto small_db = FreshDatabase();
  RepositoryInsert(*small_db, 10'000, 4);
  const double claim_small = ClaimCycle(*small_db, 10'000);
  small_db.reset();
  one_db->Exec("ANALYZE transfers");
  const double claim_first10k = ClaimCycle(*one_db, 10'000);
  const double claim_all = ClaimCycle(*one_db, rows - 10'000);

  std::cout << absl::StrFormat(
      "\n%-44s %12s %12s %8s\n"
      "%-44s %12.0f %12.0f %8.2f\n"
      "%-44s %12.0f %12.0f %8.2f\n"
      "%-44s %12.0f %12s %8s\n"
      "%-44s %12.0f %12.0f %8.2f\n",
      "figure", "rows/s", "baseline", "ratio", "insert via repository, 1 writer (vs COPY)", insert1,
      copy_rate, insert1 / copy_rate, "insert via repository, 4 writers (vs COPY)", insert4, copy_rate,
      insert4 / copy_rate, "claim + mark submitted, whole queue", claim_all, "", "",
      "cost per claimed row, 1M vs 10k queued", claim_first10k, claim_small, claim_small / claim_first10k);
  std::cout << absl::StrFormat(
      "{\"bench\":\"store\",\"rows\":%d,\"copy_rows_per_s\":%.0f,\"insert_1_writer_rows_per_s\":%.0f,"
      "\"insert_4_writers_rows_per_s\":%.0f,\"insert_ratio_1\":%.3f,\"insert_ratio_4\":%.3f,"
      "\"claim_rows_per_s\":%.0f,\"claim_10k_queue_rows_per_s\":%.0f,\"claim_full_queue_rows_per_s\":%.0f,"
      "\"claim_cost_ratio_full_vs_10k\":%.3f}\n",
      rows, copy_rate, insert1, insert4, insert1 / copy_rate, insert4 / copy_rate, claim_all, claim_small,
      claim_first10k, claim_small / claim_first10k);
  return 0;
}
