// Sends recorded file states to aso-bookkeeping and notes what was acknowledged. An outcome is recorded
// before it is reported, so a crash anywhere only causes a repeat, which bookkeeping ignores.
#ifndef ASO_SERVICES_FTS_ADAPTER_OUTCOME_REPORTER_H_
#define ASO_SERVICES_FTS_ADAPTER_OUTCOME_REPORTER_H_

#include "absl/status/statusor.h"
#include "libs/db/backend_job_repository.h"
#include "services/fts_adapter/bookkeeping_stub.h"

namespace aso::fts_adapter {

class OutcomeReporter {
 public:
  OutcomeReporter(db::BackendJobRepository& jobs, BookkeepingStub& bookkeeping, int batch_size = 500)
      : jobs_(jobs), bookkeeping_(bookkeeping), batch_size_(batch_size) {}

  // Reports one batch. Returns how many outcomes are settled: handled by bookkeeping, or refused for good
  // (INVALID_ARGUMENT, FAILED_PRECONDITION, NOT_FOUND; logged, never retried). Outcomes that failed
  // otherwise stay unreported and are sent again next round, without holding back the others.
  absl::StatusOr<int> RunOnce();

 private:
  db::BackendJobRepository& jobs_;
  BookkeepingStub& bookkeeping_;
  int batch_size_;
};

}  // namespace aso::fts_adapter

#endif  // ASO_SERVICES_FTS_ADAPTER_OUTCOME_REPORTER_H_
