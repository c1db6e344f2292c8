#include "services/scheduler/scheduler.h"

#include "absl/strings/str_cat.h"
#include "libs/common/logging.h"

namespace aso::scheduler {
namespace {

// Statuses that mean the adapter understood the job and will never take it.
bool IsPermanentRefusal(const absl::Status& s) {
  return absl::IsInvalidArgument(s) || absl::IsFailedPrecondition(s) || absl::IsPermissionDenied(s) ||
         absl::IsUnimplemented(s);
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
                                        "Jobs the fts-adapter did not accept, by status code.", {"code"})) {}

int Scheduler::SubmitAll(const std::vector<db::PendingJob>& jobs) {
  std::vector<std::string> accepted;
  int files = 0;
  for (const auto& job : jobs) {
    if (Submit(job)) {
      accepted.push_back(job.job_id);
      files += static_cast<int>(job.files.size());
    }
  }
  if (accepted.empty()) return 0;
  // One transaction for every accepted job of the round. Should it fail, the files stay SUBMITTING and
  // are re-sent later under the same job ids, which the adapter recognises.
  auto marked = repo_.MarkSubmitted(accepted, clock_.Now());
  if (!marked.ok()) {
    ASO_LOG(WARNING, accepted.size(), " accepted job(s) not marked SUBMITTED: ", marked.status().message());
  }
  return files;
}

bool Scheduler::Submit(const db::PendingJob& job) {
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
    // The adapter may or may not have stored it: the files stay SUBMITTING and the same job id is
    // re-sent after resubmit_after.
    ASO_LOG(WARNING, "job=", job.job_id, " not confirmed by the adapter (", known.status().message(),
            "); will re-send");
    return false;
  }
  files_dispatched_.Inc({job.source_site, job.destination_site}, static_cast<double>(job.files.size()));
  ASO_LOG(INFO, "submitted job=", job.job_id, " link=", job.source_site, "->", job.destination_site,
          " user=", msg.user(), " files=", job.files.size(), *known ? " (re-sent)" : "");
  return true;
}

absl::StatusOr<int> Scheduler::RunOnce() {
  int dispatched = 0;
  const absl::Time now = clock_.Now();
  auto expired = repo_.ExpireOverdue(now, 100);
  if (!expired.ok()) return expired.status();
  if (*expired > 0) ASO_LOG(INFO, *expired, " queued file(s) failed: their task's deadline passed");
  auto stale = repo_.TakeStalePendingJobs(now - config_.resubmit_after, now, 100);
  if (!stale.ok()) return stale.status();
  dispatched += SubmitAll(*stale);

  auto links = repo_.ListLinks(now);
  if (!links.ok()) return links.status();
  for (const auto& link : *links) {
    if (link.queued_ready == 0 || link.active >= config_.link_max_active) continue;
    db::ClaimLimits limits;
    limits.link_max_active = config_.link_max_active;
    limits.default_site_max_active = config_.default_site_max_active;
    limits.max_files = config_.max_claim_per_link;
    auto jobs = repo_.ClaimForLink(
        link.source_site, link.destination_site, limits, now,
        [this](const std::vector<db::ClaimedFile>& files) { return PlanJobs(files, config_.job_limits); });
    if (!jobs.ok()) {
      ASO_LOG(WARNING, "claim on link ", link.source_site, "->", link.destination_site,
              " failed: ", jobs.status().message());
      continue;
    }
    dispatched += SubmitAll(*jobs);
  }
  return dispatched;
}

}  // namespace aso::scheduler
