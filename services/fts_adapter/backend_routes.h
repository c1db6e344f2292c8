// Which transfer backend runs a link's jobs. One adapter may copy some links in-process with gfal2 and
// hand others to one or more FTS3 servers (as the original system used one FTS3 server per region):
// routes "SOURCE:DESTINATION=BACKEND" are tried in order, their site patterns are shell globs
// (T2_US_*), and the first match wins; links no route matches go to the default backend.
//
// Backends are named as jobs record them: "gfal2", or "fts3:https://HOST:PORT" for an FTS3 server.
#ifndef ASO_SERVICES_FTS_ADAPTER_BACKEND_ROUTES_H_
#define ASO_SERVICES_FTS_ADAPTER_BACKEND_ROUTES_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace aso::fts_adapter {

inline constexpr char kGfal2Backend[] = "gfal2";
inline constexpr char kFts3Prefix[] = "fts3:";

struct BackendRoute {
  std::string source;       // site pattern
  std::string destination;  // site pattern
  std::string backend;      // backend name
};

// "gfal2", "https://HOST[:PORT]" or "fts3:https://HOST[:PORT]" -> the backend's name.
absl::StatusOr<std::string> BackendName(absl::string_view spec);

// "SOURCE:DESTINATION=BACKEND", e.g. "T2_US_*:*=https://fts3-us.example:8446".
absl::StatusOr<BackendRoute> ParseBackendRoute(absl::string_view spec);

// The FTS3 endpoint of a backend name ("" for gfal2).
std::string Fts3Endpoint(absl::string_view backend);

class BackendRouter {
 public:
  BackendRouter(std::string default_backend, std::vector<BackendRoute> routes);

  // The backend of jobs from `source_site` to `destination_site`.
  const std::string& For(absl::string_view source_site, absl::string_view destination_site) const;

  // Every backend a job may be sent to, the default first, each once.
  std::vector<std::string> Backends() const;

 private:
  std::string default_backend_;
  std::vector<BackendRoute> routes_;
};

}  // namespace aso::fts_adapter

#endif  // ASO_SERVICES_FTS_ADAPTER_BACKEND_ROUTES_H_
