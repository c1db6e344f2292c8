#include "libs/db/scheduling_repository.h"

#include <algorithm>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "libs/db/internal/transaction.h"
#include "libs/db/pg_util.h"

namespace aso::db {
namespace {

// Queued and in-flight files per link, from the narrow claim tables (see migration 0003), with the states
// of both sites and the link's own settings and adaptive limit (table links).
constexpr char kListLinks[] = R"sql(
  WITH q AS (SELECT source_site, destination_site,
                    count(*) FILTER (WHERE not_before <= to_timestamp($1)) AS ready, count(*) AS queued
             FROM transfer_queue GROUP BY source_site, destination_site),
       l AS (SELECT source_site, destination_site, count(*) AS active
             FROM transfer_live GROUP BY source_site, destination_site)
  SELECT source_site, destination_site, COALESCE(q.ready, 0), COALESCE(q.queued, 0), COALESCE(l.active, 0),
         ss.state, ds.state, COALESCE(k.state, 'ENABLED'), COALESCE(k.max_active, 0),
         COALESCE(k.optimized_active, 0), COALESCE(k.success_rate, -1), COALESCE(k.throughput, -1),
         COALESCE(k.optimizer_reason, ''), COALESCE(k.waiting_reason, '')
  FROM q FULL JOIN l USING (source_site, destination_site)
  FULL JOIN links k USING (source_site, destination_site)
  JOIN sites ss ON ss.name = source_site
  JOIN sites ds ON ds.name = destination_site
  ORDER BY source_site, destination_site)sql";

// The claim's settings for the transaction: the claim statements maintain transfer_queue and
// transfer_live themselves (aso.claim, migration 0003), and their plans do not depend on the values, so
// the prepared statements are planned once per connection, not per call.
constexpr char kClaimSettings[] = R"sql(
  SELECT set_config('aso.claim', 'on', true), set_config('plan_cache_mode', 'force_generic_plan', true))sql";

// As kLockSites for a batch of links ($1, $2: their sites), without waiting: each distinct lock is tried
// once; a link whose locks are all held now is returned with true, one of whose locks another transaction
// holds with false (the locks this one got stay held until it ends, which is harmless). Also applies
// kClaimSettings for the rest of the transaction.
constexpr char kTryLockLinks[] = R"sql(
  WITH keys AS (
    SELECT l.i, k
    FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS l(s, d, i)
    CROSS JOIN LATERAL unnest(ARRAY[hashtext('aso-out:' || l.s), hashtext('aso-in:' || l.d),
                                    CASE WHEN $3 <> '' THEN hashtext('aso-backend:' || $3) END]) AS k
    WHERE k IS NOT NULL),
  got AS MATERIALIZED (
    SELECT k, pg_try_advisory_xact_lock(k) AS ok FROM (SELECT DISTINCT k FROM keys ORDER BY k) AS d),
  settings AS MATERIALIZED (  -- kClaimSettings, in the same round trip
    SELECT set_config('aso.claim', 'on', true), set_config('plan_cache_mode', 'force_generic_plan', true))
  SELECT keys.i, bool_and(got.ok) FROM keys JOIN got USING (k) CROSS JOIN settings
  GROUP BY keys.i ORDER BY keys.i)sql";

// Throttle locks: outbound of the source site, inbound of the destination site and, when $3 is not
// empty, the backend's; taken in key order so two claimers cannot deadlock. Held until the transaction
// ends.
constexpr char kLockSites[] = R"sql(
  SELECT pg_advisory_xact_lock(k) FROM (
    SELECT DISTINCT k FROM unnest(ARRAY[hashtext('aso-out:' || $1), hashtext('aso-in:' || $2),
                                        CASE WHEN $3 <> '' THEN hashtext('aso-backend:' || $3) END]) AS k
    WHERE k IS NOT NULL ORDER BY k) AS keys)sql";

// For each link of a batch ($1, $2: its sites, $3: its limit): the states and limits of both sites, the
// files in flight on the link, out of/into the sites and through the backend, each counted only up to its
// limit (the cost of a claim stays bounded by the limits, not by how much is in flight), and the link's
// users with ready files: found by a loose scan of the queue index (cost grows with the link's users, not
// its files), each with its stride pass, its weight, and the link's virtual time (the pass of user '').
// $4 is the limit of a site without its own, $5 the backend's (0: none); ready_files counts the link's
// ready files up to its limit or $7 (the most one claim takes); $8: on a link moving files with their
// owners' credentials, users whose delegated credential expires before it have no ready files. Last column:
// the link's index in the batch (from 1); a link one of whose sites was deleted meanwhile has no row.
constexpr char kLinksLoad[] = R"sql(
  SELECT x.*, (SELECT count(*) FROM (SELECT 1 FROM transfer_live LIMIT $5) b) AS backend_active, l.i AS link
  FROM unnest($1::text[], $2::text[], $3::int[]) WITH ORDINALITY AS l(s, d, lim, i)
  -- The deployment's choice of credentials, read per statement (not per link); both sites, each by its
  -- primary key (ordered as the index is, so that a generic plan reads it rather than scanning the table
  -- for every link).
  CROSS JOIN (SELECT (SELECT value FROM deployment_settings WHERE name = 'site_credentials') AS choice) dep
  CROSS JOIN LATERAL (
    SELECT state, CASE WHEN max_active_outbound > 0 THEN max_active_outbound ELSE $4 END AS lim,
           aso_owner_credentials(credentials, dep.choice) AS owner
    FROM sites WHERE name = l.s ORDER BY name LIMIT 1) src
  CROSS JOIN LATERAL (
    SELECT state, CASE WHEN max_active_inbound > 0 THEN max_active_inbound ELSE $4 END AS lim,
           aso_owner_credentials(credentials, dep.choice) AS owner
    FROM sites WHERE name = l.d ORDER BY name LIMIT 1) dst
  CROSS JOIN LATERAL (
    WITH RECURSIVE
    u(username) AS (
      (SELECT username FROM transfer_queue WHERE source_site = l.s AND destination_site = l.d
       ORDER BY username LIMIT 1)
      UNION ALL
      SELECT (SELECT q.username FROM transfer_queue q
              WHERE q.source_site = l.s AND q.destination_site = l.d AND q.username > u.username
              ORDER BY q.username LIMIT 1)
      FROM u WHERE u.username IS NOT NULL),
    ready AS (
      SELECT u.username, s.pass, COALESCE(w.weight, 1) AS weight
      FROM u
      LEFT JOIN link_shares s ON s.source_site = l.s AND s.destination_site = l.d AND s.username = u.username
      LEFT JOIN user_shares w ON w.username = u.username
      WHERE u.username IS NOT NULL
        -- On a link whose files move with their owners' credentials (either site's credentials, schema
        -- 17): a user without a proxy or token lasting past $8 (or a token ASO can renew) waits
        -- (user_credentials, schemas 15-16; the scheduler records why in user_holds).
        AND (NOT (src.owner OR dst.owner)
             OR EXISTS (SELECT 1 FROM user_credentials c WHERE c.username = u.username
                          AND (c.refreshable OR c.not_after > to_timestamp($8::float8))))
        -- A lone user needs no check (its claim finds what is ready); with several, one index probe per
        -- user for a ready file (a plain EXISTS may be planned as a scan of the queue).
        AND ((SELECT count(*) FROM u WHERE username IS NOT NULL) = 1
             OR (SELECT true FROM transfer_queue r
                 WHERE r.source_site = l.s AND r.destination_site = l.d AND r.username = u.username
                   AND r.not_before <= to_timestamp($6)
                 ORDER BY r.priority DESC, r.transfer_id
                 LIMIT 1)))
    SELECT src.state AS source_state, dst.state AS destination_state, src.lim AS source_limit,
      dst.lim AS destination_limit,
      -- (Each count is ordered as its index is, so that the index is read even when the table is small and
      -- churning: a generic plan would scan a table of a few pages, mostly dead rows, for every link.)
      (SELECT count(*) FROM (SELECT 1 FROM transfer_live WHERE source_site = l.s AND destination_site = l.d
                             ORDER BY source_site, destination_site LIMIT l.lim) link) AS link_active,
      (SELECT count(*) FROM (SELECT 1 FROM transfer_live WHERE source_site = l.s
                             ORDER BY source_site, destination_site LIMIT src.lim) o) AS outbound,
      (SELECT count(*) FROM (SELECT 1 FROM transfer_live WHERE destination_site = l.d
                             ORDER BY destination_site, source_site LIMIT dst.lim) i) AS inbound,
      (SELECT count(*) FROM (SELECT 1 FROM transfer_queue WHERE source_site = l.s AND destination_site = l.d
                               AND not_before <= to_timestamp($6)
                             ORDER BY source_site, destination_site, username LIMIT least(l.lim, $7)) r)
        AS ready_files,
      (SELECT array_agg(username ORDER BY username) FROM ready) AS users,
      (SELECT array_agg(COALESCE(pass, -1)::text ORDER BY username) FROM ready) AS passes,
      (SELECT array_agg(weight::text ORDER BY username) FROM ready) AS weights,
      (SELECT pass FROM link_shares WHERE source_site = l.s AND destination_site = l.d AND username = '')
        AS virtual_time) x
  ORDER BY l.i)sql";

