// Runs the adapter's bulk jobs on one job-running backend (an FTS3 server): submits the jobs it has not
// yet handed over (a job the backend already has — submitted before a crash — is adopted by its
// deterministic id), polls the jobs that are not over in bulk, cancels there the files of killed
// transfers, and copies the backend's file states into the adapter's job table, from where the outcome
// reporter sends them to bookkeeping like any backend's. One runner per backend endpoint; several adapter
// replicas may run one each.
#ifndef ASO_SERVICES_FTS_ADAPTER_BACKEND_RUNNER_H_
#define ASO_SERVICES_FTS_ADAPTER_BACKEND_RUNNER_H_

#include <functional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "libs/backend/copier.h"
#include "libs/backend/transfer_backend.h"
#include "libs/common/clock.h"
#include "libs/db/backend_job_repository.h"
#include "libs/metrics/metrics.h"

namespace aso::fts_adapter {

struct BackendRunnerConfig {
  std::string backend;  // the name jobs are recorded under, e.g. "fts3:https://fts3.example:8446"
  int submit_per_round = 50;
  int poll_per_round = 200;  // jobs; asked in bulk, `poll_batch` ids per request
  int poll_batch = 50;
  int file_timeout_seconds = 0;                        // per file; 0 = FTS3's default (600 s + 2 s/MB)
  absl::Duration health_interval = absl::Seconds(30);  // how often /whoami is asked
  // Which attempts may replace a file already at the destination. FTS3 decides per job: a job replaces
  // destinations only when every one of its files may (under kRetries: a job of retries only).
  backend::OverwritePolicy overwrite = backend::OverwritePolicy::kAlways;
  // When set (--user_credentials), a job from or to a site that moves files with their owners'
  // credentials (sites.credentials) is submitted as its owner, through the backend this returns for the
  // job's user (UserFts3Clients::For); FTS3 then accesses both ends as the owner. Unset, such a job fails
  // for good (GENERAL, naming the missing flags). FAILED_PRECONDITION or DATA_LOSS (no usable proxy): the
  // job's files fail as CREDENTIAL_EXPIRED, recoverable, and go back to the queue, where the scheduler holds
  // them until the user delegates; nothing is submitted with the service's credential instead. Polls and
  // cancels use the runner's backend.
  // A refusal of the owner's credential by FTS3 (FAILED_PRECONDITION, PERMISSION_DENIED) is handled the same
  // way, and a credential that cannot be had just now (UNAVAILABLE) leaves that job for the next round:
  // one owner never stops the others' jobs.
  std::function<absl::StatusOr<std::shared_ptr<const backend::TransferBackend>>(const std::string& user)>
      submit_as;
};

struct BackendRoundResult {
  int submitted = 0;  // jobs handed to (or adopted from) FTS3
  int changed = 0;    // file states changed
};

// FTS3 file state -> the adapter's (SUBMITTED, ACTIVE, FINISHED, FAILED, CANCELED).
std::string AdapterFileState(const std::string& fts3_state);

// One file's status as the adapter records it: failures classified from FTS3's reason
// ("SCOPE [errno] message") after FTS3's own heuristics.
db::ExternalFileState ExternalStateOf(const backend::FileStatus& file, int64_t transfer_id,
                                      const std::string& checksum);

class BackendRunner {
 public:
  BackendRunner(db::BackendJobRepository& jobs, const backend::TransferBackend& backend, Clock& clock,
                BackendRunnerConfig config, metrics::Metrics& metrics);

  // One round of submissions and polls. Errors that concern FTS3 as a whole (unreachable, overloaded,
  // credential) end the round and are returned; the next round tries again.
  absl::StatusOr<BackendRoundResult> RunOnce();

 private:
  absl::StatusOr<int> Submit();
  absl::StatusOr<int> Poll();
  // Asks the backend who we are every health_interval: the gauge aso_fts3_up says whether it answers.
  void CheckHealth();
  // Cancels in the backend the running files of killed transfers.
  absl::Status CancelKilled();

  db::BackendJobRepository& jobs_;
  const backend::TransferBackend& backend_;
  Clock& clock_;
  BackendRunnerConfig config_;
  metrics::CounterVec requests_;  // by endpoint, call and result
  metrics::GaugeVec up_;
  metrics::CounterVec credential_errors_;
  absl::Time next_health_check_ = absl::InfinitePast();
  // Jobs FTS3 answered 404 for, by FTS3 id: how many polls in a row. A job FTS3 had accepted and no longer
  // knows (its database lost or purged it) fails its unfinished files after kLostAfterPolls, as recoverable
  // BACKEND failures, so the retry policy sends them again instead of leaving them in flight forever.
  absl::flat_hash_map<std::string, int> unknown_polls_;
  static constexpr int kLostAfterPolls = 3;
};

}  // namespace aso::fts_adapter

#endif  // ASO_SERVICES_FTS_ADAPTER_BACKEND_RUNNER_H_
