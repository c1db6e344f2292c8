#include "libs/db/transfer_repository.h"

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "libs/db/internal/transaction.h"
#include "libs/db/pg_util.h"
#include "libs/transfer/state.h"

namespace aso::db {
namespace v1 = aso::common::v1;
namespace {

// Destinations already targeted by a live transfer under another idempotency key.
constexpr char kLiveDestinationConflicts[] = R"sql(
  SELECT t.destination_url, t.id
  FROM transfers t
  JOIN unnest($1::text[], $2::text[]) AS n(destination_url, idempotency_key)
    ON t.destination_url = n.destination_url AND t.idempotency_key <> n.idempotency_key
  WHERE t.live)sql";

constexpr char kInsert[] = R"sql(
  INSERT INTO transfers (idempotency_key, task_id, username, job_id, source_site, source_url,
                         destination_site, destination_url, size_bytes, checksum, priority,
                         metadata, state, attempt, not_before, created, updated,
                         source_lfn, destination_lfn, publish, dataset)
  SELECT k, $2, $3, j, ss, su, ds, du, sz, cs, pr, md::jsonb, 'QUEUED', 0,
         to_timestamp($4), to_timestamp($4), to_timestamp($4), sl, dl, pb, dset
  FROM unnest($1::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[],
              $10::bigint[], $11::text[], $12::smallint[], $13::text[], $14::text[], $15::text[],
              $16::boolean[], $17::text[])
       AS n(k, j, ss, su, ds, du, sz, cs, pr, md, sl, dl, pb, dset)
  ON CONFLICT (idempotency_key) DO NOTHING
  RETURNING idempotency_key, id)sql";

// The task row: created by its first submission, owned by one user.
constexpr char kUpsertTask[] = R"sql(
  INSERT INTO tasks (task_id, username, deadline, created, updated, max_attempts)
  VALUES ($1, $2, CASE WHEN $4::float8 > 0 THEN to_timestamp($4::float8) END, to_timestamp($3), to_timestamp($3),
          $5)
  ON CONFLICT (task_id) DO UPDATE SET updated = EXCLUDED.updated
  RETURNING username)sql";

// Keys that were already stored: their ids, and whose they are.
constexpr char kIdsByKey[] = R"sql(
  SELECT idempotency_key, id, task_id, source_url, destination_url FROM transfers
  WHERE idempotency_key = ANY($1::text[]))sql";

// Columns read into a Transfer, with the states of both sites for the waiting reason. A SUBMITTING file
// whose job the backend accepted is SUBMITTED (see migration 0003).
constexpr char kTransferColumns[] = R"sql(
  t.id, t.task_id, t.username, t.job_id, t.source_site, t.source_url, t.destination_site,
         t.destination_url, t.size_bytes, t.checksum, t.priority, aso_file_state(t.state, s.accepted_at),
         t.attempt,
         extract(epoch from t.not_before)::float8, COALESCE(t.backend_job_id, ''),
         t.failure_class, t.failure_reason, extract(epoch from t.created)::float8,
         extract(epoch from t.updated)::float8, t.metadata::text, t.idempotency_key,
         ss.state, ds.state, extract(epoch from COALESCE(s.claimed_at, t.claimed_at, t.created))::float8,
         t.kill_requested, t.source_lfn, t.destination_lfn, t.publish, t.dataset,
         COALESCE(k.state, 'ENABLED'), COALESCE(k.waiting_reason, ''),
         (SELECT 'transfer backend ' || name || ' unreachable since '
                 || to_char(unavailable_since AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') || ': ' || last_error
          FROM backends WHERE NOT available ORDER BY name LIMIT 1),
         t.publication_state, t.publication_error, t.cleanup_state, t.cleanup_error,
         (SELECT reason FROM user_holds h WHERE t.state = 'QUEUED' AND h.username = t.username
            AND (aso_owner_credentials(ss.credentials) OR aso_owner_credentials(ds.credentials))))sql";
// The link's row (pause, the scheduler's waiting reason) and an unreachable backend are read for the
// waiting reason of queued files only.
constexpr char kTransferFrom[] = R"sql(
  FROM transfers t JOIN sites ss ON ss.name = t.source_site JOIN sites ds ON ds.name = t.destination_site
  LEFT JOIN submissions s ON t.state = 'SUBMITTING' AND s.job_id = t.backend_job_id
  LEFT JOIN links k ON t.state = 'QUEUED' AND k.source_site = t.source_site
                   AND k.destination_site = t.destination_site
)sql";
const std::string kSelectTransfer = absl::StrCat("SELECT ", kTransferColumns, kTransferFrom);

// WatchTask: the oldest transaction that may still commit; every older one has ended.
constexpr char kWatchHorizon[] = "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint";
// Files whose row (or job acceptance) was written by a transaction in [cursor, horizon).
constexpr char kWatchChanged[] = R"sql(
  WHERE t.task_id = $1
    AND GREATEST(aso_full_xid(t.xmin, x.reference), COALESCE(aso_full_xid(s.xmin, x.reference), 0))
        BETWEEN $2::bigint AND $3::bigint - 1
    AND t.id > $4::bigint
  ORDER BY t.id
  LIMIT $5)sql";
