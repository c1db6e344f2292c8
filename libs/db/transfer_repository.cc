#include "libs/db/transfer_repository.h"

#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
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
                         metadata, state, attempt, not_before, created, updated)
  SELECT k, $2, $3, j, ss, su, ds, du, sz, cs, pr, md::jsonb, 'QUEUED', 0,
         to_timestamp($4), to_timestamp($4), to_timestamp($4)
  FROM unnest($1::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[],
              $10::bigint[], $11::text[], $12::smallint[], $13::text[])
       AS n(k, j, ss, su, ds, du, sz, cs, pr, md)
  ON CONFLICT (idempotency_key) DO NOTHING
  RETURNING idempotency_key, id)sql";

// The task row: created by its first submission, owned by one user.
constexpr char kUpsertTask[] = R"sql(
  INSERT INTO tasks (task_id, username, created, updated) VALUES ($1, $2, to_timestamp($3), to_timestamp($3))
  ON CONFLICT (task_id) DO UPDATE SET updated = EXCLUDED.updated
  RETURNING username)sql";

// Keys that were already stored: their ids, and whose they are.
constexpr char kIdsByKey[] = R"sql(
  SELECT idempotency_key, id, task_id, source_url, destination_url FROM transfers
  WHERE idempotency_key = ANY($1::text[]))sql";

// Columns read into a Transfer, with the states of both sites for the waiting reason. A SUBMITTING file
// whose job the backend accepted is SUBMITTED (see migration 0003).
constexpr char kSelectTransfer[] = R"sql(
  SELECT t.id, t.task_id, t.username, t.job_id, t.source_site, t.source_url, t.destination_site,
         t.destination_url, t.size_bytes, t.checksum, t.priority, aso_file_state(t.state, s.accepted_at),
         t.attempt,
         extract(epoch from t.not_before)::float8, COALESCE(t.backend_job_id, ''),
         t.failure_class, t.failure_reason, extract(epoch from t.created)::float8,
         extract(epoch from t.updated)::float8, t.metadata::text, t.idempotency_key,
         ss.state, ds.state, extract(epoch from COALESCE(s.claimed_at, t.claimed_at, t.created))::float8,
         t.kill_requested
  FROM transfers t JOIN sites ss ON ss.name = t.source_site JOIN sites ds ON ds.name = t.destination_site
  LEFT JOIN submissions s ON t.state = 'SUBMITTING' AND s.job_id = t.backend_job_id
)sql";

constexpr char kAttempts[] = R"sql(
  SELECT attempt, backend_job_id, backend_file_id, extract(epoch from started)::float8,
         extract(epoch from finished)::float8, bytes, throughput, result, failure_class, error,
         recoverable
  FROM attempts WHERE transfer_id = $1 ORDER BY attempt)sql";

constexpr char kList[] = R"sql(
  WHERE t.id > $1
    AND ($2 = '' OR t.task_id = $2)
    AND ($3 = '' OR t.username = $3)
    AND (cardinality($4::text[]) = 0 OR aso_file_state(t.state, s.accepted_at) = ANY($4::text[]))
    AND ($5 = '' OR t.source_site = $5 OR t.destination_site = $5)
  ORDER BY t.id LIMIT $6)sql";

constexpr char kSummaryStates[] = R"sql(
  SELECT aso_file_state(t.state, s.accepted_at) AS file_state, count(*),
         COALESCE(sum(GREATEST(t.size_bytes, 0)), 0)::bigint, min(t.username),
         extract(epoch from min(t.created))::float8, extract(epoch from max(t.updated))::float8
  FROM transfers t LEFT JOIN submissions s ON t.state = 'SUBMITTING' AND s.job_id = t.backend_job_id
  WHERE t.task_id = $1 GROUP BY file_state ORDER BY file_state)sql";

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
std::string WaitingReason(const Transfer& t, const std::string& source_site_state,
                          const std::string& destination_site_state, double claimed_at, bool kill_requested,
                          absl::Time now) {
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
      if (source_site_state == "DRAINING" || destination_site_state == "DRAINING") {
        return "a site of this link is draining";
      }
      return absl::StrCat("waiting for a transfer slot on link ", t.source().site(), " -> ",
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
  t.set_waiting_reason(WaitingReason(t, r[21].as<std::string>(), r[22].as<std::string>(), r[23].as<double>(),
                                     r[24].as<bool>(), now));
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
                                                               absl::Time now) {
  InsertResult result;
  if (batch.empty()) return result;
  std::vector<std::string> keys, jobs, src_sites, src_urls, dst_sites, dst_urls, checksums, meta;
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
  }
  const std::string& task = batch.front().task_id();
  const std::string& user = batch.front().user();
  const std::string key_array = TextArray(keys);

  absl::Status s = Transact(db_, [&](pqxx::work& txn) {
    const std::string owner =
        txn.exec_params1(kUpsertTask, task, user, EpochSeconds(now))[0].as<std::string>();
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
                        IntArray(sizes), TextArray(checksums), IntArray(priorities), TextArray(meta));
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
    }
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
                                TextArray(states), filter.site, page_size + 1);
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

absl::StatusOr<TaskSummary> PgTransferRepository::Summarize(const std::string& task_id) {
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
