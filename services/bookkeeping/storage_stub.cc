#include "services/bookkeeping/storage_stub.h"

#include "aso/fts_adapter/v1/fts_adapter.grpc.pb.h"
#include "libs/server/grpc_status.h"

namespace aso::bookkeeping {
namespace {

class GrpcStorageStub final : public StorageStub {
 public:
  GrpcStorageStub(std::shared_ptr<auth::ClientAuth> auth, const std::string& target, absl::Duration deadline)
      : auth_(std::move(auth)),
        stub_(aso::fts_adapter::v1::FtsAdapter::NewStub(auth_->Channel(target))),
        deadline_(deadline) {}

  absl::StatusOr<std::vector<absl::Status>> DeleteFiles(const std::vector<std::string>& urls,
                                                        const std::vector<std::string>& owners) override {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(deadline_));
    auth_->Apply(ctx);
    aso::fts_adapter::v1::DeleteFilesRequest request;
    for (const auto& url : urls) request.add_urls(url);
    for (const auto& owner : owners) request.add_owners(owner);
    aso::fts_adapter::v1::DeleteFilesResponse response;
    grpc::Status s = stub_->DeleteFiles(&ctx, request, &response);
    if (!s.ok()) return server::FromGrpcStatus(s);
    if (response.codes_size() != request.urls_size() || response.errors_size() != request.urls_size()) {
      return absl::InternalError("the adapter answered DeleteFiles with the wrong number of results");
    }
    std::vector<absl::Status> out;
    for (int i = 0; i < response.codes_size(); ++i) {
      out.emplace_back(static_cast<absl::StatusCode>(response.codes(i)), response.errors(i));
    }
    return out;
  }

 private:
  std::shared_ptr<auth::ClientAuth> auth_;
  std::unique_ptr<aso::fts_adapter::v1::FtsAdapter::Stub> stub_;
  absl::Duration deadline_;
};

}  // namespace

std::unique_ptr<StorageStub> MakeGrpcStorageStub(std::shared_ptr<auth::ClientAuth> auth,
                                                 const std::string& adapter, absl::Duration deadline) {
  return std::make_unique<GrpcStorageStub>(std::move(auth), adapter, deadline);
}

}  // namespace aso::bookkeeping