constexpr char kWatchReference[] =
    ", (SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS reference) x ";

// FAILED/KILLED -> QUEUED with a fresh budget, one transfer per destination, none whose destination is
// live again. Its selection (kSelected) goes between the two halves.
constexpr char kRetryHead[] = R"sql(
  WITH candidates AS (
    SELECT DISTINCT ON (destination_url) id FROM transfers
    WHERE state IN ('FAILED', 'KILLED') AND )sql";
constexpr char kRetryTail[] = R"sql(
    ORDER BY destination_url, id DESC)
  UPDATE transfers t
  SET state = 'QUEUED', retry_base = t.attempt, not_before = to_timestamp($4), backend_job_id = NULL,
      claimed_at = NULL, kill_requested = false, failure_class = '', failure_reason = '',
      updated = to_timestamp($4)
  FROM candidates c
  WHERE t.id = c.id AND t.state IN ('FAILED', 'KILLED')
    AND NOT EXISTS (SELECT 1 FROM transfers o WHERE o.destination_url = t.destination_url AND o.live)
  RETURNING t.id)sql";

constexpr char kCountLive[] = R"sql(
  SELECT count(*) FROM (SELECT 1 FROM transfers WHERE username = $1 AND live LIMIT $2) x)sql";

constexpr char kAttempts[] = R"sql(
  SELECT attempt, backend_job_id, backend_file_id, extract(epoch from started)::float8,
         extract(epoch from finished)::float8, bytes, throughput, result, failure_class, error,
         recoverable,
         extract(epoch from s.claimed_at)::float8, COALESCE(s.link_waiting_reason, '')
  FROM attempts LEFT JOIN submissions s ON s.job_id = attempts.backend_job_id
  WHERE transfer_id = $1 ORDER BY attempt)sql";

constexpr char kList[] = R"sql(
  WHERE t.id > $1
    AND ($2 = '' OR t.task_id = $2)
    AND ($3 = '' OR t.username = $3)
    AND (cardinality($4::text[]) = 0 OR aso_file_state(t.state, s.accepted_at) = ANY($4::text[]))
    AND ($5 = '' OR t.source_site = $5 OR t.destination_site = $5)
    AND ($7::float8 = 0 OR t.created >= to_timestamp($7::float8))
    AND ($8::float8 = 0 OR t.created < to_timestamp($8::float8))
    AND ($9 = '' OR t.source_site = $9)
    AND ($10 = '' OR t.destination_site = $10)
    AND ($11 = '' OR t.failure_class = $11)
  ORDER BY t.id LIMIT $6)sql";

// The task's files by state, the archived ones (finished long ago, see migration 0010) included.
constexpr char kSummaryStates[] = R"sql(
  SELECT file_state, sum(n)::bigint, sum(b)::bigint, min(u), extract(epoch from min(c))::float8,
         extract(epoch from max(up))::float8
  FROM (SELECT aso_file_state(t.state, s.accepted_at) AS file_state, count(*) AS n,
               COALESCE(sum(GREATEST(t.size_bytes, 0)), 0) AS b, min(t.username) AS u, min(t.created) AS c,
               max(t.updated) AS up
        FROM transfers t LEFT JOIN submissions s ON t.state = 'SUBMITTING' AND s.job_id = t.backend_job_id
        WHERE t.task_id = $1 GROUP BY 1
        UNION ALL
        SELECT a.state, count(*), COALESCE(sum(GREATEST(a.size_bytes, 0)), 0), min(a.username), min(a.created),
               max(a.updated)
        FROM transfers_archive a WHERE a.task_id = $1 GROUP BY 1) x
  GROUP BY file_state ORDER BY file_state)sql";

// The task's deadline, and how many of its files ended in the last $2 seconds before $3 (the rate
// behind the completion estimate).
constexpr char kSummaryTask[] = R"sql(
  SELECT extract(epoch from k.deadline)::float8,
         (SELECT count(*) FROM transfers t WHERE t.task_id = k.task_id AND NOT t.live
            AND t.updated > to_timestamp($3::float8 - $2::float8) AND t.updated <= to_timestamp($3::float8))
  FROM tasks k WHERE k.task_id = $1)sql";

constexpr char kSummaryFailures[] = R"sql(
  SELECT failure_class, failure_reason, count(*) FROM transfers
  WHERE task_id = $1 AND state = 'FAILED'
  GROUP BY failure_class, failure_reason ORDER BY count(*) DESC, failure_reason LIMIT 50)sql";

constexpr char kSelected[] = R"sql(
    ($1 = '' OR task_id = $1) AND (cardinality($2::bigint[]) = 0 OR id = ANY($2::bigint[]))
    AND ($3 = '' OR username = $3))sql";

