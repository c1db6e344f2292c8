#include "libs/auth/principal.h"

#include "absl/strings/str_cat.h"

namespace aso::auth {

absl::string_view RoleName(Role role) {
  switch (role) {
    case Role::kUser:
      return "user";
    case Role::kAdmin:
      return "admin";
    case Role::kService:
      return "service";
  }
  return "unknown";
}

absl::Status RequireRole(const Principal& principal, std::initializer_list<Role> roles,
                         absl::string_view rpc) {
  for (Role r : roles) {
    if (principal.role == r) return absl::OkStatus();
  }
  std::string allowed;
  for (Role r : roles) absl::StrAppend(&allowed, allowed.empty() ? "" : " or ", RoleName(r));
  return absl::PermissionDeniedError(absl::StrCat(rpc, " is for ", allowed, " callers; ", principal.name,
                                                  " is a ", RoleName(principal.role)));
}

bool MayActFor(const Principal& principal, absl::string_view owner) {
  return principal.role == Role::kAdmin || principal.name == owner;
}

}  // namespace aso::auth
