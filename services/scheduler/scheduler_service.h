// The gRPC adapter of aso-scheduler: shows links with their load and limits. Thread-safe.
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

 private:
  db::SchedulingRepository& repo_;
  Clock& clock_;
  SchedulerConfig config_;
  const auth::Authenticator& auth_;
};

}  // namespace aso::scheduler

#endif  // ASO_SERVICES_SCHEDULER_SCHEDULER_SERVICE_H_
