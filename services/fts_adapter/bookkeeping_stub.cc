#include "services/fts_adapter/bookkeeping_stub.h"

#include "libs/server/grpc_status.h"

namespace aso::fts_adapter {
namespace {

class GrpcBookkeepingStub final : public BookkeepingStub {
 public:
  GrpcBookkeepingStub(std::shared_ptr<auth::ClientAuth> auth, const std::string& target,
                      absl::Duration deadline)
      : auth_(std::move(auth)),
        stub_(aso::bookkeeping::v1::Bookkeeping::NewStub(auth_->Channel(target))),
        deadline_(deadline) {}

  absl::StatusOr<std::vector<absl::Status>> ReportOutcomes(
      const std::vector<aso::common::v1::FileOutcome>& outcomes) override {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(deadline_));
    auth_->Apply(ctx);
    aso::bookkeeping::v1::ReportOutcomesRequest request;
    for (const auto& o : outcomes) *request.add_outcomes() = o;
    aso::bookkeeping::v1::ReportOutcomesResponse response;
    grpc::Status s = stub_->ReportOutcomes(&ctx, request, &response);
    if (!s.ok()) return server::FromGrpcStatus(s);
    std::vector<absl::Status> per_outcome;
    for (size_t i = 0; i < outcomes.size(); ++i) {
      if (static_cast<int>(i) >= response.codes_size()) {
        per_outcome.push_back(absl::OkStatus());  // a server that answers only with `applied`
        continue;
      }
      per_outcome.push_back(
          absl::Status(static_cast<absl::StatusCode>(response.codes(i)),
                       i < static_cast<size_t>(response.errors_size()) ? response.errors(i) : ""));
    }
    return per_outcome;
  }

 private:
  std::shared_ptr<auth::ClientAuth> auth_;
  std::unique_ptr<aso::bookkeeping::v1::Bookkeeping::Stub> stub_;
  absl::Duration deadline_;
};

}  // namespace

std::unique_ptr<BookkeepingStub> MakeGrpcBookkeepingStub(std::shared_ptr<auth::ClientAuth> auth,
                                                         const std::string& target, absl::Duration deadline) {
  return std::make_unique<GrpcBookkeepingStub>(std::move(auth), target, deadline);
}

}  // namespace aso::fts_adapter
