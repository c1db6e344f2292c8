// What the scheduler reads and writes: links with work, atomic claims within throttles, and the
// hand-over of claimed files to the backend. Thread-safe; safe with several scheduler replicas.
#ifndef ASO_LIBS_DB_SCHEDULING_REPOSITORY_H_
#define ASO_LIBS_DB_SCHEDULING_REPOSITORY_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "libs/db/database.h"

namespace aso::db {

struct LinkLoad {
  std::string source_site;
  std::string destination_site;
  int64_t queued_ready = 0;  // QUEUED with not_before <= now, both sites enabled
  int64_t queued = 0;        // all QUEUED
  int64_t active = 0;        // SUBMITTING + SUBMITTED + ACTIVE
};

// A transfer as claimed for one attempt.
struct ClaimedFile {
  int64_t transfer_id = 0;
  int32_t attempt = 0;  // the attempt now starting
  std::string user;
  std::string task_id;
  std::string source_url;
  std::string destination_url;
  int64_t size_bytes = 0;
  std::string checksum;
};

// Files to send to the backend as one bulk job.
struct JobPlan {
  std::string job_id;
  std::vector<int64_t> transfer_ids;
};

struct ClaimLimits {
  int link_max_active = 0;          // for this link
  int default_site_max_active = 0;  // for a site whose own limit is 0
  int max_files = 0;                // claimed in one call at most
};

// A job whose files are SUBMITTING: claimed, not yet confirmed by the backend.
struct PendingJob {
  std::string job_id;
  std::string source_site;
  std::string destination_site;
  std::vector<ClaimedFile> files;
};

class SchedulingRepository {
 public:
  virtual ~SchedulingRepository() = default;

  // Links that have queued or active transfers.
  virtual absl::StatusOr<std::vector<LinkLoad>> ListLinks(absl::Time now) = 0;

  // In one transaction, holding the throttle locks of both sites: claims up to the free capacity of the
  // link and of both sites' outbound/inbound limits (QUEUED, not_before <= now, best priority first),
  // lets `plan` group them into jobs, and marks every planned file SUBMITTING with its job id and the
  // next attempt number. Files `plan` leaves out stay QUEUED. Returns the planned jobs.
  virtual absl::StatusOr<std::vector<PendingJob>> ClaimForLink(
      const std::string& source_site, const std::string& destination_site, const ClaimLimits& limits,
      absl::Time now, const std::function<std::vector<JobPlan>(const std::vector<ClaimedFile>&)>& plan) = 0;

  // SUBMITTING -> SUBMITTED for the files of the jobs, in one transaction: the acceptance is recorded once
  // per job (table submissions), not per file. Returns how many files the jobs confirmed now hold.
  virtual absl::StatusOr<int> MarkSubmitted(const std::vector<std::string>& job_ids, absl::Time now) = 0;

  // QUEUED -> FAILED (class MAX_TIME_IN_QUEUE) for the files of up to `max_tasks` tasks whose deadline
  // passed by `now`; each task is swept once. Returns how many files failed.
  virtual absl::StatusOr<int> ExpireOverdue(absl::Time now, int max_tasks) = 0;

  // SUBMITTING -> FAILED (class BACKEND, `reason`) for the files of a job the backend refused for good,
  // so they are not re-sent forever. Returns how many changed.
  virtual absl::StatusOr<int> FailRefusedJob(const std::string& job_id, const std::string& reason,
                                             absl::Time now) = 0;

  // Jobs whose files have been SUBMITTING since before `claimed_before` (the scheduler or the adapter
  // died mid-hand-over); their claim time is renewed to `now` so one replica takes each.
  virtual absl::StatusOr<std::vector<PendingJob>> TakeStalePendingJobs(absl::Time claimed_before,
                                                                       absl::Time now, int limit) = 0;
};

class PgSchedulingRepository final : public SchedulingRepository {
 public:
  explicit PgSchedulingRepository(Database& db) : db_(db) {}
  absl::StatusOr<std::vector<LinkLoad>> ListLinks(absl::Time now) override;
  absl::StatusOr<std::vector<PendingJob>> ClaimForLink(
      const std::string& source_site, const std::string& destination_site, const ClaimLimits& limits,
      absl::Time now,
      const std::function<std::vector<JobPlan>(const std::vector<ClaimedFile>&)>& plan) override;
  absl::StatusOr<int> MarkSubmitted(const std::vector<std::string>& job_ids, absl::Time now) override;
  absl::StatusOr<int> ExpireOverdue(absl::Time now, int max_tasks) override;
  absl::StatusOr<int> FailRefusedJob(const std::string& job_id, const std::string& reason,
                                     absl::Time now) override;
  absl::StatusOr<std::vector<PendingJob>> TakeStalePendingJobs(absl::Time claimed_before, absl::Time now,
                                                               int limit) override;

 private:
  Database& db_;
};

}  // namespace aso::db

#endif  // ASO_LIBS_DB_SCHEDULING_REPOSITORY_H_
