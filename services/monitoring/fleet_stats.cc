#include "services/monitoring/fleet_stats.h"

#include "libs/common/status_macros.h"
#include "libs/transfer/state.h"

namespace aso::monitoring {
namespace cv1 = aso::common::v1;

FleetStats::FleetStats(db::StatsRepository& repo, metrics::Metrics& metrics, double settle_seconds)
    : repo_(repo),
      settle_seconds_(settle_seconds),
      transfers_(metrics.AddGauge("aso_transfers", "Transfers per link in each state, now.",
                                  {"source_site", "destination_site", "state"})),
      attempts_(metrics.AddCounter("aso_transfer_attempts_total",
                                   "Finished transfer attempts per link, by result (done, failed, canceled).",
                                   {"source_site", "destination_site", "result"})),
      bytes_(metrics.AddCounter("aso_transferred_bytes_total", "Bytes moved by successful attempts.",
                                {"source_site", "destination_site"})),
      failures_(metrics.AddCounter("aso_transfer_failures_total",
                                   "Failed attempts per link, by failure class.",
                                   {"source_site", "destination_site", "failure_class"})) {}

absl::StatusOr<int> FleetStats::RunOnce() {
  ASO_ASSIGN_OR_RETURN(auto counts, repo_.CountByLinkAndState());
  int counted = 0;
  absl::MutexLock lock(&mu_);
  // Series are set in place, never dropped and re-added, so a scrape never misses one; a state that
  // emptied reads 0.
  absl::flat_hash_set<std::vector<std::string>> now_present;
  for (const auto& c : counts) {
    std::vector<std::string> labels = {c.source_site, c.destination_site, c.state};
    transfers_.Set(labels, static_cast<double>(c.files));
    now_present.insert(std::move(labels));
  }
  for (const auto& labels : series_) {
    if (!now_present.contains(labels)) transfers_.Set(labels, 0);
  }
  series_.insert(now_present.begin(), now_present.end());
  counts_ = std::move(counts);

  constexpr int kBatch = 5000;
  for (;;) {
    ASO_ASSIGN_OR_RETURN(auto rows, repo_.AttemptsAfter(watermark_, kBatch));
    bool settled = true;
    int64_t new_watermark = watermark_;
    for (const auto& a : rows) {
      if (counted_.insert(a.id).second) {
        ++counted;
        const bool done = a.result == "DONE";
        attempts_.Inc({a.source_site, a.destination_site,
                       done ? "done" : (a.result == "CANCELED" ? "canceled" : "failed")});
        SiteTotals& t = totals_[a.source_site];
        if (done) {
          bytes_.Inc({a.source_site, a.destination_site}, static_cast<double>(a.bytes));
          ++t.done_files;
          t.done_bytes += a.bytes;
        } else {
          failures_.Inc({a.source_site, a.destination_site, a.failure_class});
          ++t.failed_attempts;
        }
      }
      settled = settled && a.age_seconds > settle_seconds_;
      if (settled) new_watermark = a.id;
    }
    if (new_watermark > watermark_) {
      watermark_ = new_watermark;
      absl::erase_if(counted_, [this](int64_t id) { return id <= watermark_; });
    }
    if (static_cast<int>(rows.size()) < kBatch || !settled) break;
  }
  return counted;
}

std::vector<aso::monitoring::v1::SiteStats> FleetStats::SiteStats(const std::string& site) const {
  absl::MutexLock lock(&mu_);
  std::map<std::string, aso::monitoring::v1::SiteStats> by_site;
  auto entry = [&](const std::string& name) -> aso::monitoring::v1::SiteStats& {
    auto& s = by_site[name];
    s.set_site(name);
    return s;
  };
  auto add = [](google::protobuf::RepeatedPtrField<cv1::StateCount>* list, cv1::TransferState state,
                int64_t files, int64_t bytes) {
    for (auto& sc : *list) {
      if (sc.state() == state) {
        sc.set_files(sc.files() + files);
        sc.set_bytes(sc.bytes() + bytes);
        return;
      }
    }
    auto* sc = list->Add();
    sc->set_state(state);
    sc->set_files(files);
    sc->set_bytes(bytes);
  };
  for (const auto& c : counts_) {
    auto state = transfer::StateFromName(c.state).value_or(cv1::TRANSFER_STATE_UNSPECIFIED);
    add(entry(c.source_site).mutable_outbound(), state, c.files, c.bytes);
    add(entry(c.destination_site).mutable_inbound(), state, c.files, c.bytes);
  }
  for (const auto& [name, t] : totals_) {
    auto& s = entry(name);
    s.set_done_files(t.done_files);
    s.set_done_bytes(t.done_bytes);
    s.set_failed_attempts(t.failed_attempts);
  }
  std::vector<aso::monitoring::v1::SiteStats> out;
  for (auto& [name, s] : by_site) {
    if (site.empty() || name == site) out.push_back(std::move(s));
  }
  return out;
}

}  // namespace aso::monitoring
