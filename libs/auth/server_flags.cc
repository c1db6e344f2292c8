#include <vector>

#include "absl/flags/declare.h"
#include "absl/flags/flag.h"
#include "absl/strings/str_split.h"
#include "libs/auth/flags.h"

ABSL_DECLARE_FLAG(bool, insecure);
ABSL_DECLARE_FLAG(std::string, tls_ca);
ABSL_DECLARE_FLAG(std::string, tls_cert);
ABSL_DECLARE_FLAG(std::string, tls_key);

ABSL_FLAG(bool, tls_require_client_cert, false,
          "Refuse TLS connections without a client certificate (bearer tokens then need one too) "
          "(env ASO_TLS_REQUIRE_CLIENT_CERT)");
ABSL_FLAG(std::string, gridmap, "",
          "File mapping certificate DNs to usernames: \"<DN>\" user per line (env ASO_GRIDMAP)");
ABSL_FLAG(std::vector<std::string>, admins, {},
          "Usernames with the admin role, comma-separated (env ASO_ADMINS)");
ABSL_FLAG(std::vector<std::string>, service_identities, {"aso-service"},
          "Usernames of ASO's own services (the service role), comma-separated (env ASO_SERVICE_IDENTITIES)");
ABSL_FLAG(std::string, jwt_keys, "",
          "Comma-separated PEM files of the public keys that sign accepted bearer tokens; empty: no tokens "
          "(env ASO_JWT_KEYS)");
ABSL_FLAG(std::vector<std::string>, jwt_issuers, {},
          "Accepted token issuers (\"iss\") (env ASO_JWT_ISSUERS)");
ABSL_FLAG(std::string, jwt_audience, "", "The audience (\"aud\") tokens must name (env ASO_JWT_AUDIENCE)");
ABSL_FLAG(std::string, jwt_username_claim, "sub",
          "The token claim that names the user (env ASO_JWT_USERNAME_CLAIM)");

namespace aso::auth {

ServerTlsConfig ServerTlsConfigFromFlags() {
  ServerTlsConfig c;
  c.insecure = absl::GetFlag(FLAGS_insecure);
  c.cert_file = absl::GetFlag(FLAGS_tls_cert);
  c.key_file = absl::GetFlag(FLAGS_tls_key);
  c.ca_file = absl::GetFlag(FLAGS_tls_ca);
  c.require_client_cert = absl::GetFlag(FLAGS_tls_require_client_cert);
  return c;
}

absl::StatusOr<AuthConfig> AuthConfigFromFlags() {
  AuthConfig c;
  c.insecure = absl::GetFlag(FLAGS_insecure);
  c.ca_file = absl::GetFlag(FLAGS_tls_ca);
  c.gridmap_file = absl::GetFlag(FLAGS_gridmap);
  c.admins = absl::GetFlag(FLAGS_admins);
  c.services = absl::GetFlag(FLAGS_service_identities);
  if (const std::string keys = absl::GetFlag(FLAGS_jwt_keys); !keys.empty()) {
    JwtConfig jwt;
    if (absl::Status s = LoadPublicKeyFiles(keys, jwt); !s.ok()) return s;
    jwt.issuers = absl::GetFlag(FLAGS_jwt_issuers);
    jwt.audience = absl::GetFlag(FLAGS_jwt_audience);
    jwt.username_claim = absl::GetFlag(FLAGS_jwt_username_claim);
    c.jwt = std::move(jwt);
  }
  return c;
}

}  // namespace aso::auth
