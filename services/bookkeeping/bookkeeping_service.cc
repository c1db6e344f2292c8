#include "services/bookkeeping/bookkeeping_service.h"

#include <algorithm>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/util/message_differencer.h"
#include "libs/common/logging.h"
#include "libs/server/grpc_status.h"
#include "libs/transfer/lfn_rules.h"
#include "libs/transfer/url.h"

namespace aso::bookkeeping {
namespace cv1 = aso::common::v1;
using server::ToGrpcStatus;

absl::Status ValidateSite(const cv1::Site& site) {
  if (site.name().empty() || site.name().size() > 64) {
    return absl::InvalidArgumentError("site.name must have 1 to 64 characters");
  }
  for (char c : site.name()) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-') {
      return absl::InvalidArgumentError("site.name may contain only letters, digits, _ and -");
    }
  }
  for (int i = 0; i < site.url_prefixes_size(); ++i) {
    // A prefix must itself look like the start of a storage URL: scheme, host, a path.
    auto u = transfer::ParseStorageUrl(absl::StrCat(site.url_prefixes(i), "x"));
    if (!u.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("site.url_prefixes[", i, "]: ", u.status().message()));
    }
  }
  if (site.max_active_outbound() < 0 || site.max_active_inbound() < 0) {
    return absl::InvalidArgumentError("site.max_active_outbound/inbound must not be negative");
  }
  if (!cv1::SiteCredentials_IsValid(site.credentials())) {
    return absl::InvalidArgumentError(absl::StrCat("site.credentials: unknown value ", site.credentials(),
                                                   " (SITE_CREDENTIALS_DEFAULT, _SERVICE or _OWNER)"));
  }
  if (absl::Status s = transfer::ValidateLfnRules(site.lfn_rules()); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("site.lfn_rules: ", s.message()));
  }
  return absl::OkStatus();
}

grpc::Status BookkeepingService::ReportOutcomes(grpc::ServerContext* ctx,
                                                const v1::ReportOutcomesRequest* request,
                                                v1::ReportOutcomesResponse* response) {
  if (auto p = auth::Authorize(auth_, *ctx, "ReportOutcomes", {auth::Role::kService}); !p.ok())
    return server::ToGrpcStatus(p.status());
  const std::vector<cv1::FileOutcome> outcomes(request->outcomes().begin(), request->outcomes().end());
  const std::vector<absl::StatusOr<bool>> results = applier_.ApplyAll(outcomes);
  for (size_t i = 0; i < outcomes.size(); ++i) {
    const absl::StatusOr<bool>& applied = results[i];
    response->add_applied(applied.ok() && *applied);
    response->add_codes(static_cast<int32_t>(applied.status().code()));
    response->add_errors(std::string(applied.status().message()));
    if (!applied.ok()) {
      ASO_LOG(WARNING, "outcome for transfer=", outcomes[i].transfer_id(), " attempt=", outcomes[i].attempt(),
              " not applied: ", applied.status().ToString());
    }
  }
  return grpc::Status::OK;
}

grpc::Status BookkeepingService::UpsertSite(grpc::ServerContext* ctx, const v1::UpsertSiteRequest* request,
                                            cv1::Site* response) {
  if (auto p = auth::Authorize(auth_, *ctx, "UpsertSite", {auth::Role::kAdmin}); !p.ok())
    return server::ToGrpcStatus(p.status());
  if (absl::Status s = ValidateSite(request->site()); !s.ok()) return ToGrpcStatus(s);
  auto site = sites_.Upsert(request->site(), clock_.Now());
  if (!site.ok()) return ToGrpcStatus(site.status());
  ASO_LOG(INFO, "site ", site->name(), " updated");
  *response = std::move(*site);
  return grpc::Status::OK;
}

grpc::Status BookkeepingService::GetSite(grpc::ServerContext* ctx, const v1::GetSiteRequest* request,
                                         cv1::Site* response) {
  if (auto p = auth::Authorize(auth_, *ctx, "GetSite"); !p.ok()) return server::ToGrpcStatus(p.status());
  auto site = sites_.Get(request->name());
  if (!site.ok()) return ToGrpcStatus(site.status());
  *response = std::move(*site);
  return grpc::Status::OK;
}

grpc::Status BookkeepingService::ListSites(grpc::ServerContext* ctx, const v1::ListSitesRequest* request,
                                           v1::ListSitesResponse* response) {
  if (auto p = auth::Authorize(auth_, *ctx, "ListSites"); !p.ok()) return server::ToGrpcStatus(p.status());
  const int page_size = request->page_size() == 0 ? 100 : request->page_size();
  if (page_size < 0 || page_size > 1000) {
    return ToGrpcStatus(absl::InvalidArgumentError("page_size must be 1..1000"));
  }
  auto sites = sites_.List();  // the page token is the last name returned
  if (!sites.ok()) return ToGrpcStatus(sites.status());
  // Byte order, whatever the database's collation, so page tokens compare consistently.
  std::sort(sites->begin(), sites->end(), [](const auto& a, const auto& b) { return a.name() < b.name(); });
  for (auto& s : *sites) {
    if (!request->page_token().empty() && s.name() <= request->page_token()) continue;
    if (response->sites_size() == page_size) {
      response->set_next_page_token(response->sites(page_size - 1).name());
      break;
    }
    *response->add_sites() = std::move(s);
  }
  return grpc::Status::OK;
}