constexpr char kKillQueued[] = R"sql(
  UPDATE transfers SET state = 'KILLED', failure_class = 'CANCELED', failure_reason = $4,
                       updated = to_timestamp($5)
  WHERE state = 'QUEUED' AND )sql";

constexpr char kRequestKill[] = R"sql(
  UPDATE transfers SET kill_requested = true, failure_reason = $4, updated = to_timestamp($5)
  WHERE state IN ('SUBMITTING', 'ACTIVE') AND NOT kill_requested AND )sql";

// Why a non-terminal transfer is not moving, in words a user can act on.
// What the scheduler says about a queued file's link: paused, the limit holding its ready files, an
// unreachable backend.
struct LinkWait {
  bool paused = false;
  std::string limit;      // links.waiting_reason
  std::string backend;    // empty when every backend is reachable
  std::string user_hold;  // user_holds.reason: the owner's credential is missing or expired
};

std::string WaitingReason(const Transfer& t, const std::string& source_site_state,
                          const std::string& destination_site_state, double claimed_at, bool kill_requested,
                          const LinkWait& link, absl::Time now) {
  if (transfer::IsTerminal(t.state())) return "";
  if (kill_requested) return "kill requested; waiting for the transfer backend to cancel the copy";
  if (source_site_state == "BANNED") return absl::StrCat("source site ", t.source().site(), " is banned");
  if (destination_site_state == "BANNED") {
    return absl::StrCat("destination site ", t.destination().site(), " is banned");
  }
  switch (t.state()) {
    case v1::TRANSFER_STATE_QUEUED: {
      absl::Time not_before = absl::FromUnixSeconds(t.not_before().seconds());
      if (not_before > now) {
        return absl::StrCat("retry cool-off until ",
                            absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", not_before, absl::UTCTimeZone()),
                            " after: ", t.failure_reason());
      }
      if (source_site_state == "DRAINING") {
        return absl::StrCat("source site ", t.source().site(), " is draining: no new transfers out of it");
      }
      if (destination_site_state == "DRAINING") {
        return absl::StrCat("destination site ", t.destination().site(),
                            " is draining: no new transfers into it");
      }
      if (!link.user_hold.empty()) return link.user_hold;
      if (link.paused) {
        return absl::StrCat("link ", t.source().site(), " -> ", t.destination().site(),
                            " is paused by an administrator");
      }
      if (!link.backend.empty()) return link.backend;
      if (!link.limit.empty()) return link.limit;
      return absl::StrCat("waiting for the scheduler's next round on link ", t.source().site(), " -> ",
                          t.destination().site());
    }
    case v1::TRANSFER_STATE_SUBMITTING:
      if (now - FromEpochSeconds(claimed_at) > absl::Seconds(30)) {
        return "the transfer backend has not confirmed the job yet; it will be resubmitted";
      }
      return "being handed to the transfer backend";
    case v1::TRANSFER_STATE_SUBMITTED:
      return absl::StrCat("queued in the transfer backend, job ", t.backend_job_id());
    default:
      return "";
  }
}

Transfer TransferFromRow(const pqxx::row& r, absl::Time now) {
  Transfer t;
  t.set_id(r[0].as<int64_t>());
  t.set_task_id(r[1].as<std::string>());
  t.set_user(r[2].as<std::string>());
  t.set_job_id(r[3].as<std::string>());
  t.mutable_source()->set_site(r[4].as<std::string>());
  t.mutable_source()->set_url(r[5].as<std::string>());
  t.mutable_destination()->set_site(r[6].as<std::string>());
  t.mutable_destination()->set_url(r[7].as<std::string>());
  t.set_size_bytes(r[8].as<int64_t>());
  t.set_checksum(r[9].as<std::string>());
  t.set_priority(r[10].as<int>());
  t.set_state(transfer::StateFromName(r[11].as<std::string>()).value_or(v1::TRANSFER_STATE_UNSPECIFIED));
  t.set_attempt(r[12].as<int>());
  SetTimestamp(r[13].as<double>(), t.mutable_not_before());
  t.set_backend_job_id(r[14].as<std::string>());
  t.set_failure_class(
      transfer::FailureClassFromName(r[15].as<std::string>()).value_or(v1::FAILURE_CLASS_UNSPECIFIED));
  t.set_failure_reason(r[16].as<std::string>());
  SetTimestamp(r[17].as<double>(), t.mutable_created());
  SetTimestamp(r[18].as<double>(), t.mutable_updated());
  // metadata: a flat JSON object of strings, parsed by PostgreSQL below in MetadataOf.
  t.set_idempotency_key(r[20].as<std::string>());
  t.mutable_source()->set_lfn(r[25].as<std::string>());
  t.mutable_destination()->set_lfn(r[26].as<std::string>());
  t.set_publish(r[27].as<bool>());
  t.set_dataset(r[28].as<std::string>());
  t.set_publication_state(r[32].as<std::string>());
  t.set_publication_error(r[33].as<std::string>());
  t.set_cleanup_state(r[34].as<std::string>());
  t.set_cleanup_error(r[35].as<std::string>());
  const LinkWait link{r[29].as<std::string>() == "PAUSED", r[30].as<std::string>(),
                      r[31].is_null() ? "" : r[31].as<std::string>(),
                      r[36].is_null() ? "" : r[36].as<std::string>()};
  t.set_waiting_reason(WaitingReason(t, r[21].as<std::string>(), r[22].as<std::string>(), r[23].as<double>(),
                                     r[24].as<bool>(), link, now));
  return t;
}

