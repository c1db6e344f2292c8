// The gRPC adapter of aso-scheduler: links with their load and limits, and the admin controls (limits,
// pause, site states, user shares, backend) with queue statistics. Thread-safe.
#ifndef ASO_SERVICES_SCHEDULER_SCHEDULER_SERVICE_H_
#define ASO_SERVICES_SCHEDULER_SCHEDULER_SERVICE_H_

#include "aso/scheduler/v1/scheduler.grpc.pb.h"
#include "libs/auth/authenticator.h"
#include "libs/common/clock.h"
#include "libs/db/scheduling_repository.h"
#include "services/scheduler/scheduler.h"

namespace aso::scheduler {

class SchedulerService final : public aso::scheduler::v1::Scheduler::Service {
 public:
  SchedulerService(db::SchedulingRepository& repo, Clock& clock, SchedulerConfig config,
                   const auth::Authenticator& auth)
      : repo_(repo), clock_(clock), config_(config), auth_(auth) {}

  grpc::Status ListLinks(grpc::ServerContext* ctx, const v1::ListLinksRequest* request,
                         v1::ListLinksResponse* response) override;
  grpc::Status SetLink(grpc::ServerContext* ctx, const v1::SetLinkRequest* request,
                       v1::Link* response) override;
  grpc::Status SetSiteState(grpc::ServerContext* ctx, const v1::SetSiteStateRequest* request,
                            v1::SetSiteStateResponse* response) override;
  grpc::Status SetUserShare(grpc::ServerContext* ctx, const v1::SetUserShareRequest* request,
                            v1::SetUserShareResponse* response) override;
  grpc::Status GetBackend(grpc::ServerContext* ctx, const v1::GetBackendRequest* request,
                          v1::Backend* response) override;
  grpc::Status SetBackend(grpc::ServerContext* ctx, const v1::SetBackendRequest* request,
                          v1::Backend* response) override;
  grpc::Status GetQueueStats(grpc::ServerContext* ctx, const v1::GetQueueStatsRequest* request,
                             v1::GetQueueStatsResponse* response) override;

 private:
  void FillLink(const db::LinkLoad& l, v1::Link* out) const;
  absl::Status FillBackend(v1::Backend* out);

  db::SchedulingRepository& repo_;
  Clock& clock_;
  SchedulerConfig config_;
  const auth::Authenticator& auth_;
};

}  // namespace aso::scheduler

#endif  // ASO_SERVICES_SCHEDULER_SCHEDULER_SERVICE_H_
