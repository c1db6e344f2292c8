// The transfer state machine of ../docs/architecture.md as pure code: names, terminal states and the legal
// transitions. The SQL guards in libs/db enforce the same table; state_test.cc keeps them in step.
#ifndef ASO_LIBS_TRANSFER_STATE_H_
#define ASO_LIBS_TRANSFER_STATE_H_

#include <optional>
#include "absl/strings/string_view.h"

#include "aso/common/v1/common.pb.h"

namespace aso::transfer {

using State = aso::common::v1::TransferState;
using FailureClass = aso::common::v1::FailureClass;

// The name stored in PostgreSQL and shown to users: "QUEUED", "DONE", ...
absl::string_view StateName(State state);
// Inverse of StateName; nullopt for an unknown name.
std::optional<State> StateFromName(absl::string_view name);

bool IsTerminal(State state);

// Whether `from -> to` is a transition of the state machine. Retry (a recoverable failure) is modelled as
// SUBMITTING/SUBMITTED/ACTIVE -> QUEUED; kill as any non-terminal -> KILLED.
bool IsLegalTransition(State from, State to);

using SiteState = aso::common::v1::SiteState;

// "ENABLED", "DRAINING", "BANNED" as stored; unspecified reads as ENABLED.
absl::string_view SiteStateName(SiteState state);
// Inverse of SiteStateName, case-insensitive; nullopt for an unknown name.
std::optional<SiteState> SiteStateFromName(absl::string_view name);

// "default", "service" or "owner" (sites.credentials, asoctl, sites YAML).
absl::string_view SiteCredentialsName(common::v1::SiteCredentials credentials);
// Inverse of SiteCredentialsName, case-insensitive; nullopt for an unknown name.
std::optional<common::v1::SiteCredentials> SiteCredentialsFromName(absl::string_view name);

// "SOURCE", "CHECKSUM", ... as stored and shown.
absl::string_view FailureClassName(FailureClass c);
std::optional<FailureClass> FailureClassFromName(absl::string_view name);

}  // namespace aso::transfer

#endif  // ASO_LIBS_TRANSFER_STATE_H_
