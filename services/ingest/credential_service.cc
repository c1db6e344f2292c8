#include "services/ingest/credential_service.h"

#include <openssl/rand.h>

#include <nlohmann/json.hpp>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "libs/auth/delegation.h"
#include "libs/common/logging.h"
#include "libs/db/pg_util.h"
#include "libs/server/grpc_status.h"

namespace aso::ingest {
using server::ToGrpcStatus;
namespace {
constexpr std::initializer_list<auth::Role> kPublicRoles = {auth::Role::kUser, auth::Role::kAdmin};
constexpr char kProxy[] = "x509_proxy";
constexpr char kToken[] = "bearer_token";

std::string NewDelegationId() {
  unsigned char bytes[16];
  RAND_bytes(bytes, sizeof bytes);
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(bytes), sizeof bytes));
}

void ToProto(const db::StoredCredential& c, v1::Credential* out) {
  out->set_user(c.username);
  out->set_kind(c.kind);
  out->set_subject(c.subject);
  db::SetTimestamp(db::EpochSeconds(c.not_after), out->mutable_not_after());
  db::SetTimestamp(db::EpochSeconds(c.updated), out->mutable_updated());
  out->set_renewable(c.refreshable);
}
}  // namespace

CredentialService::CredentialService(db::CredentialRepository& repo,
                                     std::optional<auth::CredentialCipher> cipher, Clock& clock,
                                     const auth::Authenticator& auth, CredentialLimits limits)
    : repo_(repo), cipher_(std::move(cipher)), clock_(clock), auth_(auth), limits_(limits) {}

grpc::Status CredentialService::GetDelegationRequest(grpc::ServerContext* ctx,
                                                     const v1::GetDelegationRequestRequest*,
                                                     v1::DelegationRequest* response) {
  auto principal = auth::Authorize(auth_, *ctx, "GetDelegationRequest", kPublicRoles);
  if (!principal.ok()) return ToGrpcStatus(principal.status());
  if (!cipher_) {
    return ToGrpcStatus(absl::FailedPreconditionError(
        "credential delegation is not enabled on this ASO (aso-ingest has no --credential_key_file)"));
  }
  auto request = auth::NewDelegationRequest();
  if (!request.ok()) return ToGrpcStatus(request.status());
  const std::string id = NewDelegationId();
  absl::Status s = repo_.AddRequest(id, principal->name, cipher_->Seal(request->key_pem, principal->name),
                                    clock_.Now(), limits_.request_lifetime);
  if (!s.ok()) return ToGrpcStatus(s);
  response->set_delegation_id(id);
  response->set_csr_pem(request->csr_pem);
  return grpc::Status::OK;
}

grpc::Status CredentialService::PutDelegatedProxy(grpc::ServerContext* ctx,
                                                  const v1::PutDelegatedProxyRequest* request,
                                                  v1::Credential* response) {
  auto principal = auth::Authorize(auth_, *ctx, "PutDelegatedProxy", kPublicRoles);
  if (!principal.ok()) return ToGrpcStatus(principal.status());
  if (!cipher_) {
    return ToGrpcStatus(absl::FailedPreconditionError(
        "credential delegation is not enabled on this ASO (aso-ingest has no --credential_key_file)"));
  }
  if (request->delegation_id().empty() || request->chain_pem().empty())
    return ToGrpcStatus(absl::InvalidArgumentError("delegation_id and chain_pem are required"));
  if (request->chain_pem().size() > limits_.max_chain_bytes) {
    return ToGrpcStatus(absl::InvalidArgumentError(absl::StrCat(
        "chain_pem is ", request->chain_pem().size(), " bytes; at most ", limits_.max_chain_bytes)));
  }
  const absl::Time now = clock_.Now();
  auto sealed_key =
      repo_.GetRequest(request->delegation_id(), principal->name, now, limits_.request_lifetime);
  if (!sealed_key.ok()) return ToGrpcStatus(sealed_key.status());
  auto key = cipher_->Open(*sealed_key, principal->name);
  if (!key.ok()) return ToGrpcStatus(key.status());
  auto proxy = auth::AssembleDelegatedProxy(request->chain_pem(), *key);
  if (!proxy.ok()) return ToGrpcStatus(proxy.status());
  // The chain must verify against ASO's CAs and be the caller's own.
  auto owner = auth_.VerifyChain(request->chain_pem());
  if (!owner.ok()) {
    return ToGrpcStatus(absl::InvalidArgumentError(
        absl::StrCat("the delegated proxy was refused: ", owner.status().message())));
  }
  if (owner->name != principal->name) {
    return ToGrpcStatus(
        absl::PermissionDeniedError(absl::StrCat("the delegated proxy belongs to ", owner->name, " (",
                                                 owner->subject, "), not to ", principal->name)));
  }
  if (proxy->not_after - now < limits_.min_remaining) {
    return ToGrpcStatus(absl::InvalidArgumentError(absl::StrCat(
        "the delegated proxy expires at ", absl::FormatTime(proxy->not_after, absl::UTCTimeZone()),
        ": less than ", absl::FormatDuration(limits_.min_remaining), " left")));
  }
  db::StoredCredential c;
  c.username = principal->name;
  c.kind = kProxy;
  c.subject = proxy->subject;
  c.not_after = proxy->not_after;
  c.updated = now;
  c.sealed = cipher_->Seal(proxy->proxy_pem, principal->name);
  if (absl::Status s = repo_.CompleteDelegation(request->delegation_id(), c, now); !s.ok())
    return ToGrpcStatus(s);
  ASO_LOG(INFO, "stored the delegated proxy of ", c.username, " (", c.subject, "), valid until ",
          absl::FormatTime(c.not_after, absl::UTCTimeZone()));
  ToProto(c, response);
  return grpc::Status::OK;
}

