// Command-line flags (with ASO_* environment fallback) for authentication: the transport and client
// flags every gRPC client and service shares (client_flags.cc) and the server-side policy flags
// (server_flags.cc).
#ifndef ASO_LIBS_AUTH_FLAGS_H_
#define ASO_LIBS_AUTH_FLAGS_H_

#include <string>

#include "absl/status/statusor.h"
#include "libs/auth/authenticator.h"
#include "libs/auth/credentials.h"

namespace aso::auth {

// How a client authenticates, from --insecure/--identity, --tls_ca, --token_file, --proxy,
// --tls_cert/--tls_key. A user client (discover = true) also looks for a bearer token and a grid proxy
// the usual ways; a service uses its own certificate. In insecure mode the identity defaults to
// `default_identity`.
ClientAuthConfig ClientAuthConfigFromFlags(bool discover, const std::string& default_identity);

// A client ready to use, from the flags above.
absl::StatusOr<std::shared_ptr<ClientAuth>> ClientAuthFromFlags(bool discover,
                                                                const std::string& default_identity);

// The server side: TLS files and the insecure switch.
ServerTlsConfig ServerTlsConfigFromFlags();
// Who may call: CAs, gridmap, bearer-token issuers, admin and service identities.
absl::StatusOr<AuthConfig> AuthConfigFromFlags();

}  // namespace aso::auth

#endif  // ASO_LIBS_AUTH_FLAGS_H_
