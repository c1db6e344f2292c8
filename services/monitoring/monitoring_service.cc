#include "services/monitoring/monitoring_service.h"

namespace aso::monitoring {

grpc::Status MonitoringService::GetSiteStats(grpc::ServerContext*, const v1::GetSiteStatsRequest* request,
                                             v1::GetSiteStatsResponse* response) {
  for (auto& s : stats_.SiteStats(request->site())) *response->add_sites() = std::move(s);
  if (!request->site().empty() && response->sites().empty()) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND, "no transfers involve site " + request->site());
  }
  return grpc::Status::OK;
}

}  // namespace aso::monitoring
