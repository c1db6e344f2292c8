// Transport security for ASO's gRPC: server credentials (TLS, client certificates requested and verified
// per call by the Authenticator; or the insecure development mode, refused off loopback) and the client
// side (TLS with a certificate, a grid proxy or a bearer token; or insecure with an x-aso-user name).
#ifndef ASO_LIBS_AUTH_CREDENTIALS_H_
#define ASO_LIBS_AUTH_CREDENTIALS_H_

#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"

namespace aso::auth {

struct ServerTlsConfig {
  bool insecure = false;  // plaintext: only on a loopback address
  std::string cert_file;  // PEM server certificate (chain)
  std::string key_file;   // PEM private key
  std::string ca_file;    // PEM CAs of client certificates; requests them when set
  bool require_client_cert = false;
};

// INVALID_ARGUMENT when insecure mode is asked for on a non-loopback address or TLS files are missing.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(const ServerTlsConfig& config,
                                                                               const std::string& listen);

// Whether `listen` (host:port) binds only the loopback interface (or a unix socket).
bool IsLoopbackAddress(const std::string& listen);

struct ClientAuthConfig {
  bool insecure = false;
  std::string identity;    // insecure mode: the name sent in x-aso-user
  std::string ca_file;     // CAs that sign the servers' certificates
  std::string cert_file;   // client certificate (chain) ...
  std::string key_file;    // ... and its key
  std::string proxy_file;  // or a grid proxy: certificate, key and chain in one PEM file
  std::string token;       // or a bearer token
  std::string token_file;  // or the file holding one (read by Create: NOT_FOUND naming it if unreadable)
};

// What a client attaches to its channel and calls. Thread-safe.
class ClientAuth {
 public:
  // INVALID_ARGUMENT / NOT_FOUND naming a missing or unreadable file.
  static absl::StatusOr<std::shared_ptr<ClientAuth>> Create(const ClientAuthConfig& config);

  std::shared_ptr<grpc::Channel> Channel(const std::string& target) const;
  // Adds the per-call credentials (bearer token or x-aso-user) to a call's context.
  void Apply(grpc::ClientContext& context) const;

 private:
  std::shared_ptr<grpc::ChannelCredentials> credentials_;
  std::string authorization_;  // "Bearer ..." or empty
  std::string identity_;       // insecure mode
};

// When the first certificate of a PEM file (a certificate chain or a grid proxy) stops being valid.
// NOT_FOUND when the file cannot be read, INVALID_ARGUMENT when it holds no certificate.
absl::StatusOr<absl::Time> CertificateNotAfter(const std::string& pem_file);

// The whole of a credential file (certificate, key, CA bundle, gridmap); NOT_FOUND naming `what` and
// the path when it cannot be read.
absl::StatusOr<std::string> ReadCredentialFile(const std::string& path, absl::string_view what);

// A bearer token found the WLCG way: $BEARER_TOKEN, the file $BEARER_TOKEN_FILE, $XDG_RUNTIME_DIR/bt_u<uid>
// or /tmp/bt_u<uid>.
std::optional<std::string> DiscoverBearerToken();

// The grid proxy of this user: $X509_USER_PROXY or /tmp/x509up_u<uid>, if the file exists.
std::optional<std::string> DiscoverProxyFile();

}  // namespace aso::auth

#endif  // ASO_LIBS_AUTH_CREDENTIALS_H_
