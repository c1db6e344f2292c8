#include "libs/db/stats_repository.h"

#include "libs/db/internal/transaction.h"

namespace aso::db {
namespace {

constexpr char kCounts[] = R"sql(
  SELECT t.source_site, t.destination_site, aso_file_state(t.state, s.accepted_at) AS file_state, count(*),
         COALESCE(sum(GREATEST(t.size_bytes, 0)), 0)::bigint
  FROM transfers t LEFT JOIN submissions s ON t.state = 'SUBMITTING' AND s.job_id = t.backend_job_id
  GROUP BY t.source_site, t.destination_site, file_state)sql";

constexpr char kAttemptsAfter[] = R"sql(
  SELECT id, source_site, destination_site, result, failure_class, bytes,
         COALESCE(extract(epoch from finished - started), 0)::float8,
         extract(epoch from clock_timestamp() - recorded)::float8
  FROM attempts WHERE id > $1 ORDER BY id LIMIT $2)sql";

}  // namespace

absl::StatusOr<std::vector<LinkStateCount>> PgStatsRepository::CountByLinkAndState() {
  std::vector<LinkStateCount> out;
  absl::Status s = Transact(db_, [&](pqxx::work& txn) {
    out.clear();
    for (const auto& r : txn.exec(kCounts)) {
      out.push_back({r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<std::string>(),
                     r[3].as<int64_t>(), r[4].as<int64_t>()});
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<std::vector<FinishedAttempt>> PgStatsRepository::AttemptsAfter(int64_t after_id, int limit) {
  std::vector<FinishedAttempt> out;
  absl::Status s = Transact(db_, [&](pqxx::work& txn) {
    out.clear();
    for (const auto& r : txn.exec_params(kAttemptsAfter, after_id, limit)) {
      out.push_back({r[0].as<int64_t>(), r[1].as<std::string>(), r[2].as<std::string>(),
                     r[3].as<std::string>(), r[4].as<std::string>(), r[5].as<int64_t>(), r[6].as<double>(),
                     r[7].as<double>()});
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

}  // namespace aso::db
