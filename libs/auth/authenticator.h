// Authenticates the caller of an RPC: a bearer token (JWT, see jwt_verifier.h), else a client
// certificate chain (grid style: the chain is verified against the configured CAs with RFC 3820 proxy
// certificates allowed, and the end-entity DN is mapped to a username by a gridmap file), else, only in
// the explicit insecure development mode, the username a client names in the x-aso-user header. Roles
// come from the configured admin and service identities. Immutable once built; thread-safe.
#ifndef ASO_LIBS_AUTH_AUTHENTICATOR_H_
#define ASO_LIBS_AUTH_AUTHENTICATOR_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/server_context.h"
#include "libs/auth/jwt_verifier.h"
#include "libs/auth/principal.h"

namespace aso::auth {

// The metadata header that names the caller in insecure mode.
inline constexpr char kInsecureUserHeader[] = "x-aso-user";

struct AuthConfig {
  bool insecure = false;              // no TLS: trust x-aso-user (development on loopback only)
  std::string ca_file;                // PEM trust anchors for client certificates
  std::string gridmap_file;           // lines: "<DN>" username
  std::optional<JwtConfig> jwt;       // bearer tokens accepted when set
  std::vector<std::string> admins;    // usernames with the admin role
  std::vector<std::string> services;  // usernames with the service role
};

class Authenticator {
 public:
  // INVALID_ARGUMENT / NOT_FOUND naming a bad or missing CA, gridmap or key file.
  static absl::StatusOr<std::unique_ptr<Authenticator>> Create(const AuthConfig& config);
  ~Authenticator();

  // UNAUTHENTICATED when the call proves no identity (or a bad one); PERMISSION_DENIED when a valid
  // certificate's DN is not in the gridmap.
  absl::StatusOr<Principal> Authenticate(const grpc::ServerContext& context) const;

  // The same from the parts of a call: the Authorization header value, the peer's PEM certificate chain
  // (leaf first) and the x-aso-user header.
  absl::StatusOr<Principal> Authenticate(std::optional<std::string> authorization,
                                         const std::string& pem_chain,
                                         std::optional<std::string> insecure_user, absl::Time now) const;

  // Who a certificate chain (leaf first, proxies allowed) belongs to, verified against the CAs and mapped
  // through the gridmap as for a caller: for a delegated proxy. Errors as Authenticate's.
  absl::StatusOr<Principal> VerifyChain(const std::string& pem_chain) const {
    return FromCertificateChain(pem_chain);
  }

  // Who a bearer token delegated to ASO belongs to (a storage access token: any audience), verified
  // against the trusted issuers' keys as a caller's token would be. FAILED_PRECONDITION when this
  // deployment trusts no token issuer; UNAUTHENTICATED naming what is wrong with the token otherwise.
  absl::StatusOr<JwtIdentity> VerifyDelegatedToken(absl::string_view token, absl::Time now) const;

  bool insecure() const { return insecure_; }

 private:
  struct TrustStore;
  Authenticator() = default;
  Principal WithRole(Principal p) const;
  absl::StatusOr<Principal> FromCertificateChain(const std::string& pem_chain) const;

  bool insecure_ = false;
  std::unique_ptr<TrustStore> trust_;
  absl::flat_hash_map<std::string, std::string> gridmap_;  // DN -> username
  std::unique_ptr<JwtVerifier> jwt_;
  absl::flat_hash_set<std::string> admins_, services_;
};

// Authenticates the call and checks that the caller has one of `roles` (any role when empty): the
// principal, or the status the RPC must return.
absl::StatusOr<Principal> Authorize(const Authenticator& authenticator, const grpc::ServerContext& context,
                                    absl::string_view rpc, std::initializer_list<Role> roles = {});

// The grid form of an X.509 name: "/DC=org/DC=example/CN=Alice".
// (Exposed for tests.)
absl::StatusOr<std::string> GridDnOfPem(const std::string& pem_certificate);

// Parses a gridmap file's text: one `"<DN>" username` per line, # comments. INVALID_ARGUMENT naming the line.
absl::StatusOr<absl::flat_hash_map<std::string, std::string>> ParseGridmap(const std::string& text);

}  // namespace aso::auth

#endif  // ASO_LIBS_AUTH_AUTHENTICATOR_H_
