// Source cleanup: deletes the temporary source of each DONE file whose destination was verified and whose
// site cleans up (see libs/db/cleanup_repository.h), through the adapter. A file already gone counts as
// deleted; storage errors are retried with a doubling delay up to max_attempts; a refusal that retrying
// cannot fix (permission, a malformed or unsupported URL) fails the cleanup at once. The transfer itself
// stays DONE whatever happens to its cleanup.
#ifndef ASO_SERVICES_BOOKKEEPING_SOURCE_CLEANER_H_
#define ASO_SERVICES_BOOKKEEPING_SOURCE_CLEANER_H_

#include "absl/status/statusor.h"
#include "libs/common/clock.h"
#include "libs/db/cleanup_repository.h"
#include "libs/metrics/metrics.h"
#include "services/bookkeeping/storage_stub.h"

namespace aso::bookkeeping {

struct SourceCleanerConfig {
  int batch = 200;  // files per round (one DeleteFiles call)
  int max_attempts = 5;
  absl::Duration retry_delay = absl::Minutes(1);  // before the second try, doubling
  absl::Duration max_retry_delay = absl::Hours(1);
  absl::Duration hold = absl::Minutes(5);  // how long a taken file is hidden from other replicas
};

class SourceCleaner {
 public:
  SourceCleaner(db::CleanupRepository& repo, StorageStub& storage, Clock& clock, SourceCleanerConfig config,
                metrics::Metrics& metrics);

  // One round: takes due files, deletes them, records the results. Returns how many were taken.
  absl::StatusOr<int> RunOnce();

 private:
  db::CleanupRepository& repo_;
  StorageStub& storage_;
  Clock& clock_;
  SourceCleanerConfig config_;
  metrics::CounterVec cleanups_;
};

}  // namespace aso::bookkeeping

#endif  // ASO_SERVICES_BOOKKEEPING_SOURCE_CLEANER_H_
