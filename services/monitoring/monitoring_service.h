// The gRPC adapter of aso-monitoring: serves the figures FleetStats keeps. Thread-safe.
#ifndef ASO_SERVICES_MONITORING_MONITORING_SERVICE_H_
#define ASO_SERVICES_MONITORING_MONITORING_SERVICE_H_

#include "aso/monitoring/v1/monitoring.grpc.pb.h"
#include "libs/auth/authenticator.h"
#include "services/monitoring/fleet_stats.h"

namespace aso::monitoring {

class MonitoringService final : public aso::monitoring::v1::Monitoring::Service {
 public:
  MonitoringService(FleetStats& stats, const auth::Authenticator& auth) : stats_(stats), auth_(auth) {}
  grpc::Status GetSiteStats(grpc::ServerContext* ctx, const v1::GetSiteStatsRequest* request,
                            v1::GetSiteStatsResponse* response) override;
  grpc::Status GetLinkStats(grpc::ServerContext* ctx, const v1::GetLinkStatsRequest* request,
                            v1::GetLinkStatsResponse* response) override;
  grpc::Status GetUserStats(grpc::ServerContext* ctx, const v1::GetUserStatsRequest* request,
                            v1::GetUserStatsResponse* response) override;

 private:
  FleetStats& stats_;
  const auth::Authenticator& auth_;
};

}  // namespace aso::monitoring

#endif  // ASO_SERVICES_MONITORING_MONITORING_SERVICE_H_