void LoadMetadata(pqxx::work& txn, Transfer& t) {
  for (const auto& row : txn.exec_params(
           "SELECT key, value FROM transfers, jsonb_each_text(metadata) WHERE id = $1 ORDER BY key",
           t.id())) {
    (*t.mutable_metadata())[row[0].as<std::string>()] = row[1].as<std::string>();
  }
}

}  // namespace

absl::StatusOr<InsertResult> PgTransferRepository::InsertBatch(const std::vector<Transfer>& batch,
                                                               absl::Time now, const TaskOptions& options) {
  InsertResult result;
  if (batch.empty()) return result;
  std::vector<std::string> keys, jobs, src_sites, src_urls, dst_sites, dst_urls, checksums, meta, src_lfns,
      dst_lfns, publish, datasets;
  std::vector<int64_t> sizes, priorities;
  for (const Transfer& t : batch) {
    keys.push_back(t.idempotency_key());
    jobs.push_back(t.job_id());
    src_sites.push_back(t.source().site());
    src_urls.push_back(t.source().url());
    dst_sites.push_back(t.destination().site());
    dst_urls.push_back(t.destination().url());
    sizes.push_back(t.size_bytes());
    checksums.push_back(t.checksum());
    priorities.push_back(t.priority() == 0 ? 3 : t.priority());
    std::vector<std::pair<std::string, std::string>> entries(t.metadata().begin(), t.metadata().end());
    std::sort(entries.begin(), entries.end());
    meta.push_back(JsonObject(entries));
    src_lfns.push_back(t.source().lfn());
    dst_lfns.push_back(t.destination().lfn());
    publish.push_back(t.publish() ? "t" : "f");
    datasets.push_back(t.dataset());
  }
  const std::string& task = batch.front().task_id();
  const std::string& user = batch.front().user();
  const std::string key_array = TextArray(keys);

  absl::Status s = Transact(db_, [&](pqxx::work& txn) {
    const std::string owner =
        txn.exec_params1(kUpsertTask, task, user, EpochSeconds(now),
                         options.deadline.has_value() ? EpochSeconds(*options.deadline) : 0.0,
                         options.max_attempts)[0]
            .as<std::string>();
    if (owner != user) {
      return absl::PermissionDeniedError(absl::StrCat("task ", task, " belongs to another user"));
    }
    auto conflicts = txn.exec_params(kLiveDestinationConflicts, TextArray(dst_urls), key_array);
    if (!conflicts.empty()) {
      std::string url = conflicts[0][0].as<std::string>();
      size_t index = std::find(dst_urls.begin(), dst_urls.end(), url) - dst_urls.begin();
      return absl::AlreadyExistsError(absl::StrCat("files[", index, "].destination_url ", url,
                                                   " is already the destination of live transfer ",
                                                   conflicts[0][1].as<int64_t>()));
    }
    auto inserted =
        txn.exec_params(kInsert, key_array, task, user, EpochSeconds(now), TextArray(jobs),
                        TextArray(src_sites), TextArray(src_urls), TextArray(dst_sites), TextArray(dst_urls),
                        IntArray(sizes), TextArray(checksums), IntArray(priorities), TextArray(meta),
                        TextArray(src_lfns), TextArray(dst_lfns), TextArray(publish), TextArray(datasets));
    result.created = static_cast<int>(inserted.affected_rows());
    absl::flat_hash_map<std::string, int64_t> by_key;
    for (const auto& row : inserted) by_key[row[0].as<std::string>()] = row[1].as<int64_t>();
    if (by_key.size() < keys.size()) {  // repeats: look up what was stored before
      std::vector<std::string> missing;
      for (const auto& k : keys) {
        if (!by_key.contains(k)) missing.push_back(k);
      }
      for (const auto& row : txn.exec_params(kIdsByKey, TextArray(missing))) {
        if (row[2].as<std::string>() != task) {
          const std::string key = row[0].as<std::string>();
          const size_t index = std::find(keys.begin(), keys.end(), key) - keys.begin();
          return absl::PermissionDeniedError(absl::StrCat(
              "files[", index, "].idempotency_key is already used by a transfer of another task"));
        }
        const size_t index = std::find(keys.begin(), keys.end(), row[0].as<std::string>()) - keys.begin();
        if (row[3].as<std::string>() != src_urls[index] || row[4].as<std::string>() != dst_urls[index]) {
          return absl::AlreadyExistsError(
              absl::StrCat("files[", index, "].idempotency_key was used before for another file (",
                           row[3].as<std::string>(), " -> ", row[4].as<std::string>(), ")"));
        }
        by_key[row[0].as<std::string>()] = row[1].as<int64_t>();
      }
    }
    result.ids.clear();
    for (const auto& k : keys) result.ids.push_back(by_key.at(k));
    return absl::OkStatus();
  });
  if (absl::IsAlreadyExists(s) && !absl::StrContains(s.message(), "files[")) {
    return absl::AlreadyExistsError(
        "a destination of this batch became the target of another live transfer; nothing was stored");
  }
  if (!s.ok()) return s;
  return result;
}

