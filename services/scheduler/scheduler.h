// The scheduling loop: each RunOnce() re-sends jobs stuck in hand-over, lets the link optimizer adapt
// the links' limits, then, link by link, claims what the throttles allow (fair share between users is
// done by the claim), groups it into jobs and hands them to the fts-adapter. When the adapter cannot be
// reached or the database fails, it backs off. Thread-compatible: one Scheduler per process; several
// processes share the work through the database.
#ifndef ASO_SERVICES_SCHEDULER_SCHEDULER_H_
#define ASO_SERVICES_SCHEDULER_SCHEDULER_H_

#include <functional>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "libs/common/clock.h"
#include "libs/db/scheduling_repository.h"
#include "libs/metrics/metrics.h"
#include "services/scheduler/adapter_stub.h"
#include "services/scheduler/job_planner.h"
#include "services/scheduler/link_optimizer.h"

namespace aso::scheduler {

struct SchedulerConfig {
  int link_max_active = 100;          // a link's ceiling unless it has its own (asoctl links set)
  int default_site_max_active = 200;  // per site and direction, unless the site sets its own
  int max_claim_per_link = 500;       // files claimed per link per round
  int claim_batch_links = 200;        // links claimed in one transaction (one commit)
  JobLimits job_limits;
  // A job still SUBMITTING this long after its claim is re-sent (same id: the adapter de-duplicates).
  absl::Duration resubmit_after = absl::Seconds(30);
  // The transfer backend behind the adapter, and its limit unless set with asoctl (0 = unlimited).
  std::string backend = "fts";
  int backend_max_active = 0;
  // Adaptive link concurrency: how often it decides, and how.
  bool optimize = true;
  absl::Duration optimizer_interval = absl::Seconds(5);
  OptimizerConfig optimizer;
  // The deployment's choice for the sites whose credentials are 'default' (docs/credentials.md): on: their
  // files move with their owners' delegated credentials. On a link where either site moves files with
  // owners' credentials, a user whose credential is missing or has less than credential_min_remaining
  // left has their queued files held, checked every holds_interval.
  bool user_credentials = false;
  absl::Duration credential_min_remaining = absl::Hours(1);
  absl::Duration holds_interval = absl::Seconds(10);
  // Pause after a failed round (database) or an unreachable adapter, doubling up to the maximum.
  absl::Duration min_backoff = absl::Milliseconds(500);
  absl::Duration max_backoff = absl::Seconds(30);
};

class Scheduler {
 public:
  Scheduler(db::SchedulingRepository& repo, AdapterStub& adapter, Clock& clock, SchedulerConfig config,
            metrics::Metrics& metrics);

  // One scheduling round. Returns the number of files handed to the adapter. During a back-off it does
  // nothing and returns 0.
  absl::StatusOr<int> RunOnce();

  // The limit a link runs with now: its adaptive value within [min_active, ceiling].
  int LinkLimit(const db::LinkLoad& link) const;
  int LinkCeiling(const db::LinkLoad& link) const;

  const SchedulerConfig& config() const { return config_; }
  absl::Time backoff_until() const { return backoff_until_; }

 private:
  absl::StatusOr<int> Round(absl::Time now);
  // Claims on a batch of links in one transaction, sends the jobs and records the links' waiting
  // reasons; empties `batch` and `links`. UNAVAILABLE when the database or the adapter is down.
  absl::StatusOr<int> ClaimAndSend(absl::Time now, std::vector<db::LinkClaim>& batch,
                                   std::vector<const db::LinkLoad*>& links,
                                   const std::function<void(const db::LinkLoad&, std::string)>& note_waiting);
  // One optimizer step, if it is due (for all replicas: the step's time is in the database). The limits
  // it stores are also set in `links`, for the rest of the round.
  absl::Status Optimize(absl::Time now, std::vector<db::LinkLoad>& links);
  // Sends one job. Returns OK(true) when the adapter took it, OK(false) when it will be re-sent or
  // failed for good, UNAVAILABLE when the adapter could not be reached (it will be re-sent).
  absl::StatusOr<bool> Submit(const db::PendingJob& job);
  // Sends the jobs (`fresh`: just claimed, never sent) and marks the files of those taken SUBMITTED.
  // Returns the number of files taken; stops at an unreachable adapter (UNAVAILABLE). Fresh jobs that were
  // certainly not delivered (the adapter known unreachable before the call) go back to the queue.
  absl::StatusOr<int> SubmitAll(const std::vector<db::PendingJob>& jobs, bool fresh);
  void ReturnUnsent(const db::PendingJob& job);
  void BackOff(absl::Time now);
  void BackendReachable(bool reachable, const std::string& error, absl::Time now);

  db::SchedulingRepository& repo_;
  AdapterStub& adapter_;
  Clock& clock_;
  SchedulerConfig config_;
  absl::Time backoff_until_ = absl::InfinitePast();
  absl::Time next_holds_ = absl::InfinitePast();
  absl::Duration backoff_ = absl::ZeroDuration();
  bool backend_reachable_ = true;  // as last read from or written to table backends
  absl::Time last_optimized_ = absl::InfinitePast();
  metrics::CounterVec files_dispatched_;
  metrics::CounterVec submit_errors_;
  metrics::GaugeVec link_limit_;
  metrics::GaugeVec backend_available_;
  metrics::CounterVec rounds_;
  metrics::GaugeVec links_waiting_;
  metrics::GaugeVec users_held_;
};

}  // namespace aso::scheduler

#endif  // ASO_SERVICES_SCHEDULER_SCHEDULER_H_
