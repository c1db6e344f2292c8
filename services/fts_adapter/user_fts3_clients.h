// FTS3 clients that act as the files' owners (--user_credentials with an FTS3 backend): one client per user
// and endpoint, authenticated with the user's delegated proxy (UserCredentials' file), so FTS3 records the
// job under the user's DN and, before the first submission, receives a proxy delegated from the user's
// (Fts3Client::EnsureDelegation: FTS3's own delegation id for that DN); or, for a user who delegated a bearer
// token, with that token (a client made again when the token is renewed), whose files then carry it as
// their source and destination tokens. Thread-safe.
#ifndef ASO_SERVICES_FTS_ADAPTER_USER_FTS3_CLIENTS_H_
#define ASO_SERVICES_FTS_ADAPTER_USER_FTS3_CLIENTS_H_

#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "libs/backend/fts3_client.h"
#include "services/fts_adapter/user_credentials.h"

namespace aso::fts_adapter {

class UserFts3Clients {
 public:
  // `base`: the endpoint, CAs and timeouts; its credential is replaced by each user's. `credentials` not
  // owned.
  UserFts3Clients(backend::Fts3Config base, UserCredentials& credentials);

  // The client of `user`: FAILED_PRECONDITION when the user has no valid delegated credential (the reason
  // in the message), as UserCredentials::For.
  // Shared: a client replaced after a renewal stays alive for the callers that hold it.
  absl::StatusOr<std::shared_ptr<const backend::TransferBackend>> For(const std::string& user);

 private:
  const backend::Fts3Config base_;
  UserCredentials& credentials_;
  absl::Mutex mu_;
  struct Client {
    backend::StorageCredential credential;  // what it was made with
    std::shared_ptr<const backend::Fts3Client> client;
  };
  absl::flat_hash_map<std::string, Client> clients_ ABSL_GUARDED_BY(mu_);
};

}  // namespace aso::fts_adapter

#endif  // ASO_SERVICES_FTS_ADAPTER_USER_FTS3_CLIENTS_H_
