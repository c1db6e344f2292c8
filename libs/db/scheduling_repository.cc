#include "libs/db/scheduling_repository.h"

#include <algorithm>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "libs/db/internal/transaction.h"
#include "libs/db/pg_util.h"

namespace aso::db {
namespace {

// Queued and in-flight files per link, from the narrow claim tables (see migration 0003).
constexpr char kListLinks[] = R"sql(
  WITH q AS (SELECT source_site, destination_site,
                    count(*) FILTER (WHERE not_before <= to_timestamp($1)) AS ready, count(*) AS queued
             FROM transfer_queue GROUP BY source_site, destination_site),
       l AS (SELECT source_site, destination_site, count(*) AS active
             FROM transfer_live GROUP BY source_site, destination_site)
  SELECT source_site, destination_site,
         CASE WHEN ss.state = 'ENABLED' AND ds.state = 'ENABLED' THEN COALESCE(q.ready, 0) ELSE 0 END,
         COALESCE(q.queued, 0), COALESCE(l.active, 0)
  FROM q FULL JOIN l USING (source_site, destination_site)
  JOIN sites ss ON ss.name = source_site
  JOIN sites ds ON ds.name = destination_site
  ORDER BY source_site, destination_site)sql";

// Throttle locks: outbound of the source site and inbound of the destination site, taken in key order
// so two claimers of overlapping links cannot deadlock. Held until the transaction ends. The claim
// transaction maintains transfer_queue and transfer_live itself (aso.claim, see migration 0003).
constexpr char kLockSites[] = R"sql(
  SELECT set_config('aso.claim', 'on', true), pg_advisory_xact_lock(k) FROM (
    SELECT DISTINCT unnest(ARRAY[hashtext('aso-out:' || $1), hashtext('aso-in:' || $2)]) AS k
    ORDER BY k) AS keys)sql";

// The states and limits of both sites, and the files in flight on the link and out of/into the sites,
// each counted only up to its limit: the cost of a claim stays bounded by the limits, not by how much is
// in flight. $3 is the link's limit, $4 the limit of a site without its own.
constexpr char kSitesAndLoad[] = R"sql(
  WITH src AS (SELECT state, CASE WHEN max_active_outbound > 0 THEN max_active_outbound ELSE $4 END AS lim
               FROM sites WHERE name = $1),
       dst AS (SELECT state, CASE WHEN max_active_inbound > 0 THEN max_active_inbound ELSE $4 END AS lim
               FROM sites WHERE name = $2)
  SELECT src.state, dst.state, src.lim, dst.lim,
    (SELECT count(*) FROM (SELECT 1 FROM transfer_live WHERE source_site = $1 AND destination_site = $2
       LIMIT $3) link),
    (SELECT count(*) FROM (SELECT 1 FROM transfer_live WHERE source_site = $1 LIMIT src.lim) outbound),
    (SELECT count(*) FROM (SELECT 1 FROM transfer_live WHERE destination_site = $2 LIMIT dst.lim) inbound)
  FROM src, dst)sql";

// Fair share (migration 0005): the users with ready work on the link, found by a loose scan of the queue
// index (cost grows with the link's users, not its files), with their stride pass and weight.
constexpr char kLinkUsers[] = R"sql(
  WITH RECURSIVE u(username) AS (
    (SELECT username FROM transfer_queue WHERE source_site = $1 AND destination_site = $2
     ORDER BY username LIMIT 1)
    UNION ALL
    SELECT (SELECT q.username FROM transfer_queue q
            WHERE q.source_site = $1 AND q.destination_site = $2 AND q.username > u.username
            ORDER BY q.username LIMIT 1)
    FROM u WHERE u.username IS NOT NULL)
  SELECT u.username, s.pass, COALESCE(w.weight, 1),
         (SELECT pass FROM link_shares WHERE source_site = $1 AND destination_site = $2 AND username = '')
  FROM u
  -- One index probe per user for a ready file (a plain EXISTS may be planned as a scan of the queue).
  CROSS JOIN LATERAL (SELECT 1 FROM transfer_queue r
                      WHERE r.source_site = $1 AND r.destination_site = $2 AND r.username = u.username
                        AND r.not_before <= to_timestamp($3)
                      ORDER BY r.priority DESC, r.transfer_id
                      LIMIT 1) ready
  LEFT JOIN link_shares s ON s.source_site = $1 AND s.destination_site = $2 AND s.username = u.username
  LEFT JOIN user_shares w ON w.username = u.username
  WHERE u.username IS NOT NULL
  ORDER BY u.username)sql";

