#include "services/fts_adapter/bookkeeping_stub.h"

#include "libs/server/grpc_status.h"

namespace aso::fts_adapter {
namespace {

class GrpcBookkeepingStub final : public BookkeepingStub {
 public:
  GrpcBookkeepingStub(std::shared_ptr<grpc::Channel> channel, absl::Duration deadline)
      : stub_(aso::bookkeeping::v1::Bookkeeping::NewStub(std::move(channel))), deadline_(deadline) {}

  absl::Status ReportOutcomes(const std::vector<aso::common::v1::FileOutcome>& outcomes) override {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(deadline_));
    aso::bookkeeping::v1::ReportOutcomesRequest request;
    for (const auto& o : outcomes) *request.add_outcomes() = o;
    aso::bookkeeping::v1::ReportOutcomesResponse response;
    return server::FromGrpcStatus(stub_->ReportOutcomes(&ctx, request, &response));
  }

 private:
  std::unique_ptr<aso::bookkeeping::v1::Bookkeeping::Stub> stub_;
  absl::Duration deadline_;
};

}  // namespace

std::unique_ptr<BookkeepingStub> MakeGrpcBookkeepingStub(std::shared_ptr<grpc::Channel> channel,
                                                         absl::Duration deadline) {
  return std::make_unique<GrpcBookkeepingStub>(std::move(channel), deadline);
}

}  // namespace aso::fts_adapter
