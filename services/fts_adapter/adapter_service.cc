#include "services/fts_adapter/adapter_service.h"

#include "absl/strings/str_cat.h"
#include "libs/common/logging.h"
#include "libs/server/grpc_status.h"
#include "libs/transfer/url.h"

namespace aso::fts_adapter {
using server::ToGrpcStatus;

grpc::Status AdapterService::SubmitJob(grpc::ServerContext* ctx, const v1::SubmitJobRequest* request,
                                       v1::SubmitJobResponse* response) {
  if (auto p = auth::Authorize(auth_, *ctx, "SubmitJob", {auth::Role::kService}); !p.ok())
    return server::ToGrpcStatus(p.status());
  const v1::Job& job = request->job();
  if (job.job_id().empty()) return ToGrpcStatus(absl::InvalidArgumentError("job.job_id is required"));
  if (job.files().empty()) return ToGrpcStatus(absl::InvalidArgumentError("job.files is empty"));
  for (int i = 0; i < job.files_size(); ++i) {
    const auto& f = job.files(i);
    for (const auto* url : {&f.source_url(), &f.destination_url()}) {
      if (auto u = transfer::ParseStorageUrl(*url); !u.ok()) {
        return ToGrpcStatus(
            absl::InvalidArgumentError(absl::StrCat("job.files[", i, "]: ", u.status().message())));
      }
    }
    if (f.transfer_id() <= 0 || f.attempt() <= 0) {
      return ToGrpcStatus(absl::InvalidArgumentError(
          absl::StrCat("job.files[", i, "]: transfer_id and attempt must be positive")));
    }
  }
  const std::string& backend = router_.For(job.source_site(), job.destination_site());
  auto known = jobs_.InsertJob(job, backend, clock_.Now());
  if (!known.ok()) return ToGrpcStatus(known.status());
  response->set_job_id(job.job_id());
  response->set_already_known(*known);
  ASO_LOG(INFO, known.value() ? "re-acknowledged" : "accepted", " job=", job.job_id(),
          " files=", job.files_size(), " backend=", backend);
  return grpc::Status::OK;
}

grpc::Status AdapterService::GetJob(grpc::ServerContext* ctx, const v1::GetJobRequest* request,
                                    v1::Job* response) {
  if (auto p = auth::Authorize(auth_, *ctx, "GetJob", {auth::Role::kService, auth::Role::kAdmin}); !p.ok())
    return server::ToGrpcStatus(p.status());
  auto job = jobs_.GetJob(request->job_id());
  if (!job.ok()) return ToGrpcStatus(job.status());
  *response = std::move(*job);
  return grpc::Status::OK;
}

grpc::Status AdapterService::DeleteFiles(grpc::ServerContext* ctx, const v1::DeleteFilesRequest* request,
                                         v1::DeleteFilesResponse* response) {
  if (auto p = auth::Authorize(auth_, *ctx, "DeleteFiles", {auth::Role::kService, auth::Role::kAdmin});
      !p.ok())
    return server::ToGrpcStatus(p.status());
  if (request->urls_size() > kMaxDeletes) {
    return ToGrpcStatus(absl::InvalidArgumentError(
        absl::StrCat(request->urls_size(), " URLs exceed the limit of ", kMaxDeletes, " per call")));
  }
  for (int i = 0; i < request->urls_size(); ++i) {
    if (auto u = transfer::ParseStorageUrl(request->urls(i)); !u.ok()) {
      return ToGrpcStatus(absl::InvalidArgumentError(absl::StrCat("urls[", i, "]: ", u.status().message())));
    }
  }
  if (request->owners_size() != 0 && request->owners_size() != request->urls_size()) {
    return ToGrpcStatus(absl::InvalidArgumentError(absl::StrCat(
        request->owners_size(), " owners for ", request->urls_size(), " URLs: give one per URL, or none")));
  }
  absl::MutexLock lock(&storage_mu_);
  for (int i = 0; i < request->urls_size(); ++i) {
    const std::string& url = request->urls(i);
    const std::string owner = request->owners_size() > 0 ? request->owners(i) : "";
    // As the owner named (the site moves files with their owners' credentials), never with the service's
    // instead; no owner: with the service's own, named explicitly where owners' proxies are in use.
    absl::StatusOr<backend::StorageCredential> credential = service_credential_;
    if (!owner.empty()) {
      credential =
          user_credentials_ != nullptr
              ? user_credentials_->For(owner)
              : absl::FailedPreconditionError(
                    "this fts-adapter holds no credential key to delete as the file's owner (start it "
                    "with --user_credentials and --credential_key_file)");
    }
    const absl::Status s =
        credential.ok()
            ? storage_->Delete(url, *credential)
            : absl::FailedPreconditionError(absl::StrCat("not deleted: ", credential.status().message()));
    response->add_codes(static_cast<int32_t>(s.code()));
    response->add_errors(std::string(s.message()));
    ASO_LOG(INFO, "delete ", url, owner.empty() ? "" : absl::StrCat(" (owner ", owner, ")"), ": ",
            s.ok() ? "done" : s.ToString());
  }
  return grpc::Status::OK;
}

}  // namespace aso::fts_adapter
