#include "libs/auth/credentials.h"

#include <arpa/inet.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "libs/auth/authenticator.h"
#include "openssl/asn1.h"
#include "openssl/bio.h"
#include "openssl/pem.h"
#include "openssl/x509.h"

namespace aso::auth {
namespace {

// Splits a PEM bundle into its private key and its certificates (in order).
void SplitPem(const std::string& pem, std::string& key, std::string& certs) {
  size_t pos = 0;
  while ((pos = pem.find("-----BEGIN ", pos)) != std::string::npos) {
    const size_t label_end = pem.find("-----", pos + 11);
    if (label_end == std::string::npos) break;
    const std::string label = pem.substr(pos + 11, label_end - pos - 11);
    const std::string end_marker = absl::StrCat("-----END ", label, "-----");
    const size_t end = pem.find(end_marker, label_end);
    if (end == std::string::npos) break;
    const std::string block = pem.substr(pos, end + end_marker.size() - pos) + "\n";
    if (absl::StrContains(label, "PRIVATE KEY")) {
      key += block;
    } else if (label == "CERTIFICATE") {
      certs += block;
    }
    pos = end + end_marker.size();
  }
}

}  // namespace

absl::StatusOr<std::string> ReadCredentialFile(const std::string& path, absl::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(what, " ", path, " cannot be read"));
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

bool IsLoopbackAddress(const std::string& listen) {
  if (absl::StartsWith(listen, "unix:")) return true;
  absl::string_view host = listen;
  if (size_t colon = host.rfind(':'); colon != absl::string_view::npos) host = host.substr(0, colon);
  host = absl::StripPrefix(absl::StripSuffix(host, "]"), "[");
  if (host == "localhost" || host == "::1") return true;
  in_addr v4{};
  return inet_pton(AF_INET, std::string(host).c_str(), &v4) == 1 && (ntohl(v4.s_addr) >> 24) == 127;
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(const ServerTlsConfig& config,
                                                                               const std::string& listen) {
  if (config.insecure) {
    if (!IsLoopbackAddress(listen)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--insecure serves plaintext without authentication and is "
                       "for development on loopback only; refusing to listen on ",
                       listen, " (give --tls_cert/--tls_key instead)"));
    }
    return grpc::InsecureServerCredentials();
  }
  if (config.cert_file.empty() || config.key_file.empty()) {
    return absl::InvalidArgumentError("--tls_cert and --tls_key are required (or --insecure on loopback)");
  }
  auto cert = ReadCredentialFile(config.cert_file, "certificate file");
  if (!cert.ok()) return cert.status();
  auto key = ReadCredentialFile(config.key_file, "key file");
  if (!key.ok()) return key.status();
  grpc::SslServerCredentialsOptions options;
  options.pem_key_cert_pairs.push_back({*key, *cert});
  if (!config.ca_file.empty()) {
    auto ca = ReadCredentialFile(config.ca_file, "CA file");
    if (!ca.ok()) return ca.status();
    options.pem_root_certs = *ca;
    // gRPC asks for the certificate; the Authenticator verifies the chain on each call, because grid
    // proxies (RFC 3820) need a verification gRPC does not do.
    options.client_certificate_request = config.require_client_cert
                                             ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_BUT_DONT_VERIFY
                                             : GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_BUT_DONT_VERIFY;
  } else {
    options.client_certificate_request = GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE;
  }
  return grpc::SslServerCredentials(options);
}

