#include "services/scheduler/adapter_stub.h"

#include "libs/server/grpc_status.h"

namespace aso::scheduler {
namespace {

class GrpcAdapterStub final : public AdapterStub {
 public:
  GrpcAdapterStub(std::shared_ptr<auth::ClientAuth> auth, const std::string& target, absl::Duration deadline)
      : auth_(std::move(auth)),
        channel_(auth_->Channel(target)),
        stub_(aso::fts_adapter::v1::FtsAdapter::NewStub(channel_)),
        deadline_(deadline) {}

  bool KnownUnreachable() override {
    return channel_->GetState(/*try_to_connect=*/true) == GRPC_CHANNEL_TRANSIENT_FAILURE;
  }

  absl::StatusOr<bool> SubmitJob(const aso::fts_adapter::v1::Job& job) override {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(deadline_));
    auth_->Apply(ctx);
    aso::fts_adapter::v1::SubmitJobRequest request;
    *request.mutable_job() = job;
    aso::fts_adapter::v1::SubmitJobResponse response;
    grpc::Status s = stub_->SubmitJob(&ctx, request, &response);
    if (!s.ok()) return server::FromGrpcStatus(s);
    return response.already_known();
  }

 private:
  std::shared_ptr<auth::ClientAuth> auth_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<aso::fts_adapter::v1::FtsAdapter::Stub> stub_;
  absl::Duration deadline_;
};

}  // namespace

std::unique_ptr<AdapterStub> MakeGrpcAdapterStub(std::shared_ptr<auth::ClientAuth> auth,
                                                 const std::string& target, absl::Duration deadline) {
  return std::make_unique<GrpcAdapterStub>(std::move(auth), target, deadline);
}

}  // namespace aso::scheduler
