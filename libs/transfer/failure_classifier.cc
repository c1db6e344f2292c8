#include "libs/transfer/failure_classifier.h"

#include <cerrno>

#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"

namespace aso::transfer {
namespace v1 = aso::common::v1;
namespace {

struct Fragment {
  absl::string_view text;  // matched without regard to case
  FailureClass failure_class;
};

// FTS3's "retry" fragments, with the class each stands for.
constexpr Fragment kRetryFragments[] = {
    {"performance marker", v1::FAILURE_CLASS_TIMEOUT},
    {"Name or service not known", v1::FAILURE_CLASS_NETWORK},
    {"Connection timed out", v1::FAILURE_CLASS_TIMEOUT},
    {"end-of-file was reached", v1::FAILURE_CLASS_TRANSFER},
    {"end of file occurred", v1::FAILURE_CLASS_TRANSFER},
    {"SRM_INTERNAL_ERROR", v1::FAILURE_CLASS_TRANSFER},
    {"was forcefully killed", v1::FAILURE_CLASS_TRANSFER},
    {"operation timeout", v1::FAILURE_CLASS_TIMEOUT},
    {"operation expired", v1::FAILURE_CLASS_TIMEOUT},
};

// FTS3's "do not retry" fragments (checked in order: the first found decides the class), then the
// classes FTS3 retries but that are worth naming.
constexpr Fragment kFatalFragments[] = {
    {"checksum do not match", v1::FAILURE_CLASS_CHECKSUM},
    {"checksums do not match", v1::FAILURE_CLASS_CHECKSUM},
    {"ADLER32 do not match", v1::FAILURE_CLASS_CHECKSUM},
    {"CHECKSUM MISMATCH", v1::FAILURE_CLASS_CHECKSUM},
    {"proxy expired", v1::FAILURE_CLASS_CREDENTIAL_EXPIRED},
    {"certificate has expired", v1::FAILURE_CLASS_CREDENTIAL_EXPIRED},
    {"CRL has expired", v1::FAILURE_CLASS_CREDENTIAL_EXPIRED},
    {"SRM_AUTHENTICATION_FAILURE", v1::FAILURE_CLASS_PERMISSION},
    {"Permission denied", v1::FAILURE_CLASS_PERMISSION},
    {"SRM_NO_FREE_SPACE", v1::FAILURE_CLASS_NO_SPACE},
    {"No space left on device", v1::FAILURE_CLASS_NO_SPACE},
    {"Disk quota exceeded", v1::FAILURE_CLASS_NO_SPACE},
    {"File exists and overwrite", v1::FAILURE_CLASS_DESTINATION_EXISTS},
    {"File exists", v1::FAILURE_CLASS_DESTINATION_EXISTS},
    {"550 File not found", v1::FAILURE_CLASS_SOURCE},
    {"No such file or directory", v1::FAILURE_CLASS_SOURCE},
    {"SRM_INVALID_PATH", v1::FAILURE_CLASS_SOURCE},
    {"source file is not ONLINE", v1::FAILURE_CLASS_SOURCE},
};
constexpr Fragment kNamedRetriedFragments[] = {
    {"size mismatch", v1::FAILURE_CLASS_SIZE_MISMATCH},
    {"sizes do not match", v1::FAILURE_CLASS_SIZE_MISMATCH},
    {"Connection refused", v1::FAILURE_CLASS_NETWORK},
    {"Connection reset", v1::FAILURE_CLASS_NETWORK},
    {"No route to host", v1::FAILURE_CLASS_NETWORK},
    {"Network is unreachable", v1::FAILURE_CLASS_NETWORK},
    {"Unable to connect", v1::FAILURE_CLASS_NETWORK},
};

// Whether `text` (already lower case) contains `fragment`, without regard to case.
bool ContainsFolded(const std::string& text, absl::string_view fragment) {
  return absl::StrContains(text, absl::AsciiStrToLower(fragment));
}

// A permission problem belongs to the end that reported it.
FailureClass PermissionOf(ErrorScope scope) {
  switch (scope) {
    case ErrorScope::kSource:
      return v1::FAILURE_CLASS_SOURCE_PERMISSION;
    case ErrorScope::kDestination:
      return v1::FAILURE_CLASS_DESTINATION_PERMISSION;
    default:
      return v1::FAILURE_CLASS_PERMISSION;
  }
}

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
  const std::string folded = absl::AsciiStrToLower(message);
  for (const Fragment& fragment : kRetryFragments) {
    if (ContainsFolded(folded, fragment.text)) return {fragment.failure_class, true};
  }
  if (error_number == ETIMEDOUT) return {v1::FAILURE_CLASS_TIMEOUT, true};
  for (const Fragment& fragment : kFatalFragments) {
    if (!ContainsFolded(folded, fragment.text)) continue;
    FailureClass c = fragment.failure_class;
    if (c == v1::FAILURE_CLASS_PERMISSION && fragment.text == "Permission denied") c = PermissionOf(scope);
    // "No such file" at the destination end is a destination problem (its parent, say).
    if (c == v1::FAILURE_CLASS_SOURCE && scope == ErrorScope::kDestination) c = v1::FAILURE_CLASS_DESTINATION;
    return {c, false};
  }
  if (error_number == ENOSPC || error_number == EDQUOT) return {v1::FAILURE_CLASS_NO_SPACE, false};
  if (error_number == EACCES || error_number == EPERM) return {PermissionOf(scope), false};
  if (error_number == EEXIST) return {v1::FAILURE_CLASS_DESTINATION_EXISTS, false};
  if (IsFatalErrno(scope, error_number)) return {ClassOfScope(scope), false};
  for (const Fragment& fragment : kNamedRetriedFragments) {
    if (ContainsFolded(folded, fragment.text)) return {fragment.failure_class, true};
  }
  if (error_number == ECONNREFUSED || error_number == ECONNRESET || error_number == EHOSTUNREACH ||
      error_number == ENETUNREACH) {
    return {v1::FAILURE_CLASS_NETWORK, true};
  }
  return {ClassOfScope(scope), true};
}

ErrorScope ScopeFromReason(absl::string_view reason) {
  if (absl::StartsWith(reason, "SOURCE")) return ErrorScope::kSource;
  if (absl::StartsWith(reason, "DESTINATION")) return ErrorScope::kDestination;
  if (absl::StartsWith(reason, "TRANSFER")) return ErrorScope::kTransfer;
  return ErrorScope::kGeneral;
}

}  // namespace aso::transfer
