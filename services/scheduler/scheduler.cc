#include "services/scheduler/scheduler.h"

#include <algorithm>
#include <map>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "libs/common/logging.h"

namespace aso::scheduler {
namespace {

// Statuses that mean the adapter understood the job and will never take it.
bool IsPermanentRefusal(const absl::Status& s) {
  return absl::IsInvalidArgument(s) || absl::IsFailedPrecondition(s) || absl::IsPermissionDenied(s) ||
         absl::IsUnimplemented(s);
}

std::string LinkKey(const std::string& source, const std::string& destination) {
  return absl::StrCat(source, "\n", destination);
}

// The kind of a link's waiting reason (the texts of Round and SchedulingRepository's claim), for the
// aso_scheduler_links_waiting metric.
std::string WaitingKind(absl::string_view reason) {
  if (absl::StrContains(reason, " is paused")) return "paused";
  if (absl::StartsWith(reason, "link ") && absl::StrContains(reason, " is full")) return "link_full";
  if (absl::StrContains(reason, "its maximum")) return "site_limit";
  if (absl::StartsWith(reason, "transfer backend ") && absl::StrContains(reason, " is full")) {
    return "backend_limit";
  }
  return "other";
}

}  // namespace

Scheduler::Scheduler(db::SchedulingRepository& repo, AdapterStub& adapter, Clock& clock,
                     SchedulerConfig config, metrics::Metrics& metrics)
    : repo_(repo),
      adapter_(adapter),
      clock_(clock),
      config_(config),
      files_dispatched_(metrics.AddCounter("aso_scheduler_files_dispatched_total",
                                           "Files handed to the fts-adapter, by link.",
                                           {"source_site", "destination_site"})),
      submit_errors_(metrics.AddCounter("aso_scheduler_submit_errors_total",
                                        "Jobs the fts-adapter did not accept, by status code.", {"code"})),
      link_limit_(metrics.AddGauge("aso_scheduler_link_limit",
                                   "Active transfers a link may have now (its adaptive concurrency).",
                                   {"source_site", "destination_site"})),
      backend_available_(metrics.AddGauge("aso_scheduler_backend_available",
                                          "1 when the scheduler reaches the transfer backend, else 0.",
                                          {"backend"})),
      rounds_(metrics.AddCounter("aso_scheduler_rounds_total", "Scheduling rounds, by result (ok, error).",
                                 {"result"})),
      links_waiting_(metrics.AddGauge("aso_scheduler_links_waiting",
                                      "Links whose ready files are held after the last round, by reason.",
                                      {"reason"})),
      users_held_(metrics.AddGauge("aso_scheduler_users_held",
                                   "Users whose queued files are held: their delegated credential is missing "
                                   "or expires too soon (only when files move with users' credentials).",
                                   {})) {
  backend_available_.Set({config_.backend}, 1);
  users_held_.Set({}, 0);
  for (const char* r : {"ok", "error"}) rounds_.Inc({r}, 0);
  submit_errors_.Inc({"UNAVAILABLE"}, 0);
}

int Scheduler::LinkCeiling(const db::LinkLoad& link) const {
  return link.max_active > 0 ? link.max_active : config_.link_max_active;
}

int Scheduler::LinkLimit(const db::LinkLoad& link) const {
  const int ceiling = LinkCeiling(link);
  return config_.optimize ? EffectiveLimit(link, ceiling, config_.optimizer) : ceiling;
}

void Scheduler::BackOff(absl::Time now) {
  backoff_ = std::clamp(backoff_ * 2, config_.min_backoff, config_.max_backoff);
  backoff_until_ = now + backoff_;
}

void Scheduler::BackendReachable(bool reachable, const std::string& error, absl::Time now) {
  if (reachable == backend_reachable_) return;
  backend_reachable_ = reachable;
  backend_available_.Set({config_.backend}, reachable ? 1 : 0);
  if (reachable) {
    ASO_LOG(INFO, "transfer backend ", config_.backend, " reachable again");
  } else {
    ASO_LOG(WARNING, "transfer backend ", config_.backend, " unreachable: ", error);
  }
  // Shown as the waiting reason of queued files; a failure to record it is retried at the next change.
  if (auto s = repo_.SetBackendAvailable(config_.backend, reachable, error, now); !s.ok()) {
    backend_reachable_ = !reachable;
  }
}

void Scheduler::ReturnUnsent(const db::PendingJob& job) {
  auto back = repo_.ReturnUnsentJob(job.job_id, clock_.Now());
  if (!back.ok()) {
    // Left SUBMITTING: re-sent under the same id after resubmit_after.
    ASO_LOG(WARNING, "job=", job.job_id, " not returned to the queue: ", back.status().message());
    return;
  }
  ASO_LOG(WARNING, "job=", job.job_id, " not sent (adapter unreachable); ", *back,
          " file(s) back in the queue");
}

absl::StatusOr<int> Scheduler::SubmitAll(const std::vector<db::PendingJob>& jobs, bool fresh) {
  std::vector<std::string> accepted;
  int files = 0;
  absl::Status unreachable;
  for (const auto& job : jobs) {
    // Once the adapter is unreachable, the remaining jobs are not tried: fresh ones go back to the queue
    // (never sent), re-sent ones stay SUBMITTING and are re-sent under the same ids after resubmit_after.
    if (!unreachable.ok()) {
      if (fresh) ReturnUnsent(job);
      continue;
    }
    if (fresh && adapter_.KnownUnreachable()) {
      // The call would be refused before reaching the adapter: the job is certainly not delivered.
      ReturnUnsent(job);
      unreachable = absl::UnavailableError("the fts-adapter cannot be reached (connection failing)");
      continue;
    }
    auto taken = Submit(job);
    if (!taken.ok()) {
      unreachable = taken.status();
      continue;
    }
    if (*taken) {
      accepted.push_back(job.job_id);
      files += static_cast<int>(job.files.size());
    }
  }
  if (!accepted.empty()) {
    // One transaction for every accepted job of the round. Should it fail, the files stay SUBMITTING and
    // are re-sent later under the same job ids, which the adapter recognises.
    auto marked = repo_.MarkSubmitted(accepted, clock_.Now());
    if (!marked.ok()) {
      ASO_LOG(WARNING, accepted.size(), " accepted job(s) not marked SUBMITTED: ", marked.status().message());
    }
  }
  if (!unreachable.ok()) return unreachable;
  return files;
}

absl::StatusOr<bool> Scheduler::Submit(const db::PendingJob& job) {
  const aso::fts_adapter::v1::Job msg = JobMessage(job);
  auto known = adapter_.SubmitJob(msg);
  if (!known.ok()) {
    submit_errors_.Inc({absl::StatusCodeToString(known.status().code())});
    if (IsPermanentRefusal(known.status())) {
      // Sending the same job again would be refused again: fail its files with the adapter's reason.
      auto failed = repo_.FailRefusedJob(
          job.job_id, absl::StrCat("the transfer backend refused the job: ", known.status().message()),
          clock_.Now());
      ASO_LOG(ERROR, "job=", job.job_id, " refused by the adapter (", known.status().message(), "); ",
              failed.ok() ? *failed : 0, " file(s) FAILED");
      return false;
    }
    // The adapter may or may not have stored the job (a call can fail after the adapter committed it), so
    // its files stay SUBMITTING, counted against the limits, and the same job id is re-sent after
    // resubmit_after: the adapter recognises it, and no file is ever run under two jobs.
    ASO_LOG(WARNING, "job=", job.job_id, " not confirmed by the adapter (", known.status().message(),
            "); will re-send");
    if (absl::IsUnavailable(known.status())) {
      return absl::UnavailableError(std::string(known.status().message()));
    }
    return false;
  }
  BackendReachable(true, "", clock_.Now());
  files_dispatched_.Inc({job.source_site, job.destination_site}, static_cast<double>(job.files.size()));
  ASO_LOG(INFO, "submitted job=", job.job_id, " link=", job.source_site, "->", job.destination_site,
          " user=", msg.user(), " files=", job.files.size(), *known ? " (re-sent)" : "");
  return true;
}

absl::Status Scheduler::Optimize(absl::Time now, std::vector<db::LinkLoad>& links) {
  if (!config_.optimize || now - last_optimized_ < config_.optimizer_interval) return absl::OkStatus();
  absl::flat_hash_map<std::string, db::LinkLoad*> by_key;
  for (auto& l : links) by_key[LinkKey(l.source_site, l.destination_site)] = &l;
  std::vector<db::LinkDecision> made;
  auto result = repo_.OptimizeLinks(
      now, config_.optimizer_interval,
      [&](const std::vector<db::LinkOutcomes>& outcomes, absl::Duration window) {
        std::vector<db::LinkDecision> decisions;
        absl::flat_hash_map<std::string, const db::LinkOutcomes*> finished;
        for (const auto& o : outcomes) finished[LinkKey(o.source_site, o.destination_site)] = &o;
        for (const auto& [key, link] : by_key) {
          auto it = finished.find(key);
          if (it == finished.end()) {
            // Nothing finished: the limit holds; recorded once so the API shows where the link starts.
            if (link->optimized_active == 0 && (link->queued > 0 || link->active > 0)) {
              decisions.push_back({link->source_site, link->destination_site, LinkLimit(*link), -1, -1,
                                   "starting in the middle of the range"});
            }
            continue;
          }
          db::LinkDecision d = Decide(*link, LinkCeiling(*link), *it->second, window, config_.optimizer);
          if (d.optimized_active != LinkLimit(*link)) {
            ASO_LOG(INFO, "link ", link->source_site, "->", link->destination_site, " limit ",
                    LinkLimit(*link), " -> ", d.optimized_active, " (", d.reason, ")");
          }
          decisions.push_back(std::move(d));
        }
        made = decisions;
        return decisions;
      });
  if (!result.ok()) return result.status();
  if (*result) {
    // Stored: the round goes on with the new limits.
    for (const auto& d : made) {
      db::LinkLoad& link = *by_key.at(LinkKey(d.source_site, d.destination_site));
      link.optimized_active = d.optimized_active;
      link.success_rate = d.success_rate;
      link.throughput = d.throughput;
      link.optimizer_reason = d.reason;
    }
  }
  // Whether this replica stepped or another did lately, the next look is an interval away.
  last_optimized_ = now;
  return absl::OkStatus();
}

absl::StatusOr<int> Scheduler::ClaimAndSend(
    absl::Time now, std::vector<db::LinkClaim>& batch, std::vector<const db::LinkLoad*>& links,
    const std::function<void(const db::LinkLoad&, std::string)>& note_waiting) {
  // The claim time is taken now, not at the start of the round: it starts the resubmission delay.
  const absl::Time claimed_at = std::max(now, clock_.Now());
  // While a link has files in flight, a partly filled job may wait for more files (see PlanJobs).
  auto claimed =
      repo_.ClaimForLinks(batch, claimed_at, [&](size_t i, const std::vector<db::ClaimedFile>& files) {
        return PlanJobs(files, config_.job_limits, claimed_at, links[i]->active > 0);
      });
  const std::vector<const db::LinkLoad*> done_links = std::move(links);
  batch.clear();
  links.clear();
  if (!claimed.ok()) {
    ASO_LOG(WARNING, "claim on ", done_links.size(), " link(s) failed: ", claimed.status().message());
    if (absl::IsUnavailable(claimed.status())) return claimed.status();
    return 0;
  }
  std::vector<db::PendingJob> jobs;
  for (size_t i = 0; i < claimed->size(); ++i) {
    auto& r = (*claimed)[i];
    if (r.skipped) continue;  // another replica is claiming on one of its sites
    note_waiting(*done_links[i], std::move(r.waiting));
    for (auto& j : r.jobs) jobs.push_back(std::move(j));
  }
  auto sent = SubmitAll(jobs, /*fresh=*/true);
  if (!sent.ok()) return absl::UnavailableError(absl::StrCat("adapter: ", sent.status().message()));
  return *sent;
}

absl::StatusOr<int> Scheduler::RunOnce() {
  const absl::Time now = clock_.Now();
  if (now < backoff_until_) return 0;
  auto n = Round(now);
  rounds_.Inc({n.ok() ? "ok" : "error"});
  if (n.ok()) {
    backoff_ = absl::ZeroDuration();
    return n;
  }
  if (absl::IsUnavailable(n.status()) && n.status().message().rfind("adapter:", 0) == 0) {
    BackendReachable(false, std::string(n.status().message()), now);
  }
  BackOff(now);
  return n.status();
}

absl::StatusOr<int> Scheduler::Round(absl::Time now) {
  int dispatched = 0;
  auto expired = repo_.ExpireOverdue(now, 100);
  if (!expired.ok()) return expired.status();
  if (*expired > 0) ASO_LOG(INFO, *expired, " queued file(s) failed: their task's deadline passed");
  auto adapter_down = [](const absl::Status& s) {
    return absl::UnavailableError(absl::StrCat("adapter: ", s.message()));
  };
  auto stale = repo_.TakeStalePendingJobs(now - config_.resubmit_after, now, 100);
  if (!stale.ok()) return stale.status();
  auto resent = SubmitAll(*stale, /*fresh=*/false);
  if (!resent.ok()) return adapter_down(resent.status());
  dispatched += *resent;

  if (now >= next_holds_) {
    auto held = repo_.RefreshUserHolds(config_.user_credentials, config_.credential_min_remaining, now);
    if (!held.ok()) return held.status();
    users_held_.Set({}, *held);
    next_holds_ = now + config_.holds_interval;
  }
  auto links = repo_.ListLinks(now);
  if (!links.ok()) return links.status();
  if (auto s = Optimize(now, *links); !s.ok()) {
    ASO_LOG(WARNING, "link optimizer step failed: ", s.message());
  }
  auto backend = repo_.GetBackend(config_.backend);
  if (!backend.ok()) return backend.status();
  const int backend_limit = backend->max_active > 0 ? backend->max_active : config_.backend_max_active;
  // The database is the record (another replica or an earlier process may have written it).
  backend_reachable_ = backend->available;

  std::vector<std::pair<std::string, std::string>> waiting_links;
  std::vector<std::string> waiting_reasons;
  // Only changes are written: the links' stored reasons came with ListLinks.
  std::function<void(const db::LinkLoad&, std::string)> note_waiting = [&](const db::LinkLoad& link,
                                                                           std::string reason) {
    if (link.waiting_reason == reason) return;
    waiting_links.emplace_back(link.source_site, link.destination_site);
    waiting_reasons.push_back(std::move(reason));
  };
  std::vector<db::LinkClaim> batch;
  std::vector<const db::LinkLoad*> batch_links;
  absl::Status failure;
  for (const auto& link : *links) {
    const int limit = LinkLimit(link);
    link_limit_.Set({link.source_site, link.destination_site}, limit);
    if (link.queued_ready == 0 || link.source_state != "ENABLED" || link.destination_state != "ENABLED") {
      note_waiting(link, "");  // nothing ready, or the site's state says why
      continue;
    }
    if (link.paused) {
      note_waiting(link, absl::StrCat("link ", link.source_site, " -> ", link.destination_site,
                                      " is paused by an administrator"));
      continue;
    }
    if (link.active >= limit) {
      note_waiting(link, absl::StrCat("link ", link.source_site, " -> ", link.destination_site,
                                      " is full: ", link.active, " of ", limit, " transfers active"));
      continue;
    }
    db::LinkClaim claim{link.source_site, link.destination_site, {}};
    claim.limits.link_max_active = limit;
    claim.limits.default_site_max_active = config_.default_site_max_active;
    claim.limits.max_files = config_.max_claim_per_link;
    claim.limits.backend = config_.backend;
    claim.limits.backend_max_active = backend_limit;
    claim.limits.credential_min_remaining = config_.credential_min_remaining;
    batch.push_back(std::move(claim));
    batch_links.push_back(&link);
    if (batch.size() >= static_cast<size_t>(std::max(config_.claim_batch_links, 1))) {
      auto sent = ClaimAndSend(now, batch, batch_links, note_waiting);
      if (!sent.ok()) {
        failure = sent.status();
        break;
      }
      dispatched += *sent;
    }
  }
  if (failure.ok() && !batch.empty()) {
    auto sent = ClaimAndSend(now, batch, batch_links, note_waiting);
    if (sent.ok()) dispatched += *sent;
    if (!sent.ok()) failure = sent.status();
  }
  // Links held, by kind of reason: each link's reason as noted in this round, else the one it had.
  absl::flat_hash_map<std::pair<std::string, std::string>, std::string> reasons;
  for (const auto& link : *links) reasons[{link.source_site, link.destination_site}] = link.waiting_reason;
  for (size_t i = 0; i < waiting_links.size(); ++i) reasons[waiting_links[i]] = waiting_reasons[i];
  std::map<std::string, int> held = {
      {"paused", 0}, {"link_full", 0}, {"site_limit", 0}, {"backend_limit", 0}, {"other", 0}};
  for (const auto& [key, reason] : reasons) {
    if (!reason.empty()) ++held[WaitingKind(reason)];
  }
  for (const auto& [kind, n] : held) links_waiting_.Set({kind}, n);
  if (auto s = repo_.SetLinkWaiting(waiting_links, waiting_reasons); !s.ok()) {
    ASO_LOG(WARNING, "waiting reasons not stored (next round): ", s.message());
  }
  if (!failure.ok()) return failure;
  return dispatched;
}

}  // namespace aso::scheduler