constexpr char kFileColumns[] =
    "t.id, t.attempt + 1, t.username, t.task_id, t.source_url, t.destination_url, t.size_bytes, "
    "t.checksum, t.priority, extract(epoch FROM t.updated)";

// Up to k ready files of each (link, user) of a batch ($1, $2: the link's sites, $3: the user, $4: k), best
// priority first, skipping rows another claimer holds and the ones this claim took already ($6). (The
// transfer rows are read by one primary-key lookup of the array of claimed ids: with per-user limits the
// planner cannot size the claim and would otherwise hash-join the whole table.) The last two columns name
// the file's link.
constexpr char kSelectFiles[] = R"sql(
  , t.source_site, t.destination_site
  FROM transfers t
  WHERE t.id = ANY(ARRAY(
    SELECT q.transfer_id
    FROM unnest($1::text[], $2::text[], $3::text[], $4::int[]) AS a(s, d, username, k)
    CROSS JOIN LATERAL (
      SELECT transfer_id FROM transfer_queue
      WHERE source_site = a.s AND destination_site = a.d AND username = a.username
        AND not_before <= to_timestamp($5) AND transfer_id <> ALL($6::bigint[])
      ORDER BY priority DESC, transfer_id
      LIMIT a.k
      FOR UPDATE SKIP LOCKED) q))
  ORDER BY t.priority DESC, t.id)sql";

const std::string kSelectFilesSql = absl::StrCat("SELECT ", kFileColumns, kSelectFiles);

// QUEUED -> SUBMITTING for the planned files of a batch of links, in one statement: out of the queue,
// into flight, one submissions row per job (with what last held its link), and the users' new passes on
// their links ($4..$7: link sites, user, pass). Returns the number of files moved.
constexpr char kClaim[] = R"sql(
  WITH passes AS (
    INSERT INTO link_shares (source_site, destination_site, username, pass)
    SELECT s, d, u, p FROM unnest($4::text[], $5::text[], $6::text[], $7::float8[]) AS a(s, d, u, p)
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
    INSERT INTO submissions (job_id, source_site, destination_site, transfer_ids, claimed_at,
                             link_waiting_reason)
    SELECT j.job_id, j.source_site, j.destination_site, j.ids, to_timestamp($3),
           COALESCE((SELECT waiting_reason FROM links k
                     WHERE k.source_site = j.source_site AND k.destination_site = j.destination_site), '')
    FROM (SELECT backend_job_id AS job_id, min(source_site) AS source_site,
                 min(destination_site) AS destination_site, array_agg(id ORDER BY id) AS ids
          FROM moved GROUP BY backend_job_id) j
    RETURNING 1)
  SELECT (SELECT count(*) FROM live), (SELECT count(*) FROM jobs))sql";

// The backend accepted these jobs: recorded once per job. Returns the files of the jobs confirmed now.
// The record may be committed without waiting for the disk: should a crash lose it, the jobs are sent
// again under the same ids after the resubmission delay and the adapter answers that it has them. One
// statement, run without a transaction block: `async` turns the flush wait off for its own commit.
constexpr char kMarkSubmitted[] = R"sql(
  WITH async AS MATERIALIZED (SELECT set_config('synchronous_commit', 'off', true)),
  confirmed AS (
    UPDATE submissions SET accepted_at = to_timestamp($2)
    WHERE job_id = ANY($1::text[]) AND accepted_at IS NULL
    RETURNING cardinality(transfer_ids) AS files)
  SELECT COALESCE(sum(files), 0)::bigint FROM confirmed CROSS JOIN async)sql";

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
// Up to $2 tasks whose deadline passed by $1 are marked, and their queued files fail; one statement, so
// a task is never marked without its files failing.
constexpr char kExpireOverdue[] = R"sql(
  WITH due AS (
    UPDATE tasks SET deadline_passed = true, updated = to_timestamp($1)
    WHERE task_id IN (SELECT task_id FROM tasks
                      WHERE deadline IS NOT NULL AND NOT deadline_passed AND deadline <= to_timestamp($1)
                      ORDER BY deadline LIMIT $2)
    RETURNING task_id, deadline)
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
         t.checksum, t.priority, extract(epoch FROM t.updated), t.source_site, t.destination_site
  FROM job LEFT JOIN transfers t
    ON t.id = ANY(job.transfer_ids) AND t.backend_job_id = $1 AND t.state = 'SUBMITTING'
  ORDER BY t.id)sql";

// A stale job none of whose files still waits for the backend (all killed or finished meanwhile).
constexpr char kDropEmptyJob[] = R"sql(
  DELETE FROM submissions WHERE job_id = $1 AND accepted_at IS NULL)sql";

