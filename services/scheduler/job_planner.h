// Groups claimed files into bulk backend jobs: one (user, source site, destination site) per job, at most
// max_files files and max_bytes bytes each, with a deterministic job id so a job re-sent after a crash is
// recognised by the backend. Pure logic.
#ifndef ASO_SERVICES_SCHEDULER_JOB_PLANNER_H_
#define ASO_SERVICES_SCHEDULER_JOB_PLANNER_H_

#include <vector>

#include "absl/time/time.h"

#include "aso/fts_adapter/v1/fts_adapter.pb.h"
#include "libs/db/scheduling_repository.h"

namespace aso::scheduler {

struct JobLimits {
  int max_files = 100;
  int64_t max_bytes = int64_t{50} << 30;  // 50 GiB
  // How long a user's last, partly filled job may be held back to fill up (when the caller allows it).
  absl::Duration linger = absl::Seconds(1);
};

// Files of one link, in claim order (priority first). A file larger than max_bytes gets a job of its own.
// With `may_linger` (the scheduler allows it while the link has files in flight, as Nagle's algorithm
// does: an idle link sends at once), each user's last job, if it has fewer than max_files files all
// queued for less than `linger` before `now`, is left out so that its files stay QUEUED and join a fuller
// job in a later round.
std::vector<db::JobPlan> PlanJobs(const std::vector<db::ClaimedFile>& files, const JobLimits& limits,
                                  absl::Time now = absl::InfinitePast(), bool may_linger = false);

// "aso-<first transfer id>-<its attempt>-<hash of all (transfer, attempt)>": a transfer is in exactly one
// job per attempt, so the id names the job; the hash catches a different grouping under the same head.
std::string JobIdFor(const std::vector<const db::ClaimedFile*>& files);

// The job as the fts-adapter receives it. The task id is set when all files share one task.
aso::fts_adapter::v1::Job JobMessage(const db::PendingJob& job);

}  // namespace aso::scheduler

#endif  // ASO_SERVICES_SCHEDULER_JOB_PLANNER_H_
