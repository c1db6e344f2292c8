// The fts-adapter's durable record of accepted bulk jobs and of each file's progress and outcome, so a
// restarted adapter neither loses nor repeats work. Thread-safe; safe with several adapter replicas.
#ifndef ASO_LIBS_DB_BACKEND_JOB_REPOSITORY_H_
#define ASO_LIBS_DB_BACKEND_JOB_REPOSITORY_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "aso/common/v1/common.pb.h"
#include "aso/fts_adapter/v1/fts_adapter.pb.h"
#include "libs/db/database.h"

namespace aso::db {

using aso::common::v1::FileOutcome;
using aso::fts_adapter::v1::Job;

// One file of a job, leased to one copier.
struct LeasedFile {
  std::string job_id;
  int64_t transfer_id = 0;
  int32_t attempt = 0;
  std::string source_url;
  std::string destination_url;
  int64_t size_bytes = 0;
  std::string checksum;
  absl::Time started;
  bool kill_requested = false;  // the transfer was killed: cancel instead of copying
  std::string username;         // the transfer's owner
  // Whether the job's source / destination site moves files with their owners' credentials
  // (sites.credentials, resolved with the deployment's choice).
  bool source_as_owner = false;
  bool destination_as_owner = false;
};

// A job that an external backend (FTS3) runs: FTS3's id once it accepted the job.
struct ExternalJob {
  Job job;  // with its files
  std::string external_id;
};

// One file's state as the external backend reports it, in the adapter's terms.
struct ExternalFileState {
  int64_t transfer_id = 0;
  int64_t external_file_id = 0;  // the backend's id of the file (0 = unknown)
  std::string state;             // SUBMITTED, ACTIVE, FINISHED, FAILED, CANCELED
  int64_t bytes = 0;
  std::string checksum;       // verified at the destination, when FINISHED
  std::string failure_class;  // FailureClass name, when FAILED
  std::string error;          // the backend's reason
  bool recoverable = false;
  absl::Time started = absl::InfinitePast();
  absl::Time finished = absl::InfinitePast();
};

class BackendJobRepository {
 public:
  virtual ~BackendJobRepository() = default;

  // Records a job and its files. Returns true when the job id was already known; files missing from the
  // stored job are added, files already there are left as they are.
  virtual absl::StatusOr<bool> InsertJob(const Job& job, const std::string& backend, absl::Time now) = 0;

  // Leases up to `limit` runnable files (SUBMITTED, or ACTIVE whose lease expired) to `owner` until
  // now + lease, oldest first, and marks them ACTIVE.
  virtual absl::StatusOr<std::vector<LeasedFile>> LeaseFiles(const std::string& owner, int limit,
                                                             absl::Duration lease, absl::Time now) = 0;

  // The owners of current leases whose name starts with `prefix` (e.g. "host/").
  virtual absl::StatusOr<std::vector<std::string>> LeaseOwners(const std::string& prefix) = 0;
  // Ends every lease of `owner` now (its files can be leased again at once). Returns how many.
  virtual absl::StatusOr<int> ExpireLeases(const std::string& owner, absl::Time now) = 0;

  // Whether a kill was requested for the transfer's attempt (false once it moved to another attempt).
  virtual absl::StatusOr<bool> KillRequested(int64_t transfer_id, int32_t attempt) = 0;

  // Moves the end of `owner`'s lease on a file to `until`. FAILED_PRECONDITION if the lease was lost.
  virtual absl::Status ExtendLease(const std::string& owner, const std::string& job_id, int64_t transfer_id,
                                   absl::Time until) = 0;

  // Stores the final outcome (DONE -> FINISHED, FAILED -> FAILED) of a file leased by `owner`.
  // FAILED_PRECONDITION if the lease was lost (another copier owns the file now).
  virtual absl::Status RecordOutcome(const std::string& owner, const FileOutcome& outcome) = 0;

  // RecordOutcome, then LeaseFiles, in one transaction: a copy worker's step from one file to the next.
  virtual absl::StatusOr<std::vector<LeasedFile>> RecordAndLease(const std::string& owner,
                                                                 const FileOutcome& outcome, int limit,
                                                                 absl::Duration lease, absl::Time now) = 0;

  // Up to `limit` file states not yet acknowledged by bookkeeping (ACTIVE, DONE or FAILED).
  virtual absl::StatusOr<std::vector<FileOutcome>> UnreportedOutcomes(int limit) = 0;