// A job never sent: its files are as they were before the claim (the attempt was not used).
constexpr char kReturnUnsentJob[] = R"sql(
  WITH job AS (
    DELETE FROM submissions WHERE job_id = $1 AND accepted_at IS NULL RETURNING transfer_ids)
  UPDATE transfers
  SET state = CASE WHEN kill_requested THEN 'KILLED' ELSE 'QUEUED' END,
      failure_class = CASE WHEN kill_requested THEN 'CANCELED' ELSE failure_class END,
      attempt = CASE WHEN kill_requested THEN attempt ELSE attempt - 1 END,
      backend_job_id = NULL, claimed_at = NULL, updated = to_timestamp($2)
  FROM job
  WHERE transfers.id = ANY(job.transfer_ids) AND transfers.backend_job_id = $1
    AND transfers.state = 'SUBMITTING')sql";

// Where the link optimizer's last step ended: the last attempt it read and when (exact epoch seconds); no
// row before the first step.
constexpr char kOptimizerMark[] = R"sql(
  SELECT last_attempt_id, extract(epoch FROM stepped_at)::text FROM link_optimizer)sql";

// Link health for the optimizer: per link, the attempts recorded after attempt $1. A missing or unreadable
// source, an existing destination, an expired credential, a cancel or a passed deadline says nothing about
// the link.
constexpr char kReadOutcomes[] = R"sql(
  SELECT source_site, destination_site,
         count(*) FILTER (WHERE result = 'DONE'),
         count(*) FILTER (WHERE result = 'FAILED'
                            AND failure_class NOT IN ('SOURCE', 'SOURCE_PERMISSION', 'DESTINATION_EXISTS',
                                                      'CREDENTIAL_EXPIRED', 'CANCELED', 'MAX_TIME_IN_QUEUE')),
         COALESCE(sum(bytes) FILTER (WHERE result = 'DONE'), 0)::bigint,
         max(id)
  FROM attempts WHERE id > $1
  GROUP BY source_site, destination_site)sql";

// The link optimizer's step, stored if no other replica stepped since it was read (the step's mark is still
// attempt $9 at epoch $10): the mark moves to attempt $8 and time $7, and the new limits of the links
// ($1..$6) are written. Returns 1 when stored, 0 when another replica's step came first.
constexpr char kOptimizerStore[] = R"sql(
  WITH mark AS (
    UPDATE link_optimizer SET last_attempt_id = $8, stepped_at = to_timestamp($7)
    WHERE last_attempt_id = $9 AND extract(epoch FROM stepped_at) = $10::numeric
    RETURNING 1),
  stored AS (
    INSERT INTO links (source_site, destination_site, optimized_active, success_rate, throughput,
                       optimizer_reason, optimized_at, updated)
    SELECT s, d, a, NULLIF(r, -1), NULLIF(t, -1), why, to_timestamp($7), to_timestamp($7)
    FROM unnest($1::text[], $2::text[], $3::int[], $4::float8[], $5::float8[], $6::text[])
         AS x(s, d, a, r, t, why)
    WHERE EXISTS (SELECT 1 FROM mark)
      AND EXISTS (SELECT 1 FROM sites WHERE name = s) AND EXISTS (SELECT 1 FROM sites WHERE name = d)
    ON CONFLICT (source_site, destination_site) DO UPDATE
    SET optimized_active = EXCLUDED.optimized_active, success_rate = EXCLUDED.success_rate,
        throughput = EXCLUDED.throughput, optimizer_reason = EXCLUDED.optimizer_reason,
        optimized_at = EXCLUDED.optimized_at
    RETURNING 1)
  SELECT (SELECT count(*) FROM mark), (SELECT count(*) FROM stored))sql";

constexpr char kSetLink[] = R"sql(
  INSERT INTO links (source_site, destination_site, state, max_active, updated)
  VALUES ($1, $2, COALESCE($3, 'ENABLED'), COALESCE($4, 0), to_timestamp($5))
  ON CONFLICT (source_site, destination_site) DO UPDATE
  SET state = COALESCE($3, links.state), max_active = COALESCE($4, links.max_active),
      -- A new ceiling restarts the optimizer from the middle of the range.
      optimized_active = CASE WHEN $4 IS NULL THEN links.optimized_active ELSE 0 END,
      updated = to_timestamp($5))sql";

constexpr char kSetLinkWaiting[] = R"sql(
  INSERT INTO links (source_site, destination_site, waiting_reason, updated)
  SELECT s, d, why, now() FROM unnest($1::text[], $2::text[], $3::text[]) AS x(s, d, why)
  WHERE EXISTS (SELECT 1 FROM sites WHERE name = s) AND EXISTS (SELECT 1 FROM sites WHERE name = d)
  ON CONFLICT (source_site, destination_site) DO UPDATE SET waiting_reason = EXCLUDED.waiting_reason)sql";

constexpr char kQueueStatsByLink[] = R"sql(
  WITH q AS (SELECT source_site || ' -> ' || destination_site AS key,
                    count(*) AS queued, count(*) FILTER (WHERE not_before <= to_timestamp($1)) AS ready
             FROM transfer_queue GROUP BY 1),
       l AS (SELECT source_site || ' -> ' || destination_site AS key, count(*) AS active
             FROM transfer_live GROUP BY 1)
  SELECT key, COALESCE(queued, 0), COALESCE(ready, 0), COALESCE(active, 0)
  FROM q FULL JOIN l USING (key) ORDER BY 2 DESC, 4 DESC, 1 LIMIT $2)sql";
constexpr char kQueueStatsBySite[] = R"sql(
  WITH q AS (SELECT %1$s AS key,
                    count(*) AS queued, count(*) FILTER (WHERE not_before <= to_timestamp($1)) AS ready
             FROM transfer_queue GROUP BY 1),
       l AS (SELECT %1$s AS key, count(*) AS active FROM transfer_live GROUP BY 1)
  SELECT key, COALESCE(queued, 0), COALESCE(ready, 0), COALESCE(active, 0)
  FROM q FULL JOIN l USING (key) ORDER BY 2 DESC, 4 DESC, 1 LIMIT $2)sql";
// transfer_live has no user: the in-flight files are counted from transfers (index transfers_live_by_user
// covers the non-terminal ones).
constexpr char kQueueStatsByUser[] = R"sql(
  WITH q AS (SELECT username AS key,
                    count(*) AS queued, count(*) FILTER (WHERE not_before <= to_timestamp($1)) AS ready
             FROM transfer_queue GROUP BY 1),
       l AS (SELECT username AS key, count(*) AS active FROM transfers
             WHERE live AND state <> 'QUEUED' GROUP BY 1)
  SELECT key, COALESCE(queued, 0), COALESCE(ready, 0), COALESCE(active, 0)
  FROM q FULL JOIN l USING (key) ORDER BY 2 DESC, 4 DESC, 1 LIMIT $2)sql";

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
  f.priority = r[8].as<int32_t>();
  f.queued_since = FromEpochSeconds(r[9].as<double>());
  return f;
}

// One user with ready files on the link, as the claim shares its slots.
struct Share {
  std::string user;
  double pass = 0;
  double weight = 1;
  int wanted = 0;  // slots given in this round
  int got = 0;     // files claimed in all rounds
  bool exhausted = false;
};

double ParseDouble(const std::string& s) {
  double v = 0;
  return absl::SimpleAtod(s, &v) ? v : 0;
}

