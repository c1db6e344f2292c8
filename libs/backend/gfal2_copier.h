// A Copier backed by gfal2 in-process: file://, root://, davs:// and the other gfal2 protocols.
#ifndef ASO_LIBS_BACKEND_GFAL2_COPIER_H_
#define ASO_LIBS_BACKEND_GFAL2_COPIER_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "libs/backend/copier.h"

namespace aso::backend {

struct Gfal2Options {
  // Extra gfal2 configuration, each "GROUP:KEY=VALUE" (e.g. "XROOTD PLUGIN:NORMALIZE_PATH=true").
  std::vector<std::string> settings;
  // Longest wait for one XRootD request (XrdCl's XRD_REQUESTTIMEOUT, unless set in the environment). XrdCl
  // waits 30 minutes by default; a storage that never answers one request (seen with checksum queries)
  // would hold a copy worker that long.
  absl::Duration xrootd_request_timeout = absl::Minutes(2);
  // How long XrdCl tries to reach a server (XRD_CONNECTIONWINDOW) and how often (XRD_CONNECTIONRETRY),
  // unless set in the environment. XrdCl's defaults (120 s, 5 times) hold a copy worker for ten minutes
  // on a storage that is down; ASO retries the file later with a backoff instead.
  absl::Duration xrootd_connection_window = absl::Seconds(15);
  int xrootd_connection_retry = 2;
  // After a connection to a server broke, how long XRootD fails new requests to it at once instead of
  // connecting again (XrdCl's default is 30 minutes: a storage endpoint down for a minute would stay
  // unreachable for half an hour after it came back).
  absl::Duration xrootd_stream_error_window = absl::Seconds(10);
  // Whether HTTP(S) connections are kept open for later requests. Off where copies run as different users
  // (--user_credentials): a kept connection carries the identity it was opened with (a client certificate,
  // or a token the storage attached to it), so another user's request on it could act as the first user.
  // XRootD keeps one connection per proxy file and needs no such care.
  bool http_keep_alive = true;
};

// Creates a gfal2 context with `options`. INVALID_ARGUMENT for a malformed setting, INTERNAL if gfal2
// cannot start.
absl::StatusOr<std::unique_ptr<Copier>> NewGfal2Copier(const Gfal2Options& options);

}  // namespace aso::backend

#endif  // ASO_LIBS_BACKEND_GFAL2_COPIER_H_
