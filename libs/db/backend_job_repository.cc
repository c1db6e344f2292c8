#include "libs/db/backend_job_repository.h"

#include "absl/strings/str_cat.h"
#include "libs/db/internal/transaction.h"
#include "libs/db/pg_util.h"
#include "libs/transfer/state.h"

namespace aso::db {
namespace v1 = aso::common::v1;
namespace av1 = aso::fts_adapter::v1;
namespace {

constexpr char kInsertJob[] = R"sql(
  INSERT INTO backend_jobs (job_id, backend, username, task_id, source_site, destination_site, created)
  VALUES ($1, $2, $3, $4, $5, $6, to_timestamp($7))
  ON CONFLICT (job_id) DO NOTHING)sql";

constexpr char kInsertFiles[] = R"sql(
  INSERT INTO backend_job_files (job_id, file_index, transfer_id, attempt, source_url, destination_url,
                                 size_bytes, checksum, in_process)
  SELECT $1, i, t, a, s, d, z, c, (SELECT backend = 'gfal2' FROM backend_jobs WHERE job_id = $1)
  FROM unnest($2::int[], $3::bigint[], $4::int[], $5::text[], $6::text[], $7::bigint[], $8::text[])
       AS n(i, t, a, s, d, z, c)
  ON CONFLICT (job_id, transfer_id) DO NOTHING)sql";

constexpr char kLease[] = R"sql(
  WITH runnable AS (
    SELECT job_id, transfer_id FROM backend_job_files
    WHERE in_process AND (state = 'SUBMITTED' OR (state = 'ACTIVE' AND lease_until < to_timestamp($3)))
    ORDER BY seq LIMIT $2
    FOR UPDATE SKIP LOCKED)
  UPDATE backend_job_files f
  SET state = 'ACTIVE', lease_owner = $1, lease_until = to_timestamp($3) + make_interval(secs => $4),
      started = to_timestamp($3)
  FROM runnable r WHERE f.job_id = r.job_id AND f.transfer_id = r.transfer_id
  RETURNING f.job_id, f.transfer_id, f.attempt, f.source_url, f.destination_url, f.size_bytes,
            f.checksum, extract(epoch from f.started)::float8,
            COALESCE((SELECT t.kill_requested FROM transfers t
                      WHERE t.id = f.transfer_id AND t.attempt = f.attempt), false),
            COALESCE((SELECT t.username FROM transfers t WHERE t.id = f.transfer_id), ''),
            COALESCE((SELECT aso_owner_credentials(s.credentials) FROM backend_jobs b
                      JOIN sites s ON s.name = b.source_site WHERE b.job_id = f.job_id), false),
            COALESCE((SELECT aso_owner_credentials(s.credentials) FROM backend_jobs b
                      JOIN sites s ON s.name = b.destination_site WHERE b.job_id = f.job_id), false))sql";

constexpr char kRecordOutcome[] = R"sql(
  UPDATE backend_job_files
  SET state = $4, finished = to_timestamp($5), bytes = $6, failure_class = $7, error = $8,
      recoverable = $9, verified_checksum = $10, lease_until = NULL
  WHERE job_id = $1 AND transfer_id = $2 AND lease_owner = $3 AND state = 'ACTIVE')sql";

constexpr char kOutcomeColumns[] = R"sql(
  SELECT job_id, transfer_id, attempt, state, extract(epoch from started)::float8,
         extract(epoch from finished)::float8, bytes, failure_class, error, recoverable,
         verified_checksum, file_index
  FROM backend_job_files )sql";

constexpr char kMarkReported[] = R"sql(
  UPDATE backend_job_files f SET reported_state = m.state
  FROM unnest($1::text[], $2::bigint[], $3::text[]) AS m(job_id, transfer_id, state)
  WHERE f.job_id = m.job_id AND f.transfer_id = m.transfer_id AND f.state = m.state)sql";

