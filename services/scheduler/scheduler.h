// The scheduling loop: each RunOnce() re-sends jobs stuck in hand-over, then, link by link, claims what
// the throttles allow, groups it into jobs and hands them to the fts-adapter. Thread-compatible: one
// Scheduler per process; several processes share the work through the database.
#ifndef ASO_SERVICES_SCHEDULER_SCHEDULER_H_
#define ASO_SERVICES_SCHEDULER_SCHEDULER_H_

#include "absl/status/statusor.h"
#include "libs/common/clock.h"
#include "libs/db/scheduling_repository.h"
#include "libs/metrics/metrics.h"
#include "services/scheduler/adapter_stub.h"
#include "services/scheduler/job_planner.h"

namespace aso::scheduler {

struct SchedulerConfig {
  int link_max_active = 100;          // active transfers per link
  int default_site_max_active = 200;  // per site and direction, unless the site sets its own
  int max_claim_per_link = 500;       // files claimed per link per round
  JobLimits job_limits;
  // A job still SUBMITTING this long after its claim is re-sent (same id: the adapter de-duplicates).
  absl::Duration resubmit_after = absl::Seconds(30);
};

class Scheduler {
 public:
  Scheduler(db::SchedulingRepository& repo, AdapterStub& adapter, Clock& clock, SchedulerConfig config,
            metrics::Metrics& metrics);

  // One scheduling round. Returns the number of files handed to the adapter.
  absl::StatusOr<int> RunOnce();

  const SchedulerConfig& config() const { return config_; }

 private:
  // Sends one job. Returns whether the adapter took it.
  bool Submit(const db::PendingJob& job);
  // Sends the jobs and marks the files of those taken SUBMITTED. Returns the number of files taken.
  int SubmitAll(const std::vector<db::PendingJob>& jobs);

  db::SchedulingRepository& repo_;
  AdapterStub& adapter_;
  Clock& clock_;
  SchedulerConfig config_;
  metrics::CounterVec files_dispatched_;
  metrics::CounterVec submit_errors_;
};

}  // namespace aso::scheduler

#endif  // ASO_SERVICES_SCHEDULER_SCHEDULER_H_
