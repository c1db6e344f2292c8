#include "libs/transfer/state.h"

#include "absl/strings/match.h"

namespace aso::transfer {
namespace v1 = aso::common::v1;

absl::string_view StateName(State state) {
  switch (state) {
    case v1::TRANSFER_STATE_QUEUED:
      return "QUEUED";
    case v1::TRANSFER_STATE_SUBMITTING:
      return "SUBMITTING";
    case v1::TRANSFER_STATE_SUBMITTED:
      return "SUBMITTED";
    case v1::TRANSFER_STATE_ACTIVE:
      return "ACTIVE";
    case v1::TRANSFER_STATE_DONE:
      return "DONE";
    case v1::TRANSFER_STATE_FAILED:
      return "FAILED";
    case v1::TRANSFER_STATE_KILLED:
      return "KILLED";
    default:
      return "UNSPECIFIED";
  }
}

std::optional<State> StateFromName(absl::string_view name) {
  for (int s = v1::TRANSFER_STATE_QUEUED; s <= v1::TRANSFER_STATE_KILLED; ++s) {
    if (absl::EqualsIgnoreCase(StateName(static_cast<State>(s)), name)) return static_cast<State>(s);
  }
  return std::nullopt;
}

bool IsTerminal(State state) {
  return state == v1::TRANSFER_STATE_DONE || state == v1::TRANSFER_STATE_FAILED ||
         state == v1::TRANSFER_STATE_KILLED;
}

bool IsLegalTransition(State from, State to) {
  if (from == v1::TRANSFER_STATE_UNSPECIFIED || IsTerminal(from)) return false;
  if (to == v1::TRANSFER_STATE_KILLED) return true;
  switch (from) {
    case v1::TRANSFER_STATE_QUEUED:
      return to == v1::TRANSFER_STATE_SUBMITTING;
    case v1::TRANSFER_STATE_SUBMITTING:
      // Accepted by the backend, refused (back to the queue or failed), or finished before the
      // scheduler recorded the acceptance (outcomes may overtake the acknowledgement).
      return to == v1::TRANSFER_STATE_SUBMITTED || to == v1::TRANSFER_STATE_QUEUED ||
             to == v1::TRANSFER_STATE_ACTIVE || to == v1::TRANSFER_STATE_DONE ||
             to == v1::TRANSFER_STATE_FAILED;
    case v1::TRANSFER_STATE_SUBMITTED:
      return to == v1::TRANSFER_STATE_ACTIVE || to == v1::TRANSFER_STATE_DONE ||
             to == v1::TRANSFER_STATE_FAILED || to == v1::TRANSFER_STATE_QUEUED;
    case v1::TRANSFER_STATE_ACTIVE:
      return to == v1::TRANSFER_STATE_DONE || to == v1::TRANSFER_STATE_FAILED ||
             to == v1::TRANSFER_STATE_QUEUED;
    default:
      return false;
  }
}

absl::string_view FailureClassName(FailureClass c) {
  switch (c) {
    case v1::FAILURE_CLASS_SOURCE:
      return "SOURCE";
    case v1::FAILURE_CLASS_DESTINATION:
      return "DESTINATION";
    case v1::FAILURE_CLASS_TRANSFER:
      return "TRANSFER";
    case v1::FAILURE_CLASS_CHECKSUM:
      return "CHECKSUM";
    case v1::FAILURE_CLASS_PERMISSION:
      return "PERMISSION";
    case v1::FAILURE_CLASS_NO_SPACE:
      return "NO_SPACE";
    case v1::FAILURE_CLASS_TIMEOUT:
      return "TIMEOUT";
    case v1::FAILURE_CLASS_BACKEND:
      return "BACKEND";
    case v1::FAILURE_CLASS_CANCELED:
      return "CANCELED";
    case v1::FAILURE_CLASS_MAX_TIME_IN_QUEUE:
      return "MAX_TIME_IN_QUEUE";
    case v1::FAILURE_CLASS_GENERAL:
      return "GENERAL";
    case v1::FAILURE_CLASS_DESTINATION_EXISTS:
      return "DESTINATION_EXISTS";
    case v1::FAILURE_CLASS_SIZE_MISMATCH:
      return "SIZE_MISMATCH";
    case v1::FAILURE_CLASS_NETWORK:
      return "NETWORK";
    case v1::FAILURE_CLASS_CREDENTIAL_EXPIRED:
      return "CREDENTIAL_EXPIRED";
    case v1::FAILURE_CLASS_SOURCE_PERMISSION:
      return "SOURCE_PERMISSION";
    case v1::FAILURE_CLASS_DESTINATION_PERMISSION:
      return "DESTINATION_PERMISSION";
    default:
      return "";
  }
}

std::optional<FailureClass> FailureClassFromName(absl::string_view name) {
  for (int c = v1::FailureClass_MIN + 1; c <= v1::FailureClass_MAX; ++c) {
    if (absl::EqualsIgnoreCase(FailureClassName(static_cast<FailureClass>(c)), name)) {
      return static_cast<FailureClass>(c);
    }
  }
  return std::nullopt;
}

absl::string_view SiteStateName(SiteState state) {
  switch (state) {
    case v1::SITE_STATE_DRAINING:
      return "DRAINING";
    case v1::SITE_STATE_BANNED:
      return "BANNED";
    default:
      return "ENABLED";
  }
}

std::optional<SiteState> SiteStateFromName(absl::string_view name) {
  for (SiteState s : {v1::SITE_STATE_ENABLED, v1::SITE_STATE_DRAINING, v1::SITE_STATE_BANNED}) {
    if (absl::EqualsIgnoreCase(SiteStateName(s), name)) return s;
  }
  return std::nullopt;
}

absl::string_view SiteCredentialsName(v1::SiteCredentials credentials) {
  switch (credentials) {
    case v1::SITE_CREDENTIALS_SERVICE:
      return "service";
    case v1::SITE_CREDENTIALS_OWNER:
      return "owner";
    default:
      return "default";
  }
}

std::optional<v1::SiteCredentials> SiteCredentialsFromName(absl::string_view name) {
  for (v1::SiteCredentials c :
       {v1::SITE_CREDENTIALS_DEFAULT, v1::SITE_CREDENTIALS_SERVICE, v1::SITE_CREDENTIALS_OWNER}) {
    if (absl::EqualsIgnoreCase(SiteCredentialsName(c), name)) return c;
  }
  return std::nullopt;
}

}  // namespace aso::transfer
