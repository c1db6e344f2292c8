// One copy worker: leases a runnable file from the adapter's job table, copies it with its own Copier,
// classifies a failure and records the outcome. Several workers run side by side, each on its thread;
// a worker that dies loses its lease and the file runs again elsewhere.
#ifndef ASO_SERVICES_FTS_ADAPTER_COPY_WORKER_H_
#define ASO_SERVICES_FTS_ADAPTER_COPY_WORKER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "libs/backend/copier.h"
#include "libs/common/clock.h"
#include "libs/db/backend_job_repository.h"
#include "libs/metrics/metrics.h"
#include "services/fts_adapter/user_credentials.h"

namespace aso::fts_adapter {

struct CopyWorkerConfig {
  std::string owner;  // unique per worker: host/pid/index
  // Timeout of one copy; zero: FTS3's rule, 600 s + 2 s per MB of the file.
  absl::Duration copy_timeout = absl::ZeroDuration();
  // How often a running copy checks whether its transfer was killed (and stops if so).
  absl::Duration kill_check_interval = absl::Seconds(5);
  // Which attempts may replace a file already at the destination.
  backend::OverwritePolicy overwrite = backend::OverwritePolicy::kAlways;
  // Users' delegated credentials (--user_credentials; not owned). A copy from or to a site that moves
  // files with their owners' credentials authenticates there with its owner's proxy or token; a file whose
  // owner has none (or one about to expire) is not copied: it fails as CREDENTIAL_EXPIRED, recoverable,
  // and waits in the queue (the scheduler holds such users' files). Never with the service's credential
  // instead. Without this, such a file fails for good (GENERAL, naming the missing flags).
  UserCredentials* user_credentials = nullptr;
  // This service's own credential, given explicitly to the other endpoints when user_credentials is set.
  backend::StorageCredential service_credential = {};
};

// The timeout of a copy of `size_bytes` under `configured` (see CopyWorkerConfig::copy_timeout).
absl::Duration CopyTimeout(absl::Duration configured, int64_t size_bytes);

// After a crash: the leases held by copy workers of this host ("<host>/<pid>/<i>") whose process is gone
// end now, so their files are copied again at once instead of when the leases run out (they are long:
// twice the copy timeout). Returns how many files were freed.
absl::StatusOr<int> ReclaimLeasesOfDeadProcesses(db::BackendJobRepository& jobs, const std::string& host,
                                                 absl::Time now);

class CopyWorker {
 public:
  CopyWorker(db::BackendJobRepository& jobs, std::unique_ptr<backend::Copier> copier, Clock& clock,
             CopyWorkerConfig config, metrics::Metrics& metrics);

  // Gives back the lease of a file taken for the next copy, so another worker copies it at once.
  ~CopyWorker();

  // Copies at most one file. Returns whether there was one.
  absl::StatusOr<bool> RunOnce();

 private:
  db::BackendJobRepository& jobs_;
  std::unique_ptr<backend::Copier> copier_;
  Clock& clock_;
  CopyWorkerConfig config_;
  metrics::CounterVec copies_;
  metrics::HistogramVec copy_seconds_;
  metrics::HistogramVec copy_size_;
  metrics::CounterVec copied_bytes_;
  std::vector<db::LeasedFile> next_;  // leased with the last outcome, copied by the next RunOnce
};

}  // namespace aso::fts_adapter

#endif  // ASO_SERVICES_FTS_ADAPTER_COPY_WORKER_H_