// The link's virtual time (the row of user '' in link_shares) is the smallest pass among its users with
// work after the last claim. A user coming (back) with work starts there, so an idle spell earns no burst.

// Up to k ready files of each user, best priority first, skipping rows another claimer holds and the
// ones this claim took already.
// (The transfer rows are read by one primary-key lookup of the array of claimed ids: with per-user limits
// the planner cannot size the claim and would otherwise hash-join the whole table.)
constexpr char kSelectQueued[] = R"sql(
  WITH q AS MATERIALIZED (
    SELECT q.transfer_id
    FROM unnest($4::text[], $5::int[]) AS a(username, k)
    CROSS JOIN LATERAL (
      SELECT transfer_id FROM transfer_queue
      WHERE source_site = $1 AND destination_site = $2 AND username = a.username
        AND not_before <= to_timestamp($3) AND transfer_id <> ALL($6::bigint[])
      ORDER BY priority DESC, transfer_id
      LIMIT a.k
      FOR UPDATE SKIP LOCKED) q)
  SELECT t.id, t.attempt + 1, t.username, t.task_id, t.source_url, t.destination_url, t.size_bytes,
         t.checksum
  FROM transfers t
  WHERE t.id = ANY(ARRAY(SELECT transfer_id FROM q))
  ORDER BY t.priority DESC, t.id)sql";

// QUEUED -> SUBMITTING for the planned files, in one statement: out of the queue, into flight, one
// submissions row per job, and the users' new passes on the link. Returns the number of files moved.
constexpr char kClaim[] = R"sql(
  WITH passes AS (
    INSERT INTO link_shares (source_site, destination_site, username, pass)
    SELECT $4, $5, u, p FROM unnest($6::text[], $7::float8[]) AS a(u, p)
    ON CONFLICT (source_site, destination_site, username) DO UPDATE SET pass = EXCLUDED.pass),
  planned AS (
    DELETE FROM transfer_queue q USING unnest($1::bigint[], $2::text[]) AS p(id, job_id)
    WHERE q.transfer_id = p.id
    RETURNING q.transfer_id, p.job_id),
  moved AS (
    UPDATE transfers t
    SET state = 'SUBMITTING', attempt = t.attempt + 1, backend_job_id = planned.job_id,
        claimed_at = to_timestamp($3), updated = to_timestamp($3)
    FROM planned WHERE t.id = planned.transfer_id AND t.state = 'QUEUED'
    RETURNING t.id, t.source_site, t.destination_site, t.backend_job_id),
  live AS (
    INSERT INTO transfer_live SELECT id, source_site, destination_site FROM moved RETURNING 1),
  jobs AS (
    INSERT INTO submissions (job_id, source_site, destination_site, transfer_ids, claimed_at)
    SELECT backend_job_id, min(source_site), min(destination_site), array_agg(id ORDER BY id), to_timestamp($3)
    FROM moved GROUP BY backend_job_id RETURNING 1)
  SELECT (SELECT count(*) FROM live), (SELECT count(*) FROM jobs))sql";

// The backend accepted these jobs: recorded once per job. Returns the files of the jobs confirmed now.
// The record may be committed without waiting for the disk: should a crash lose it, the jobs are sent
// again under the same ids after the resubmission delay and the adapter answers that it has them.
constexpr char kMarkSubmittedAsync[] = "SET LOCAL synchronous_commit = off";
constexpr char kMarkSubmitted[] = R"sql(
  WITH confirmed AS (
    UPDATE submissions SET accepted_at = to_timestamp($2)
    WHERE job_id = ANY($1::text[]) AND accepted_at IS NULL
    RETURNING cardinality(transfer_ids) AS files)
  SELECT COALESCE(sum(files), 0)::bigint FROM confirmed)sql";

// The backend refused the job: its files fail (or end KILLED if a kill is pending), the job is dropped.
constexpr char kFailRefusedJob[] = R"sql(
  WITH job AS (
    DELETE FROM submissions WHERE job_id = $1 AND accepted_at IS NULL RETURNING transfer_ids)
  UPDATE transfers
  SET state = CASE WHEN kill_requested THEN 'KILLED' ELSE 'FAILED' END,
      failure_class = CASE WHEN kill_requested THEN 'CANCELED' ELSE 'BACKEND' END,
      failure_reason = CASE WHEN kill_requested AND failure_reason <> '' THEN failure_reason ELSE $2 END,
      updated = to_timestamp($3)
  FROM job
  WHERE transfers.id = ANY(job.transfer_ids) AND transfers.backend_job_id = $1
    AND transfers.state = 'SUBMITTING')sql";

