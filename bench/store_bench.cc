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
#include "bench/bench_rows.h"
#include "libs/db/pg_util.h"
#include "libs/db/scheduling_repository.h"
#include "libs/db/site_repository.h"
#include "libs/db/testing/test_database.h"
#include "libs/db/transfer_repository.h"
#include "services/scheduler/job_planner.h"

ABSL_FLAG(int, rows, 1'000'000, "Rows per phase");
ABSL_FLAG(int, batch, 1000, "Files per InsertBatch call");

namespace {
using aso::bench::CopyRows;
using aso::bench::FreshDatabase;
using aso::bench::kNow;
using aso::bench::Request;
using aso::bench::Seconds;
using aso::db::testing::TestDatabase;
namespace cv1 = aso::common::v1;

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
        aso::db::ClaimLimits{1'000'000'000, 1'000'000'000, std::min(1000, limit - claimed), "", 0}, kNow,
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
