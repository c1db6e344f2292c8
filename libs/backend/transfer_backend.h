// What ASO asks of a transfer backend that runs bulk jobs on its own: an FTS3 server (Fts3Client), or a
// simulated grid in load tests. The adapter submits each bulk job once under its deterministic id,
// polls many jobs at once, cancels jobs or single files and watches the backend's health. Job and file
// states use FTS3's names, the lingua franca of grid transfer services.
//
// The embedded gfal2 backend does not sit behind this interface: it copies in-process, its jobs live
// only in the adapter's job table, and its copy workers lease files from there (see copier.h).
#ifndef ASO_LIBS_BACKEND_TRANSFER_BACKEND_H_
#define ASO_LIBS_BACKEND_TRANSFER_BACKEND_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace aso::backend {

// One file of a submission.
struct FileRequest {
  std::string source;
  std::string destination;
  std::string checksum;  // "adler32:xxxxxxxx" or ""
  int64_t filesize = 0;
  std::map<std::string, std::string> metadata;  // e.g. transfer_id, attempt
  std::string activity = "ASO";
};

struct JobRequest {
  // Our deterministic bulk job id: the backend derives its job id from it and refuses a repeat.
  std::string sid;
  std::vector<FileRequest> files;
  std::map<std::string, std::string> job_metadata;  // user, task, ...
  int priority = 3;
  bool overwrite = false;  // replace destinations that exist
  std::string verify_checksum = "both";
  int timeout_seconds = 0;  // per file; 0 = the backend's default
};

struct FileStatus {
  int64_t file_id = 0;
  std::string file_state;  // SUBMITTED, ACTIVE, FINISHED, FAILED, CANCELED, ...
  std::string reason;      // "SCOPE [errno] message" when failed
  std::string source_surl;
  std::string dest_surl;
  int64_t filesize = 0;
  double throughput_mib_s = 0;
  double tx_duration = 0;
  bool recoverable = false;
  std::map<std::string, std::string> metadata;  // the file metadata sent at submission
};

struct JobStatus {
  std::string job_id;
  std::string http_status;  // per item of a bulk answer ("200 Ok", "404 Not Found")
  std::string job_state;    // SUBMITTED, ACTIVE, FINISHED, FINISHEDDIRTY, FAILED, CANCELED, ...
  std::string reason;
  std::vector<FileStatus> files;
};

// Terminal states.
bool IsTerminalJobState(const std::string& state);
bool IsTerminalFileState(const std::string& state);

class TransferBackend {
 public:
  virtual ~TransferBackend() = default;

  // Where the backend is, e.g. "https://fts3.example:8446"; names it in logs and metrics.
  virtual const std::string& endpoint() const = 0;

  // Submits a job; returns the backend's job id. ALREADY_EXISTS when the sid was submitted before (find
  // that job with FindJobBySid). FAILED_PRECONDITION: the backend lacks a usable credential of ours;
  // RESOURCE_EXHAUSTED: overloaded, back off; INVALID_ARGUMENT: it will never take this job;
  // PERMISSION_DENIED; UNAVAILABLE: unreachable.
  virtual absl::StatusOr<std::string> Submit(const JobRequest& job) const = 0;

  // The job submitted earlier under `sid`; NOT_FOUND if none.
  virtual absl::StatusOr<std::string> FindJobBySid(const std::string& sid) const = 0;

  // Many jobs' states with their files': one entry per id, in order (http_status 404 for an unknown id).
  virtual absl::StatusOr<std::vector<JobStatus>> GetJobs(const std::vector<std::string>& job_ids) const = 0;

  // Cancels jobs: per job, its state after the cancel (a job already over is reported as it is).
  virtual absl::StatusOr<std::vector<JobStatus>> Cancel(const std::vector<std::string>& job_ids) const = 0;

  // Cancels single files of a job. NOT_FOUND for an unknown job.
  virtual absl::Status CancelFiles(const std::string& job_id, const std::vector<int64_t>& file_ids) const = 0;

  // Health check: the identity the backend sees for us (a DN, a token subject).
  virtual absl::StatusOr<std::string> Whoami() const = 0;
};

}  // namespace aso::backend

#endif  // ASO_LIBS_BACKEND_TRANSFER_BACKEND_H_