// Tasks whose deadline passed are marked once, then their queued files fail. Two statements: an UPDATE
// of transfers notifies the scheduler even when it changes no row, so it runs only when a task is due.
constexpr char kTasksOverdue[] = R"sql(
  UPDATE tasks SET deadline_passed = true, updated = to_timestamp($1)
  WHERE task_id IN (SELECT task_id FROM tasks
                    WHERE deadline IS NOT NULL AND NOT deadline_passed AND deadline <= to_timestamp($1)
                    ORDER BY deadline LIMIT $2)
  RETURNING task_id)sql";
constexpr char kExpireOverdue[] = R"sql(
  WITH due AS (SELECT task_id, deadline FROM tasks WHERE task_id = ANY($2::text[]))
  UPDATE transfers t
  SET state = 'FAILED', failure_class = 'MAX_TIME_IN_QUEUE',
      failure_reason = 'the task deadline (' || to_char(due.deadline AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
                       || ') passed before the file was transferred',
      updated = to_timestamp($1)
  FROM due WHERE t.task_id = due.task_id AND t.state = 'QUEUED')sql";

constexpr char kStaleJobs[] = R"sql(
  SELECT job_id FROM submissions
  WHERE accepted_at IS NULL AND claimed_at < to_timestamp($1)
  ORDER BY claimed_at
  LIMIT $2)sql";

// Renews the claim of one stale job (a replica renewing it concurrently waits on the row, then finds it
// renewed and takes nothing) and returns its files that are still waiting for the backend.
constexpr char kTakeJob[] = R"sql(
  WITH job AS (
    UPDATE submissions SET claimed_at = to_timestamp($3)
    WHERE job_id = $1 AND accepted_at IS NULL AND claimed_at < to_timestamp($2)
    RETURNING transfer_ids)
  SELECT t.id, t.attempt, t.username, t.task_id, t.source_url, t.destination_url, t.size_bytes,
         t.checksum, t.source_site, t.destination_site
  FROM job LEFT JOIN transfers t
    ON t.id = ANY(job.transfer_ids) AND t.backend_job_id = $1 AND t.state = 'SUBMITTING'
  ORDER BY t.id)sql";

// A stale job none of whose files still waits for the backend (all killed or finished meanwhile).
constexpr char kDropEmptyJob[] = R"sql(
  DELETE FROM submissions WHERE job_id = $1 AND accepted_at IS NULL)sql";

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

struct Share {
  std::string user;
  double pass = 0;
  double weight = 1;
  int wanted = 0;  // slots given in this round
  int got = 0;     // files claimed in all rounds
  bool exhausted = false;
};

std::string FloatArray(const std::vector<double>& values) {
  std::string out = "{";
  for (size_t i = 0; i < values.size(); ++i)
    absl::StrAppend(&out, i ? "," : "", absl::StrFormat("%.17g", values[i]));
  return out + "}";
}

// Picks up to `free` ready files of the link, sharing the slots between its users by stride scheduling:
// each slot goes to the user with work whose pass (files given / weight) is smallest. A user with fewer
// ready files than its slots leaves them to the others in a second round. Returns the new passes, which
// the claim statement stores.
struct Passes {
  std::vector<std::string> users;
  std::vector<double> passes;
};

