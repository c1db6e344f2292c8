#include "services/ingest/ingest_service.h"

#include "absl/strings/str_cat.h"
#include "libs/common/logging.h"
#include "libs/server/grpc_status.h"

namespace aso::ingest {
namespace cv1 = aso::common::v1;
using server::ToGrpcStatus;

namespace {
std::string CodeLabel(absl::StatusCode code) { return absl::StatusCodeToString(code); }
}  // namespace

IngestService::IngestService(db::TransferRepository& transfers, db::SiteRepository& sites, Clock& clock,
                             SubmissionLimits limits, metrics::Metrics& metrics)
    : transfers_(transfers),
      sites_(sites),
      clock_(clock),
      limits_(limits),
      files_accepted_(metrics.AddCounter("aso_ingest_files_accepted_total",
                                         "Files accepted by SubmitTransfers, new or repeated.", {"result"})),
      submissions_refused_(metrics.AddCounter("aso_ingest_submissions_refused_total",
                                              "SubmitTransfers calls refused, by status code.", {"code"})) {}

grpc::Status IngestService::SubmitTransfers(grpc::ServerContext*, const v1::SubmitTransfersRequest* request,
                                            v1::SubmitTransfersResponse* response) {
  auto refuse = [&](const absl::Status& s) {
    submissions_refused_.Inc({CodeLabel(s.code())});
    ASO_LOG(INFO, "refused submission task=", request->task_id(), " user=", request->user(),
            " files=", request->files_size(), ": ", s.message());
    return ToGrpcStatus(s);
  };
  auto sites = sites_.List();
  if (!sites.ok()) return refuse(sites.status());
  SubmissionValidator validator(std::move(*sites), limits_);
  auto batch = validator.Validate(*request);
  if (!batch.ok()) return refuse(batch.status());
  auto result = transfers_.InsertBatch(*batch, clock_.Now());
  if (!result.ok()) return refuse(result.status());
  for (int64_t id : result->ids) response->add_transfer_ids(id);
  response->set_created(result->created);
  files_accepted_.Inc({"created"}, result->created);
  files_accepted_.Inc({"repeated"}, static_cast<double>(result->ids.size()) - result->created);
  ASO_LOG(INFO, "accepted task=", request->task_id(), " user=", request->user(),
          " files=", result->ids.size(), " new=", result->created);
  return grpc::Status::OK;
}

grpc::Status IngestService::GetTransfer(grpc::ServerContext*, const v1::GetTransferRequest* request,
                                        cv1::Transfer* response) {
  if (request->id() <= 0) return ToGrpcStatus(absl::InvalidArgumentError("id must be positive"));
  auto t = transfers_.Get(request->id(), clock_.Now());
  if (!t.ok()) return ToGrpcStatus(t.status());
  *response = std::move(*t);
  return grpc::Status::OK;
}

grpc::Status IngestService::ListTransfers(grpc::ServerContext*, const v1::ListTransfersRequest* request,
                                          v1::ListTransfersResponse* response) {
  int page_size = request->page_size() == 0 ? 100 : request->page_size();
  if (page_size < 0 || page_size > 1000) {
    return ToGrpcStatus(absl::InvalidArgumentError("page_size must be 1..1000"));
  }
  db::TransferFilter filter;
  filter.task_id = request->task_id();
  filter.user = request->user();
  filter.site = request->site();
  for (int s : request->states()) {
    if (s <= cv1::TRANSFER_STATE_UNSPECIFIED || !cv1::TransferState_IsValid(s)) {
      return ToGrpcStatus(absl::InvalidArgumentError(absl::StrCat("states: invalid value ", s)));
    }
    filter.states.push_back(static_cast<cv1::TransferState>(s));
  }
  auto page = transfers_.List(filter, page_size, request->page_token(), clock_.Now());
  if (!page.ok()) return ToGrpcStatus(page.status());
  for (auto& t : page->transfers) *response->add_transfers() = std::move(t);
  response->set_next_page_token(page->next_page_token);
  return grpc::Status::OK;
}

grpc::Status IngestService::GetTaskSummary(grpc::ServerContext*, const v1::GetTaskSummaryRequest* request,
                                           cv1::TaskSummary* response) {
  if (request->task_id().empty()) {
    return ToGrpcStatus(absl::InvalidArgumentError("task_id is required"));
  }
  auto summary = transfers_.Summarize(request->task_id());
  if (!summary.ok()) return ToGrpcStatus(summary.status());
  *response = std::move(*summary);
  return grpc::Status::OK;
}

grpc::Status IngestService::KillTransfers(grpc::ServerContext*, const v1::KillTransfersRequest* request,
                                          v1::KillTransfersResponse* response) {
  if (request->task_id().empty() && request->ids().empty()) {
    return ToGrpcStatus(absl::InvalidArgumentError("task_id or ids is required"));
  }
  for (int i = 0; i < request->ids_size(); ++i) {
    if (request->ids(i) <= 0) {
      return ToGrpcStatus(absl::InvalidArgumentError(absl::StrCat("ids[", i, "] must be positive")));
    }
  }
  if (request->ids_size() > limits_.max_files) {
    return ToGrpcStatus(absl::InvalidArgumentError(
        absl::StrCat("more than ", limits_.max_files, " ids; kill by task or in several calls")));
  }
  if (request->reason().size() > 1024) {
    return ToGrpcStatus(absl::InvalidArgumentError("reason is longer than 1024 characters"));
  }
  db::KillSelector selector;
  selector.task_id = request->task_id();
  selector.ids.assign(request->ids().begin(), request->ids().end());
  selector.user = request->user();
  const std::string reason = request->reason().empty() ? "killed on request" : request->reason();
  auto result = transfers_.Kill(selector, reason, clock_.Now());
  if (!result.ok()) return ToGrpcStatus(result.status());
  response->set_killed(result->killed);
  response->set_kill_requested(result->kill_requested);
  ASO_LOG(INFO, "kill task=", request->task_id(), " ids=", request->ids_size(), " user=", request->user(),
          ": ", result->killed, " killed, ", result->kill_requested, " being cancelled");
  return grpc::Status::OK;
}

}  // namespace aso::ingest
