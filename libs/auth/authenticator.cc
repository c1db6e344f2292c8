#include "libs/auth/authenticator.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "grpc/grpc_security_constants.h"
#include "libs/auth/credentials.h"
#include "libs/auth/internal/openssl_ptr.h"
#include "libs/auth/internal/x509_text.h"

namespace aso::auth {
namespace {

using internal::BioPtr;
using internal::GridDn;
using internal::ParsePemCertificates;
using internal::X509Ptr;

}  // namespace

struct Authenticator::TrustStore {
  X509_STORE* store = nullptr;
  ~TrustStore() { X509_STORE_free(store); }
};

Authenticator::~Authenticator() = default;

absl::StatusOr<std::string> GridDnOfPem(const std::string& pem_certificate) {
  auto certs = ParsePemCertificates(pem_certificate);
  if (certs.empty()) return absl::InvalidArgumentError("no PEM certificate");
  return GridDn(X509_get_subject_name(certs.front().get()));
}

absl::StatusOr<absl::flat_hash_map<std::string, std::string>> ParseGridmap(const std::string& text) {
  absl::flat_hash_map<std::string, std::string> out;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line.front() == '#') continue;
    const size_t close = line.size() > 1 && line.front() == '"' ? line.find('"', 1) : absl::string_view::npos;
    if (close == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("gridmap line ", line_number, ": expected \"<DN>\" username"));
    }
    std::string dn(line.substr(1, close - 1));
    absl::string_view user = absl::StripAsciiWhitespace(line.substr(close + 1));
    // A grid-mapfile may list several accounts; the first is the one used.
    user = user.substr(0, user.find_first_of(", \t"));
    if (dn.empty() || user.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("gridmap line ", line_number, ": expected \"<DN>\" username"));
    }
    out.emplace(std::move(dn), std::string(user));
  }
  return out;
}

absl::StatusOr<std::unique_ptr<Authenticator>> Authenticator::Create(const AuthConfig& config) {
  std::unique_ptr<Authenticator> a(new Authenticator());
  a->insecure_ = config.insecure;
  a->admins_.insert(config.admins.begin(), config.admins.end());
  a->services_.insert(config.services.begin(), config.services.end());
  if (!config.ca_file.empty()) {
    auto pem = ReadCredentialFile(config.ca_file, "CA file");
    if (!pem.ok()) return pem.status();
    auto cas = ParsePemCertificates(*pem);
    if (cas.empty())
      return absl::InvalidArgumentError(absl::StrCat("CA file ", config.ca_file, " has no PEM certificate"));
    a->trust_ = std::make_unique<TrustStore>();
    a->trust_->store = X509_STORE_new();
    for (auto& ca : cas) X509_STORE_add_cert(a->trust_->store, ca.get());
  }
  if (!config.gridmap_file.empty()) {
    auto text = ReadCredentialFile(config.gridmap_file, "gridmap file");
    if (!text.ok()) return text.status();
    auto map = ParseGridmap(*text);
    if (!map.ok()) return map.status();
    a->gridmap_ = std::move(*map);
  }
  if (config.jwt.has_value()) {
    auto jwt = JwtVerifier::Create(*config.jwt);
    if (!jwt.ok()) return jwt.status();
    a->jwt_ = std::move(*jwt);
  }
  return a;
}

Principal Authenticator::WithRole(Principal p) const {
  if (services_.contains(p.name)) {
    p.role = Role::kService;
  } else if (admins_.contains(p.name)) {
    p.role = Role::kAdmin;
  }
  return p;
}

absl::StatusOr<Principal> Authenticator::FromCertificateChain(const std::string& pem_chain) const {
  auto chain = ParsePemCertificates(pem_chain);
  if (chain.empty()) return absl::UnauthenticatedError("the client certificate could not be read");
  if (trust_ == nullptr)
    return absl::UnauthenticatedError("client certificates are not accepted here (no --tls_ca)");
  STACK_OF(X509)* untrusted = sk_X509_new_null();
  for (size_t i = 1; i < chain.size(); ++i) sk_X509_push(untrusted, chain[i].get());
  X509_STORE_CTX* ctx = X509_STORE_CTX_new();
  X509_STORE_CTX_init(ctx, trust_->store, chain.front().get(), untrusted);
  // Grid jobs authenticate with RFC 3820 proxies of their owner's certificate.
  X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_ALLOW_PROXY_CERTS);
  const bool ok = X509_verify_cert(ctx) == 1;
  const int error = X509_STORE_CTX_get_error(ctx);
  // The identity is the end-entity certificate's: walking the verified chain from the leaf towards the
  // CA, the first certificate that is not a proxy.
  std::string dn;
  if (ok) {
    STACK_OF(X509)* verified = X509_STORE_CTX_get1_chain(ctx);
    for (int i = 0; verified != nullptr && i < sk_X509_num(verified); ++i) {
      X509* cert = sk_X509_value(verified, i);
      if ((X509_get_extension_flags(cert) & EXFLAG_PROXY) == 0) {
        dn = GridDn(X509_get_subject_name(cert));
        break;
      }
    }
    sk_X509_pop_free(verified, X509_free);
  }
  X509_STORE_CTX_free(ctx);
  sk_X509_free(untrusted);
  ERR_clear_error();
  if (!ok) {
    return absl::UnauthenticatedError(
        absl::StrCat("the client certificate does not verify: ", X509_verify_cert_error_string(error)));
  }
  if (dn.empty()) return absl::UnauthenticatedError("the certificate chain holds only proxies");
  auto it = gridmap_.find(dn);
  if (it == gridmap_.end()) {
    return absl::PermissionDeniedError(
        absl::StrCat("certificate DN ", dn, " is not mapped to a user (gridmap)"));
  }
  return WithRole(Principal{it->second, Role::kUser, "x509", dn});
}