// The users' new passes on a link (user '' is the link's virtual time), stored by the claim statement.
struct Passes {
  std::vector<std::string> users;
  std::vector<double> passes;
};

// The claims of a batch of links, written by one statement at the end (kClaim).
struct ClaimBatch {
  std::vector<int64_t> ids;
  std::vector<std::string> job_of_id;
  std::vector<std::string> pass_source, pass_destination, pass_user;
  std::vector<double> pass;

  absl::Status Write(pqxx::work& txn, absl::Time now) const {
    if (ids.empty() && pass.empty()) return absl::OkStatus();
    auto moved = ExecPrepared(txn, "aso_claim", kClaim, IntArray(ids), TextArray(job_of_id),
                              EpochSeconds(now), TextArray(pass_source), TextArray(pass_destination),
                              TextArray(pass_user), FloatArray(pass));
    if (moved[0][0].as<size_t>() != ids.size()) {
      return absl::AbortedError("claimed transfers changed state during the claim");
    }
    return absl::OkStatus();
  }
};

// One link of a batch while its files are chosen.
//
// How many files a link may take (`free`) is the tightest of its limits: its own, its source site's
// outbound, its destination site's inbound, the backend's, and the claim size. The files allotted to the
// links before it in the batch (no more than each had ready) count against the sites and the backend.
//
// Which files: with one user there is nothing to share, its best files, and no pass changes (passes only
// matter relative to each other, and the link's virtual time is where a newcomer starts). With several,
// stride scheduling: each slot goes to the user whose pass + 1/weight is smallest; a user with fewer ready
// files than its slots leaves them to the others in a second round. The files of every link of a round
// are read by one statement (kSelectFiles).
struct LinkWork {
  enum class Bound { kNone, kLink, kSource, kDestination, kBackend };
  size_t index = 0;
  const LinkClaim* claim = nullptr;
  int64_t free = 0, left = 0;
  Bound bound = Bound::kNone;
  int64_t bound_limit = 0, bound_active = 0;
  std::vector<Share> shares;
  double virtual_time = 0;
  std::vector<ClaimedFile> files;

  void LimitBy(Bound kind, int64_t limit, int64_t active) {
    if (limit - active < free) {
      free = limit - active;
      bound = kind;
      bound_limit = limit;
      bound_active = active;
    }
  }
  bool Shared() const { return shares.size() > 1; }

  // The binding limit in words, with `claimed` more transfers active; empty if no limit binds.
  std::string Describe(int64_t claimed) const {
    const std::string& src = claim->source_site;
    const std::string& dst = claim->destination_site;
    const int64_t active = bound_active + claimed;
    std::string out;
    switch (bound) {
      case Bound::kNone:
        return out;
      case Bound::kLink:
        out = absl::StrCat("link ", src, " -> ", dst, " is full: ", active, " of ", bound_limit,
                           " transfers active");
        break;
      case Bound::kSource:
        out = absl::StrCat("source site ", src, " is sending its maximum: ", active, " of ", bound_limit,
                           " transfers");
        break;
      case Bound::kDestination:
        out = absl::StrCat("destination site ", dst, " is receiving its maximum: ", active, " of ",
                           bound_limit, " transfers");
        break;
      case Bound::kBackend:
        out = absl::StrCat("transfer backend ", claim->limits.backend, " is full: ", active, " of ",
                           bound_limit, " transfers");
        break;
    }
    if (shares.size() > 1) {
      absl::StrAppend(&out, ", shared fairly between ", shares.size(), " users with files ready on it");
    }
    return out;
  }

  // Gives the `left` slots to the users of a shared link for one round; adds (link, user, slots) to the
  // round's request.
  void Stride(std::vector<std::string>& src, std::vector<std::string>& dst, std::vector<std::string>& users,
              std::vector<int64_t>& wanted) {
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
      if (s.wanted == 0) continue;
      src.push_back(claim->source_site);
      dst.push_back(claim->destination_site);
      users.push_back(s.user);
      wanted.push_back(s.wanted);
    }
  }

  // After a round: what each user got; a user with fewer ready files than its slots gives back the rest.
  // Returns whether slots are left for another round.
  bool Settle(const absl::flat_hash_map<std::string, int>& got) {
    bool more = false;
    for (auto& s : shares) {
      if (s.wanted == 0) continue;
      auto it = got.find(s.user);
      const int g = it == got.end() ? 0 : it->second;
      s.got += g;
      left -= g;
      if (g < s.wanted) {
        s.pass -= (s.wanted - g) / s.weight;
        s.exhausted = true;
        more = true;
      }
      s.wanted = 0;
    }
    return more && left > 0;
  }

  // The users' new passes (user '' is the link's virtual time): the smallest pass among the users that
  // still have ready files; when every user ran out (the link is not saturated), the largest pass given,
  // so that all who come back start level instead of the ones served least taking every slot to catch up.
  Passes NewPasses() const {
    Passes out;
    if (!Shared()) return out;
    double new_virtual_time = -1, largest = virtual_time;
    for (const auto& s : shares) {
      if (s.got > 0) {
        out.users.push_back(s.user);
        out.passes.push_back(s.pass);
        largest = std::max(largest, s.pass);
      }
      if (!s.exhausted && (new_virtual_time < 0 || s.pass < new_virtual_time)) new_virtual_time = s.pass;
    }
    out.users.push_back("");
    out.passes.push_back(new_virtual_time >= 0 ? new_virtual_time : largest);
    return out;
  }
};

