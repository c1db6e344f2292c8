#include "services/fts_adapter/user_fts3_clients.h"

namespace aso::fts_adapter {

UserFts3Clients::UserFts3Clients(backend::Fts3Config base, UserCredentials& credentials)
    : base_(std::move(base)), credentials_(credentials) {}

absl::StatusOr<std::shared_ptr<const backend::TransferBackend>> UserFts3Clients::For(
    const std::string& user) {
  // Checked at every use: a credential that expired since the client was made is not presented.
  // FTS3 runs the job later, and longer: an hour, as the scheduler requires of a credential it dispatches
  // for (FTS3 renews a delegated proxy within the user's, never a token).
  auto credential = credentials_.For(user, absl::Hours(1));
  if (!credential.ok()) return credential.status();
  absl::MutexLock lock(&mu_);
  Client& c = clients_[user];
  if (c.client == nullptr || c.credential.proxy_file != credential->proxy_file ||
      c.credential.bearer_token != credential->bearer_token) {
    backend::Fts3Config config = base_;
    // A proxy file holds the certificate, its key and the chain.
    config.cert_file = credential->proxy_file;
    config.key_file.clear();
    config.bearer_token = credential->bearer_token;
    config.per_file_tokens = !credential->bearer_token.empty();  // the owner's token for both ends
    c.credential = *credential;
    c.client = std::make_shared<const backend::Fts3Client>(std::move(config));
  }
  return std::shared_ptr<const backend::TransferBackend>(c.client);
}

}  // namespace aso::fts_adapter