namespace {

void Event(Transfer& t, const google::protobuf::Timestamp* at, std::string what) {
  v1::TimelineEvent* e = t.add_timeline();
  if (at != nullptr) *e->mutable_at() = *at;
  e->set_what(std::move(what));
}

}  // namespace

void AddTimeline(Transfer& t, std::optional<double> catalogued, int64_t block_id,
                 std::optional<double> announced, std::optional<double> cleaned, absl::Time now) {
  Event(t, &t.created(),
        absl::StrCat("submitted by ", t.user(), " (task ", t.task_id(), t.job_id().empty() ? "" : ", job ",
                     t.job_id(), ")"));
  for (int i = 0; i < t.attempts_size(); ++i) {
    const v1::Attempt& a = t.attempts(i);
    if (a.has_claimed()) {
      // How long the file waited for this attempt: since its submission, or since the last attempt ended
      // (the cool-off included).
      const google::protobuf::Timestamp& since = i == 0 ? t.created() : t.attempts(i - 1).finished();
      const absl::Duration waited =
          absl::Seconds(std::max<int64_t>(a.claimed().seconds() - since.seconds(), 0));
      Event(t, &a.claimed(),
            absl::StrCat(
                "attempt ", a.attempt(), " scheduled after ", absl::FormatDuration(waited), " in the queue",
                i == 0 ? "" : " (cool-off included)",
                a.waited_for().empty() ? "" : absl::StrCat("; the link had been held: ", a.waited_for())));
    }
    if (a.has_started()) {
      Event(t, &a.started(),
            absl::StrCat("attempt ", a.attempt(), " started (backend job ", a.backend_job_id(), ")"));
    }
    std::string what;
    if (a.result() == v1::TRANSFER_STATE_DONE) {
      what = absl::StrCat("attempt ", a.attempt(), " DONE: ", a.bytes(), " bytes",
                          a.throughput_bytes_per_second() > 0
                              ? absl::StrFormat(" at %.1f MB/s", a.throughput_bytes_per_second() / 1e6)
                              : "");
    } else {
      const bool later = i + 1 < t.attempts_size();
      what = absl::StrCat("attempt ", a.attempt(),
                          a.result() == v1::TRANSFER_STATE_FAILED ? " FAILED (" : " ended (",
                          transfer::FailureClassName(a.failure_class()),
                          a.recoverable() ? ", recoverable" : ", final", "): ", a.error(),
                          later ? " -> retried"
                          : t.state() == v1::TRANSFER_STATE_QUEUED
                              ? absl::StrCat(" -> cool-off until ",
                                             absl::FormatTime("%Y-%m-%dT%H:%M:%SZ",
                                                              absl::FromUnixSeconds(t.not_before().seconds()),
                                                              absl::UTCTimeZone()))
                              : "");
    }
    Event(t, &a.finished(), std::move(what));
  }
  if (t.state() == v1::TRANSFER_STATE_KILLED ||
      (t.state() == v1::TRANSFER_STATE_FAILED && t.attempts_size() == 0)) {
    Event(t, &t.updated(), absl::StrCat(transfer::StateName(t.state()), ": ", t.failure_reason()));
  }
  if (!transfer::IsTerminal(t.state())) {
    google::protobuf::Timestamp at;
    at.set_seconds(absl::ToUnixSeconds(now));
    Event(t, &at,
          absl::StrCat("now ", transfer::StateName(t.state()),
                       t.waiting_reason().empty() ? "" : ": " + t.waiting_reason()));
  }
  if (catalogued.has_value()) {
    google::protobuf::Timestamp at;
    SetTimestamp(*catalogued, &at);
    std::string where;
    if (!t.dataset().empty()) {
      where = absl::StrCat(" (dataset ", t.dataset(), block_id != 0 ? absl::StrCat(", block ", block_id) : "",
                           ")");
    }
    Event(t, &at, absl::StrCat("published in the file catalog", where));
  } else if (t.publication_state() == "FAILED") {
    Event(t, nullptr, absl::StrCat("publication FAILED: ", t.publication_error()));
  }
  if (announced.has_value()) {
    google::protobuf::Timestamp at;
    SetTimestamp(*announced, &at);
    Event(t, &at, "announced to the external catalog");
  }
  // Cleanup ends when the source is deleted or given up on; it is skipped when the file ends DONE.
  google::protobuf::Timestamp cleaned_at;
  if (cleaned.has_value()) SetTimestamp(*cleaned, &cleaned_at);
  const google::protobuf::Timestamp* cleanup_time = cleaned.has_value() ? &cleaned_at : nullptr;
  if (t.cleanup_state() == "SKIPPED" && t.attempts_size() > 0)
    cleanup_time = &t.attempts().rbegin()->finished();
  if (t.cleanup_state() == "DONE") Event(t, cleanup_time, "temporary source deleted");
  if (t.cleanup_state() == "FAILED" || t.cleanup_state() == "SKIPPED") {
    Event(t, cleanup_time, absl::StrCat("source cleanup ", t.cleanup_state(), ": ", t.cleanup_error()));
  }
}

