#include "services/monitoring/monitoring_service.h"

#include "absl/strings/str_cat.h"
#include "libs/server/grpc_status.h"

namespace aso::monitoring {

grpc::Status MonitoringService::GetSiteStats(grpc::ServerContext* ctx, const v1::GetSiteStatsRequest* request,
                                             v1::GetSiteStatsResponse* response) {
  if (auto p = auth::Authorize(auth_, *ctx, "GetSiteStats"); !p.ok()) return server::ToGrpcStatus(p.status());
  for (auto& s : stats_.SiteStats(request->site())) *response->add_sites() = std::move(s);
  if (!request->site().empty() && response->sites().empty()) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND, "no transfers involve site " + request->site());
  }
  return grpc::Status::OK;
}

grpc::Status MonitoringService::GetLinkStats(grpc::ServerContext* ctx, const v1::GetLinkStatsRequest* request,
                                             v1::GetLinkStatsResponse* response) {
  if (auto p = auth::Authorize(auth_, *ctx, "GetLinkStats"); !p.ok()) return server::ToGrpcStatus(p.status());
  for (auto& l : stats_.LinkStats(request->source_site(), request->destination_site())) {
    *response->add_links() = std::move(l);
  }
  return grpc::Status::OK;
}

grpc::Status MonitoringService::GetUserStats(grpc::ServerContext* ctx, const v1::GetUserStatsRequest* request,
                                             v1::GetUserStatsResponse* response) {
  if (auto p = auth::Authorize(auth_, *ctx, "GetUserStats"); !p.ok()) return server::ToGrpcStatus(p.status());
  if (request->limit() < 0 || request->limit() > 10000) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        absl::StrCat("limit must be 0 (the default, 20) to 10000, got ", request->limit()));
  }
  int64_t others = 0;
  for (auto& u : stats_.UserStats(request->user(), request->limit() == 0 ? 20 : request->limit(), &others)) {
    *response->add_users() = std::move(u);
  }
  response->set_other_users(others);
  return grpc::Status::OK;
}

}  // namespace aso::monitoring
