#include "libs/backend/copier.h"

#include "absl/strings/str_cat.h"

namespace aso::backend {

absl::StatusOr<OverwritePolicy> ParseOverwritePolicy(absl::string_view text) {
  if (text == "always") return OverwritePolicy::kAlways;
  if (text == "retries") return OverwritePolicy::kRetries;
  if (text == "never") return OverwritePolicy::kNever;
  return absl::InvalidArgumentError(
      absl::StrCat("overwrite policy must be always, retries or never, got \"", text, "\""));
}

bool MayOverwrite(OverwritePolicy policy, int attempt) {
  switch (policy) {
    case OverwritePolicy::kAlways:
      return true;
    case OverwritePolicy::kRetries:
      return attempt > 1;
    case OverwritePolicy::kNever:
      return false;
  }
  return false;
}

}  // namespace aso::backend
