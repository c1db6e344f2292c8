#include "services/scheduler/scheduler_service.h"

#include "libs/server/grpc_status.h"

namespace aso::scheduler {

grpc::Status SchedulerService::ListLinks(grpc::ServerContext*, const v1::ListLinksRequest*,
                                         v1::ListLinksResponse* response) {
  auto links = repo_.ListLinks(clock_.Now());
  if (!links.ok()) return server::ToGrpcStatus(links.status());
  for (const auto& l : *links) {
    auto* out = response->add_links();
    out->set_source_site(l.source_site);
    out->set_destination_site(l.destination_site);
    out->set_queued(l.queued);
    out->set_active(l.active);
    out->set_max_active(config_.link_max_active);
  }
  return grpc::Status::OK;
}

}  // namespace aso::scheduler
