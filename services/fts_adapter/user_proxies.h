// Users' delegated proxies as files for their copies (--user_credentials): each user's stored proxy
// (user_credentials, sealed) opened with the credential key and written to a private folder, mode 0600, the
// way FTS3 keeps the proxies delegated to it. A file is rewritten when the user delegates again and removed
// when this object ends. Thread-safe: the copy workers share one.
#ifndef ASO_SERVICES_FTS_ADAPTER_USER_PROXIES_H_
#define ASO_SERVICES_FTS_ADAPTER_USER_PROXIES_H_

#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "libs/auth/credential_cipher.h"
#include "libs/common/clock.h"
#include "libs/db/credential_repository.h"

namespace aso::fts_adapter {

class UserProxies {
 public:
  // `dir` is created (mode 0700) if missing. A user's stored credential is read again at most every
  // `recheck` (a fresh delegation is used within that time).
  UserProxies(db::CredentialRepository& repo, auth::CredentialCipher cipher, std::string dir, Clock& clock,
              absl::Duration recheck = absl::Seconds(30));
  ~UserProxies();  // removes the files
  UserProxies(const UserProxies&) = delete;
  UserProxies& operator=(const UserProxies&) = delete;

  // Creates the folder: INTERNAL naming it when that fails.
  absl::Status Init();

  // The path of `user`'s proxy file, valid for at least `min_remaining`. FAILED_PRECONDITION with the
  // reason ("alice has not delegated a credential to ASO", "alice's delegated credential expired at ...")
  // when there is none that is; UNAVAILABLE when the database cannot be read; DATA_LOSS when the stored
  // value does not open with the key. Messages never hold credential bytes.
  absl::StatusOr<std::string> FileFor(const std::string& user,
                                      absl::Duration min_remaining = absl::Minutes(5));

 private:
  struct Entry {
    std::string path;
    absl::Time updated;    // of the stored credential the file was written from
    absl::Time not_after;  // its expiry
    absl::Time checked;    // when the database was last read for it
  };
  db::CredentialRepository& repo_;
  const auth::CredentialCipher cipher_;
  const std::string dir_;
  Clock& clock_;
  const absl::Duration recheck_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, Entry> entries_ ABSL_GUARDED_BY(mu_);
};

}  // namespace aso::fts_adapter

#endif  // ASO_SERVICES_FTS_ADAPTER_USER_PROXIES_H_
