#include "services/fts_adapter/outcome_reporter.h"

#include "libs/common/logging.h"
#include "libs/common/status_macros.h"

namespace aso::fts_adapter {

absl::StatusOr<int> OutcomeReporter::RunOnce() {
  ASO_ASSIGN_OR_RETURN(auto outcomes, jobs_.UnreportedOutcomes(batch_size_));
  if (outcomes.empty()) return 0;
  ASO_ASSIGN_OR_RETURN(auto statuses, bookkeeping_.ReportOutcomes(outcomes));
  std::vector<common::v1::FileOutcome> settled;
  for (size_t i = 0; i < outcomes.size(); ++i) {
    const absl::Status& s = statuses[i];
    const bool refused_for_good =
        absl::IsInvalidArgument(s) || absl::IsFailedPrecondition(s) || absl::IsNotFound(s);
    if (!s.ok() && !refused_for_good) continue;
    if (refused_for_good) {
      ASO_LOG(ERROR, "bookkeeping refused the outcome of transfer=", outcomes[i].transfer_id(),
              " attempt=", outcomes[i].attempt(), " for good: ", s.ToString());
    }
    settled.push_back(outcomes[i]);
  }
  ASO_RETURN_IF_ERROR(jobs_.MarkReported(settled));
  return static_cast<int>(settled.size());
}

}  // namespace aso::fts_adapter