// Reads the load of a batch of links (kLinksLoad) and decides how many files each may take; returns the
// links that may take some, in batch order. A link held by a limit gets its reason in `results`.
std::vector<LinkWork> Allot(pqxx::work& txn, const std::vector<LinkClaim>& links,
                            const std::vector<size_t>& which, absl::Time now,
                            std::vector<LinkClaimResult>& results) {
  std::vector<LinkWork> out;
  if (which.empty()) return out;
  std::vector<std::string> src, dst;
  std::vector<int64_t> lim;
  for (size_t i : which) {
    src.push_back(links[i].source_site);
    dst.push_back(links[i].destination_site);
    lim.push_back(links[i].limits.link_max_active);
  }
  // Limits shared by every link of a batch (checked by the caller): the first link's.
  const ClaimLimits& shared = links[which.front()].limits;
  const pqxx::result load = ExecPrepared(txn, "aso_links_load", kLinksLoad, TextArray(src), TextArray(dst),
                                         IntArray(lim), shared.default_site_max_active,
                                         static_cast<int64_t>(std::max(shared.backend_max_active, 0)),
                                         EpochSeconds(now), static_cast<int64_t>(shared.max_files),
                                         EpochSeconds(now + shared.credential_min_remaining));
  // Files allotted so far in the batch, per site and through the backend.
  absl::flat_hash_map<std::string, int64_t> outbound, inbound;
  int64_t backend = 0;
  for (const auto& r : load) {
    const size_t i = which[r["link"].as<size_t>() - 1];
    if (r["source_state"].as<std::string>() != "ENABLED" ||
        r["destination_state"].as<std::string>() != "ENABLED") {
      continue;
    }
    LinkWork w;
    w.index = i;
    w.claim = &links[i];
    const ClaimLimits& limits = links[i].limits;
    w.free = limits.max_files;
    w.LimitBy(LinkWork::Bound::kLink, limits.link_max_active, r["link_active"].as<int64_t>());
    w.LimitBy(LinkWork::Bound::kSource, r["source_limit"].as<int64_t>(),
              r["outbound"].as<int64_t>() + outbound[links[i].source_site]);
    w.LimitBy(LinkWork::Bound::kDestination, r["destination_limit"].as<int64_t>(),
              r["inbound"].as<int64_t>() + inbound[links[i].destination_site]);
    if (limits.backend_max_active > 0) {
      w.LimitBy(LinkWork::Bound::kBackend, limits.backend_max_active,
                r["backend_active"].as<int64_t>() + backend);
    }
    if (r["users"].is_null()) continue;  // nothing ready
    const std::vector<std::string> users = ParseTextArray(r["users"].as<std::string>());
    const std::vector<std::string> passes = ParseTextArray(r["passes"].as<std::string>());
    const std::vector<std::string> weights = ParseTextArray(r["weights"].as<std::string>());
    for (size_t u = 0; u < users.size() && u < passes.size() && u < weights.size(); ++u) {
      w.shares.push_back(Share{users[u], ParseDouble(passes[u]), ParseDouble(weights[u])});
    }
    if (w.free <= 0) {
      results[i].waiting = w.Describe(0);
      continue;
    }
    if (w.shares.empty()) continue;
    w.virtual_time = r["virtual_time"].is_null() ? 0 : r["virtual_time"].as<double>();
    for (auto& sh : w.shares) sh.pass = std::max(sh.pass < 0 ? w.virtual_time : sh.pass, w.virtual_time);
    const int64_t allotted = std::min(w.free, r["ready_files"].as<int64_t>());
    if (allotted <= 0) continue;
    w.left = w.free;
    outbound[links[i].source_site] += allotted;
    inbound[links[i].destination_site] += allotted;
    backend += allotted;
    out.push_back(std::move(w));
  }
  return out;
}

// Reads the files requested for a round (kSelectFiles) and hands them to their links; `taken` collects
// the ids. Returns per link (by position in `work`) the files each user got.
absl::StatusOr<std::vector<absl::flat_hash_map<std::string, int>>> SelectRound(
    pqxx::work& txn, std::vector<LinkWork>& work, const std::vector<std::string>& src,
    const std::vector<std::string>& dst, const std::vector<std::string>& users,
    const std::vector<int64_t>& wanted, absl::Time now, std::vector<int64_t>& taken) {
  std::vector<absl::flat_hash_map<std::string, int>> got(work.size());
  if (users.empty()) return got;
  absl::flat_hash_map<std::pair<std::string, std::string>, size_t> by_link;
  for (size_t k = 0; k < work.size(); ++k) {
    by_link[{work[k].claim->source_site, work[k].claim->destination_site}] = k;
  }
  for (const auto& r : ExecPrepared(txn, "aso_select_files", kSelectFilesSql, TextArray(src), TextArray(dst),
                                    TextArray(users), IntArray(wanted), EpochSeconds(now), IntArray(taken))) {
    auto it = by_link.find({r[10].as<std::string>(), r[11].as<std::string>()});
    if (it == by_link.end()) continue;
    ClaimedFile f = FileFromRow(r);
    taken.push_back(f.transfer_id);
    ++got[it->second][f.user];
    work[it->second].files.push_back(std::move(f));
  }
  return got;
}

// Claims on the links `which` of `links`, whose throttle locks the caller holds, inside `txn`: their loads
// in one statement, their files in one (two when a shared link has slots left after the first), and every
// claim in one.
absl::Status ClaimOnLinks(
    pqxx::work& txn, const std::vector<LinkClaim>& links, const std::vector<size_t>& which, absl::Time now,
    const std::function<std::vector<JobPlan>(size_t, const std::vector<ClaimedFile>&)>& plan,
    std::vector<LinkClaimResult>& results) {
  std::vector<LinkWork> work = Allot(txn, links, which, now, results);
  std::vector<int64_t> taken;
  std::vector<bool> more(work.size(), true);
  for (int round = 0; round < 2; ++round) {
    std::vector<std::string> src, dst, users;
    std::vector<int64_t> wanted;
    for (size_t k = 0; k < work.size(); ++k) {
      LinkWork& w = work[k];
      if (!more[k]) continue;
      if (!w.Shared()) {
        if (round > 0) continue;
        src.push_back(w.claim->source_site);
        dst.push_back(w.claim->destination_site);
        users.push_back(w.shares.front().user);
        wanted.push_back(w.left);
        continue;
      }
      w.Stride(src, dst, users, wanted);
    }
    if (users.empty()) break;
    auto got = SelectRound(txn, work, src, dst, users, wanted, now, taken);
    if (!got.ok()) return got.status();
    for (size_t k = 0; k < work.size(); ++k) {
      more[k] = more[k] && work[k].Shared() && work[k].Settle((*got)[k]);
    }
  }
  ClaimBatch batch;
  for (LinkWork& w : work) {
    if (w.files.empty()) continue;
    // The files come in priority order across users; keep that order.
    std::stable_sort(w.files.begin(), w.files.end(), [](const ClaimedFile& a, const ClaimedFile& b) {
      return a.priority != b.priority ? a.priority > b.priority : a.transfer_id < b.transfer_id;
    });
    Passes new_passes = w.NewPasses();
    LinkClaimResult& result = results[w.index];
    absl::flat_hash_map<int64_t, const ClaimedFile*> by_id;
    for (const auto& f : w.files) by_id[f.transfer_id] = &f;
    size_t claimed = 0;
    for (JobPlan& p : plan(w.index, w.files)) {
      PendingJob job{p.job_id, w.claim->source_site, w.claim->destination_site, {}};
      for (int64_t id : p.transfer_ids) {
        job.files.push_back(*by_id.at(id));
        batch.ids.push_back(id);
        batch.job_of_id.push_back(p.job_id);
        ++claimed;
      }
      result.jobs.push_back(std::move(job));
    }
    // Files the plan left out (a lingering partial job) stay queued: their users are not charged for them.
    if (claimed < w.files.size()) {
      absl::flat_hash_map<std::string, int> left_out;
      for (const auto& f : w.files) ++left_out[f.user];
      for (const auto& job : result.jobs) {
        for (const auto& f : job.files) --left_out[f.user];
      }
      for (size_t u = 0; u < new_passes.users.size(); ++u) {
        for (const auto& share : w.shares) {
          if (share.user == new_passes.users[u] && !share.user.empty()) {
            new_passes.passes[u] -= left_out[share.user] / share.weight;
          }
        }
      }
    }
    // A limit stopped the claim if it took every free slot (else the ready files ran out first).
    if (static_cast<int64_t>(w.files.size()) == w.free)
      result.waiting = w.Describe(static_cast<int64_t>(claimed));
    if (claimed == 0) continue;
    for (size_t u = 0; u < new_passes.users.size(); ++u) {
      batch.pass_source.push_back(w.claim->source_site);
      batch.pass_destination.push_back(w.claim->destination_site);
      batch.pass_user.push_back(new_passes.users[u]);
      batch.pass.push_back(new_passes.passes[u]);
    }
  }
  return batch.Write(txn, now);
}

}  // namespace