// Backend file states <-> the transfer states reported to bookkeeping.
std::string BackendFileState(v1::TransferState s) {
  switch (s) {
    case v1::TRANSFER_STATE_DONE:
      return "FINISHED";
    case v1::TRANSFER_STATE_FAILED:
      return "FAILED";
    case v1::TRANSFER_STATE_KILLED:
      return "CANCELED";
    case v1::TRANSFER_STATE_ACTIVE:
      return "ACTIVE";
    default:
      return "SUBMITTED";
  }
}

v1::TransferState TransferStateOf(const std::string& s) {
  if (s == "FINISHED") return v1::TRANSFER_STATE_DONE;
  if (s == "FAILED") return v1::TRANSFER_STATE_FAILED;
  if (s == "CANCELED") return v1::TRANSFER_STATE_KILLED;
  if (s == "ACTIVE") return v1::TRANSFER_STATE_ACTIVE;
  return v1::TRANSFER_STATE_SUBMITTED;
}

FileOutcome OutcomeFromRow(const pqxx::row& r) {
  FileOutcome o;
  o.set_backend_job_id(r[0].as<std::string>());
  o.set_transfer_id(r[1].as<int64_t>());
  o.set_attempt(r[2].as<int32_t>());
  o.set_state(TransferStateOf(r[3].as<std::string>()));
  if (!r[4].is_null()) SetTimestamp(r[4].as<double>(), o.mutable_started());
  if (!r[5].is_null()) SetTimestamp(r[5].as<double>(), o.mutable_finished());
  o.set_bytes(r[6].as<int64_t>());
  o.set_failure_class(
      transfer::FailureClassFromName(r[7].as<std::string>()).value_or(v1::FAILURE_CLASS_UNSPECIFIED));
  o.set_error(r[8].as<std::string>());
  o.set_recoverable(r[9].as<bool>());
  o.set_checksum(r[10].as<std::string>());
  o.set_backend_file_id(absl::StrCat(r[11].as<int>()));
  return o;
}

}  // namespace

