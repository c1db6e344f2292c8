#include "services/monitoring/monitoring_service.h"

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

}  // namespace aso::monitoring