absl::Status SelectFairly(pqxx::work& txn, const std::string& source_site,
                          const std::string& destination_site, absl::Time now, int64_t free,
                          std::vector<ClaimedFile>& files, Passes& out_passes) {
  std::vector<Share> shares;
  for (const auto& r : txn.exec_params(kLinkUsers, source_site, destination_site, EpochSeconds(now))) {
    const double virtual_time = r[3].is_null() ? 0 : r[3].as<double>();
    Share s;
    s.user = r[0].as<std::string>();
    s.pass = std::max(r[1].is_null() ? virtual_time : r[1].as<double>(), virtual_time);
    s.weight = r[2].as<double>();
    shares.push_back(std::move(s));
  }
  if (shares.empty()) return absl::OkStatus();
  std::vector<int64_t> taken;
  int64_t left = free;
  for (int round = 0; round < 2 && left > 0; ++round) {
    std::vector<std::string> users;
    std::vector<int64_t> wanted;
    for (auto& s : shares) s.wanted = 0;
    for (int64_t slot = 0; slot < left; ++slot) {
      Share* best = nullptr;
      for (auto& s : shares) {
        if (s.exhausted) continue;
        if (best == nullptr || s.pass + 1 / s.weight < best->pass + 1 / best->weight) best = &s;
      }
      if (best == nullptr) break;
      best->pass += 1 / best->weight;
      ++best->wanted;
    }
    for (const auto& s : shares) {
      if (s.wanted > 0) {
        users.push_back(s.user);
        wanted.push_back(s.wanted);
      }
    }
    if (users.empty()) break;
    absl::flat_hash_map<std::string, int> got;
    for (const auto& r : txn.exec_params(kSelectQueued, source_site, destination_site, EpochSeconds(now),
                                         TextArray(users), IntArray(wanted), IntArray(taken))) {
      files.push_back(FileFromRow(r));
      taken.push_back(files.back().transfer_id);
      ++got[files.back().user];
    }
    for (auto& s : shares) {
      if (s.wanted == 0) continue;
      const int g = got[s.user];
      s.got += g;
      left -= g;
      if (g < s.wanted) {
        // Fewer ready files than slots: give back the slots it did not use.
        s.pass -= (s.wanted - g) / s.weight;
        s.exhausted = true;
      }
    }
  }
  std::vector<std::string> users;
  std::vector<double> passes;
  double new_virtual_time = -1;
  for (const auto& s : shares) {
    if (s.got > 0) {
      users.push_back(s.user);
      passes.push_back(s.pass);
    }
    if (!s.exhausted && (new_virtual_time < 0 || s.pass < new_virtual_time)) new_virtual_time = s.pass;
  }
  if (new_virtual_time >= 0) {
    users.push_back("");
    passes.push_back(new_virtual_time);
  }
  out_passes = Passes{std::move(users), std::move(passes)};
  return absl::OkStatus();
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
    auto load = txn.exec_params(kSitesAndLoad, source_site, destination_site,
                                static_cast<int64_t>(limits.link_max_active), limits.default_site_max_active);
    if (load.empty()) return absl::OkStatus();  // a site was deleted meanwhile
    const auto& r = load[0];
    if (r[0].as<std::string>() != "ENABLED" || r[1].as<std::string>() != "ENABLED") return absl::OkStatus();
    const int64_t free = std::min<int64_t>(
        {limits.link_max_active - r[4].as<int64_t>(), r[2].as<int64_t>() - r[5].as<int64_t>(),
         r[3].as<int64_t>() - r[6].as<int64_t>(), static_cast<int64_t>(limits.max_files)});
    if (free <= 0) return absl::OkStatus();
    std::vector<ClaimedFile> files;
    Passes passes;
    if (absl::Status s = SelectFairly(txn, source_site, destination_site, now, free, files, passes);
        !s.ok()) {
      return s;
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
    auto moved = txn.exec_params1(kClaim, IntArray(ids), TextArray(job_of_id), EpochSeconds(now), source_site,
                                  destination_site, TextArray(passes.users), FloatArray(passes.passes));
    if (moved[0].as<size_t>() != ids.size()) {
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
    txn.exec(kMarkSubmittedAsync);
    changed = txn.exec_params1(kMarkSubmitted, TextArray(job_ids), EpochSeconds(now))[0].as<int>();
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return changed;
}

absl::StatusOr<int> PgSchedulingRepository::ExpireOverdue(absl::Time now, int max_tasks) {
  int failed = 0;
  absl::Status s = Transact(db_, [&](pqxx::work& txn) {
    failed = 0;
    std::vector<std::string> due;
    for (const auto& r : txn.exec_params(kTasksOverdue, EpochSeconds(now), max_tasks)) {
      due.push_back(r[0].as<std::string>());
    }
    if (due.empty()) return absl::OkStatus();
    failed =
        static_cast<int>(txn.exec_params(kExpireOverdue, EpochSeconds(now), TextArray(due)).affected_rows());
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return failed;
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
      auto rows = txn.exec_params(kTakeJob, id, EpochSeconds(claimed_before), EpochSeconds(now));
      for (const auto& r : rows) {
        if (r[0].is_null()) continue;
        job.files.push_back(FileFromRow(r));
        job.source_site = r[8].as<std::string>();
        job.destination_site = r[9].as<std::string>();
      }
      if (!rows.empty() && job.files.empty()) txn.exec_params(kDropEmptyJob, id);
      return absl::OkStatus();
    });
    if (!s.ok()) return s;
    if (!job.files.empty()) jobs.push_back(std::move(job));
  }
  return jobs;
}

}  // namespace aso::db
