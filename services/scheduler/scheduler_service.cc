#include "services/scheduler/scheduler_service.h"

#include <algorithm>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "libs/db/pg_util.h"
#include "libs/server/grpc_status.h"
#include "libs/transfer/state.h"

namespace aso::scheduler {
namespace {

using auth::Role;

std::string LinkToken(const std::string& source, const std::string& destination) {
  return absl::StrCat(source, "\n", destination);
}

}  // namespace

void SchedulerService::FillLink(const db::LinkLoad& l, v1::Link* out) const {
  // The limits the scheduler applies (see Scheduler::LinkLimit), computed from the same configuration.
  const int ceiling = l.max_active > 0 ? l.max_active : config_.link_max_active;
  out->set_source_site(l.source_site);
  out->set_destination_site(l.destination_site);
  out->set_queued(l.queued);
  out->set_queued_ready(l.queued_ready);
  out->set_active(l.active);
  out->set_ceiling(ceiling);
  out->set_max_active(config_.optimize ? EffectiveLimit(l, ceiling, config_.optimizer) : ceiling);
  out->set_paused(l.paused);
  out->set_success_rate(l.success_rate);
  out->set_throughput_bytes_per_second(l.throughput);
  out->set_optimizer_reason(l.optimizer_reason);
  out->set_source_site_state(
      transfer::SiteStateFromName(l.source_state).value_or(aso::common::v1::SITE_STATE_UNSPECIFIED));
  out->set_destination_site_state(
      transfer::SiteStateFromName(l.destination_state).value_or(aso::common::v1::SITE_STATE_UNSPECIFIED));
  out->set_waiting_reason(l.waiting_reason);
}

grpc::Status SchedulerService::ListLinks(grpc::ServerContext* ctx, const v1::ListLinksRequest* request,
                                         v1::ListLinksResponse* response) {
  if (auto p = auth::Authorize(auth_, *ctx, "ListLinks", {Role::kAdmin, Role::kService}); !p.ok()) {
    return server::ToGrpcStatus(p.status());
  }
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
    const std::string key = LinkToken(l.source_site, l.destination_site);
    if (!request->page_token().empty() && key <= request->page_token()) continue;
    if (response->links_size() == page_size) {
      response->set_next_page_token(last);
      break;
    }
    last = key;
    FillLink(l, response->add_links());
  }
  return grpc::Status::OK;
}

grpc::Status SchedulerService::SetLink(grpc::ServerContext* ctx, const v1::SetLinkRequest* request,
                                       v1::Link* response) {
  if (auto p = auth::Authorize(auth_, *ctx, "SetLink", {Role::kAdmin}); !p.ok()) {
    return server::ToGrpcStatus(p.status());
  }
  if (request->source_site().empty() || request->destination_site().empty()) {
    return server::ToGrpcStatus(absl::InvalidArgumentError("source_site and destination_site are required"));
  }
  if (request->has_max_active() && (request->max_active() < 0 || request->max_active() > 100000)) {
    return server::ToGrpcStatus(absl::InvalidArgumentError(absl::StrCat(
        "max_active must be 0..100000 (0 = the scheduler's default), got ", request->max_active())));
  }
  std::optional<int> max_active;
  std::optional<bool> paused;
  if (request->has_max_active()) max_active = request->max_active();
  if (request->has_paused()) paused = request->paused();
  if (auto s = repo_.SetLink(request->source_site(), request->destination_site(), max_active, paused,
                             clock_.Now());
      !s.ok()) {
    return server::ToGrpcStatus(s);
  }
  auto links = repo_.ListLinks(clock_.Now());
  if (!links.ok()) return server::ToGrpcStatus(links.status());
  for (const auto& l : *links) {
    if (l.source_site == request->source_site() && l.destination_site == request->destination_site()) {
      FillLink(l, response);
    }
  }
  return grpc::Status::OK;
}

grpc::Status SchedulerService::SetSiteState(grpc::ServerContext* ctx, const v1::SetSiteStateRequest* request,
                                            v1::SetSiteStateResponse*) {
  if (auto p = auth::Authorize(auth_, *ctx, "SetSiteState", {Role::kAdmin}); !p.ok()) {
    return server::ToGrpcStatus(p.status());
  }
  if (request->site().empty()) return server::ToGrpcStatus(absl::InvalidArgumentError("site is required"));
  if (request->state() != aso::common::v1::SITE_STATE_ENABLED &&
      request->state() != aso::common::v1::SITE_STATE_DRAINING &&
      request->state() != aso::common::v1::SITE_STATE_BANNED) {
    return server::ToGrpcStatus(absl::InvalidArgumentError(
        absl::StrCat("state must be SITE_STATE_ENABLED, SITE_STATE_DRAINING or SITE_STATE_BANNED, got ",
                     static_cast<int>(request->state()))));
  }
  return server::ToGrpcStatus(repo_.SetSiteState(
      request->site(), std::string(transfer::SiteStateName(request->state())), clock_.Now()));
}