absl::StatusOr<Transfer> PgTransferRepository::Get(int64_t id, absl::Time now) {
  Transfer out;
  absl::Status s = Transact(db_, [&](pqxx::work& txn) {
    auto r = txn.exec_params(absl::StrCat(kSelectTransfer, " WHERE t.id = $1"), id);
    if (r.empty()) return absl::NotFoundError(absl::StrCat("no transfer with id ", id));
    out = TransferFromRow(r[0], now);
    LoadMetadata(txn, out);
    for (const auto& row : txn.exec_params(kAttempts, id)) {
      v1::Attempt* a = out.add_attempts();
      a->set_attempt(row[0].as<int>());
      a->set_backend_job_id(row[1].as<std::string>());
      a->set_backend_file_id(row[2].as<std::string>());
      if (!row[3].is_null()) SetTimestamp(row[3].as<double>(), a->mutable_started());
      SetTimestamp(row[4].as<double>(), a->mutable_finished());
      a->set_bytes(row[5].as<int64_t>());
      a->set_throughput_bytes_per_second(row[6].as<double>());
      a->set_result(
          transfer::StateFromName(row[7].as<std::string>()).value_or(v1::TRANSFER_STATE_UNSPECIFIED));
      a->set_failure_class(
          transfer::FailureClassFromName(row[8].as<std::string>()).value_or(v1::FAILURE_CLASS_UNSPECIFIED));
      a->set_error(row[9].as<std::string>());
      a->set_recoverable(row[10].as<bool>());
      if (!row[11].is_null()) SetTimestamp(row[11].as<double>(), a->mutable_claimed());
      a->set_waited_for(row[12].as<std::string>());
    }
    auto pub = txn.exec_params(
        "SELECT extract(epoch from c.created)::float8, COALESCE(c.block_id, 0), "
        "       extract(epoch from o.delivered)::float8 "
        "FROM catalog_entries c LEFT JOIN publication_outbox o ON o.transfer_id = c.transfer_id "
        "WHERE c.transfer_id = $1",
        id);
    std::optional<double> catalogued, announced;
    int64_t block = 0;
    if (!pub.empty()) {
      catalogued = pub[0][0].as<double>();
      block = pub[0][1].as<int64_t>();
      if (!pub[0][2].is_null()) announced = pub[0][2].as<double>();
    }
    auto cleanup = txn.exec_params(
        "SELECT extract(epoch from cleanup_finished)::float8 FROM transfers WHERE id = $1", id);
    std::optional<double> cleaned;
    if (!cleanup.empty() && !cleanup[0][0].is_null()) cleaned = cleanup[0][0].as<double>();
    AddTimeline(out, catalogued, block, announced, cleaned, now);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<TransferPage> PgTransferRepository::List(const TransferFilter& filter, int page_size,
                                                        const std::string& page_token, absl::Time now) {
  int64_t after = 0;
  if (!page_token.empty() && (!absl::SimpleAtoi(page_token, &after) || after < 0)) {
    return absl::InvalidArgumentError("page_token is not one this service issued");
  }
  std::vector<std::string> states;
  for (auto st : filter.states) states.emplace_back(transfer::StateName(st));
  TransferPage page;
  absl::Status s = Transact(db_, [&](pqxx::work& txn) {
    page.transfers.clear();
    auto rows = txn.exec_params(absl::StrCat(kSelectTransfer, kList), after, filter.task_id, filter.user,
                                TextArray(states), filter.site, page_size + 1,
                                filter.created_after ? EpochSeconds(*filter.created_after) : 0.0,
                                filter.created_before ? EpochSeconds(*filter.created_before) : 0.0,
                                filter.source_site, filter.destination_site, filter.failure_class);
    for (const auto& row : rows) {
      if (static_cast<int>(page.transfers.size()) == page_size) {
        page.next_page_token = absl::StrCat(page.transfers.back().id());
        break;
      }
      page.transfers.push_back(TransferFromRow(row, now));
      LoadMetadata(txn, page.transfers.back());
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return page;
}

absl::StatusOr<TaskPage> PgTransferRepository::ListTasks(const std::string& user, int page_size,
                                                         const std::string& page_token, absl::Time now) {
  std::vector<std::string> ids;
  absl::Status s = Transact(db_, [&](pqxx::work& txn) {
    ids.clear();
    for (const auto& r : txn.exec_params("SELECT task_id FROM tasks WHERE ($1 = '' OR username = $1) "
                                         "AND task_id > $2 ORDER BY task_id LIMIT $3",
                                         user, page_token, page_size + 1)) {
      ids.push_back(r[0].as<std::string>());
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  TaskPage page;
  for (const std::string& id : ids) {
    if (static_cast<int>(page.tasks.size()) == page_size) {
      page.next_page_token = page.tasks.back().task_id();
      break;
    }
    auto summary = Summarize(id, now);
    if (absl::IsNotFound(summary.status())) continue;  // a task whose files were all archived long ago
    if (!summary.ok()) return summary.status();
    page.tasks.push_back(std::move(*summary));
  }
  return page;
}

absl::StatusOr<TaskSummary> PgTransferRepository::Summarize(const std::string& task_id, absl::Time now) {
  TaskSummary out;
  absl::Status s = Transact(db_, [&](pqxx::work& txn) {
    out.Clear();
    out.set_task_id(task_id);
    auto rows = txn.exec_params(kSummaryStates, task_id);
    if (rows.empty()) return absl::NotFoundError(absl::StrCat("no transfers in task ", task_id));
    bool finished = true;
    double created = 0, updated = 0;
    for (const auto& row : rows) {
      auto* sc = out.add_states();
      auto state = transfer::StateFromName(row[0].as<std::string>()).value_or(v1::TRANSFER_STATE_UNSPECIFIED);
      sc->set_state(state);
      sc->set_files(row[1].as<int64_t>());
      sc->set_bytes(row[2].as<int64_t>());
      out.set_user(row[3].as<std::string>());
      out.set_total_files(out.total_files() + sc->files());
      out.set_total_bytes(out.total_bytes() + sc->bytes());
      finished = finished && transfer::IsTerminal(state);
      created = created == 0 ? row[4].as<double>() : std::min(created, row[4].as<double>());
      updated = std::max(updated, row[5].as<double>());
    }
    out.set_finished(finished);
    SetTimestamp(created, out.mutable_created());
    SetTimestamp(updated, out.mutable_updated());
    int64_t terminal = 0;
    for (const auto& sc : out.states()) {
      if (transfer::IsTerminal(sc.state())) terminal += sc.files();
    }
    out.set_progress(out.total_files() > 0 ? static_cast<double>(terminal) / out.total_files() : 0);
    // The completion estimate extrapolates the files that ended in the last 15 minutes.
    constexpr double kRateWindowSeconds = 900;
    auto task = txn.exec_params1(kSummaryTask, task_id, kRateWindowSeconds, EpochSeconds(now));
    if (!task[0].is_null()) SetTimestamp(task[0].as<double>(), out.mutable_deadline());
    const int64_t recent = task[1].as<int64_t>();
    const int64_t remaining = out.total_files() - terminal;
    if (remaining > 0 && recent > 0) {
      SetTimestamp(EpochSeconds(now) + remaining * kRateWindowSeconds / recent,
                   out.mutable_estimated_completion());
    }
    for (const auto& row : txn.exec_params(kSummaryFailures, task_id)) {
      auto* f = out.add_failures();
      f->set_failure_class(
          transfer::FailureClassFromName(row[0].as<std::string>()).value_or(v1::FAILURE_CLASS_UNSPECIFIED));
      f->set_reason(row[1].as<std::string>());
      f->set_files(row[2].as<int64_t>());
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<KillResult> PgTransferRepository::Kill(const KillSelector& selector, const std::string& reason,
                                                      absl::Time now) {
  if (selector.task_id.empty() && selector.ids.empty()) {
    return absl::InvalidArgumentError("a kill needs a task id or transfer ids");
  }
  KillResult result;
  absl::Status s = Transact(db_, [&](pqxx::work& txn) {
    const std::string ids = IntArray(selector.ids);
    result.killed = static_cast<int>(txn.exec_params(absl::StrCat(kKillQueued, kSelected), selector.task_id,
                                                     ids, selector.user, reason, EpochSeconds(now))
                                         .affected_rows());
    result.kill_requested =
        static_cast<int>(txn.exec_params(absl::StrCat(kRequestKill, kSelected), selector.task_id, ids,
                                         selector.user, reason, EpochSeconds(now))
                             .affected_rows());
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return result;
}

}  // namespace aso::db

namespace aso::db {

absl::StatusOr<RetryResult> PgTransferRepository::Retry(const KillSelector& selector, absl::Time now) {
  if (selector.task_id.empty() && selector.ids.empty()) {
    return absl::InvalidArgumentError("a retry needs a task id or transfer ids");
  }
  RetryResult result;
  absl::Status s = Transact(db_, [&](pqxx::work& txn) {
    result = RetryResult{};
    absl::flat_hash_set<int64_t> requeued;
    for (const auto& row : txn.exec_params(absl::StrCat(kRetryHead, kSelected, kRetryTail), selector.task_id,
                                           IntArray(selector.ids), selector.user, EpochSeconds(now))) {
      requeued.insert(row[0].as<int64_t>());
    }
    result.requeued = static_cast<int>(requeued.size());
    for (int64_t id : selector.ids) {
      if (!requeued.contains(id)) result.skipped_ids.push_back(id);
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return result;
}

absl::StatusOr<std::string> PgTransferRepository::TaskOwner(const std::string& task_id) {
  std::string owner;
  absl::Status s = Transact(db_, [&](pqxx::work& txn) {
    auto r = txn.exec_params("SELECT username FROM tasks WHERE task_id = $1", task_id);
    if (r.empty()) return absl::NotFoundError(absl::StrCat("no task ", task_id));
    owner = r[0][0].as<std::string>();
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return owner;
}

absl::StatusOr<int64_t> PgTransferRepository::CountLive(const std::string& user, int64_t limit) {
  int64_t n = 0;
  absl::Status s = Transact(db_, [&](pqxx::work& txn) {
    n = txn.exec_params1(kCountLive, user, limit)[0].as<int64_t>();
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return n;
}

absl::StatusOr<WatchPage> PgTransferRepository::Watch(const std::string& task_id, const std::string& cursor,
                                                      int limit, absl::Time now) {
  // Cursor "w1:<from>": the changes of transactions from <from> on are still to come. Cursor
  // "w1:<from>:<to>:<id>": those of [from, to) are delivered up to file <id>, the rest of them come next.
  int64_t from = 0, to = -1, after_id = 0;
  if (!cursor.empty()) {
    std::vector<std::string> parts = absl::StrSplit(cursor, ':');
    bool ok = parts[0] == "w1" && (parts.size() == 2 || parts.size() == 4) &&
              absl::SimpleAtoi(parts[1], &from) && from >= 0;
    if (ok && parts.size() == 4) {
      ok = absl::SimpleAtoi(parts[2], &to) && absl::SimpleAtoi(parts[3], &after_id) && to >= from &&
           after_id >= 0;
    }
    if (!ok) return absl::InvalidArgumentError("cursor is not one this service issued");
  }
  WatchPage page;
  absl::Status s = Transact(db_, [&](pqxx::work& txn) {
    page = WatchPage{};
    // Every transaction older than the horizon has ended, so what the (later) query below sees of them is
    // final; newer ones are left for a later call.
    const int64_t horizon = txn.exec1(kWatchHorizon)[0].as<int64_t>();
    if (std::max(from, to) > horizon)
      return absl::InvalidArgumentError("cursor is not one this service issued");
    const int64_t window_end = to >= 0 ? to : horizon;
    auto rows = txn.exec_params(
        absl::StrCat("SELECT ", kTransferColumns, kTransferFrom, kWatchReference, kWatchChanged), task_id,
        from, window_end, after_id, limit + 1);
    for (const auto& row : rows) {
      if (static_cast<int>(page.changed.size()) == limit) break;
      page.changed.push_back(TransferFromRow(row, now));
      page.cursors.push_back(absl::StrCat("w1:", from, ":", window_end, ":", page.changed.back().id()));
    }
    if (static_cast<int>(rows.size()) > limit) {
      page.cursor = page.cursors.back();  // more of this window to come
    } else {
      page.cursor = absl::StrCat("w1:", window_end);
      // The file cursors of a finished window resume after it just as well.
      if (!page.cursors.empty()) page.cursors.back() = page.cursor;
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return page;
}

absl::StatusOr<int64_t> PgTransferRepository::CountStored(const std::vector<std::string>& keys) {
  int64_t n = 0;
  absl::Status s = Transact(db_, [&](pqxx::work& txn) {
    n = txn.exec_params1("SELECT count(*) FROM transfers WHERE idempotency_key = ANY($1::text[])",
                         TextArray(keys))[0]
            .as<int64_t>();
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return n;
}

absl::StatusOr<std::optional<int64_t>> PgTransferRepository::FirstNotOwned(const std::vector<int64_t>& ids,
                                                                           const std::string& user) {
  std::optional<int64_t> out;
  absl::Status s = Transact(db_, [&](pqxx::work& txn) {
    out.reset();
    auto r = txn.exec_params("SELECT min(id) FROM transfers WHERE id = ANY($1::bigint[]) AND username <> $2",
                             IntArray(ids), user);
    if (!r.empty() && !r[0][0].is_null()) out = r[0][0].as<int64_t>();
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

}  // namespace aso::db
