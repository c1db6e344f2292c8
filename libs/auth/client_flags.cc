#include "absl/flags/flag.h"
#include "libs/auth/flags.h"

ABSL_FLAG(bool, insecure, false,
          "Plaintext gRPC; servers trust the x-aso-user header. For development on loopback only "
          "(env ASO_INSECURE)");
ABSL_FLAG(std::string, identity, "", "With --insecure: the username to act as (env ASO_IDENTITY)");
ABSL_FLAG(std::string, tls_ca, "",
          "PEM file of the CAs that sign ASO's and its clients' certificates (env ASO_TLS_CA)");
ABSL_FLAG(std::string, tls_cert, "", "PEM certificate (chain) of this service or client (env ASO_TLS_CERT)");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls_cert (env ASO_TLS_KEY)");
ABSL_FLAG(std::string, proxy, "",
          "Grid proxy (certificate, key and chain in one PEM file); default $X509_USER_PROXY or "
          "/tmp/x509up_u<uid> (env ASO_PROXY)");
ABSL_FLAG(std::string, token_file, "",
          "File holding a bearer token; default: $BEARER_TOKEN, $BEARER_TOKEN_FILE, "
          "$XDG_RUNTIME_DIR/bt_u<uid>, /tmp/bt_u<uid> (env ASO_TOKEN_FILE)");

namespace aso::auth {

ClientAuthConfig ClientAuthConfigFromFlags(bool discover, const std::string& default_identity) {
  ClientAuthConfig c;
  c.insecure = absl::GetFlag(FLAGS_insecure);
  c.identity = absl::GetFlag(FLAGS_identity);
  if (c.identity.empty()) c.identity = default_identity;
  c.ca_file = absl::GetFlag(FLAGS_tls_ca);
  c.cert_file = absl::GetFlag(FLAGS_tls_cert);
  c.key_file = absl::GetFlag(FLAGS_tls_key);
  c.proxy_file = absl::GetFlag(FLAGS_proxy);
  c.token_file = absl::GetFlag(FLAGS_token_file);
  if (discover && c.token_file.empty() && c.proxy_file.empty() && c.cert_file.empty()) {
    if (auto token = DiscoverBearerToken()) {
      c.token = *token;
    } else if (auto proxy = DiscoverProxyFile()) {
      c.proxy_file = *proxy;
    }
  }
  return c;
}

absl::StatusOr<std::shared_ptr<ClientAuth>> ClientAuthFromFlags(bool discover,
                                                                const std::string& default_identity) {
  return ClientAuth::Create(ClientAuthConfigFromFlags(discover, default_identity));
}

}  // namespace aso::auth
