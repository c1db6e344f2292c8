#include "services/bookkeeping/source_cleaner.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "libs/common/logging.h"
#include "services/bookkeeping/retry_policy.h"

namespace aso::bookkeeping {

SourceCleaner::SourceCleaner(db::CleanupRepository& repo, StorageStub& storage, Clock& clock,
                             SourceCleanerConfig config, metrics::Metrics& metrics)
    : repo_(repo),
      storage_(storage),
      clock_(clock),
      config_(config),
      cleanups_(metrics.AddCounter(
          "aso_bookkeeping_cleanups_total",
          "Deletions of temporary sources, by result (deleted, gone, retry, failed).", {"result"})) {
  for (const char* r : {"deleted", "gone", "retry", "failed"}) cleanups_.Inc({r}, 0);
}

absl::StatusOr<int> SourceCleaner::RunOnce() {
  auto due = repo_.TakeDue(config_.batch, config_.hold, clock_.Now());
  if (!due.ok()) return due.status();
  if (due->empty()) return 0;
  std::vector<std::string> urls, owners;
  for (const auto& item : *due) {
    urls.push_back(item.source_url);
    owners.push_back(item.username);
  }
  // The adapter unreachable: the files stay PENDING, hidden for `hold`, and are taken again then.
  auto deleted = storage_.DeleteFiles(urls, owners);
  if (!deleted.ok()) return deleted.status();
  const absl::Time now = clock_.Now();
  std::vector<db::CleanupResult> results;
  for (size_t i = 0; i < due->size(); ++i) {
    const db::CleanupItem& item = (*due)[i];
    const absl::Status& s = (*deleted)[i];
    db::CleanupResult r;
    r.transfer_id = item.transfer_id;
    std::string label;
    if (s.ok() || absl::IsNotFound(s)) {
      r.outcome = db::CleanupResult::Outcome::kDeleted;
      label = s.ok() ? "deleted" : "gone";
    } else if (absl::IsPermissionDenied(s) || absl::IsInvalidArgument(s) ||
               item.attempts + 1 >= config_.max_attempts) {
      r.outcome = db::CleanupResult::Outcome::kFailed;
      r.error = std::string(s.message());
      label = "failed";
      ASO_LOG(WARNING, "cleanup of transfer=", item.transfer_id, " ", item.source_url,
              " failed for good: ", s.ToString());
    } else {
      r.outcome = db::CleanupResult::Outcome::kRetry;
      r.error = std::string(s.message());
      r.retry_at = now + DoublingDelay(config_.retry_delay, item.attempts, config_.max_retry_delay);
      label = "retry";
    }
    cleanups_.Inc({label});
    results.push_back(std::move(r));
  }
  if (absl::Status s = repo_.Record(results, now); !s.ok()) return s;
  return static_cast<int>(due->size());
}

}  // namespace aso::bookkeeping
