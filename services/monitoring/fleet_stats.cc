#include "services/monitoring/fleet_stats.h"

#include <algorithm>
#include <set>

#include "absl/time/clock.h"
#include "libs/common/status_macros.h"
#include "libs/transfer/state.h"

namespace aso::monitoring {
namespace cv1 = aso::common::v1;
namespace {

constexpr double kHour = 3600;
constexpr double kBucket = 10;  // seconds per throughput bucket
constexpr char kOtherUsers[] = "(other)";

double Age(double now, double then) { return then > 0 ? std::max(now - then, 0.0) : 0; }

}  // namespace

FleetStats::FleetStats(db::StatsRepository& repo, metrics::Metrics& metrics, FleetStatsConfig config)
    : repo_(repo),
      config_(config),
      transfers_(metrics.AddGauge("aso_transfers", "Files now in each non-terminal state, per link.",
                                  {"source_site", "destination_site", "state"})),
      queue_ready_(metrics.AddGauge("aso_queue_ready_files",
                                    "Queued files out of any retry cool-off, per link.",
                                    {"source_site", "destination_site"})),
      oldest_waiting_(metrics.AddGauge("aso_queue_oldest_waiting_seconds",
                                       "Age since submission of the oldest queued file, per link.",
                                       {"source_site", "destination_site"})),
      active_(metrics.AddGauge("aso_link_active_transfers",
                               "Files in flight per link (what throttles count).",
                               {"source_site", "destination_site"})),
      oldest_in_flight_(metrics.AddGauge("aso_link_oldest_in_flight_seconds",
                                         "Time since the oldest in-flight file of the link was claimed.",
                                         {"source_site", "destination_site"})),
      limit_current_(
          metrics.AddGauge("aso_link_limit_current",
                           "The concurrency limit the optimizer set on the link (0 before its first "
                           "step).",
                           {"source_site", "destination_site"})),
      limit_configured_(metrics.AddGauge("aso_link_limit_configured",
                                         "The link's configured concurrency ceiling.",
                                         {"source_site", "destination_site"})),
      attempts_(metrics.AddCounter("aso_transfer_attempts_total",
                                   "Finished transfer attempts per link, by result (done, failed, canceled).",
                                   {"source_site", "destination_site", "result"})),
      bytes_(metrics.AddCounter("aso_transferred_bytes_total", "Bytes moved by successful attempts.",
                                {"source_site", "destination_site"})),
      failures_(metrics.AddCounter("aso_transfer_failures_total",
                                   "Failed attempts per link, by failure class.",
                                   {"source_site", "destination_site", "failure_class"})),
      sizes_(metrics.AddHistogram("aso_transfer_size_bytes", "Size of each file moved successfully.", {},
                                  metrics::FileSizeBuckets())),
      throughput_(metrics.AddGauge("aso_link_throughput_bytes_per_second",
                                   "Bytes of successful attempts finished in the window, per second.",
                                   {"source_site", "destination_site", "window"})),
      user_queued_(metrics.AddGauge("aso_user_queued_files",
                                    "Queued files of the users with the most, the others summed as (other).",
                                    {"user"})),
      publication_backlog_(metrics.AddGauge("aso_publication_backlog_files",
                                            "Files waiting for their catalog entry (catalog) or for their "
                                            "announcement to the external catalog (announcement).",
                                            {"stage"})),
      cleanup_backlog_(metrics.AddGauge("aso_cleanup_backlog_files",
                                        "DONE files whose temporary source waits to be deleted.", {})),
      credential_expiry_(metrics.AddGauge("aso_user_credential_expiry_timestamp_seconds",
                                          "When each user's delegated proxy expires (Unix time).", {"user"})),
      refresh_seconds_(metrics.AddHistogram("aso_monitoring_refresh_seconds", "Time one refresh takes.", {},
                                            {0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30})),
      last_refresh_(metrics.AddGauge("aso_monitoring_last_refresh_timestamp_seconds",
                                     "When the figures were last refreshed successfully (Unix time).", {})) {
  user_queued_.Set({kOtherUsers}, 0);
}

absl::StatusOr<int> FleetStats::RunOnce() {
  const absl::Time started = absl::Now();
  ASO_ASSIGN_OR_RETURN(db::FleetSnapshot snap, repo_.Snapshot());
  absl::MutexLock lock(&mu_);
  if (!started_) {
    if (config_.count_from_start) {
      // Counters start now; the throughput windows are filled with the last hour.
      ASO_ASSIGN_OR_RETURN(watermark_, repo_.AttemptIdBefore(absl::Seconds(kHour + config_.settle_seconds)));
      count_from_ = snap.now;
    }
    started_ = true;
  }
  ASO_ASSIGN_OR_RETURN(int counted, ReadAttempts(snap.now));
  Export(snap);
  snapshot_ = std::move(snap);
  refresh_seconds_.Observe({}, absl::ToDoubleSeconds(absl::Now() - started));
  last_refresh_.Set({}, absl::ToDoubleSeconds(absl::Now() - absl::UnixEpoch()));
  return counted;
}

absl::StatusOr<int> FleetStats::ReadAttempts(double now) {
  constexpr int kBatch = 5000;
  int counted = 0;
  for (;;) {
    ASO_ASSIGN_OR_RETURN(auto rows, repo_.AttemptsAfter(watermark_, kBatch));
    bool settled = true;
    int64_t new_watermark = watermark_;
    for (const auto& a : rows) {
      if (seen_.insert(a.id).second) {
        const bool done = a.result == "DONE";
        LinkTotals& t = totals_[{a.source_site, a.destination_site}];
        if (done && a.finished > now - kHour) {
          t.bytes_by_10s[static_cast<int64_t>(a.finished / kBucket)] += a.bytes;
        }
        if (a.recorded >= count_from_) {
          ++counted;
          attempts_.Inc({a.source_site, a.destination_site,
                         done ? "done" : (a.result == "CANCELED" ? "canceled" : "failed")});
          if (done) {
            bytes_.Inc({a.source_site, a.destination_site}, static_cast<double>(a.bytes));
            sizes_.Observe({}, static_cast<double>(a.bytes));
            ++t.done_files;
            t.done_bytes += a.bytes;
          } else if (a.result == "FAILED") {
            failures_.Inc({a.source_site, a.destination_site, a.failure_class});
            ++t.failed_attempts;
            ++t.failures_by_class[a.failure_class];
          }
        }
      }
      settled = settled && a.age_seconds > config_.settle_seconds;
      if (settled) new_watermark = a.id;
    }
    if (new_watermark > watermark_) {
      watermark_ = new_watermark;
      absl::erase_if(seen_, [this](int64_t id) { return id <= watermark_; });
    }
    if (static_cast<int>(rows.size()) < kBatch || !settled) break;
  }
  // Only the last hour is kept for the windows.
  const auto oldest_bucket = static_cast<int64_t>((now - kHour) / kBucket);
  for (auto& [link, t] : totals_) {
    t.bytes_by_10s.erase(t.bytes_by_10s.begin(), t.bytes_by_10s.lower_bound(oldest_bucket));
  }
  return counted;
}

double FleetStats::Throughput(const LinkTotals& t, double now, double window_seconds) const {
  const auto from = static_cast<int64_t>((now - window_seconds) / kBucket);
  int64_t bytes = 0;
  for (auto it = t.bytes_by_10s.lower_bound(from); it != t.bytes_by_10s.end(); ++it) bytes += it->second;
  return static_cast<double>(bytes) / window_seconds;
}

void FleetStats::Export(const db::FleetSnapshot& snap) {
  // Every link seen (queued, in flight, configured or with finished attempts) has a series for each
  // non-terminal state and each per-link gauge, set in place, never dropped: a link that emptied reads 0.
  std::map<std::vector<std::string>, int64_t> states;       // {source, destination, state} -> files
  std::map<LinkKey, std::pair<int64_t, double>> in_flight;  // files, oldest claim
  for (const auto& q : snap.queues) {
    states[{q.source_site, q.destination_site, "QUEUED"}] = q.queued;
    queue_ready_.Set({q.source_site, q.destination_site}, static_cast<double>(q.ready));
    oldest_waiting_.Set({q.source_site, q.destination_site}, Age(snap.now, q.oldest_created));
    links_seen_.insert({q.source_site, q.destination_site});
  }
  for (const auto& f : snap.in_flight) {
    states[{f.source_site, f.destination_site, f.state}] += f.files;
    auto& [files, oldest] = in_flight[{f.source_site, f.destination_site}];
    files += f.files;
    if (f.oldest_claimed > 0 && (oldest == 0 || f.oldest_claimed < oldest)) oldest = f.oldest_claimed;
    links_seen_.insert({f.source_site, f.destination_site});
  }
  std::set<LinkKey> configured;
  for (const auto& l : snap.links) {
    limit_current_.Set({l.source_site, l.destination_site}, l.optimized_active);
    limit_configured_.Set({l.source_site, l.destination_site},
                          l.max_active > 0 ? l.max_active : config_.default_link_max_active);
    links_seen_.insert({l.source_site, l.destination_site});
    configured.insert({l.source_site, l.destination_site});
  }
  for (const auto& [link, t] : totals_) links_seen_.insert(link);
  // A link the scheduler has not recorded yet runs with the default ceiling and no optimizer decision.
  for (const LinkKey& link : links_seen_) {
    if (configured.contains(link)) continue;
    limit_current_.Set({link.first, link.second}, 0);
    limit_configured_.Set({link.first, link.second}, config_.default_link_max_active);
  }
  std::set<LinkKey> queued_links;
  for (const auto& q : snap.queues) queued_links.insert({q.source_site, q.destination_site});
  for (const LinkKey& link : links_seen_) {
    const std::vector<std::string> labels = {link.first, link.second};
    for (const char* state : {"QUEUED", "SUBMITTING", "SUBMITTED", "ACTIVE"}) {
      auto n = states.find({link.first, link.second, state});
      transfers_.Set({link.first, link.second, state},
                     n == states.end() ? 0 : static_cast<double>(n->second));
    }
    if (!queued_links.contains(link)) {
      queue_ready_.Set(labels, 0);
      oldest_waiting_.Set(labels, 0);
    }
    auto f = in_flight.find(link);
    active_.Set(labels, f == in_flight.end() ? 0 : static_cast<double>(f->second.first));
    oldest_in_flight_.Set(labels, f == in_flight.end() ? 0 : Age(snap.now, f->second.second));
    auto t = totals_.find(link);
    throughput_.Set({link.first, link.second, "5m"},
                    t == totals_.end() ? 0 : Throughput(t->second, snap.now, 300));
    throughput_.Set({link.first, link.second, "1h"},
                    t == totals_.end() ? 0 : Throughput(t->second, snap.now, kHour));
  }

  // The top users by queued files have their own series; the others are summed. Users leaving the top
  // lose theirs, so the label set stays bounded.
  std::vector<const db::UserBacklog*> users;
  for (const auto& u : snap.users) {
    if (u.queued > 0) users.push_back(&u);
  }
  std::sort(users.begin(), users.end(), [](const db::UserBacklog* a, const db::UserBacklog* b) {
    return a->queued != b->queued ? a->queued > b->queued : a->user < b->user;
  });
  absl::flat_hash_set<std::string> top;
  int64_t others = 0;
  for (size_t i = 0; i < users.size(); ++i) {
    if (static_cast<int>(i) < config_.top_users && users[i]->user != kOtherUsers) {
      top.insert(users[i]->user);
      user_queued_.Set({users[i]->user}, static_cast<double>(users[i]->queued));
    } else {
      others += users[i]->queued;
    }
  }
  for (const auto& u : top_users_) {
    if (!top.contains(u)) user_queued_.Remove({u});
  }
  top_users_ = std::move(top);
  user_queued_.Set({kOtherUsers}, static_cast<double>(others));

  publication_backlog_.Set({"catalog"}, static_cast<double>(snap.publication_pending));
  publication_backlog_.Set({"announcement"}, static_cast<double>(snap.announcements_pending));
  cleanup_backlog_.Set({}, static_cast<double>(snap.cleanup_pending));

  absl::flat_hash_set<std::string> with_credential;
  for (const auto& [user, expiry] : snap.credential_expiry) {
    credential_expiry_.Set({user}, expiry);
    with_credential.insert(user);
  }
  for (const auto& u : credential_users_) {
    if (!with_credential.contains(u)) credential_expiry_.Remove({u});
  }
  credential_users_ = std::move(with_credential);
}

std::vector<v1::SiteStats> FleetStats::SiteStats(const std::string& site) const {
  absl::MutexLock lock(&mu_);
  std::map<std::string, v1::SiteStats> by_site;
  auto entry = [&](const std::string& name) -> v1::SiteStats& {
    auto& s = by_site[name];
    s.set_site(name);
    return s;
  };
  auto add = [](google::protobuf::RepeatedPtrField<cv1::StateCount>* list, const std::string& state_name,
                int64_t files, int64_t bytes) {
    const auto state = transfer::StateFromName(state_name).value_or(cv1::TRANSFER_STATE_UNSPECIFIED);
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
  const double now = snapshot_.now;
  for (const auto& q : snapshot_.queues) {
    add(entry(q.source_site).mutable_outbound(), "QUEUED", q.queued, 0);
    add(entry(q.destination_site).mutable_inbound(), "QUEUED", q.queued, 0);
    auto& s = entry(q.source_site);
    s.set_oldest_waiting_seconds(std::max(s.oldest_waiting_seconds(), Age(now, q.oldest_created)));
  }
  for (const auto& f : snapshot_.in_flight) {
    add(entry(f.source_site).mutable_outbound(), f.state, f.files, f.bytes);
    add(entry(f.destination_site).mutable_inbound(), f.state, f.files, f.bytes);
  }
  for (const auto& [link, t] : totals_) {
    auto& s = entry(link.first);
    s.set_done_files(s.done_files() + t.done_files);
    s.set_done_bytes(s.done_bytes() + t.done_bytes);
    s.set_failed_attempts(s.failed_attempts() + t.failed_attempts);
    s.set_outbound_bytes_per_second_5m(s.outbound_bytes_per_second_5m() + Throughput(t, now, 300));
    entry(link.second);
  }
  std::vector<v1::SiteStats> out;
  for (auto& [name, s] : by_site) {
    if (site.empty() || name == site) out.push_back(std::move(s));
  }
  return out;
}

std::vector<v1::LinkStats> FleetStats::LinkStats(const std::string& source_site,
                                                 const std::string& destination_site) const {
  absl::MutexLock lock(&mu_);
  std::map<LinkKey, v1::LinkStats> by_link;
  auto entry = [&](const std::string& src, const std::string& dst) -> v1::LinkStats& {
    auto& l = by_link[{src, dst}];
    l.set_source_site(src);
    l.set_destination_site(dst);
    return l;
  };
  const double now = snapshot_.now;
  for (const auto& q : snapshot_.queues) {
    auto& l = entry(q.source_site, q.destination_site);
    l.set_queued(q.queued);
    l.set_ready(q.ready);
    l.set_oldest_waiting_seconds(Age(now, q.oldest_created));
  }
  for (const auto& f : snapshot_.in_flight) {
    auto& l = entry(f.source_site, f.destination_site);
    l.set_in_flight(l.in_flight() + f.files);
    l.set_oldest_in_flight_seconds(std::max(l.oldest_in_flight_seconds(), Age(now, f.oldest_claimed)));
  }
  for (const auto& s : snapshot_.links) {
    auto& l = entry(s.source_site, s.destination_site);
    l.set_limit_current(s.optimized_active);
    l.set_limit_configured(s.max_active > 0 ? s.max_active : config_.default_link_max_active);
  }
  for (const auto& [link, t] : totals_) {
    auto& l = entry(link.first, link.second);
    l.set_done_files(t.done_files);
    l.set_done_bytes(t.done_bytes);
    l.set_failed_attempts(t.failed_attempts);
    for (const auto& [cls, n] : t.failures_by_class) (*l.mutable_failures_by_class())[cls] = n;
    l.set_bytes_per_second_5m(Throughput(t, now, 300));
    l.set_bytes_per_second_1h(Throughput(t, now, kHour));
  }
  std::vector<v1::LinkStats> out;
  for (auto& [link, l] : by_link) {
    if ((source_site.empty() || link.first == source_site) &&
        (destination_site.empty() || link.second == destination_site)) {
      if (l.limit_configured() == 0) l.set_limit_configured(config_.default_link_max_active);
      out.push_back(std::move(l));
    }
  }
  return out;
}

std::vector<v1::UserStats> FleetStats::UserStats(const std::string& user, int limit, int64_t* others) const {
  absl::MutexLock lock(&mu_);
  std::vector<v1::UserStats> all;
  for (const auto& u : snapshot_.users) {
    if (!user.empty() && u.user != user) continue;
    v1::UserStats s;
    s.set_user(u.user);
    s.set_queued(u.queued);
    s.set_ready(u.ready);
    s.set_in_flight(u.in_flight);
    s.set_oldest_waiting_seconds(Age(snapshot_.now, u.oldest_created));
    all.push_back(std::move(s));
  }
  std::sort(all.begin(), all.end(), [](const v1::UserStats& a, const v1::UserStats& b) {
    const int64_t ba = a.queued() + a.in_flight(), bb = b.queued() + b.in_flight();
    return ba != bb ? ba > bb : a.user() < b.user();
  });
  *others = 0;
  if (static_cast<int>(all.size()) > limit) {
    *others = static_cast<int64_t>(all.size()) - limit;
    all.resize(limit);
  }
  return all;
}

}  // namespace aso::monitoring