absl::StatusOr<std::vector<LinkLoad>> PgSchedulingRepository::ListLinks(absl::Time now) {
  std::vector<LinkLoad> out;
  absl::Status s = Autocommit(
      db_,
      [&](pqxx::nontransaction& txn) {
        out.clear();
        for (const auto& r : ExecPrepared(txn, "aso_list_links", kListLinks, EpochSeconds(now))) {
          LinkLoad l;
          l.source_site = r[0].as<std::string>();
          l.destination_site = r[1].as<std::string>();
          l.queued_ready = r[2].as<int64_t>();
          l.queued = r[3].as<int64_t>();
          l.active = r[4].as<int64_t>();
          l.source_state = r[5].as<std::string>();
          l.destination_state = r[6].as<std::string>();
          l.paused = r[7].as<std::string>() == "PAUSED";
          l.max_active = r[8].as<int>();
          l.optimized_active = r[9].as<int>();
          l.success_rate = r[10].as<double>();
          l.throughput = r[11].as<double>();
          l.optimizer_reason = r[12].as<std::string>();
          l.waiting_reason = r[13].as<std::string>();
          out.push_back(std::move(l));
        }
        return absl::OkStatus();
      },
      /*retry_on_broken=*/true);
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<std::vector<PendingJob>> PgSchedulingRepository::ClaimForLink(
    const std::string& source_site, const std::string& destination_site, const ClaimLimits& limits,
    absl::Time now, const std::function<std::vector<JobPlan>(const std::vector<ClaimedFile>&)>& plan,
    std::string* waiting) {
  std::vector<PendingJob> jobs;
  std::string why;
  const std::string backend = limits.backend_max_active > 0 ? limits.backend : "";
  absl::Status s = Transact(db_, [&](pqxx::work& txn) {
    jobs.clear();
    why.clear();
    ExecPrepared(txn, "aso_claim_settings", kClaimSettings);
    ExecPrepared(txn, "aso_lock_sites", kLockSites, source_site, destination_site, backend);
    std::vector<LinkClaimResult> results(1);
    absl::Status c = ClaimOnLinks(
        txn, {LinkClaim{source_site, destination_site, limits}}, {0}, now,
        [&plan](size_t, const std::vector<ClaimedFile>& files) { return plan(files); }, results);
    jobs = std::move(results[0].jobs);
    why = std::move(results[0].waiting);
    return c;
  });
  if (!s.ok()) return s;
  if (waiting != nullptr) *waiting = std::move(why);
  return jobs;
}

absl::StatusOr<std::vector<LinkClaimResult>> PgSchedulingRepository::ClaimForLinks(
    const std::vector<LinkClaim>& links, absl::Time now,
    const std::function<std::vector<JobPlan>(size_t link, const std::vector<ClaimedFile>&)>& plan) {
  std::vector<LinkClaimResult> results;
  absl::Status s = Transact(db_, [&](pqxx::work& txn) {
    results.assign(links.size(), LinkClaimResult{});
    if (links.empty()) return absl::OkStatus();
    for (const auto& l : links) {
      const ClaimLimits& a = l.limits;
      const ClaimLimits& b = links.front().limits;
      if (a.default_site_max_active != b.default_site_max_active || a.backend != b.backend ||
          a.backend_max_active != b.backend_max_active) {
        return absl::InvalidArgumentError(
            "the links of a claim batch must share the site and backend limits");
      }
    }
    absl::flat_hash_set<std::pair<std::string, std::string>> distinct;
    for (const auto& l : links) {
      if (!distinct.insert({l.source_site, l.destination_site}).second) {
        return absl::InvalidArgumentError(
            absl::StrCat("link ", l.source_site, " -> ", l.destination_site, " is twice in one claim batch"));
      }
    }
    std::vector<std::string> src, dst;
    for (const auto& l : links) {
      src.push_back(l.source_site);
      dst.push_back(l.destination_site);
    }
    // The backend's lock is taken when the batch's limits name one (the scheduler's configuration).
    const ClaimLimits& shared = links.front().limits;
    const std::string backend = shared.backend_max_active > 0 ? shared.backend : "";
    std::vector<size_t> locked;
    for (const auto& r :
         ExecPrepared(txn, "aso_try_lock_links", kTryLockLinks, TextArray(src), TextArray(dst), backend)) {
      const size_t i = r[0].as<size_t>() - 1;
      if (r[1].as<bool>()) {
        locked.push_back(i);
      } else {
        results[i].skipped = true;
      }
    }
    return ClaimOnLinks(txn, links, locked, now, plan, results);
  });
  if (!s.ok()) return s;
  return results;
}

absl::StatusOr<int> PgSchedulingRepository::MarkSubmitted(const std::vector<std::string>& job_ids,
                                                          absl::Time now) {
  int changed = 0;
  absl::Status s = Autocommit(
      db_,
      [&](pqxx::nontransaction& txn) {
        changed = ExecPrepared(txn, "aso_mark_submitted", kMarkSubmitted, TextArray(job_ids),
                               EpochSeconds(now))[0][0]
                      .as<int>();
        return absl::OkStatus();
      },
      /*retry_on_broken=*/true);  // marking the same jobs twice changes nothing the second time
  if (!s.ok()) return s;
  return changed;
}

absl::StatusOr<int> PgSchedulingRepository::ExpireOverdue(absl::Time now, int max_tasks) {
  int failed = 0;
  absl::Status s = Autocommit(
      db_,
      [&](pqxx::nontransaction& txn) {
        failed = static_cast<int>(
            ExecPrepared(txn, "aso_expire_overdue", kExpireOverdue, EpochSeconds(now), max_tasks)
                .affected_rows());
        return absl::OkStatus();
      },
      /*retry_on_broken=*/false);
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
  absl::Status s = Autocommit(
      db_,
      [&](pqxx::nontransaction& txn) {
        ids.clear();
        for (const auto& r :
             ExecPrepared(txn, "aso_stale_jobs", kStaleJobs, EpochSeconds(claimed_before), limit)) {
          ids.push_back(r[0].as<std::string>());
        }
        return absl::OkStatus();
      },
      /*retry_on_broken=*/true);
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
        job.source_site = r[10].as<std::string>();
        job.destination_site = r[11].as<std::string>();
      }
      if (!rows.empty() && job.files.empty()) txn.exec_params(kDropEmptyJob, id);
      return absl::OkStatus();
    });
    if (!s.ok()) return s;
    if (!job.files.empty()) jobs.push_back(std::move(job));
  }
  return jobs;
}

