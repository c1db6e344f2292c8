// Fleet-wide transfer figures computed from PostgreSQL and exported as Prometheus metrics:
//   aso_transfers{source_site,destination_site,state}           gauge, current files per state
//   aso_transfer_attempts_total{source_site,destination_site,result}  counter, finished attempts
//   aso_transferred_bytes_total{source_site,destination_site}   counter, bytes of DONE attempts
//   aso_transfer_failures_total{source_site,destination_site,failure_class}  counter
// Attempts are read incrementally (by id, tolerant of ids committed out of order), so a refresh costs
// what is new, not the whole history. Thread-safe.
#ifndef ASO_SERVICES_MONITORING_FLEET_STATS_H_
#define ASO_SERVICES_MONITORING_FLEET_STATS_H_

#include <map>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "aso/monitoring/v1/monitoring.pb.h"
#include "libs/db/stats_repository.h"
#include "libs/metrics/metrics.h"

namespace aso::monitoring {

class FleetStats {
 public:
  // `settle`: an attempt row older than this can no longer be preceded by an uncommitted smaller id.
  FleetStats(db::StatsRepository& repo, metrics::Metrics& metrics, double settle_seconds = 30);

  // Refreshes every figure. Returns the number of new attempts counted.
  absl::StatusOr<int> RunOnce();

  // Per site figures as of the last refresh; `site` empty for all.
  std::vector<aso::monitoring::v1::SiteStats> SiteStats(const std::string& site) const;

 private:
  struct SiteTotals {
    int64_t done_files = 0;
    int64_t done_bytes = 0;
    int64_t failed_attempts = 0;
  };

  db::StatsRepository& repo_;
  double settle_seconds_;
  metrics::GaugeVec transfers_;
  metrics::CounterVec attempts_;
  metrics::CounterVec bytes_;
  metrics::CounterVec failures_;

  mutable absl::Mutex mu_;
  int64_t watermark_ ABSL_GUARDED_BY(mu_) = 0;                     // every attempt id <= this is counted
  absl::flat_hash_set<int64_t> counted_ ABSL_GUARDED_BY(mu_);      // counted ids above the watermark
  std::map<std::string, SiteTotals> totals_ ABSL_GUARDED_BY(mu_);  // by source site
  std::vector<db::LinkStateCount> counts_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<std::vector<std::string>> series_ ABSL_GUARDED_BY(mu_);  // aso_transfers label sets
};

}  // namespace aso::monitoring

#endif  // ASO_SERVICES_MONITORING_FLEET_STATS_H_
