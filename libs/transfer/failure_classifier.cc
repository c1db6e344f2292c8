#include "libs/transfer/failure_classifier.h"

#include <cerrno>

#include "absl/strings/match.h"

namespace aso::transfer {
namespace v1 = aso::common::v1;
namespace {

constexpr absl::string_view kRetryFragments[] = {
    "performance marker",   "Name or service not known", "Connection timed out",  "end-of-file was reached",
    "end of file occurred", "SRM_INTERNAL_ERROR",        "was forcefully killed", "operation timeout"};

struct Fragment {
  absl::string_view text;
  FailureClass failure_class;
};
// Checked in order: the first fragment found decides the class (never retried).
constexpr Fragment kFatalFragments[] = {
    {"checksum do not match", v1::FAILURE_CLASS_CHECKSUM},
    {"CHECKSUM MISMATCH", v1::FAILURE_CLASS_CHECKSUM},
    {"Checksum mismatch", v1::FAILURE_CLASS_CHECKSUM},
    {"proxy expired", v1::FAILURE_CLASS_PERMISSION},
    {"certificate has expired", v1::FAILURE_CLASS_PERMISSION},
    {"CRL has expired", v1::FAILURE_CLASS_PERMISSION},
    {"SRM_AUTHENTICATION_FAILURE", v1::FAILURE_CLASS_PERMISSION},
    {"Permission denied", v1::FAILURE_CLASS_PERMISSION},
    {"SRM_NO_FREE_SPACE", v1::FAILURE_CLASS_NO_SPACE},
    {"File exists and overwrite", v1::FAILURE_CLASS_DESTINATION},
    {"File exists", v1::FAILURE_CLASS_DESTINATION},
    {"550 File not found", v1::FAILURE_CLASS_SOURCE},
    {"No such file or directory", v1::FAILURE_CLASS_SOURCE},
    {"SRM_INVALID_PATH", v1::FAILURE_CLASS_SOURCE},
    {"source file is not ONLINE", v1::FAILURE_CLASS_SOURCE},
};

FailureClass ClassOfScope(ErrorScope scope) {
  switch (scope) {
    case ErrorScope::kSource:
      return v1::FAILURE_CLASS_SOURCE;
    case ErrorScope::kDestination:
      return v1::FAILURE_CLASS_DESTINATION;
    case ErrorScope::kTransfer:
      return v1::FAILURE_CLASS_TRANSFER;
    case ErrorScope::kGeneral:
      return v1::FAILURE_CLASS_GENERAL;
  }
  return v1::FAILURE_CLASS_GENERAL;
}

bool IsFatalErrno(ErrorScope scope, int e) {
  switch (scope) {
    case ErrorScope::kSource:
      return e == ENOENT || e == EPERM || e == EACCES || e == EISDIR || e == ENAMETOOLONG || e == E2BIG ||
             e == ENOTDIR || e == EPROTONOSUPPORT;
    case ErrorScope::kDestination:
      return e == EPERM || e == EACCES || e == EISDIR || e == E2BIG || e == EROFS || e == EFAULT ||
             e == ENAMETOOLONG || e == EPROTONOSUPPORT || e == EEXIST;
    case ErrorScope::kTransfer:
      return e == ENOSPC || e == EPERM || e == EACCES || e == EEXIST || e == EFBIG || e == EROFS ||
             e == ENAMETOOLONG || e == EPROTONOSUPPORT;
    case ErrorScope::kGeneral:
      return false;
  }
  return false;
}

}  // namespace

Classification ClassifyFailure(ErrorScope scope, int error_number, absl::string_view message) {
  if (error_number == ECANCELED) return {v1::FAILURE_CLASS_CANCELED, false};
  for (auto fragment : kRetryFragments) {
    if (absl::StrContains(message, fragment)) {
      bool timeout = absl::StrContains(fragment, "time");
      return {timeout ? v1::FAILURE_CLASS_TIMEOUT : v1::FAILURE_CLASS_TRANSFER, true};
    }
  }
  if (error_number == ETIMEDOUT) return {v1::FAILURE_CLASS_TIMEOUT, true};
  for (const Fragment& fragment : kFatalFragments) {
    if (absl::StrContains(message, fragment.text)) {
      FailureClass c = fragment.failure_class;
      // "File exists" / "No such file" belong to whichever end reported them.
      if ((c == v1::FAILURE_CLASS_SOURCE || c == v1::FAILURE_CLASS_DESTINATION) &&
          scope != ErrorScope::kGeneral && scope != ErrorScope::kTransfer) {
        c = ClassOfScope(scope);
      }
      return {c, false};
    }
  }
  if (error_number == ENOSPC || error_number == EDQUOT) return {v1::FAILURE_CLASS_NO_SPACE, false};
  if (error_number == EACCES || error_number == EPERM) return {v1::FAILURE_CLASS_PERMISSION, false};
  if (IsFatalErrno(scope, error_number)) return {ClassOfScope(scope), false};
  return {ClassOfScope(scope), true};
}

ErrorScope ScopeFromReason(absl::string_view reason) {
  if (absl::StartsWith(reason, "SOURCE")) return ErrorScope::kSource;
  if (absl::StartsWith(reason, "DESTINATION")) return ErrorScope::kDestination;
  if (absl::StartsWith(reason, "TRANSFER")) return ErrorScope::kTransfer;
  return ErrorScope::kGeneral;
}

}  // namespace aso::transfer