grpc::Status SchedulerService::SetUserShare(grpc::ServerContext* ctx, const v1::SetUserShareRequest* request,
                                            v1::SetUserShareResponse*) {
  if (auto p = auth::Authorize(auth_, *ctx, "SetUserShare", {Role::kAdmin}); !p.ok()) {
    return server::ToGrpcStatus(p.status());
  }
  if (request->user().empty()) return server::ToGrpcStatus(absl::InvalidArgumentError("user is required"));
  return server::ToGrpcStatus(repo_.SetUserWeight(request->user(), request->weight(), clock_.Now()));
}

absl::Status SchedulerService::FillBackend(v1::Backend* out) {
  auto b = repo_.GetBackend(config_.backend, /*count_active=*/true);
  if (!b.ok()) return b.status();
  out->set_name(b->name);
  out->set_max_active(b->max_active > 0 ? b->max_active : config_.backend_max_active);
  out->set_available(b->available);
  out->set_last_error(b->last_error);
  if (b->unavailable_since != absl::InfinitePast()) {
    db::SetTimestamp(absl::ToDoubleSeconds(b->unavailable_since - absl::UnixEpoch()),
                     out->mutable_unavailable_since());
  }
  out->set_active(b->active);
  return absl::OkStatus();
}

grpc::Status SchedulerService::GetBackend(grpc::ServerContext* ctx, const v1::GetBackendRequest*,
                                          v1::Backend* response) {
  if (auto p = auth::Authorize(auth_, *ctx, "GetBackend", {Role::kAdmin, Role::kService}); !p.ok()) {
    return server::ToGrpcStatus(p.status());
  }
  return server::ToGrpcStatus(FillBackend(response));
}

grpc::Status SchedulerService::SetBackend(grpc::ServerContext* ctx, const v1::SetBackendRequest* request,
                                          v1::Backend* response) {
  if (auto p = auth::Authorize(auth_, *ctx, "SetBackend", {Role::kAdmin}); !p.ok()) {
    return server::ToGrpcStatus(p.status());
  }
  if (request->max_active() < 0) {
    return server::ToGrpcStatus(absl::InvalidArgumentError("max_active must be >= 0 (0 = the default)"));
  }
  if (auto s = repo_.SetBackendLimit(config_.backend, request->max_active(), clock_.Now()); !s.ok()) {
    return server::ToGrpcStatus(s);
  }
  return server::ToGrpcStatus(FillBackend(response));
}

grpc::Status SchedulerService::GetQueueStats(grpc::ServerContext* ctx,
                                             const v1::GetQueueStatsRequest* request,
                                             v1::GetQueueStatsResponse* response) {
  if (auto p = auth::Authorize(auth_, *ctx, "GetQueueStats", {Role::kAdmin, Role::kService}); !p.ok()) {
    return server::ToGrpcStatus(p.status());
  }
  const int limit = request->limit() == 0 ? 100 : request->limit();
  if (limit < 1 || limit > 10000) {
    return server::ToGrpcStatus(absl::InvalidArgumentError("limit must be 1..10000"));
  }
  db::QueueGrouping by = db::QueueGrouping::kLink;
  switch (request->group_by()) {
    case v1::QUEUE_GROUPING_UNSPECIFIED:
    case v1::QUEUE_GROUPING_LINK:
      break;
    case v1::QUEUE_GROUPING_SOURCE_SITE:
      by = db::QueueGrouping::kSourceSite;
      break;
    case v1::QUEUE_GROUPING_DESTINATION_SITE:
      by = db::QueueGrouping::kDestinationSite;
      break;
    case v1::QUEUE_GROUPING_USER:
      by = db::QueueGrouping::kUser;
      break;
    default:
      return server::ToGrpcStatus(absl::InvalidArgumentError("unknown group_by"));
  }
  auto groups = repo_.QueueStats(by, clock_.Now(), limit);
  if (!groups.ok()) return server::ToGrpcStatus(groups.status());
  for (const auto& g : *groups) {
    auto* out = response->add_groups();
    out->set_key(g.key);
    out->set_queued(g.queued);
    out->set_queued_ready(g.ready);
    out->set_active(g.active);
  }
  return grpc::Status::OK;
}

}  // namespace aso::scheduler
