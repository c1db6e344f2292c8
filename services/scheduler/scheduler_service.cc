#include "services/scheduler/scheduler_service.h"

#include <algorithm>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "libs/server/grpc_status.h"

namespace aso::scheduler {

grpc::Status SchedulerService::ListLinks(grpc::ServerContext* ctx, const v1::ListLinksRequest* request,
                                         v1::ListLinksResponse* response) {
  if (auto p = auth::Authorize(auth_, *ctx, "ListLinks"); !p.ok()) return server::ToGrpcStatus(p.status());
  const int page_size = request->page_size() == 0 ? 100 : request->page_size();
  if (page_size < 0 || page_size > 1000) {
    return server::ToGrpcStatus(absl::InvalidArgumentError("page_size must be 1..1000"));
  }
  auto links = repo_.ListLinks(clock_.Now());
  if (!links.ok()) return server::ToGrpcStatus(links.status());
  // Byte order, whatever the database's collation, so page tokens compare consistently.
  std::sort(links->begin(), links->end(), [](const auto& a, const auto& b) {
    return std::tie(a.source_site, a.destination_site) < std::tie(b.source_site, b.destination_site);
  });
  // The page token is "<source>\n<destination>" of the last link returned; site names have no newline.
  std::string last;
  for (const auto& l : *links) {
    const std::string key = absl::StrCat(l.source_site, "\n", l.destination_site);
    if (!request->page_token().empty() && key <= request->page_token()) continue;
    if (response->links_size() == page_size) {
      response->set_next_page_token(last);
      break;
    }
    last = key;
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
