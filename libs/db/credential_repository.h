// Users' delegated credentials (schema 15): delegations in progress and each user's stored proxy. Values
// arrive and leave sealed (libs/auth/credential_cipher.h); this layer never sees a credential in clear.
// Thread-safe.
#ifndef ASO_LIBS_DB_CREDENTIAL_REPOSITORY_H_
#define ASO_LIBS_DB_CREDENTIAL_REPOSITORY_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "libs/db/database.h"

namespace aso::db {

struct StoredCredential {
  std::string username;
  std::string kind;  // "x509_proxy" or "bearer_token"
  std::string subject;
  absl::Time not_after;
  absl::Time updated;
  std::string sealed;        // filled by Get only
  bool refreshable = false;  // a bearer token ASO can renew at its issuer (not_after: the current one's)
};

class CredentialRepository {
 public:
  virtual ~CredentialRepository() = default;
  // Records a delegation in progress; drops the ones older than `max_age`.
  virtual absl::Status AddRequest(const std::string& delegation_id, const std::string& username,
                                  const std::string& sealed_key, absl::Time now, absl::Duration max_age) = 0;
  // The sealed key of `username`'s delegation `delegation_id`: NOT_FOUND if there is none (unknown,
  // another user's, completed or expired).
  virtual absl::StatusOr<std::string> GetRequest(const std::string& delegation_id,
                                                 const std::string& username, absl::Time now,
                                                 absl::Duration max_age) = 0;
  // Stores the credential (replacing the user's previous one of that kind) and ends the delegation, in
  // one transaction.
  virtual absl::Status CompleteDelegation(const std::string& delegation_id,
                                          const StoredCredential& credential, absl::Time now) = 0;
  // Stores a credential that needs no delegation request (a bearer token, or a renewed one), replacing
  // the user's previous one of that kind.
  virtual absl::Status Put(const StoredCredential& credential, absl::Time now) = 0;
  // Credentials without their content, by user name; `user` empty = everyone's; only those expiring
  // before `expiring_before` when set.
  virtual absl::StatusOr<std::vector<StoredCredential>> List(const std::string& user,
                                                             std::optional<absl::Time> expiring_before) = 0;
  // One credential with its sealed content: NOT_FOUND if the user has none of that kind.
  virtual absl::StatusOr<StoredCredential> Get(const std::string& username, const std::string& kind) = 0;
};

class PgCredentialRepository final : public CredentialRepository {
 public:
  explicit PgCredentialRepository(Database& db) : db_(db) {}
  absl::Status AddRequest(const std::string& delegation_id, const std::string& username,
                          const std::string& sealed_key, absl::Time now, absl::Duration max_age) override;
  absl::StatusOr<std::string> GetRequest(const std::string& delegation_id, const std::string& username,
                                         absl::Time now, absl::Duration max_age) override;
  absl::Status CompleteDelegation(const std::string& delegation_id, const StoredCredential& credential,
                                  absl::Time now) override;
  absl::Status Put(const StoredCredential& credential, absl::Time now) override;
  absl::StatusOr<std::vector<StoredCredential>> List(const std::string& user,
                                                     std::optional<absl::Time> expiring_before) override;
  absl::StatusOr<StoredCredential> Get(const std::string& username, const std::string& kind) override;

 private:
  Database& db_;
};

}  // namespace aso::db

#endif  // ASO_LIBS_DB_CREDENTIAL_REPOSITORY_H_
