// Who is calling: the identity a request was authenticated as, and its role.
#ifndef ASO_LIBS_AUTH_PRINCIPAL_H_
#define ASO_LIBS_AUTH_PRINCIPAL_H_

#include <initializer_list>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace aso::auth {

// user: acts on its own transfers only. admin: on everything. service: ASO's own services, for the
// internal RPCs only.
enum class Role { kUser, kAdmin, kService };

absl::string_view RoleName(Role role);

struct Principal {
  std::string name;  // the username (certificate DNs are mapped through the gridmap file)
  Role role = Role::kUser;
  std::string mechanism;  // "x509", "token" or "insecure"
  std::string subject;    // the certificate DN or the token's issuer and subject, for logs
};

// PERMISSION_DENIED naming the RPC and the caller unless the principal has one of `roles`.
absl::Status RequireRole(const Principal& principal, std::initializer_list<Role> roles,
                         absl::string_view rpc);

// Whether the principal may act on something owned by `owner`: its owner or an admin.
bool MayActFor(const Principal& principal, absl::string_view owner);

}  // namespace aso::auth

#endif  // ASO_LIBS_AUTH_PRINCIPAL_H_
