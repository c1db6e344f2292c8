// A client of the FTS3 REST API (../shared/FTS3_REST.md is the reference it follows): bulk job submission
// with deterministic ids, bulk status, cancel and the health check, over HTTPS with an X.509 certificate or
// proxy, or a bearer token. Transient failures (network errors, 5xx other than 503) are retried with
// backoff. Thread-safe: every call uses its own connection handle.
#ifndef ASO_LIBS_BACKEND_FTS3_CLIENT_H_
#define ASO_LIBS_BACKEND_FTS3_CLIENT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "libs/backend/transfer_backend.h"

namespace aso::backend {

struct Fts3Config {
  std::string endpoint;                        // e.g. https://fts3.example:8446
  std::string ca_file;                         // PEM bundle of trusted CAs ("" = the system's)
  std::string ca_path;                         // or a hashed CA directory (/etc/grid-security/certificates)
  std::string cert_file;                       // client certificate or proxy (PEM)
  std::string key_file;                        // its key ("" = in cert_file, as in a proxy)
  std::string bearer_token;                    // sent as Authorization: Bearer, instead of a certificate
  bool per_file_tokens = false;                // also hand bearer_token to FTS3 for both ends of each file
  absl::Duration timeout = absl::Seconds(30);  // one HTTP request
  int max_attempts = 4;                        // per call, for network errors and 5xx (not 503)
  absl::Duration backoff = absl::Milliseconds(500);  // before the second attempt, doubling
  // The proxy delegated to FTS3 (certificate clients): its lifetime (never beyond the credential that signs
  // it), and how much must be left before it is renewed (the original system renewed below 24 h).
  absl::Duration delegation_lifetime = absl::Hours(48);
  absl::Duration delegation_renew = absl::Hours(24);
};

class Fts3Client : public TransferBackend {
 public:
  explicit Fts3Client(Fts3Config config);

  const std::string& endpoint() const override { return config_.endpoint; }

  // POST /jobs with id_generator deterministic, sid, retry -1 (ASO decides retries); with per_file_tokens
  // (a file owner's token), each file carries it as its source_tokens and destination_tokens. Returns FTS3's
  // job
  // id. ALREADY_EXISTS when the sid was submitted before (409): find the job with FindJobBySid. The other
  // errors carry FTS3's message: FAILED_PRECONDITION for 419 (no or expiring delegated credential),
  // RESOURCE_EXHAUSTED for 503 (overloaded: back off), INVALID_ARGUMENT for 400, PERMISSION_DENIED for
  // 401/403, UNAVAILABLE when the server cannot be reached.
  absl::StatusOr<std::string> Submit(const JobRequest& job) const override;

  // GET /jobs/{id1},{id2},...?files=... : one entry per id, in order, with its http_status (404 for an
  // unknown id).
  absl::StatusOr<std::vector<JobStatus>> GetJobs(const std::vector<std::string>& job_ids) const override;

  // The job FTS3 created for `sid` (job_metadata carries it), searching the newest 500 jobs (FTS3's
  // largest list); NOT_FOUND if none.
  absl::StatusOr<std::string> FindJobBySid(const std::string& sid) const override;

  // DELETE /jobs/{ids}: per job, its state after the cancel; a job already terminal is reported as is
  // (FTS3's "304 Not Modified"), an unknown one with http_status 404.
  absl::StatusOr<std::vector<JobStatus>> Cancel(const std::vector<std::string>& job_ids) const override;

  // DELETE /jobs/{id}/files/{fid1},{fid2}: cancels single files of a job. NOT_FOUND for an unknown job.
  absl::Status CancelFiles(const std::string& job_id, const std::vector<int64_t>& file_ids) const override;

  // Makes sure FTS3 holds a proxy delegated from this client's certificate or proxy with more than
  // delegation_renew left, as FTS3 requires before a submission (419 otherwise): GET /whoami for the
  // delegation id, GET /delegation/{id}; if missing or short, GET /delegation/{id}/request, sign an RFC 3820
  // proxy for it with the client's credential, PUT /delegation/{id}/credential. A delegation the credential
  // cannot extend is kept while it has more than an hour left. Remembered, so FTS3 is asked at most once a
  // minute; Submit calls it (and again, with `force`, once after a 419). Nothing to do with a bearer token.
  // A failure is UNAVAILABLE or RESOURCE_EXHAUSTED (FTS3 unreachable or overloaded), else
  // FAILED_PRECONDITION: a credential problem of this client, never of the files to submit.
  absl::Status EnsureDelegation(bool force = false) const;

  // GET /whoami: the identity the server sees (its DN). Health check.
  absl::StatusOr<std::string> Whoami() const override;

  const Fts3Config& config() const { return config_; }

 private:
  struct Response {
    long status = 0;
    std::string body;
  };
  absl::Status Delegate(bool force) const;
  mutable absl::Mutex delegation_mu_;
  mutable absl::Time delegated_until_ ABSL_GUARDED_BY(delegation_mu_) = absl::InfinitePast();
  mutable absl::Time delegation_checked_ ABSL_GUARDED_BY(delegation_mu_) = absl::InfinitePast();
  // One request with retries of network errors and 5xx other than 503.
  absl::StatusOr<Response> Call(const std::string& method, const std::string& path,
                                const std::string& body) const;

  Fts3Config config_;
};

// The status an FTS3 error answer stands for (see Submit), with its message.
absl::Status Fts3Error(long http_status, const std::string& body);

// FTS3's answer to a call on jobs by id (status, cancel) as one entry per job, in FTS3's order: a single
// unknown id (404) is one entry with http_status "404 Not Found"; several ids answer 207 with an
// http_status per item; another status is Fts3Error's; a body that is not JSON is INTERNAL.
absl::StatusOr<std::vector<JobStatus>> JobsFromAnswer(const std::vector<std::string>& job_ids, long status,
                                                      const std::string& body);

}  // namespace aso::backend

#endif  // ASO_LIBS_BACKEND_FTS3_CLIENT_H_
