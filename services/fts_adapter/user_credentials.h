// Users' delegated credentials for moving their files (--user_credentials): a user's stored X.509 proxy
// (user_credentials, sealed) opened with the credential key and written to a private folder, mode 0600, the
// way FTS3 keeps the proxies delegated to it; or, for a user who delegated a bearer token instead, that
// token, renewed at its issuer's token endpoint (OAuth2 refresh_token grant) when it runs short and the
// user gave ASO a refresh token. A proxy file is rewritten when the user delegates again and removed when
// this object ends. Thread-safe: the copy workers, FTS3 runners and deletions share one.
#ifndef ASO_SERVICES_FTS_ADAPTER_USER_CREDENTIALS_H_
#define ASO_SERVICES_FTS_ADAPTER_USER_CREDENTIALS_H_

#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "libs/auth/credential_cipher.h"
#include "libs/backend/copier.h"
#include "libs/common/clock.h"
#include "libs/db/credential_repository.h"

namespace aso::fts_adapter {

struct UserCredentialsConfig {
  std::string dir = "";                              // the proxy files' folder (created, mode 0700)
  absl::Duration recheck = absl::Seconds(30);        // a stored credential is read again at most this often
  std::string token_ca_file = "";                    // CAs of the token endpoints ("" = the system's)
  absl::Duration token_timeout = absl::Seconds(10);  // one request to a token endpoint
  // After a renewal failed, that user's token is not renewed again for this long (the failure is
  // answered meanwhile), so an issuer that is down or slow is not asked at every copy.
  absl::Duration renew_backoff = absl::Minutes(5);
};

class UserCredentials {
 public:
  UserCredentials(db::CredentialRepository& repo, auth::CredentialCipher cipher, UserCredentialsConfig config,
                  Clock& clock);
  ~UserCredentials();  // removes the proxy files
  UserCredentials(const UserCredentials&) = delete;
  UserCredentials& operator=(const UserCredentials&) = delete;

  // Creates the folder (mode 0700); one that exists must be a directory of this process's user, not a link.
  // INTERNAL naming it otherwise.
  absl::Status Init();

  // `user`'s credential, valid for at least `min_remaining` (a copy passes its timeout, an FTS3 submission
  // an hour: neither gfal2 nor FTS3 renews a token): their proxy when they delegated one that lasts,
  // else their bearer token (renewed first when it would not last and it can be). FAILED_PRECONDITION with
  // the reason ("alice has not delegated a credential to ASO", "alice's delegated credential expired at
  // ...", "the issuer refused to renew alice's token: ...") when there is none; UNAVAILABLE when the
  // database or the token endpoint cannot be reached; DATA_LOSS when a stored value does not open with the
  // key. Messages never hold credential bytes.
  absl::StatusOr<backend::StorageCredential> For(const std::string& user,
                                                 absl::Duration min_remaining = absl::Minutes(5));

 private:
  struct Entry {
    std::string path;                               // proxy file, or "" for a token
    std::string token;                              // bearer token (opened), or ""
    absl::Time updated;                             // of the stored credential the entry was made from
    absl::Time not_after;                           // its expiry
    absl::Time checked;                             // when the database was last read for it
    absl::Status renew_failure = absl::OkStatus();  // the last renewal's failure, answered until renew_retry
    absl::Time renew_retry = absl::InfinitePast();
    std::string unsaved = "";  // a renewed credential (sealed) not yet stored: stored at the next use
  };
  // The user's stored credential of `kind`, read again when due (mu_ held).
  absl::StatusOr<Entry*> Load(const std::string& user, const std::string& kind, absl::Time now,
                              absl::Duration min_remaining) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Gets a new access token with the stored refresh token and stores it (mu_ held).
  absl::StatusOr<Entry*> Renew(const std::string& user, const db::StoredCredential& stored, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  db::CredentialRepository& repo_;
  const auth::CredentialCipher cipher_;
  const UserCredentialsConfig config_;
  Clock& clock_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, Entry> proxies_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, Entry> tokens_ ABSL_GUARDED_BY(mu_);
};

}  // namespace aso::fts_adapter

#endif  // ASO_SERVICES_FTS_ADAPTER_USER_CREDENTIALS_H_
