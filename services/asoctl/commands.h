// The commands of asoctl, by area, and the small formatting helpers they share.
#ifndef ASO_SERVICES_ASOCTL_COMMANDS_H_
#define ASO_SERVICES_ASOCTL_COMMANDS_H_

#include <string>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "google/protobuf/timestamp.pb.h"
#include "services/asoctl/cli.h"

namespace aso::asoctl {

void AddTransferCommands(Cli& cli);  // transfers, timeline, tasks, credentials, whoami (aso-ingest)
void AddGridCommands(Cli& cli);      // sites, links, users, backend, queue (bookkeeping, scheduler)
void AddStatsCommands(Cli& cli);     // stats, catalog, outbox (monitoring, bookkeeping)
void AddAdminCommands(Cli& cli);     // db, health, completion

// "2026-11-23 04:55:58" (UTC), "-" when unset.
inline std::string Time(const google::protobuf::Timestamp& t) {
  if (t.seconds() == 0) return "-";
  return absl::FormatTime("%Y-%m-%d %H:%M:%S", absl::FromUnixSeconds(t.seconds()), absl::UTCTimeZone());
}

// Whole seconds as "3m20s", "-" for none.
inline std::string Age(double seconds) {
  return seconds <= 0 ? "-" : absl::FormatDuration(absl::Seconds(static_cast<int64_t>(seconds)));
}

inline std::string Since(const google::protobuf::Timestamp& t) {
  return t.seconds() == 0 ? "-"
                          : Age(absl::ToDoubleSeconds(absl::Now() - absl::FromUnixSeconds(t.seconds())));
}

// 1536 -> "1.5 KiB".
inline std::string Bytes(int64_t n) {
  if (n < 0) return "-";
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  double v = static_cast<double>(n);
  int u = 0;
  while (v >= 1024 && u < 5) v /= 1024, ++u;
  return u == 0 ? absl::StrFormat("%d B", n) : absl::StrFormat("%.1f %s", v, units[u]);
}

}  // namespace aso::asoctl

#endif  // ASO_SERVICES_ASOCTL_COMMANDS_H_
