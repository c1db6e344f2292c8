#include "services/fts_adapter/user_fts3_clients.h"

namespace aso::fts_adapter {

UserFts3Clients::UserFts3Clients(backend::Fts3Config base, UserProxies& proxies)
    : base_(std::move(base)), proxies_(proxies) {}

absl::StatusOr<const backend::TransferBackend*> UserFts3Clients::For(const std::string& user) {
  // Checked at every use: a proxy that expired since the client was made is not presented.
  auto proxy = proxies_.FileFor(user);
  if (!proxy.ok()) return proxy.status();
  absl::MutexLock lock(&mu_);
  auto& client = clients_[user];
  if (client == nullptr) {
    backend::Fts3Config config = base_;
    config.cert_file = *proxy;  // the proxy file holds the certificate, its key and the chain
    config.key_file.clear();
    config.bearer_token.clear();
    client = std::make_unique<backend::Fts3Client>(std::move(config));
  }
  return client.get();
}

}  // namespace aso::fts_adapter