absl::StatusOr<std::shared_ptr<ClientAuth>> ClientAuth::Create(const ClientAuthConfig& config) {
  auto auth = std::make_shared<ClientAuth>();
  if (config.insecure) {
    // Development mode: the identity is the x-aso-user header; a token found lying around is not sent.
    auth->credentials_ = grpc::InsecureChannelCredentials();
    auth->identity_ = config.identity;
    return auth;
  }
  std::string token = config.token;
  if (token.empty() && !config.token_file.empty()) {
    auto text = ReadCredentialFile(config.token_file, "token file");
    if (!text.ok()) return text.status();
    token = std::string(absl::StripAsciiWhitespace(*text));
    if (token.empty())
      return absl::InvalidArgumentError(absl::StrCat("token file ", config.token_file, " is empty"));
  }
  grpc::SslCredentialsOptions options;
  if (!config.ca_file.empty()) {
    auto ca = ReadCredentialFile(config.ca_file, "CA file");
    if (!ca.ok()) return ca.status();
    options.pem_root_certs = *ca;
  }
  if (!token.empty()) {
    auth->authorization_ = absl::StrCat("Bearer ", absl::StripAsciiWhitespace(token));
  } else if (!config.proxy_file.empty()) {
    auto pem = ReadCredentialFile(config.proxy_file, "proxy file");
    if (!pem.ok()) return pem.status();
    SplitPem(*pem, options.pem_private_key, options.pem_cert_chain);
    if (options.pem_private_key.empty() || options.pem_cert_chain.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("proxy file ", config.proxy_file, " must hold a certificate and its private key"));
    }
  } else if (!config.cert_file.empty()) {
    auto cert = ReadCredentialFile(config.cert_file, "certificate file");
    if (!cert.ok()) return cert.status();
    auto key = ReadCredentialFile(config.key_file.empty() ? config.cert_file : config.key_file, "key file");
    if (!key.ok()) return key.status();
    std::string unused;
    SplitPem(*cert, unused, options.pem_cert_chain);
    SplitPem(*key, options.pem_private_key, unused);
  }
  auth->credentials_ = grpc::SslCredentials(options);
  return auth;
}

std::shared_ptr<grpc::Channel> ClientAuth::Channel(const std::string& target) const {
  return grpc::CreateChannel(target, credentials_);
}

void ClientAuth::Apply(grpc::ClientContext& context) const {
  if (!authorization_.empty()) context.AddMetadata("authorization", authorization_);
  if (!identity_.empty()) context.AddMetadata(kInsecureUserHeader, identity_);
}

std::optional<std::string> DiscoverBearerToken() {
  auto trimmed = [](std::string s) { return std::string(absl::StripAsciiWhitespace(s)); };
  if (const char* t = std::getenv("BEARER_TOKEN"); t != nullptr && *t != '\0') return trimmed(t);
  std::vector<std::string> files;
  if (const char* f = std::getenv("BEARER_TOKEN_FILE"); f != nullptr && *f != '\0') files.push_back(f);
  const std::string name = absl::StrCat("bt_u", getuid());
  if (const char* dir = std::getenv("XDG_RUNTIME_DIR"); dir != nullptr && *dir != '\0') {
    files.push_back(absl::StrCat(dir, "/", name));
  }
  files.push_back(absl::StrCat("/tmp/", name));
  for (const auto& f : files) {
    auto text = ReadCredentialFile(f, "token file");
    if (text.ok() && !trimmed(*text).empty()) return trimmed(*text);
  }
  return std::nullopt;
}

std::optional<std::string> DiscoverProxyFile() {
  std::string path;
  if (const char* p = std::getenv("X509_USER_PROXY"); p != nullptr && *p != '\0') {
    path = p;
  } else {
    path = absl::StrCat("/tmp/x509up_u", getuid());
  }
  std::error_code ec;
  if (std::filesystem::exists(path, ec)) return path;
  return std::nullopt;
}

absl::StatusOr<absl::Time> CertificateNotAfter(const std::string& pem_file) {
  auto pem = ReadCredentialFile(pem_file, "certificate");
  if (!pem.ok()) return pem.status();
  BIO* bio = BIO_new_mem_buf(pem->data(), static_cast<int>(pem->size()));
  X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (cert == nullptr) return absl::InvalidArgumentError(absl::StrCat(pem_file, " holds no PEM certificate"));
  // The seconds from now to notAfter, added to now: no calendar arithmetic of our own.
  int days = 0, seconds = 0;
  const bool ok = ASN1_TIME_diff(&days, &seconds, nullptr, X509_get0_notAfter(cert)) == 1;
  X509_free(cert);
  if (!ok)
    return absl::InvalidArgumentError(absl::StrCat(pem_file, ": the certificate's notAfter is unreadable"));
  return absl::Now() + absl::Hours(24) * days + absl::Seconds(seconds);
}

}  // namespace aso::auth