absl::StatusOr<Principal> Authenticator::Authenticate(std::optional<std::string> authorization,
                                                      const std::string& pem_chain,
                                                      std::optional<std::string> insecure_user,
                                                      absl::Time now) const {
  if (authorization.has_value()) {
    absl::string_view value = *authorization;
    if (!absl::ConsumePrefix(&value, "Bearer ") && !absl::ConsumePrefix(&value, "bearer ")) {
      return absl::UnauthenticatedError("the authorization header is not a Bearer token");
    }
    if (jwt_ == nullptr)
      return absl::UnauthenticatedError("bearer tokens are not accepted here (no --jwt_keys)");
    auto identity = jwt_->Verify(absl::StripAsciiWhitespace(value), now);
    if (!identity.ok()) return identity.status();
    return WithRole(Principal{identity->username, Role::kUser, "token",
                              absl::StrCat(identity->issuer, " ", identity->subject)});
  }
  if (!pem_chain.empty()) return FromCertificateChain(pem_chain);
  if (insecure_ && insecure_user.has_value() && !insecure_user->empty()) {
    return WithRole(Principal{*insecure_user, Role::kUser, "insecure", ""});
  }
  return absl::UnauthenticatedError(
      insecure_ ? "no identity: send the x-aso-user header (insecure development mode)"
                : "no identity: present a client certificate (or grid proxy) or a bearer token");
}

absl::StatusOr<JwtIdentity> Authenticator::VerifyDelegatedToken(absl::string_view token,
                                                                absl::Time now) const {
  if (jwt_ == nullptr) {
    return absl::FailedPreconditionError("this ASO trusts no token issuer (aso-ingest has no --jwt_keys)");
  }
  return jwt_->VerifyAnyAudience(absl::StripAsciiWhitespace(token), now);
}

absl::StatusOr<Principal> Authorize(const Authenticator& authenticator, const grpc::ServerContext& context,
                                    absl::string_view rpc, std::initializer_list<Role> roles) {
  auto principal = authenticator.Authenticate(context);
  if (!principal.ok()) return principal.status();
  if (roles.size() > 0) {
    if (absl::Status s = RequireRole(*principal, roles, rpc); !s.ok()) return s;
  }
  return principal;
}

absl::StatusOr<Principal> Authenticator::Authenticate(const grpc::ServerContext& context) const {
  std::optional<std::string> authorization, insecure_user;
  const auto& md = context.client_metadata();
  if (auto it = md.find("authorization"); it != md.end())
    authorization.emplace(it->second.data(), it->second.size());
  if (auto it = md.find(kInsecureUserHeader); it != md.end()) {
    insecure_user.emplace(it->second.data(), it->second.size());
  }
  // The peer's certificate first, then whatever else of its chain the TLS layer reports (on a server
  // that is the rest of the chain the client sent, e.g. the certificate that signed a proxy).
  std::string chain;
  if (auto auth = context.auth_context(); auth != nullptr) {
    std::string leaf;
    for (const auto& value : auth->FindPropertyValues(GRPC_X509_PEM_CERT_PROPERTY_NAME)) {
      leaf.append(value.data(), value.size());
    }
    chain = leaf;
    for (const auto& value : auth->FindPropertyValues(GRPC_X509_PEM_CERT_CHAIN_PROPERTY_NAME)) {
      std::string rest(value.data(), value.size());
      if (!leaf.empty()) {
        if (size_t at = rest.find(leaf); at != std::string::npos) rest.erase(at, leaf.size());
      }
      chain += rest;
    }
  }
  return Authenticate(std::move(authorization), chain, std::move(insecure_user), absl::Now());
}

}  // namespace aso::auth
