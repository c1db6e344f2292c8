#include "services/fts_adapter/outcome_reporter.h"

#include "libs/common/status_macros.h"

namespace aso::fts_adapter {

absl::StatusOr<int> OutcomeReporter::RunOnce() {
  ASO_ASSIGN_OR_RETURN(auto outcomes, jobs_.UnreportedOutcomes(batch_size_));
  if (outcomes.empty()) return 0;
  ASO_RETURN_IF_ERROR(bookkeeping_.ReportOutcomes(outcomes));
  for (const auto& o : outcomes) ASO_RETURN_IF_ERROR(jobs_.MarkReported(o));
  return static_cast<int>(outcomes.size());
}

}  // namespace aso::fts_adapter