absl::StatusOr<bool> PgBackendJobRepository::InsertJob(const Job& job, const std::string& backend,
                                                       absl::Time now) {
  std::vector<int64_t> index, ids, attempts, sizes;
  std::vector<std::string> sources, destinations, checksums;
  for (int i = 0; i < job.files_size(); ++i) {
    const auto& f = job.files(i);
    index.push_back(i);
    ids.push_back(f.transfer_id());
    attempts.push_back(f.attempt());
    sources.push_back(f.source_url());
    destinations.push_back(f.destination_url());
    sizes.push_back(f.size_bytes());
    checksums.push_back(f.checksum());
  }
  bool known = false;
  absl::Status s = Transact(db_, [&](pqxx::work& txn) {
    auto r = txn.exec_params(kInsertJob, job.job_id(), backend, job.user(), job.task_id(), job.source_site(),
                             job.destination_site(), EpochSeconds(now));
    known = r.affected_rows() == 0;
    txn.exec_params(kInsertFiles, job.job_id(), IntArray(index), IntArray(ids), IntArray(attempts),
                    TextArray(sources), TextArray(destinations), IntArray(sizes), TextArray(checksums));
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return known;
}

namespace {

// kLease in `txn`.
std::vector<LeasedFile> LeaseIn(pqxx::work& txn, const std::string& owner, int limit, absl::Duration lease,
                                absl::Time now) {
  std::vector<LeasedFile> out;
  for (const auto& r : ExecPrepared(txn, "aso_lease", kLease, owner, limit, EpochSeconds(now),
                                    absl::ToDoubleSeconds(lease))) {
    out.push_back({r[0].as<std::string>(), r[1].as<int64_t>(), r[2].as<int32_t>(), r[3].as<std::string>(),
                   r[4].as<std::string>(), r[5].as<int64_t>(), r[6].as<std::string>(),
                   FromEpochSeconds(r[7].as<double>()), r[8].as<bool>(), r[9].as<std::string>(),
                   r[10].as<bool>(), r[11].as<bool>()});
  }
  return out;
}

// kRecordOutcome in `txn`; FAILED_PRECONDITION if the lease was lost.
absl::Status RecordIn(pqxx::work& txn, const std::string& owner, const FileOutcome& o) {
  auto r = ExecPrepared(txn, "aso_record_outcome", kRecordOutcome, o.backend_job_id(), o.transfer_id(), owner,
                        BackendFileState(o.state()), TimestampSeconds(o.finished()), o.bytes(),
                        std::string(transfer::FailureClassName(o.failure_class())), o.error(),
                        o.recoverable(), o.checksum());
  if (r.affected_rows() == 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("lease on transfer ", o.transfer_id(), " in job ", o.backend_job_id(), " was lost"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<LeasedFile>> PgBackendJobRepository::LeaseFiles(const std::string& owner,
                                                                           int limit, absl::Duration lease,
                                                                           absl::Time now) {
  std::vector<LeasedFile> out;
  absl::Status s = Transact(db_, [&](pqxx::work& txn) {
    CommitWithoutWaitingForFlush(txn);
    out = LeaseIn(txn, owner, limit, lease, now);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::Status PgBackendJobRepository::RecordOutcome(const std::string& owner, const FileOutcome& o) {
  return Transact(db_, [&](pqxx::work& txn) {
    CommitWithoutWaitingForFlush(txn);
    return RecordIn(txn, owner, o);
  });
}

absl::StatusOr<std::vector<LeasedFile>> PgBackendJobRepository::RecordAndLease(
    const std::string& owner, const FileOutcome& o, int limit, absl::Duration lease, absl::Time now) {
  std::vector<LeasedFile> out;
  absl::Status s = Transact(db_, [&](pqxx::work& txn) {
    CommitWithoutWaitingForFlush(txn);
    if (absl::Status recorded = RecordIn(txn, owner, o); !recorded.ok()) return recorded;
    out = LeaseIn(txn, owner, limit, lease, now);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<std::vector<FileOutcome>> PgBackendJobRepository::UnreportedOutcomes(int limit) {
  std::vector<FileOutcome> out;
  absl::Status s = Transact(db_, [&](pqxx::work& txn) {
    out.clear();
    static const std::string kUnreported =
        absl::StrCat(kOutcomeColumns,
                     "WHERE state <> reported_state AND state IN ('ACTIVE','FINISHED','FAILED','CANCELED') "
                     "ORDER BY seq LIMIT $1");
    for (const auto& r : ExecPrepared(txn, "aso_unreported", kUnreported, limit)) {
      out.push_back(OutcomeFromRow(r));
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::Status PgBackendJobRepository::MarkReported(const std::vector<FileOutcome>& outcomes) {
  if (outcomes.empty()) return absl::OkStatus();
  std::vector<std::string> jobs, states;
  std::vector<int64_t> ids;
  for (const FileOutcome& o : outcomes) {
    jobs.push_back(o.backend_job_id());
    ids.push_back(o.transfer_id());
    states.push_back(BackendFileState(o.state()));
  }
  return Transact(db_, [&](pqxx::work& txn) {
    CommitWithoutWaitingForFlush(txn);
    ExecPrepared(txn, "aso_mark_reported", kMarkReported, TextArray(jobs), IntArray(ids), TextArray(states));
    return absl::OkStatus();
  });
}

namespace {

// The files of jobs, in file order, keyed by job.
void LoadFiles(pqxx::work& txn, std::vector<Job*>& jobs) {
  std::vector<std::string> ids;
  for (const Job* j : jobs) ids.push_back(j->job_id());
  for (const auto& r : txn.exec_params(
           "SELECT job_id, transfer_id, attempt, source_url, destination_url, size_bytes, checksum "
           "FROM backend_job_files WHERE job_id = ANY($1::text[]) ORDER BY job_id, file_index",
           TextArray(ids))) {
    for (Job* j : jobs) {
      if (j->job_id() != r[0].as<std::string>()) continue;
      auto* f = j->add_files();
      f->set_transfer_id(r[1].as<int64_t>());
      f->set_attempt(r[2].as<int32_t>());
      f->set_source_url(r[3].as<std::string>());
      f->set_destination_url(r[4].as<std::string>());
      f->set_size_bytes(r[5].as<int64_t>());
      f->set_checksum(r[6].as<std::string>());
    }
  }
}

Job JobHead(const pqxx::row& r) {
  Job job;
  job.set_job_id(r[0].as<std::string>());
  job.set_backend(r[1].as<std::string>());
  job.set_user(r[2].as<std::string>());
  job.set_task_id(r[3].as<std::string>());
  job.set_source_site(r[4].as<std::string>());
  job.set_destination_site(r[5].as<std::string>());
  return job;
}

// A file moves forward only: SUBMITTED -> ACTIVE -> FINISHED | FAILED | CANCELED, a terminal state once.
constexpr char kApplyExternal[] = R"sql(
  UPDATE backend_job_files f
  SET state = n.state,
      started = COALESCE(f.started, to_timestamp(NULLIF(n.started, 0)),
                         CASE WHEN n.state <> 'SUBMITTED' THEN to_timestamp($3) END),
      finished = CASE WHEN n.state IN ('FINISHED', 'FAILED', 'CANCELED')
                      THEN COALESCE(to_timestamp(NULLIF(n.finished, 0)), to_timestamp($3)) END,
      bytes = n.bytes, verified_checksum = n.checksum, failure_class = n.failure_class, error = n.error,
      recoverable = n.recoverable, external_file_id = COALESCE(NULLIF(n.file_id, 0), f.external_file_id)
  FROM unnest($2::bigint[], $4::text[], $5::bigint[], $6::text[], $7::text[], $8::text[], $9::bool[],
              $10::float8[], $11::float8[], $12::bigint[])
       AS n(transfer_id, state, bytes, checksum, failure_class, error, recoverable, started, finished, file_id)
  WHERE f.job_id = $1 AND f.transfer_id = n.transfer_id
    AND ((f.state <> n.state AND f.state NOT IN ('FINISHED', 'FAILED', 'CANCELED')
          AND NOT (f.state = 'ACTIVE' AND n.state = 'SUBMITTED'))
         OR (f.external_file_id IS NULL AND n.file_id <> 0 AND f.state = n.state)))sql";

}  // namespace

absl::StatusOr<Job> PgBackendJobRepository::GetJob(const std::string& job_id) {
  Job job;
  absl::Status s = Transact(db_, [&](pqxx::work& txn) {
    job.Clear();
    auto head = txn.exec_params(
        "SELECT job_id, backend, username, task_id, source_site, destination_site FROM backend_jobs "
        "WHERE job_id = $1",
        job_id);
    if (head.empty()) return absl::NotFoundError(absl::StrCat("unknown backend job ", job_id));
    job = JobHead(head[0]);
    int done = 0, failed = 0, canceled = 0, active = 0, total = 0;
    for (const auto& r :
         txn.exec_params(absl::StrCat(kOutcomeColumns, "WHERE job_id = $1 ORDER BY file_index"), job_id)) {
      FileOutcome o = OutcomeFromRow(r);
      ++total;
      switch (o.state()) {
        case v1::TRANSFER_STATE_DONE:
          ++done;
          break;
        case v1::TRANSFER_STATE_FAILED:
          ++failed;
          break;
        case v1::TRANSFER_STATE_KILLED:
          ++canceled;
          break;
        case v1::TRANSFER_STATE_ACTIVE:
          ++active;
          break;
        default:
          break;
      }
      *job.add_outcomes() = std::move(o);
    }
    std::vector<Job*> one = {&job};
    LoadFiles(txn, one);
    const int terminal = done + failed + canceled;
    if (terminal < total) {
      job.set_state(active > 0 || terminal > 0 ? av1::JOB_STATE_ACTIVE : av1::JOB_STATE_SUBMITTED);
    } else if (done == total) {
      job.set_state(av1::JOB_STATE_FINISHED);
    } else if (canceled == total) {
      job.set_state(av1::JOB_STATE_CANCELED);
    } else {
      job.set_state(done > 0 ? av1::JOB_STATE_FINISHED_DIRTY : av1::JOB_STATE_FAILED);
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return job;
}

absl::StatusOr<std::vector<std::string>> PgBackendJobRepository::LeaseOwners(const std::string& prefix) {
  std::vector<std::string> out;
  absl::Status s = Transact(db_, [&](pqxx::work& txn) {
    out.clear();
    // ACTIVE files are in the runnable index (few rows): what is leased now.
    for (const auto& r : txn.exec_params("SELECT DISTINCT lease_owner FROM backend_job_files "
                                         "WHERE state = 'ACTIVE' AND starts_with(lease_owner, $1)",
                                         prefix)) {
      out.push_back(r[0].as<std::string>());
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<int> PgBackendJobRepository::ExpireLeases(const std::string& owner, absl::Time now) {
  int n = 0;
  absl::Status s = Transact(db_, [&](pqxx::work& txn) {
    n = static_cast<int>(txn.exec_params("UPDATE backend_job_files SET lease_until = to_timestamp($2) "
                                         "WHERE lease_owner = $1 AND state = 'ACTIVE'",
                                         owner, EpochSeconds(now))
                             .affected_rows());
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return n;
}

absl::StatusOr<bool> PgBackendJobRepository::KillRequested(int64_t transfer_id, int32_t attempt) {
  bool killed = false;
  absl::Status s = Transact(db_, [&](pqxx::work& txn) {
    auto r = txn.exec_params("SELECT kill_requested FROM transfers WHERE id = $1 AND attempt = $2",
                             transfer_id, attempt);
    killed = !r.empty() && r[0][0].as<bool>();
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return killed;
}

absl::Status PgBackendJobRepository::ExtendLease(const std::string& owner, const std::string& job_id,
                                                 int64_t transfer_id, absl::Time until) {
  return Transact(db_, [&](pqxx::work& txn) {
    CommitWithoutWaitingForFlush(txn);
    auto r = txn.exec_params(
        "UPDATE backend_job_files SET lease_until = to_timestamp($4) "
        "WHERE job_id = $1 AND transfer_id = $2 AND lease_owner = $3 AND state = 'ACTIVE'",
        job_id, transfer_id, owner, EpochSeconds(until));
    if (r.affected_rows() == 0) return absl::FailedPreconditionError("the lease was lost");
    return absl::OkStatus();
  });
}

absl::StatusOr<std::vector<Job>> PgBackendJobRepository::JobsToSubmit(const std::string& backend, int limit) {
  std::vector<Job> out;
  absl::Status s = Transact(db_, [&](pqxx::work& txn) {
    out.clear();
    for (const auto& r : txn.exec_params(
             "SELECT job_id, backend, username, task_id, source_site, destination_site FROM backend_jobs "
             "WHERE backend = $1 AND external_id IS NULL AND NOT done ORDER BY created LIMIT $2",
             backend, limit)) {
      out.push_back(JobHead(r));
    }
    std::vector<Job*> jobs;
    for (auto& j : out) jobs.push_back(&j);
    if (!jobs.empty()) LoadFiles(txn, jobs);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<std::vector<std::string>> PgBackendJobRepository::SitesMovingAsOwners(
    const std::vector<std::string>& sites) {
  std::vector<std::string> out;
  absl::Status s = Autocommit(
      db_,
      [&](pqxx::nontransaction& txn) {
        out.clear();
        for (const auto& r : txn.exec_params(
                 "SELECT name FROM sites WHERE name = ANY($1::text[]) AND aso_owner_credentials(credentials)",
                 TextArray(sites))) {
          out.push_back(r[0].as<std::string>());
        }
        return absl::OkStatus();
      },
      /*retry_on_broken=*/true);
  if (!s.ok()) return s;
  return out;
}

absl::Status PgBackendJobRepository::SetExternalId(const std::string& job_id, const std::string& external_id,
                                                   absl::Time now) {
  return Transact(db_, [&](pqxx::work& txn) {
    txn.exec_params0("UPDATE backend_jobs SET external_id = $2, polled = to_timestamp($3) WHERE job_id = $1",
                     job_id, external_id, EpochSeconds(now));
    return absl::OkStatus();
  });
}

absl::StatusOr<std::vector<ExternalJob>> PgBackendJobRepository::JobsToPoll(const std::string& backend,
                                                                            int limit, absl::Time now) {
  std::vector<ExternalJob> out;
  absl::Status s = Transact(db_, [&](pqxx::work& txn) {
    out.clear();
    for (const auto& r : txn.exec_params(
             "WITH due AS (SELECT job_id FROM backend_jobs WHERE backend = $1 AND external_id IS NOT NULL "
             "AND NOT done ORDER BY polled NULLS FIRST LIMIT $2 FOR UPDATE SKIP LOCKED) "
             "UPDATE backend_jobs b SET polled = to_timestamp($3) FROM due WHERE b.job_id = due.job_id "
             "RETURNING b.job_id, b.backend, b.username, b.task_id, b.source_site, b.destination_site, "
             "b.external_id",
             backend, limit, EpochSeconds(now))) {
      out.push_back({JobHead(r), r[6].as<std::string>()});
    }
    std::vector<Job*> jobs;
    for (auto& j : out) jobs.push_back(&j.job);
    if (!jobs.empty()) LoadFiles(txn, jobs);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<int> PgBackendJobRepository::ApplyExternalStates(const std::string& job_id,
                                                                const std::string& job_state,
                                                                const std::vector<ExternalFileState>& files,
                                                                absl::Time now) {
  std::vector<int64_t> ids, bytes, file_ids;
  std::vector<std::string> states, checksums, classes, errors;
  std::vector<bool> recoverable;
  std::vector<double> started, finished;
  for (const auto& f : files) {
    ids.push_back(f.transfer_id);
    file_ids.push_back(f.external_file_id);
    states.push_back(f.state);
    bytes.push_back(f.bytes);
    checksums.push_back(f.checksum);
    classes.push_back(f.failure_class);
    errors.push_back(f.error);
    recoverable.push_back(f.recoverable);
    started.push_back(f.started == absl::InfinitePast() ? 0 : EpochSeconds(f.started));
    finished.push_back(f.finished == absl::InfinitePast() ? 0 : EpochSeconds(f.finished));
  }
  int changed = 0;
  absl::Status s = Transact(db_, [&](pqxx::work& txn) {
    changed = static_cast<int>(txn.exec_params(kApplyExternal, job_id, IntArray(ids), EpochSeconds(now),
                                               TextArray(states), IntArray(bytes), TextArray(checksums),
                                               TextArray(classes), TextArray(errors), BoolArray(recoverable),
                                               FloatArray(started), FloatArray(finished), IntArray(file_ids))
                                   .affected_rows());
    txn.exec_params0(
        "UPDATE backend_jobs SET external_state = $2, done = NOT EXISTS (SELECT 1 FROM backend_job_files "
        "WHERE job_id = $1 AND state NOT IN ('FINISHED', 'FAILED', 'CANCELED')) WHERE job_id = $1",
        job_id, job_state);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return changed;
}

absl::StatusOr<std::vector<std::pair<std::string, int64_t>>> PgBackendJobRepository::TakeExternalCancels(
    const std::string& backend, int limit) {
  std::vector<std::pair<std::string, int64_t>> out;
  absl::Status s = Transact(db_, [&](pqxx::work& txn) {
    out.clear();
    // From the kill index of transfers (few rows): their files at this backend that are still running.
    for (const auto& r : txn.exec_params(
             "WITH killed AS (SELECT f.job_id, f.transfer_id FROM transfers t "
             "  JOIN backend_job_files f ON f.transfer_id = t.id AND f.attempt = t.attempt "
             "  JOIN backend_jobs b ON b.job_id = f.job_id "
             "  WHERE t.kill_requested AND t.state IN ('SUBMITTING', 'SUBMITTED', 'ACTIVE') "
             "    AND b.backend = $1 AND b.external_id IS NOT NULL AND f.external_file_id IS NOT NULL "
             "    AND NOT f.cancel_sent AND f.state IN ('SUBMITTED', 'ACTIVE') LIMIT $2) "
             "UPDATE backend_job_files f SET cancel_sent = true FROM killed k, backend_jobs b "
             "WHERE f.job_id = k.job_id AND f.transfer_id = k.transfer_id AND b.job_id = f.job_id "
             "RETURNING b.external_id, f.external_file_id",
             backend, limit)) {
      out.emplace_back(r[0].as<std::string>(), r[1].as<int64_t>());
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

}  // namespace aso::db