absl::StatusOr<int> PgSchedulingRepository::ReturnUnsentJob(const std::string& job_id, absl::Time now) {
  int changed = 0;
  absl::Status s = Transact(db_, [&](pqxx::work& txn) {
    changed = static_cast<int>(txn.exec_params(kReturnUnsentJob, job_id, EpochSeconds(now)).affected_rows());
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return changed;
}

absl::StatusOr<bool> PgSchedulingRepository::OptimizeLinks(
    absl::Time now, absl::Duration interval,
    const std::function<std::vector<LinkDecision>(const std::vector<LinkOutcomes>&, absl::Duration)>&
        decide) {
  // Reads, then a store that takes effect only if the step's mark is still the one read (else another
  // replica stepped meanwhile, and its step stands): no lock is held while the step is decided.
  pqxx::result mark;
  absl::Status s = Autocommit(
      db_,
      [&](pqxx::nontransaction& txn) {
        mark = ExecPrepared(txn, "aso_optimizer_mark", kOptimizerMark);
        return absl::OkStatus();
      },
      /*retry_on_broken=*/true);
  if (!s.ok()) return s;
  if (mark.empty()) {  // the first step ever: windows start now, not at the beginning of history
    bool started = false;
    s = Autocommit(
        db_,
        [&](pqxx::nontransaction& txn) {
          started = txn.exec_params(
                           "INSERT INTO link_optimizer (last_attempt_id, stepped_at) "
                           "SELECT COALESCE(max(id), 0), to_timestamp($1) FROM attempts "
                           "ON CONFLICT (singleton) DO NOTHING",
                           EpochSeconds(now))
                        .affected_rows() == 1;
          return absl::OkStatus();
        },
        /*retry_on_broken=*/false);
    if (!s.ok()) return s;
    return started;
  }
  const int64_t after_id = mark[0][0].as<int64_t>();
  const std::string stepped_at = mark[0][1].as<std::string>();
  const absl::Duration window = now - FromEpochSeconds(std::stod(stepped_at));
  if (window < interval) return false;  // another replica stepped recently
  int64_t last = after_id;
  std::vector<LinkOutcomes> outcomes;
  s = Autocommit(
      db_,
      [&](pqxx::nontransaction& txn) {
        outcomes.clear();
        last = after_id;
        for (const auto& r : ExecPrepared(txn, "aso_read_outcomes", kReadOutcomes, after_id)) {
          outcomes.push_back({r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<int64_t>(),
                              r[3].as<int64_t>(), r[4].as<int64_t>()});
          last = std::max(last, r[5].as<int64_t>());
        }
        return absl::OkStatus();
      },
      /*retry_on_broken=*/true);
  if (!s.ok()) return s;
  const std::vector<LinkDecision> decisions = decide(outcomes, window);
  std::vector<std::string> src, dst, why;
  std::vector<int64_t> active;
  std::vector<double> rate, throughput;
  for (const auto& d : decisions) {
    src.push_back(d.source_site);
    dst.push_back(d.destination_site);
    active.push_back(d.optimized_active);
    rate.push_back(d.success_rate);
    throughput.push_back(d.throughput);
    why.push_back(d.reason);
  }
  bool stepped = false;
  s = Autocommit(
      db_,
      [&](pqxx::nontransaction& txn) {
        stepped = ExecPrepared(txn, "aso_optimizer_store", kOptimizerStore, TextArray(src), TextArray(dst),
                               IntArray(active), FloatArray(rate), FloatArray(throughput), TextArray(why),
                               EpochSeconds(now), last, after_id, stepped_at)[0][0]
                      .as<int>() == 1;
        return absl::OkStatus();
      },
      /*retry_on_broken=*/false);
  if (!s.ok()) return s;
  return stepped;
}

absl::Status PgSchedulingRepository::SetLink(const std::string& source_site,
                                             const std::string& destination_site,
                                             std::optional<int> max_active, std::optional<bool> paused,
                                             absl::Time now) {
  if (max_active && *max_active < 0) return absl::InvalidArgumentError("max_active must be >= 0");
  absl::Status s = Transact(db_, [&](pqxx::work& txn) {
    for (const std::string& site : {source_site, destination_site}) {
      if (txn.exec_params("SELECT 1 FROM sites WHERE name = $1", site).empty()) {
        return absl::NotFoundError(absl::StrCat("unknown site: ", site));
      }
    }
    std::optional<std::string> state;
    if (paused) state = *paused ? "PAUSED" : "ENABLED";
    txn.exec_params0(kSetLink, source_site, destination_site, state, max_active, EpochSeconds(now));
    return absl::OkStatus();
  });
  return s;
}

absl::Status PgSchedulingRepository::SetSiteState(const std::string& site, const std::string& state,
                                                  absl::Time now) {
  return Transact(db_, [&](pqxx::work& txn) {
    auto r = txn.exec_params("UPDATE sites SET state = $2, updated = to_timestamp($3) WHERE name = $1", site,
                             state, EpochSeconds(now));
    if (r.affected_rows() == 0) return absl::NotFoundError(absl::StrCat("unknown site: ", site));
    return absl::OkStatus();
  });
}

absl::Status PgSchedulingRepository::SetUserWeight(const std::string& user, double weight, absl::Time now) {
  if (!(weight >= 1e-3 && weight <= 1e3)) {
    return absl::InvalidArgumentError(absl::StrCat("weight must be between 0.001 and 1000, got ", weight));
  }
  return Transact(db_, [&](pqxx::work& txn) {
    txn.exec_params0(
        "INSERT INTO user_shares (username, weight, updated) VALUES ($1, $2, to_timestamp($3)) "
        "ON CONFLICT (username) DO UPDATE SET weight = EXCLUDED.weight, updated = EXCLUDED.updated",
        user, weight, EpochSeconds(now));
    return absl::OkStatus();
  });
}

absl::StatusOr<BackendState> PgSchedulingRepository::GetBackend(const std::string& name, bool count_active) {
  BackendState b;
  b.name = name;
  // Two reads that need no common snapshot.
  absl::Status s = Autocommit(
      db_,
      [&](pqxx::nontransaction& txn) {
        auto r = ExecPrepared(
            txn, "aso_get_backend",
            "SELECT max_active, available, last_error, extract(epoch FROM unavailable_since) FROM backends "
            "WHERE name = $1",
            name);
        if (count_active) b.active = txn.exec1("SELECT count(*) FROM transfer_live")[0].as<int64_t>();
        if (r.empty()) return absl::OkStatus();
        b.max_active = r[0][0].as<int>();
        b.available = r[0][1].as<bool>();
        b.last_error = r[0][2].as<std::string>();
        if (!r[0][3].is_null()) b.unavailable_since = FromEpochSeconds(r[0][3].as<double>());
        return absl::OkStatus();
      },
      /*retry_on_broken=*/true);
  if (!s.ok()) return s;
  return b;
}

absl::Status PgSchedulingRepository::SetBackendLimit(const std::string& name, int max_active,
                                                     absl::Time now) {
  if (max_active < 0) return absl::InvalidArgumentError("max_active must be >= 0");
  return Transact(db_, [&](pqxx::work& txn) {
    txn.exec_params0(
        "INSERT INTO backends (name, max_active, updated) VALUES ($1, $2, to_timestamp($3)) "
        "ON CONFLICT (name) DO UPDATE SET max_active = EXCLUDED.max_active, updated = EXCLUDED.updated",
        name, max_active, EpochSeconds(now));
    return absl::OkStatus();
  });
}

absl::Status PgSchedulingRepository::SetBackendAvailable(const std::string& name, bool available,
                                                         const std::string& error, absl::Time now) {
  return Transact(db_, [&](pqxx::work& txn) {
    txn.exec_params0(
        "INSERT INTO backends (name, available, last_error, unavailable_since, updated) "
        "VALUES ($1, $2, $3, CASE WHEN $2 THEN NULL ELSE to_timestamp($4) END, to_timestamp($4)) "
        "ON CONFLICT (name) DO UPDATE SET available = EXCLUDED.available, last_error = EXCLUDED.last_error, "
        "unavailable_since = CASE WHEN EXCLUDED.available THEN NULL "
        "                         ELSE COALESCE(backends.unavailable_since, EXCLUDED.unavailable_since) END, "
        "updated = EXCLUDED.updated",
        name, available, error, EpochSeconds(now));
    return absl::OkStatus();
  });
}

absl::Status PgSchedulingRepository::SetLinkWaiting(
    const std::vector<std::pair<std::string, std::string>>& links, const std::vector<std::string>& reasons) {
  if (links.empty()) return absl::OkStatus();
  std::vector<std::string> src, dst;
  for (const auto& [s, d] : links) {
    src.push_back(s);
    dst.push_back(d);
  }
  return Autocommit(
      db_,
      [&](pqxx::nontransaction& txn) {
        ExecPrepared(txn, "aso_set_link_waiting", kSetLinkWaiting, TextArray(src), TextArray(dst),
                     TextArray(reasons));
        return absl::OkStatus();
      },
      /*retry_on_broken=*/true);  // setting the same reasons twice is harmless
}

absl::StatusOr<std::vector<QueueGroup>> PgSchedulingRepository::QueueStats(QueueGrouping by, absl::Time now,
                                                                           int limit) {
  std::string sql;
  switch (by) {
    case QueueGrouping::kLink:
      sql = kQueueStatsByLink;
      break;
    case QueueGrouping::kSourceSite:
      sql = absl::StrFormat(kQueueStatsBySite, "source_site");
      break;
    case QueueGrouping::kDestinationSite:
      sql = absl::StrFormat(kQueueStatsBySite, "destination_site");
      break;
    case QueueGrouping::kUser:
      sql = kQueueStatsByUser;
      break;
  }
  std::vector<QueueGroup> out;
  absl::Status s = Transact(db_, [&](pqxx::work& txn) {
    out.clear();
    for (const auto& r : txn.exec_params(sql, EpochSeconds(now), limit)) {
      out.push_back({r[0].as<std::string>(), r[1].as<int64_t>(), r[2].as<int64_t>(), r[3].as<int64_t>()});
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

// Records the deployment's choice ($4: 'owner' or 'service', for the sites whose credentials are
// 'default'), then holds the users with files in progress on a link moving files with their owners'
// credentials (a loose scan of the live-by-user index: cost grows with the users, not their files) whose
// delegated credential is missing or expires before $1 ($2: now, $3: the margin, for the message); holds
// of users no longer in that case are released.
constexpr char kRefreshUserHolds[] = R"sql(
  WITH RECURSIVE owner_sites AS MATERIALIZED (
    -- ($4, not deployment_settings: this statement writes the setting, and does not see its own write.)
    SELECT COALESCE(array_agg(name), '{}') AS names FROM sites WHERE aso_owner_credentials(credentials, $4)),
  -- (No site moving files with owners' credentials: no user is read.)
  users(u) AS (
    (SELECT username FROM transfers WHERE live AND (SELECT cardinality(names) FROM owner_sites) > 0
     ORDER BY username LIMIT 1)
    UNION ALL
    SELECT (SELECT username FROM transfers WHERE live AND username > users.u ORDER BY username LIMIT 1)
    FROM users WHERE users.u IS NOT NULL),
  needing AS (
    SELECT users.u FROM users, owner_sites
    WHERE users.u IS NOT NULL
      AND EXISTS (SELECT 1 FROM transfers t WHERE t.live AND t.username = users.u
                    AND (t.source_site = ANY(owner_sites.names) OR t.destination_site = ANY(owner_sites.names)))),
  wanted AS (
    SELECT users.u AS username,
           CASE WHEN c.username IS NULL
                  THEN 'no delegated credential: ' || users.u
                       || ' must delegate a proxy (aso-submit --delegate) or a token (aso-submit --delegate_token)'
                       || ' to ASO before their files can move'
                WHEN c.not_after <= to_timestamp($2)
                  THEN 'credential expired at ' || to_char(c.not_after AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI')
                       || ' UTC: ' || users.u || ' must delegate a fresh proxy (aso-submit --delegate)'
                WHEN c.not_after <= to_timestamp($1)
                  THEN 'credential expires at ' || to_char(c.not_after AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI')
                       || ' UTC, within the ' || $3 || ' a transfer needs: ' || users.u
                       || ' must delegate a fresh proxy (aso-submit --delegate)'
           END AS reason
    -- The user's longest-lasting credential (a renewable token lasts).
    FROM needing users LEFT JOIN LATERAL (
      SELECT username, CASE WHEN refreshable THEN 'infinity'::timestamptz ELSE not_after END AS not_after
      FROM user_credentials WHERE username = users.u ORDER BY 2 DESC LIMIT 1) c ON true),
  setting AS (
    INSERT INTO deployment_settings (name, value, updated) VALUES ('site_credentials', $4, to_timestamp($2))
    ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value, updated = EXCLUDED.updated
      WHERE deployment_settings.value <> EXCLUDED.value
    RETURNING 1),
  released AS (
    DELETE FROM user_holds h
    WHERE NOT EXISTS (SELECT 1 FROM wanted w WHERE w.username = h.username AND w.reason IS NOT NULL)
    RETURNING 1),
  held AS (
    INSERT INTO user_holds (username, reason, since)
    SELECT username, reason, to_timestamp($2) FROM wanted WHERE reason IS NOT NULL
    ON CONFLICT (username) DO UPDATE SET reason = EXCLUDED.reason WHERE user_holds.reason <> EXCLUDED.reason
    RETURNING 1)
  SELECT (SELECT count(*) FROM wanted WHERE reason IS NOT NULL), (SELECT count(*) FROM released),
         (SELECT count(*) FROM setting))sql";

absl::StatusOr<int> PgSchedulingRepository::RefreshUserHolds(bool owner_by_default,
                                                             absl::Duration min_remaining, absl::Time now) {
  int held = 0;
  // One statement: atomic without a transaction block.
  absl::Status s = Autocommit(
      db_,
      [&](pqxx::nontransaction& txn) {
        const pqxx::result r =
            ExecPrepared(txn, "aso_refresh_user_holds", kRefreshUserHolds, EpochSeconds(now + min_remaining),
                         EpochSeconds(now), absl::FormatDuration(min_remaining),
                         std::string(owner_by_default ? "owner" : "service"));
        held = r[0][0].as<int>();
        return absl::OkStatus();
      },
      /*retry_on_broken=*/true);  // the same holds computed twice
  if (!s.ok()) return s;
  return held;
}

}  // namespace aso::db
