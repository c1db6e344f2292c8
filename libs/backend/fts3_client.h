// A client of the FTS3 REST API (../shared/FTS3_REST.md is the reference it follows): bulk job submission
// with deterministic ids, bulk status, cancel and the health check, over HTTPS with an X.509 certificate or
// proxy, or a bearer token. Transient failures (network errors, 5xx other than 503) are retried with
// backoff. Thread-safe: every call uses its own connection handle.
#ifndef ASO_LIBS_BACKEND_FTS3_CLIENT_H_
#define ASO_LIBS_BACKEND_FTS3_CLIENT_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace aso::backend {

struct Fts3Config {
  std::string endpoint;                        // e.g. https://fts3.example:8446
  std::string ca_file;                         // PEM bundle of trusted CAs ("" = the system's)
  std::string ca_path;                         // or a hashed CA directory (/etc/grid-security/certificates)
  std::string cert_file;                       // client certificate or proxy (PEM)
  std::string key_file;                        // its key ("" = in cert_file, as in a proxy)
  std::string bearer_token;                    // sent as Authorization: Bearer, instead of a certificate
  absl::Duration timeout = absl::Seconds(30);  // one HTTP request
  int max_attempts = 4;                        // per call, for network errors and 5xx (not 503)
  absl::Duration backoff = absl::Milliseconds(500);  // before the second attempt, doubling
};

// One file of a submission.
struct Fts3FileRequest {
  std::string source;
  std::string destination;
  std::string checksum;  // "adler32:xxxxxxxx" or ""
  int64_t filesize = 0;
  std::map<std::string, std::string> metadata;  // e.g. transfer_id, attempt
  std::string activity = "ASO";
};

struct Fts3JobRequest {
  std::string
      sid;  // our deterministic bulk job id: FTS3 derives its job id from it and answers 409 on a repeat
  std::vector<Fts3FileRequest> files;
  std::map<std::string, std::string> job_metadata;  // user, task, ...
  int priority = 3;
  bool overwrite = false;
  std::string verify_checksum = "both";
  int timeout_seconds = 0;  // per file; 0 = the server's default
};

struct Fts3FileStatus {
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

struct Fts3JobStatus {
  std::string job_id;
  std::string http_status;  // per item of a bulk answer ("200 Ok", "404 Not Found")
  std::string job_state;    // SUBMITTED, ACTIVE, FINISHED, FINISHEDDIRTY, FAILED, CANCELED, ...
  std::string reason;
  std::vector<Fts3FileStatus> files;
};

// Terminal FTS3 states.
bool IsTerminalJobState(const std::string& state);
bool IsTerminalFileState(const std::string& state);

class Fts3Client {
 public:
  explicit Fts3Client(Fts3Config config);

  // POST /jobs with id_generator deterministic, sid, retry -1 (ASO decides retries). Returns FTS3's job
  // id. ALREADY_EXISTS when the sid was submitted before (409): find the job with FindJobBySid. The other
  // errors carry FTS3's message: FAILED_PRECONDITION for 419 (no or expiring delegated credential),
  // RESOURCE_EXHAUSTED for 503 (overloaded: back off), INVALID_ARGUMENT for 400, PERMISSION_DENIED for
  // 401/403, UNAVAILABLE when the server cannot be reached.
  absl::StatusOr<std::string> Submit(const Fts3JobRequest& job) const;

  // GET /jobs/{id1},{id2},...?files=... : one entry per id, in order, with its http_status (404 for an
  // unknown id).
  absl::StatusOr<std::vector<Fts3JobStatus>> GetJobs(const std::vector<std::string>& job_ids) const;

  // The job FTS3 created for `sid` (job_metadata carries it), searching the newest `limit` jobs in the
  // given states; NOT_FOUND if none.
  absl::StatusOr<std::string> FindJobBySid(const std::string& sid, int limit = 500) const;

  // DELETE /jobs/{ids}: per job, its state after the cancel; a job already terminal is reported as is
  // (FTS3's "304 Not Modified"), an unknown one with http_status 404.
  absl::StatusOr<std::vector<Fts3JobStatus>> Cancel(const std::vector<std::string>& job_ids) const;

  // DELETE /jobs/{id}/files/{fid1},{fid2}: cancels single files of a job. NOT_FOUND for an unknown job.
  absl::Status CancelFiles(const std::string& job_id, const std::vector<int64_t>& file_ids) const;

  // GET /whoami: the identity the server sees (its DN). Health check.
  absl::StatusOr<std::string> Whoami() const;

  const Fts3Config& config() const { return config_; }

 private:
  struct Response {
    long status = 0;
    std::string body;
  };
  // One request with retries of network errors and 5xx other than 503.
  absl::StatusOr<Response> Call(const std::string& method, const std::string& path,
                                const std::string& body) const;

  Fts3Config config_;
};

// The status an FTS3 error answer stands for (see Submit), with its message.
absl::Status Fts3Error(long http_status, const std::string& body);

}  // namespace aso::backend

#endif  // ASO_LIBS_BACKEND_FTS3_CLIENT_H_
