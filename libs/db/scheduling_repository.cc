#include "libs/db/scheduling_repository.h"

#include <algorithm>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "libs/db/internal/transaction.h"
#include "libs/db/pg_util.h"

namespace aso::db {
namespace {

constexpr char kListLinks[] = R"sql(
  SELECT t.source_site, t.destination_site,
         count(*) FILTER (WHERE t.state = 'QUEUED' AND t.not_before <= to_timestamp($1)
                          AND ss.state = 'ENABLED' AND ds.state = 'ENABLED'),
         count(*) FILTER (WHERE t.state = 'QUEUED'),
         count(*) FILTER (WHERE t.state IN ('SUBMITTING','SUBMITTED','ACTIVE'))
  FROM transfers t
  JOIN sites ss ON ss.name = t.source_site
  JOIN sites ds ON ds.name = t.destination_site
  WHERE t.state IN ('QUEUED','SUBMITTING','SUBMITTED','ACTIVE')
  GROUP BY t.source_site, t.destination_site
  ORDER BY t.source_site, t.destination_site)sql";

// Throttle locks: outbound of the source site and inbound of the destination site, taken in key order
// so two claimers of overlapping links cannot deadlock. Held until the transaction ends.
constexpr char kLockSites[] = R"sql(
  SELECT pg_advisory_xact_lock(k) FROM (
    SELECT DISTINCT unnest(ARRAY[hashtext('aso-out:' || $1), hashtext('aso-in:' || $2)]) AS k
    ORDER BY k) AS keys)sql";

constexpr char kSiteLimits[] = R"sql(
  SELECT
    (SELECT state FROM sites WHERE name = $1),
    (SELECT state FROM sites WHERE name = $2),
    (SELECT CASE WHEN max_active_outbound > 0 THEN max_active_outbound ELSE $3 END
       FROM sites WHERE name = $1),
    (SELECT CASE WHEN max_active_inbound > 0 THEN max_active_inbound ELSE $3 END
       FROM sites WHERE name = $2))sql";

// Active transfers on the link and out of/into the sites, each counted only up to its limit: the cost of
// a claim stays bounded by the limits, not by how much is in flight.
constexpr char kActiveCounts[] = R"sql(
  SELECT
    (SELECT count(*) FROM (SELECT 1 FROM transfers WHERE source_site = $1 AND destination_site = $2
       AND state IN ('SUBMITTING','SUBMITTED','ACTIVE') LIMIT $3) link),
    (SELECT count(*) FROM (SELECT 1 FROM transfers WHERE source_site = $1
       AND state IN ('SUBMITTING','SUBMITTED','ACTIVE') LIMIT $4) outbound),
    (SELECT count(*) FROM (SELECT 1 FROM transfers WHERE destination_site = $2
       AND state IN ('SUBMITTING','SUBMITTED','ACTIVE') LIMIT $5) inbound))sql";

constexpr char kSelectQueued[] = R"sql(
  SELECT id, attempt + 1, username, task_id, source_url, destination_url, size_bytes, checksum
  FROM transfers
  WHERE state = 'QUEUED' AND source_site = $1 AND destination_site = $2
    AND not_before <= to_timestamp($3)
  ORDER BY priority DESC, id
  LIMIT $4
  FOR UPDATE SKIP LOCKED)sql";

constexpr char kMarkSubmitting[] = R"sql(
  UPDATE transfers t
  SET state = 'SUBMITTING', attempt = t.attempt + 1, backend_job_id = p.job_id,
      claimed_at = to_timestamp($3), updated = to_timestamp($3)
  FROM unnest($1::bigint[], $2::text[]) AS p(id, job_id)
  WHERE t.id = p.id AND t.state = 'QUEUED')sql";

constexpr char kMarkSubmitted[] = R"sql(
  UPDATE transfers SET state = 'SUBMITTED', updated = to_timestamp($2)
  WHERE backend_job_id = ANY($1::text[]) AND state = 'SUBMITTING')sql";

constexpr char kFailRefusedJob[] = R"sql(
  UPDATE transfers
  SET state = CASE WHEN kill_requested THEN 'KILLED' ELSE 'FAILED' END,
      failure_class = CASE WHEN kill_requested THEN 'CANCELED' ELSE 'BACKEND' END,
      failure_reason = CASE WHEN kill_requested AND failure_reason <> '' THEN failure_reason ELSE $2 END,
      updated = to_timestamp($3)
  WHERE backend_job_id = $1 AND state = 'SUBMITTING')sql";

constexpr char kStaleJobs[] = R"sql(
  SELECT DISTINCT backend_job_id FROM transfers
  WHERE state = 'SUBMITTING' AND claimed_at < to_timestamp($1)
  LIMIT $2)sql";

// Renews the claim of one stale job (skipping rows another replica is renewing) and returns its files.
constexpr char kTakeJob[] = R"sql(
  WITH taken AS (
    SELECT id FROM transfers
    WHERE backend_job_id = $1 AND state = 'SUBMITTING' AND claimed_at < to_timestamp($2)
    FOR UPDATE SKIP LOCKED)
  UPDATE transfers t SET claimed_at = to_timestamp($3)
  FROM taken WHERE t.id = taken.id
  RETURNING t.id, t.attempt, t.username, t.task_id, t.source_url, t.destination_url, t.size_bytes,
            t.checksum, t.source_site, t.destination_site)sql";

