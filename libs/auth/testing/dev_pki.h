// The dev PKI of the tests (scripts/dev-certs: $ASO_TEST_CERTS): reading its files, and users' proxies as
// ASO stores them after a delegation.
#ifndef ASO_LIBS_AUTH_TESTING_DEV_PKI_H_
#define ASO_LIBS_AUTH_TESTING_DEV_PKI_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "libs/auth/delegation.h"

namespace aso::auth::testing {

// The whole content of a file ("" when it cannot be read).
std::string ReadFile(const std::string& path);

// The dev PKI's folder ($ASO_TEST_CERTS; "" when unset) and one of its files' content.
std::string CertsDir();
std::string ReadCert(const std::string& name);

// A proxy of `user` as ASO holds one after `aso-submit --delegate`: a fresh key, and a proxy certificate
// for it signed with CERTS/<user>.pem and .key, valid for `lifetime` from now.
absl::StatusOr<DelegatedProxy> DelegatedProxyOf(const std::string& certs, const std::string& user,
                                                absl::Duration lifetime = absl::Hours(12));

}  // namespace aso::auth::testing

#endif  // ASO_LIBS_AUTH_TESTING_DEV_PKI_H_
