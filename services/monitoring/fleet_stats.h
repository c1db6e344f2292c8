// Fleet-wide transfer figures computed from PostgreSQL, exported as Prometheus metrics (docs/metrics.md,
// "monitoring") and served over gRPC. Each refresh reads the current queue and in-flight figures from the
// narrow tables (StatsRepository::Snapshot) and only the attempts recorded since the previous refresh (by
// id, tolerant of ids committed out of order), so its cost does not grow with the history. Thread-safe.
#ifndef ASO_SERVICES_MONITORING_FLEET_STATS_H_
#define ASO_SERVICES_MONITORING_FLEET_STATS_H_

#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "aso/monitoring/v1/monitoring.pb.h"
#include "libs/db/stats_repository.h"
#include "libs/metrics/metrics.h"

namespace aso::monitoring {

struct FleetStatsConfig {
  // An attempt row older than this can no longer be preceded by an uncommitted smaller id.
  double settle_seconds = 30;
  // Counters count the attempts recorded after the first refresh, like any Prometheus counter of a new
  // process; false counts every attempt in the table (tests). The throughput windows see the last hour.
  bool count_from_start = true;
  int top_users = 10;                 // users with their own aso_user_queued_files series
  int default_link_max_active = 100;  // the scheduler's --link_max_active, for links without a ceiling
};

class FleetStats {
 public:
  FleetStats(db::StatsRepository& repo, metrics::Metrics& metrics, FleetStatsConfig config = {});

  // Refreshes every figure. Returns the number of new attempts counted.
  absl::StatusOr<int> RunOnce();

  // Figures as of the last refresh. Empty filters match everything.
  std::vector<v1::SiteStats> SiteStats(const std::string& site) const;
  std::vector<v1::LinkStats> LinkStats(const std::string& source_site,
                                       const std::string& destination_site) const;
  // The users with the largest backlogs (or `user` alone), at most `limit`; `*others` gets how many
  // users with a backlog were left out.
  std::vector<v1::UserStats> UserStats(const std::string& user, int limit, int64_t* others) const;

 private:
  using LinkKey = std::pair<std::string, std::string>;
  struct LinkTotals {
    int64_t done_files = 0;
    int64_t done_bytes = 0;
    int64_t failed_attempts = 0;
    std::map<std::string, int64_t> failures_by_class;
    std::map<int64_t, int64_t> bytes_by_10s;  // successful bytes by finish time (10 s buckets), last hour
  };

  absl::StatusOr<int> ReadAttempts(double now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Export(const db::FleetSnapshot& snap) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  double Throughput(const LinkTotals& t, double now, double window_seconds) const;

  db::StatsRepository& repo_;
  const FleetStatsConfig config_;
  metrics::GaugeVec transfers_;
  metrics::GaugeVec queue_ready_;
  metrics::GaugeVec oldest_waiting_;
  metrics::GaugeVec active_;
  metrics::GaugeVec oldest_in_flight_;
  metrics::GaugeVec limit_current_;
  metrics::GaugeVec limit_configured_;
  metrics::CounterVec attempts_;
  metrics::CounterVec bytes_;
  metrics::CounterVec failures_;
  metrics::HistogramVec sizes_;
  metrics::GaugeVec throughput_;
  metrics::GaugeVec user_queued_;
  metrics::GaugeVec publication_backlog_;
  metrics::GaugeVec cleanup_backlog_;
  metrics::GaugeVec credential_expiry_;
  metrics::HistogramVec refresh_seconds_;
  metrics::GaugeVec last_refresh_;

  mutable absl::Mutex mu_;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  double count_from_ ABSL_GUARDED_BY(mu_) = 0;                 // database time of the first refresh
  int64_t watermark_ ABSL_GUARDED_BY(mu_) = 0;                 // every attempt id <= this is read
  absl::flat_hash_set<int64_t> seen_ ABSL_GUARDED_BY(mu_);     // ids read above the watermark
  std::map<LinkKey, LinkTotals> totals_ ABSL_GUARDED_BY(mu_);  // counted since count_from_
  db::FleetSnapshot snapshot_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<std::string> top_users_ ABSL_GUARDED_BY(mu_);  // users with their own series
  absl::flat_hash_set<std::string> credential_users_ ABSL_GUARDED_BY(mu_);
  std::set<LinkKey> links_seen_ ABSL_GUARDED_BY(mu_);  // links with series, kept for good
};

}  // namespace aso::monitoring

#endif  // ASO_SERVICES_MONITORING_FLEET_STATS_H_
