// The gRPC adapter of aso-fts-adapter: accepts bulk jobs (idempotent on the job id) into the adapter's
// own table under the backend that serves their link, from which copy workers (gfal2) or a backend
// runner (FTS3) run them. Thread-safe.
#ifndef ASO_SERVICES_FTS_ADAPTER_ADAPTER_SERVICE_H_
#define ASO_SERVICES_FTS_ADAPTER_ADAPTER_SERVICE_H_

#include <memory>
#include <string>

#include "absl/synchronization/mutex.h"
#include "aso/fts_adapter/v1/fts_adapter.grpc.pb.h"
#include "libs/auth/authenticator.h"
#include "libs/backend/copier.h"
#include "libs/common/clock.h"
#include "libs/db/backend_job_repository.h"
#include "services/fts_adapter/backend_routes.h"
#include "services/fts_adapter/user_credentials.h"

namespace aso::fts_adapter {

class AdapterService final : public aso::fts_adapter::v1::FtsAdapter::Service {
 public:
  // `storage` deletes files (DeleteFiles); it is used under a lock, one deletion at a time. With
  // `user_credentials` (--user_credentials; not owned), a file whose owner the request names is deleted
  // with that owner's credential, the others with `service_credential` (this service's own, named
  // explicitly since owners' proxies are in use).
  AdapterService(db::BackendJobRepository& jobs, Clock& clock, const BackendRouter& router,
                 const auth::Authenticator& auth, std::unique_ptr<backend::Copier> storage,
                 UserCredentials* user_credentials = nullptr,
                 backend::StorageCredential service_credential = {})
      : jobs_(jobs),
        clock_(clock),
        router_(router),
        auth_(auth),
        storage_(std::move(storage)),
        user_credentials_(user_credentials),
        service_credential_(std::move(service_credential)) {}

  grpc::Status SubmitJob(grpc::ServerContext* ctx, const v1::SubmitJobRequest* request,
                         v1::SubmitJobResponse* response) override;
  grpc::Status GetJob(grpc::ServerContext* ctx, const v1::GetJobRequest* request, v1::Job* response) override;
  grpc::Status DeleteFiles(grpc::ServerContext* ctx, const v1::DeleteFilesRequest* request,
                           v1::DeleteFilesResponse* response) override;

  static constexpr int kMaxDeletes = 1000;

 private:
  db::BackendJobRepository& jobs_;
  Clock& clock_;
  const BackendRouter& router_;
  const auth::Authenticator& auth_;
  absl::Mutex storage_mu_;
  std::unique_ptr<backend::Copier> storage_ ABSL_GUARDED_BY(storage_mu_);
  UserCredentials* const user_credentials_;
  const backend::StorageCredential service_credential_;
};

}  // namespace aso::fts_adapter

#endif  // ASO_SERVICES_FTS_ADAPTER_ADAPTER_SERVICE_H_