ClaimedFile FileFromRow(const pqxx::row& r) {
  ClaimedFile f;
  f.transfer_id = r[0].as<int64_t>();
  f.attempt = r[1].as<int32_t>();
  f.user = r[2].as<std::string>();
  f.task_id = r[3].as<std::string>();
  f.source_url = r[4].as<std::string>();
  f.destination_url = r[5].as<std::string>();
  f.size_bytes = r[6].as<int64_t>();
  f.checksum = r[7].as<std::string>();
  return f;
}

}  // namespace

absl::StatusOr<std::vector<LinkLoad>> PgSchedulingRepository::ListLinks(absl::Time now) {
  std::vector<LinkLoad> out;
  absl::Status s = Transact(db_, [&](pqxx::work& txn) {
    out.clear();
    for (const auto& r : txn.exec_params(kListLinks, EpochSeconds(now))) {
      out.push_back({r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<int64_t>(), r[3].as<int64_t>(),
                     r[4].as<int64_t>()});
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<std::vector<PendingJob>> PgSchedulingRepository::ClaimForLink(
    const std::string& source_site, const std::string& destination_site, const ClaimLimits& limits,
    absl::Time now, const std::function<std::vector<JobPlan>(const std::vector<ClaimedFile>&)>& plan) {
  std::vector<PendingJob> jobs;
  absl::Status s = Transact(db_, [&](pqxx::work& txn) {
    jobs.clear();
    txn.exec_params(kLockSites, source_site, destination_site);
    auto sites = txn.exec_params1(kSiteLimits, source_site, destination_site, limits.default_site_max_active);
    if (sites[0].is_null() || sites[1].is_null()) return absl::OkStatus();  // site deleted meanwhile
    if (sites[0].as<std::string>() != "ENABLED" || sites[1].as<std::string>() != "ENABLED") {
      return absl::OkStatus();
    }
    const int64_t out_limit = sites[2].as<int64_t>();
    const int64_t in_limit = sites[3].as<int64_t>();
    auto active = txn.exec_params1(kActiveCounts, source_site, destination_site,
                                   static_cast<int64_t>(limits.link_max_active), out_limit, in_limit);
    int64_t free = std::min<int64_t>({limits.link_max_active - active[0].as<int64_t>(),
                                      out_limit - active[1].as<int64_t>(), in_limit - active[2].as<int64_t>(),
                                      static_cast<int64_t>(limits.max_files)});
    if (free <= 0) return absl::OkStatus();
    std::vector<ClaimedFile> files;
    for (const auto& r :
         txn.exec_params(kSelectQueued, source_site, destination_site, EpochSeconds(now), free)) {
      files.push_back(FileFromRow(r));
    }
    if (files.empty()) return absl::OkStatus();
    absl::flat_hash_map<int64_t, const ClaimedFile*> by_id;
    for (const auto& f : files) by_id[f.transfer_id] = &f;
    std::vector<int64_t> ids;
    std::vector<std::string> job_of_id;
    for (JobPlan& p : plan(files)) {
      PendingJob job{p.job_id, source_site, destination_site, {}};
      for (int64_t id : p.transfer_ids) {
        job.files.push_back(*by_id.at(id));
        ids.push_back(id);
        job_of_id.push_back(p.job_id);
      }
      jobs.push_back(std::move(job));
    }
    if (ids.empty()) return absl::OkStatus();
    auto r = txn.exec_params(kMarkSubmitting, IntArray(ids), TextArray(job_of_id), EpochSeconds(now));
    if (r.affected_rows() != ids.size()) {
      return absl::AbortedError("claimed transfers changed state during the claim");
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return jobs;
}

absl::StatusOr<int> PgSchedulingRepository::MarkSubmitted(const std::vector<std::string>& job_ids,
                                                          absl::Time now) {
  int changed = 0;
  absl::Status s = Transact(db_, [&](pqxx::work& txn) {
    changed = static_cast<int>(
        txn.exec_params(kMarkSubmitted, TextArray(job_ids), EpochSeconds(now)).affected_rows());
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return changed;
}

absl::StatusOr<int> PgSchedulingRepository::FailRefusedJob(const std::string& job_id,
                                                           const std::string& reason, absl::Time now) {
  int changed = 0;
  absl::Status s = Transact(db_, [&](pqxx::work& txn) {
    changed =
        static_cast<int>(txn.exec_params(kFailRefusedJob, job_id, reason, EpochSeconds(now)).affected_rows());
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return changed;
}

absl::StatusOr<std::vector<PendingJob>> PgSchedulingRepository::TakeStalePendingJobs(
    absl::Time claimed_before, absl::Time now, int limit) {
  std::vector<std::string> ids;
  absl::Status s = Transact(db_, [&](pqxx::work& txn) {
    ids.clear();
    for (const auto& r : txn.exec_params(kStaleJobs, EpochSeconds(claimed_before), limit)) {
      ids.push_back(r[0].as<std::string>());
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  std::vector<PendingJob> jobs;
  for (const auto& id : ids) {
    PendingJob job{id, "", "", {}};
    s = Transact(db_, [&](pqxx::work& txn) {
      job.files.clear();
      for (const auto& r : txn.exec_params(kTakeJob, id, EpochSeconds(claimed_before), EpochSeconds(now))) {
        job.files.push_back(FileFromRow(r));
        job.source_site = r[8].as<std::string>();
        job.destination_site = r[9].as<std::string>();
      }
      return absl::OkStatus();
    });
    if (!s.ok()) return s;
    if (!job.files.empty()) {
      std::sort(job.files.begin(), job.files.end(),
                [](const auto& a, const auto& b) { return a.transfer_id < b.transfer_id; });
      jobs.push_back(std::move(job));
    }
  }
  return jobs;
}

}  // namespace aso::db
