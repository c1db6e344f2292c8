// aso.ingest.v1.Credentials, served by aso-ingest: delegation of users' grid proxies into ASO and the
// listing of what is stored (docs/credentials.md). The private keys are made here and stored sealed with
// the credential key; no credential byte is logged or returned. Thread-safe.
#ifndef ASO_SERVICES_INGEST_CREDENTIAL_SERVICE_H_
#define ASO_SERVICES_INGEST_CREDENTIAL_SERVICE_H_

#include <optional>

#include "aso/ingest/v1/credentials.grpc.pb.h"
#include "libs/auth/authenticator.h"
#include "libs/auth/credential_cipher.h"
#include "libs/common/clock.h"
#include "libs/db/credential_repository.h"

namespace aso::ingest {

struct CredentialLimits {
  absl::Duration request_lifetime = absl::Hours(1);  // a delegation must be completed within this
  absl::Duration min_remaining = absl::Minutes(10);  // a proxy with less left is refused
  size_t max_chain_bytes = 64 * 1024;
  size_t max_token_bytes = 16 * 1024;  // each of the access and refresh tokens
};

class CredentialService final : public aso::ingest::v1::Credentials::Service {
 public:
  // Without a cipher (no credential key configured) every call answers FAILED_PRECONDITION.
  CredentialService(db::CredentialRepository& repo, std::optional<auth::CredentialCipher> cipher,
                    Clock& clock, const auth::Authenticator& auth, CredentialLimits limits = {});

  grpc::Status GetDelegationRequest(grpc::ServerContext* ctx, const v1::GetDelegationRequestRequest* request,
                                    v1::DelegationRequest* response) override;
  grpc::Status PutDelegatedProxy(grpc::ServerContext* ctx, const v1::PutDelegatedProxyRequest* request,
                                 v1::Credential* response) override;
  grpc::Status PutBearerToken(grpc::ServerContext* ctx, const v1::PutBearerTokenRequest* request,
                              v1::Credential* response) override;
  grpc::Status ListCredentials(grpc::ServerContext* ctx, const v1::ListCredentialsRequest* request,
                               v1::ListCredentialsResponse* response) override;

 private:
  db::CredentialRepository& repo_;
  std::optional<auth::CredentialCipher> cipher_;
  Clock& clock_;
  const auth::Authenticator& auth_;
  CredentialLimits limits_;
};

}  // namespace aso::ingest

#endif  // ASO_SERVICES_INGEST_CREDENTIAL_SERVICE_H_
