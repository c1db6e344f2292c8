// FTS3 clients that act as the files' owners (--user_credentials with an FTS3 backend): one client per user
// and endpoint, authenticated with the user's delegated proxy (UserProxies' file), so FTS3 records the job
// under the user's DN and, before the first submission, receives a proxy delegated from the user's
// (Fts3Client::EnsureDelegation: FTS3's own delegation id for that DN). Thread-safe.
#ifndef ASO_SERVICES_FTS_ADAPTER_USER_FTS3_CLIENTS_H_
#define ASO_SERVICES_FTS_ADAPTER_USER_FTS3_CLIENTS_H_

#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "libs/backend/fts3_client.h"
#include "services/fts_adapter/user_proxies.h"

namespace aso::fts_adapter {

class UserFts3Clients {
 public:
  // `base`: the endpoint, CAs and timeouts; its credential is replaced by each user's. `proxies` not owned.
  UserFts3Clients(backend::Fts3Config base, UserProxies& proxies);

  // The client of `user`: FAILED_PRECONDITION when the user has no valid delegated proxy (the reason in
  // the message), as UserProxies::FileFor.
  absl::StatusOr<const backend::TransferBackend*> For(const std::string& user);

 private:
  const backend::Fts3Config base_;
  UserProxies& proxies_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::unique_ptr<backend::Fts3Client>> clients_ ABSL_GUARDED_BY(mu_);
};

}  // namespace aso::fts_adapter

#endif  // ASO_SERVICES_FTS_ADAPTER_USER_FTS3_CLIENTS_H_