grpc::Status BookkeepingService::ImportSites(grpc::ServerContext* ctx, const v1::ImportSitesRequest* request,
                                             v1::ImportSitesResponse* response) {
  if (auto p = auth::Authorize(auth_, *ctx, "ImportSites", {auth::Role::kAdmin}); !p.ok())
    return server::ToGrpcStatus(p.status());
  absl::flat_hash_set<std::string> names;
  for (int i = 0; i < request->sites_size(); ++i) {
    const cv1::Site& site = request->sites(i);
    if (absl::Status s = ValidateSite(site); !s.ok()) {
      return ToGrpcStatus(absl::InvalidArgumentError(absl::StrCat(
          "sites[", i, "] (", site.name().empty() ? "unnamed" : site.name(), "): ", s.message())));
    }
    if (!names.insert(site.name()).second) {
      return ToGrpcStatus(
          absl::InvalidArgumentError(absl::StrCat("sites[", i, "]: site ", site.name(), " is named twice")));
    }
  }
  for (const cv1::Site& site : request->sites()) {
    auto existing = sites_.Get(site.name());
    if (!existing.ok() && !absl::IsNotFound(existing.status())) return ToGrpcStatus(existing.status());
    cv1::Site comparable = existing.ok() ? *existing : cv1::Site();
    comparable.clear_updated();
    if (!existing.ok()) {
      response->set_created(response->created() + 1);
    } else if (google::protobuf::util::MessageDifferencer::Equals(comparable, site)) {
      response->set_unchanged(response->unchanged() + 1);
      continue;
    } else {
      response->set_updated(response->updated() + 1);
    }
    if (request->dry_run()) continue;
    auto stored = sites_.Upsert(site, clock_.Now());
    if (!stored.ok()) return ToGrpcStatus(stored.status());
  }
  ASO_LOG(INFO, request->dry_run() ? "site import checked: " : "sites imported: ", response->created(),
          " created, ", response->updated(), " updated, ", response->unchanged(), " unchanged");
  return grpc::Status::OK;
}

grpc::Status BookkeepingService::ListCatalog(grpc::ServerContext* ctx, const v1::ListCatalogRequest* request,
                                             v1::ListCatalogResponse* response) {
  if (auto p = auth::Authorize(auth_, *ctx, "ListCatalog"); !p.ok()) return server::ToGrpcStatus(p.status());
  if (request->task_id().empty() && request->dataset().empty() && request->lfn().empty()) {
    return ToGrpcStatus(absl::InvalidArgumentError("give task_id, dataset or lfn"));
  }
  if (request->limit() < 0 || request->limit() > 10000) {
    return ToGrpcStatus(absl::InvalidArgumentError("limit must be 0..10000"));
  }
  auto entries = catalog_.ListCatalog(*request);
  if (!entries.ok()) return ToGrpcStatus(entries.status());
  for (auto& e : *entries) *response->add_entries() = std::move(e);
  return grpc::Status::OK;
}

grpc::Status BookkeepingService::ListOutbox(grpc::ServerContext* ctx, const v1::ListOutboxRequest* request,
                                            v1::ListOutboxResponse* response) {
  if (auto p = auth::Authorize(auth_, *ctx, "ListOutbox", {auth::Role::kAdmin}); !p.ok()) {
    return server::ToGrpcStatus(p.status());
  }
  if (request->limit() < 0 || request->limit() > 10000) {
    return ToGrpcStatus(absl::InvalidArgumentError("limit must be 0 (the default, 100) to 10000"));
  }
  auto entries = catalog_.ListOutbox(request->pending_only(), request->limit() == 0 ? 100 : request->limit());
  if (!entries.ok()) return ToGrpcStatus(entries.status());
  for (auto& e : *entries) *response->add_entries() = std::move(e);
  return grpc::Status::OK;
}

grpc::Status BookkeepingService::RetryOutbox(grpc::ServerContext* ctx, const v1::RetryOutboxRequest* request,
                                             v1::RetryOutboxResponse* response) {
  auto p = auth::Authorize(auth_, *ctx, "RetryOutbox", {auth::Role::kAdmin});
  if (!p.ok()) return server::ToGrpcStatus(p.status());
  if (request->transfer_ids_size() > 10000) {
    return ToGrpcStatus(absl::InvalidArgumentError("at most 10000 transfer_ids per call"));
  }
  auto n =
      catalog_.RetryOutbox({request->transfer_ids().begin(), request->transfer_ids().end()}, clock_.Now());
  if (!n.ok()) return ToGrpcStatus(n.status());
  response->set_rescheduled(*n);
  ASO_LOG(INFO, "outbox retry by ", p->name, ": ", *n, " announcement(s) due now");
  return grpc::Status::OK;
}

}  // namespace aso::bookkeeping