  // Notes that bookkeeping acknowledged `outcomes` (no effect on a file that moved on meanwhile).
  virtual absl::Status MarkReported(const std::vector<FileOutcome>& outcomes) = 0;

  // The job with its files and outcomes. NOT_FOUND if unknown.
  virtual absl::StatusOr<Job> GetJob(const std::string& job_id) = 0;

  // External backends (FTS3): up to `limit` jobs of `backend` not yet accepted by it, oldest first.
  virtual absl::StatusOr<std::vector<Job>> JobsToSubmit(const std::string& backend, int limit) = 0;
  // Of `sites`, those that move files with their owners' credentials (sites.credentials, with the
  // deployment's choice for 'default').
  virtual absl::StatusOr<std::vector<std::string>> SitesMovingAsOwners(
      const std::vector<std::string>& sites) = 0;
  // Records the backend's id of an accepted job.
  virtual absl::Status SetExternalId(const std::string& job_id, const std::string& external_id,
                                     absl::Time now) = 0;
  // Up to `limit` accepted jobs of `backend` that are not over, least recently polled first; marks them
  // polled now.
  virtual absl::StatusOr<std::vector<ExternalJob>> JobsToPoll(const std::string& backend, int limit,
                                                              absl::Time now) = 0;
  // Applies the backend's file states: a file only moves forward (SUBMITTED -> ACTIVE -> terminal) and a
  // terminal state is kept once recorded; the job is over when every file is terminal. Returns how many
  // files changed.
  virtual absl::StatusOr<int> ApplyExternalStates(const std::string& job_id, const std::string& job_state,
                                                  const std::vector<ExternalFileState>& files,
                                                  absl::Time now) = 0;
  // Files of `backend` whose transfer was killed, still running there and not yet asked to cancel:
  // (backend job id, backend file id) pairs; marks them as asked.
  virtual absl::StatusOr<std::vector<std::pair<std::string, int64_t>>> TakeExternalCancels(
      const std::string& backend, int limit) = 0;
};

class PgBackendJobRepository final : public BackendJobRepository {
 public:
  explicit PgBackendJobRepository(Database& db) : db_(db) {}
  absl::StatusOr<bool> InsertJob(const Job& job, const std::string& backend, absl::Time now) override;
  absl::StatusOr<std::vector<LeasedFile>> LeaseFiles(const std::string& owner, int limit,
                                                     absl::Duration lease, absl::Time now) override;
  absl::Status RecordOutcome(const std::string& owner, const FileOutcome& outcome) override;
  absl::StatusOr<std::vector<LeasedFile>> RecordAndLease(const std::string& owner, const FileOutcome& outcome,
                                                         int limit, absl::Duration lease,
                                                         absl::Time now) override;
  absl::Status ExtendLease(const std::string& owner, const std::string& job_id, int64_t transfer_id,
                           absl::Time until) override;
  absl::StatusOr<bool> KillRequested(int64_t transfer_id, int32_t attempt) override;
  absl::StatusOr<std::vector<std::string>> LeaseOwners(const std::string& prefix) override;
  absl::StatusOr<int> ExpireLeases(const std::string& owner, absl::Time now) override;
  absl::StatusOr<std::vector<FileOutcome>> UnreportedOutcomes(int limit) override;
  absl::Status MarkReported(const std::vector<FileOutcome>& outcomes) override;
  absl::StatusOr<Job> GetJob(const std::string& job_id) override;
  absl::StatusOr<std::vector<Job>> JobsToSubmit(const std::string& backend, int limit) override;
  absl::StatusOr<std::vector<std::string>> SitesMovingAsOwners(
      const std::vector<std::string>& sites) override;
  absl::Status SetExternalId(const std::string& job_id, const std::string& external_id,
                             absl::Time now) override;
  absl::StatusOr<std::vector<ExternalJob>> JobsToPoll(const std::string& backend, int limit,
                                                      absl::Time now) override;
  absl::StatusOr<int> ApplyExternalStates(const std::string& job_id, const std::string& job_state,
                                          const std::vector<ExternalFileState>& files,
                                          absl::Time now) override;
  absl::StatusOr<std::vector<std::pair<std::string, int64_t>>> TakeExternalCancels(const std::string& backend,
                                                                                   int limit) override;

 private:
  Database& db_;
};

}  // namespace aso::db

#endif  // ASO_LIBS_DB_BACKEND_JOB_REPOSITORY_H_
