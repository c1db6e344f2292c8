#include "libs/db/stats_repository.h"

#include "libs/db/internal/transaction.h"
#include "libs/db/pg_util.h"

namespace aso::db {
namespace {

// Queued files per link: the queue table (index-only), then one row of `transfers` per link for the
// oldest file's submission time (ids grow with submission).
constexpr char kQueues[] = R"sql(
  WITH q AS (
    SELECT source_site, destination_site, count(*) AS queued,
           count(*) FILTER (WHERE not_before <= now()) AS ready, min(transfer_id) AS oldest
    FROM transfer_queue GROUP BY source_site, destination_site)
  SELECT q.source_site, q.destination_site, q.queued, q.ready,
         COALESCE(extract(epoch from (SELECT created FROM transfers t WHERE t.id = q.oldest)), 0)::float8
  FROM q)sql";

// Files in flight per link and state: transfer_live, and each of its files' rows by primary key.
constexpr char kInFlight[] = R"sql(
  SELECT l.source_site, l.destination_site, aso_file_state(t.state, s.accepted_at), count(*),
         COALESCE(sum(GREATEST(t.size_bytes, 0)), 0)::bigint,
         COALESCE(extract(epoch from min(t.claimed_at)), 0)::float8
  FROM transfer_live l JOIN transfers t ON t.id = l.transfer_id
  LEFT JOIN submissions s ON t.state = 'SUBMITTING' AND s.job_id = t.backend_job_id
  GROUP BY 1, 2, 3)sql";

constexpr char kLinks[] = R"sql(
  SELECT source_site, destination_site, optimized_active, max_active FROM links)sql";

constexpr char kUsers[] = R"sql(
  WITH q AS (
    SELECT username, count(*) AS queued, count(*) FILTER (WHERE not_before <= now()) AS ready,
           min(transfer_id) AS oldest
    FROM transfer_queue GROUP BY username),
  f AS (
    SELECT t.username, count(*) AS n FROM transfer_live l JOIN transfers t ON t.id = l.transfer_id
    GROUP BY t.username)
  SELECT COALESCE(q.username, f.username), COALESCE(q.queued, 0), COALESCE(q.ready, 0), COALESCE(f.n, 0),
         COALESCE(extract(epoch from (SELECT created FROM transfers t WHERE t.id = q.oldest)), 0)::float8
  FROM q FULL JOIN f ON f.username = q.username)sql";

// Backlogs from the partial indexes on the PENDING states and on undelivered announcements.
constexpr char kBacklogs[] = R"sql(
  SELECT (SELECT count(*) FROM transfers WHERE publication_state = 'PENDING'),
         (SELECT count(*) FROM publication_outbox WHERE delivered IS NULL),
         (SELECT count(*) FROM transfers WHERE cleanup_state = 'PENDING'),
         extract(epoch from now())::float8)sql";

constexpr char kAttemptsAfter[] = R"sql(
  SELECT id, source_site, destination_site, result, failure_class, bytes,
         COALESCE(extract(epoch from finished - started), 0)::float8,
         extract(epoch from clock_timestamp() - recorded)::float8,
         extract(epoch from finished)::float8, extract(epoch from recorded)::float8
  FROM attempts WHERE id > $1 ORDER BY id LIMIT $2)sql";

// Walks the primary key back from the newest attempt to the first one older than the window.
constexpr char kAttemptIdBefore[] = R"sql(
  SELECT COALESCE((SELECT id FROM attempts WHERE recorded < now() - make_interval(secs => $1)
                   ORDER BY id DESC LIMIT 1), 0))sql";

}  // namespace

std::vector<std::string> PgStatsRepository::SnapshotQueries() {
  return {kQueues, kInFlight, kLinks, kUsers, kBacklogs};
}

absl::StatusOr<FleetSnapshot> PgStatsRepository::Snapshot() {
  FleetSnapshot out;
  absl::Status s = Transact(db_, [&](pqxx::work& txn) {
    out = FleetSnapshot();
    // One consistent view of the tables for all the figures.
    txn.exec("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY");
    for (const auto& r : txn.exec(kQueues)) {
      out.queues.push_back({r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<int64_t>(),
                            r[3].as<int64_t>(), r[4].as<double>()});
    }
    for (const auto& r : txn.exec(kInFlight)) {
      out.in_flight.push_back({r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<std::string>(),
                               r[3].as<int64_t>(), r[4].as<int64_t>(), r[5].as<double>()});
    }
    for (const auto& r : txn.exec(kLinks)) {
      out.links.push_back({r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<int>(), r[3].as<int>()});
    }
    for (const auto& r : txn.exec(kUsers)) {
      out.users.push_back({r[0].as<std::string>(), r[1].as<int64_t>(), r[2].as<int64_t>(), r[3].as<int64_t>(),
                           r[4].as<double>()});
    }
    for (const auto& r :
         txn.exec("SELECT username, extract(epoch from not_after)::float8 FROM user_credentials "
                  "WHERE kind = 'x509_proxy' ORDER BY username")) {
      out.credential_expiry.emplace_back(r[0].as<std::string>(), r[1].as<double>());
    }
    const auto b = txn.exec1(kBacklogs);
    out.publication_pending = b[0].as<int64_t>();
    out.announcements_pending = b[1].as<int64_t>();
    out.cleanup_pending = b[2].as<int64_t>();
    out.now = b[3].as<double>();
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<std::vector<FinishedAttempt>> PgStatsRepository::AttemptsAfter(int64_t after_id, int limit) {
  std::vector<FinishedAttempt> out;
  absl::Status s = Transact(db_, [&](pqxx::work& txn) {
    out.clear();
    for (const auto& r : ExecPrepared(txn, "aso_stats_attempts", kAttemptsAfter, after_id, limit)) {
      out.push_back({r[0].as<int64_t>(), r[1].as<std::string>(), r[2].as<std::string>(),
                     r[3].as<std::string>(), r[4].as<std::string>(), r[5].as<int64_t>(), r[6].as<double>(),
                     r[7].as<double>(), r[8].as<double>(), r[9].as<double>()});
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<int64_t> PgStatsRepository::AttemptIdBefore(absl::Duration ago) {
  int64_t id = 0;
  absl::Status s = Transact(db_, [&](pqxx::work& txn) {
    id = txn.exec_params1(kAttemptIdBefore, absl::ToDoubleSeconds(ago))[0].as<int64_t>();
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return id;
}

}  // namespace aso::db
