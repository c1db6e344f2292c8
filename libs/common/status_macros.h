// Early-return helpers for absl::Status and absl::StatusOr, used across every ASO library and service.
#ifndef ASO_LIBS_COMMON_STATUS_MACROS_H_
#define ASO_LIBS_COMMON_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define ASO_INTERNAL_CONCAT_(a, b) a##b
#define ASO_INTERNAL_CONCAT(a, b) ASO_INTERNAL_CONCAT_(a, b)

// Returns the status from the enclosing function if `expr` is not OK.
#define ASO_RETURN_IF_ERROR(expr)              \
  do {                                         \
    ::absl::Status aso_status_ = (expr);       \
    if (!aso_status_.ok()) return aso_status_; \
  } while (false)

// `ASO_ASSIGN_OR_RETURN(auto x, Foo());` assigns the value of a StatusOr or returns its status.
#define ASO_ASSIGN_OR_RETURN(lhs, expr) \
  ASO_INTERNAL_ASSIGN_OR_RETURN(ASO_INTERNAL_CONCAT(aso_statusor_, __LINE__), lhs, expr)
#define ASO_INTERNAL_ASSIGN_OR_RETURN(tmp, lhs, expr) \
  auto tmp = (expr);                                  \
  if (!tmp.ok()) return tmp.status();                 \
  lhs = std::move(tmp).value()

#endif  // ASO_LIBS_COMMON_STATUS_MACROS_H_