grpc::Status CredentialService::PutBearerToken(grpc::ServerContext* ctx,
                                               const v1::PutBearerTokenRequest* request,
                                               v1::Credential* response) {
  auto principal = auth::Authorize(auth_, *ctx, "PutBearerToken", kPublicRoles);
  if (!principal.ok()) return ToGrpcStatus(principal.status());
  if (!cipher_) {
    return ToGrpcStatus(absl::FailedPreconditionError(
        "credential delegation is not enabled on this ASO (aso-ingest has no --credential_key_file)"));
  }
  if (request->access_token().empty())
    return ToGrpcStatus(absl::InvalidArgumentError("access_token is required"));
  for (const auto& [name, value] :
       {std::pair<const char*, const std::string*>{"access_token", &request->access_token()},
        {"refresh_token", &request->refresh_token()}}) {
    if (value->size() > limits_.max_token_bytes) {
      return ToGrpcStatus(absl::InvalidArgumentError(
          absl::StrCat(name, " is ", value->size(), " bytes; at most ", limits_.max_token_bytes)));
    }
  }
  const bool renewable = !request->refresh_token().empty();
  if (renewable &&
      (!absl::StartsWith(request->token_endpoint(), "https://") || request->client_id().empty())) {
    return ToGrpcStatus(
        absl::InvalidArgumentError("a refresh_token needs the issuer's token_endpoint (https://...) and the "
                                   "client_id it was issued to"));
  }
  const absl::Time now = clock_.Now();
  auto identity = auth_.VerifyDelegatedToken(request->access_token(), now);
  if (absl::IsFailedPrecondition(identity.status())) return ToGrpcStatus(identity.status());
  if (!identity.ok()) {
    return ToGrpcStatus(
        absl::InvalidArgumentError(absl::StrCat("the token was refused: ", identity.status().message())));
  }
  if (identity->username != principal->name) {
    return ToGrpcStatus(absl::PermissionDeniedError(
        absl::StrCat("the token belongs to ", identity->username, ", not to ", principal->name)));
  }
  // The refresh token goes to the issuer only: its token endpoint is on the issuer's host.
  auto host = [](absl::string_view url) {
    absl::ConsumePrefix(&url, "https://");
    return std::string(url.substr(0, url.find('/')));
  };
  if (renewable && host(request->token_endpoint()) != host(identity->issuer)) {
    return ToGrpcStatus(absl::InvalidArgumentError(
        absl::StrCat("the token_endpoint ", request->token_endpoint(),
                     " is not on the host of the token's issuer ", identity->issuer)));
  }
  if (!renewable && identity->expires - now < limits_.min_remaining) {
    return ToGrpcStatus(absl::InvalidArgumentError(absl::StrCat(
        "the token expires at ", absl::FormatTime(identity->expires, absl::UTCTimeZone()), ": less than ",
        absl::FormatDuration(limits_.min_remaining), " left, and no refresh_token to renew it")));
  }
  nlohmann::json value = {{"access_token", request->access_token()}};
  if (renewable) {
    value["refresh_token"] = request->refresh_token();
    value["token_endpoint"] = request->token_endpoint();
    value["client_id"] = request->client_id();
    if (!request->client_secret().empty()) value["client_secret"] = request->client_secret();
  }
  db::StoredCredential c;
  c.username = principal->name;
  c.kind = kToken;
  c.subject = absl::StrCat(identity->issuer, " ", identity->subject);
  c.not_after = identity->expires;
  c.updated = now;
  c.refreshable = renewable;
  c.sealed = cipher_->Seal(value.dump(), principal->name);
  if (absl::Status s = repo_.Put(c, now); !s.ok()) return ToGrpcStatus(s);
  ASO_LOG(INFO, "stored the bearer token of ", c.username, " (", c.subject, "), valid until ",
          absl::FormatTime(c.not_after, absl::UTCTimeZone()), renewable ? ", renewable" : "");
  ToProto(c, response);
  return grpc::Status::OK;
}

grpc::Status CredentialService::ListCredentials(grpc::ServerContext* ctx,
                                                const v1::ListCredentialsRequest* request,
                                                v1::ListCredentialsResponse* response) {
  auto principal = auth::Authorize(auth_, *ctx, "ListCredentials", kPublicRoles);
  if (!principal.ok()) return ToGrpcStatus(principal.status());
  std::string user = request->user();
  if (principal->role != auth::Role::kAdmin) {
    if (!user.empty() && user != principal->name) {
      return ToGrpcStatus(absl::PermissionDeniedError(
          absl::StrCat(principal->name, " may list only their own credentials, not ", user, "'s")));
    }
    user = principal->name;
  }
  if (request->expiring_within_seconds() < 0)
    return ToGrpcStatus(absl::InvalidArgumentError("expiring_within_seconds must not be negative"));
  std::optional<absl::Time> before;
  if (request->expiring_within_seconds() > 0)
    before = clock_.Now() + absl::Seconds(request->expiring_within_seconds());
  auto list = repo_.List(user, before);
  if (!list.ok()) return ToGrpcStatus(list.status());
  for (const auto& c : *list) ToProto(c, response->add_credentials());
  return grpc::Status::OK;
}

}  // namespace aso::ingest
