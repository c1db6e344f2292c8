#include "services/fts_adapter/backend_routes.h"

#include <fnmatch.h>

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace aso::fts_adapter {

absl::StatusOr<std::string> BackendName(absl::string_view spec) {
  if (spec == kGfal2Backend) return std::string(kGfal2Backend);
  absl::string_view endpoint = spec;
  if (absl::StartsWith(endpoint, kFts3Prefix)) endpoint.remove_prefix(sizeof(kFts3Prefix) - 1);
  absl::string_view host = endpoint;
  if (!absl::ConsumePrefix(&host, "https://") || host.empty() || host.find_first_of("/?# ") != host.npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "backend must be gfal2 or an FTS3 endpoint https://HOST[:PORT] (no path), got \"", spec, "\""));
  }
  return absl::StrCat(kFts3Prefix, endpoint);
}

absl::StatusOr<BackendRoute> ParseBackendRoute(absl::string_view spec) {
  const size_t eq = spec.find('=');
  const size_t colon = spec.substr(0, eq).find(':');
  if (eq == spec.npos || colon == spec.npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("backend route must be SOURCE:DESTINATION=BACKEND, got \"", spec, "\""));
  }
  BackendRoute route;
  route.source = std::string(spec.substr(0, colon));
  route.destination = std::string(spec.substr(colon + 1, eq - colon - 1));
  if (route.source.empty() || route.destination.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("backend route \"", spec, "\": empty site pattern (use * for any site)"));
  }
  auto backend = BackendName(spec.substr(eq + 1));
  if (!backend.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("backend route \"", spec, "\": ", backend.status().message()));
  }
  route.backend = *std::move(backend);
  return route;
}

std::string Fts3Endpoint(absl::string_view backend) {
  if (!absl::StartsWith(backend, kFts3Prefix)) return "";
  return std::string(backend.substr(sizeof(kFts3Prefix) - 1));
}

BackendRouter::BackendRouter(std::string default_backend, std::vector<BackendRoute> routes)
    : default_backend_(std::move(default_backend)), routes_(std::move(routes)) {}

const std::string& BackendRouter::For(absl::string_view source_site,
                                      absl::string_view destination_site) const {
  const std::string source(source_site), destination(destination_site);
  for (const BackendRoute& r : routes_) {
    if (fnmatch(r.source.c_str(), source.c_str(), 0) == 0 &&
        fnmatch(r.destination.c_str(), destination.c_str(), 0) == 0) {
      return r.backend;
    }
  }
  return default_backend_;
}

std::vector<std::string> BackendRouter::Backends() const {
  std::vector<std::string> out = {default_backend_};
  for (const BackendRoute& r : routes_) {
    if (std::find(out.begin(), out.end(), r.backend) == out.end()) out.push_back(r.backend);
  }
  return out;
}

}  // namespace aso::fts_adapter
