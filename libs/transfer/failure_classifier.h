// Classifies a failed copy into a FailureClass and decides whether it is worth retrying, after the
// heuristics of FTS3's transfer agent (message fragments first, then errno by scope).
#ifndef ASO_LIBS_TRANSFER_FAILURE_CLASSIFIER_H_
#define ASO_LIBS_TRANSFER_FAILURE_CLASSIFIER_H_

#include "absl/strings/string_view.h"

#include "libs/transfer/state.h"

namespace aso::transfer {

// Where in the copy the error arose, as FTS3 reports it ("SOURCE [2] ...").
enum class ErrorScope { kSource, kDestination, kTransfer, kGeneral };

struct Classification {
  FailureClass failure_class;
  bool recoverable;
};

// `error_number` is an errno (0 when unknown); `message` the storage's or library's text.
Classification ClassifyFailure(ErrorScope scope, int error_number, absl::string_view message);

// Reads the scope prefix of an FTS3-style reason ("DESTINATION [13] ..."); kGeneral when absent.
ErrorScope ScopeFromReason(absl::string_view reason);

}  // namespace aso::transfer

#endif  // ASO_LIBS_TRANSFER_FAILURE_CLASSIFIER_H_
