#include "bench/bench_rows.h"

#include <iostream>
#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "libs/db/site_repository.h"

namespace aso::bench {
using db::testing::TestDatabase;
namespace cv1 = aso::common::v1;

std::unique_ptr<TestDatabase> FreshDatabase() {
  auto t = TestDatabase::Create();
  if (!t.ok()) {
    std::cerr << t.status() << "\n";
    std::exit(1);
  }
  db::PgSiteRepository sites((*t)->db());
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

}  // namespace aso::bench
