// What the scheduler reads and writes: links with work, atomic claims within throttles, and the
// hand-over of claimed files to the backend. Thread-safe; safe with several scheduler replicas.
#ifndef ASO_LIBS_DB_SCHEDULING_REPOSITORY_H_
#define ASO_LIBS_DB_SCHEDULING_REPOSITORY_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "libs/db/database.h"

namespace aso::db {

// A link with work or with settings of its own (table links), its load and its throttle state.
struct LinkLoad {
  std::string source_site;
  std::string destination_site;
  int64_t queued_ready = 0;                   // QUEUED with not_before <= now
  int64_t queued = 0;                         // all QUEUED
  int64_t active = 0;                         // SUBMITTING + SUBMITTED + ACTIVE
  std::string source_state = "ENABLED";       // of the source site: ENABLED, DRAINING or BANNED
  std::string destination_state = "ENABLED";  // of the destination site
  bool paused = false;                        // by an admin
  int max_active = 0;                         // the link's own ceiling; 0 = the scheduler's default
  int optimized_active = 0;                   // the adaptive limit in force; 0 = not decided yet
  double success_rate = -1;                   // of the optimizer's last window; -1 = none yet
  double throughput = -1;                     // bytes/s of the optimizer's last window; -1 = none yet
  std::string optimizer_reason;
  std::string waiting_reason;  // why its ready files wait, as the scheduler last saw it
};

// What finished on one link: attempts recorded after a given attempt id.
struct LinkOutcomes {
  std::string source_site;
  std::string destination_site;
  int64_t done = 0;
  int64_t failed = 0;  // failures that say something about the link (not a missing source, not a cancel)
  int64_t bytes = 0;   // of the successful copies
};

// A new adaptive limit for a link, with the window figures that led to it.
struct LinkDecision {
  std::string source_site;
  std::string destination_site;
  int optimized_active = 0;
  double success_rate = -1;
  double throughput = -1;
  std::string reason;
};

// A transfer backend (FTS server) as the scheduler sees it.
struct BackendState {
  std::string name;
  int max_active = 0;  // 0 = the scheduler's default
  bool available = true;
  std::string last_error;
  absl::Time unavailable_since = absl::InfinitePast();
  int64_t active = -1;  // files in flight (all links); -1 when not counted
};

// Queued and in-flight files of one group (a link "SRC -> DST", a site or a user).
struct QueueGroup {
  std::string key;
  int64_t queued = 0;
  int64_t ready = 0;  // not held back by a retry cool-off
  int64_t active = 0;
};
enum class QueueGrouping { kLink, kSourceSite, kDestinationSite, kUser };

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
  int32_t priority = 3;
  absl::Time queued_since;  // when it was (re-)queued
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
  // In flight through the backend, all links together; 0 = unlimited. Checked under a lock of its own
  // (the name), so replicas claiming for different links wait on each other only when it is set.
  std::string backend;
  int backend_max_active = 0;
  // On a link moving files with their owners' credentials (either site's, sites.credentials), only users
  // whose delegated credential has at least credential_min_remaining left (or can be renewed) are claimed
  // for.
  absl::Duration credential_min_remaining = absl::ZeroDuration();
};

// A job whose files are SUBMITTING: claimed, not yet confirmed by the backend.
struct PendingJob {
  std::string job_id;
  std::string source_site;
  std::string destination_site;
  std::vector<ClaimedFile> files;
};

// One link of a batched claim.
struct LinkClaim {
  std::string source_site;
  std::string destination_site;
  ClaimLimits limits;
};
struct LinkClaimResult {
  std::vector<PendingJob> jobs;
  std::string waiting;   // as ClaimForLink's
  bool skipped = false;  // another claimer held one of its throttle locks: nothing claimed
};

class SchedulingRepository {
 public:
  virtual ~SchedulingRepository() = default;

  // Links that have queued or active transfers or settings of their own.
  virtual absl::StatusOr<std::vector<LinkLoad>> ListLinks(absl::Time now) = 0;

  // In one transaction, holding the throttle locks of both sites (and of the backend if it is limited):
  // claims up to the free capacity of the link, of both sites' outbound/inbound limits and of the
  // backend, among QUEUED files with not_before <= now. The slots are shared between the link's users by
  // stride scheduling (weights in user_shares, passes in link_shares): each goes to the user with ready
  // files whose pass is smallest, so every user with work gets the same weighted rate whatever the size
  // of its backlog; a user's own files go best priority first. Nothing is claimed when a site is not
  // ENABLED. `plan` groups the files into jobs; every planned file becomes SUBMITTING with its job id and
  // the next attempt number, files `plan` leaves out stay QUEUED. Returns the planned jobs. When a limit
  // stopped the claim before the link's ready files ran out, `waiting` (if given) receives it in words
  // ("link A -> B is full: 100 of 100 active", ...); else it is cleared.
  virtual absl::StatusOr<std::vector<PendingJob>> ClaimForLink(
      const std::string& source_site, const std::string& destination_site, const ClaimLimits& limits,
      absl::Time now, const std::function<std::vector<JobPlan>(const std::vector<ClaimedFile>&)>& plan,
      std::string* waiting = nullptr) = 0;

  // ClaimForLink for many links in one transaction (one commit for all), in order. A link whose throttle
  // locks another claimer holds is skipped, not waited for, so batches of several replicas cannot
  // deadlock; its turn comes in a later round. `plan` gets the index of the link in `links`. A batch costs a
  // few statements, not a few per link: the locks and the links' loads are read in one statement each, the
  // files per link, and every claim is written in one. The links share the site and backend limits
  // (default_site_max_active, backend, backend_max_active) and name each link once; else
  // INVALID_ARGUMENT.
  virtual absl::StatusOr<std::vector<LinkClaimResult>> ClaimForLinks(
      const std::vector<LinkClaim>& links, absl::Time now,
      const std::function<std::vector<JobPlan>(size_t link, const std::vector<ClaimedFile>&)>& plan) = 0;

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

  // A job that was never sent (the adapter was known to be unreachable): its files go back to QUEUED as
  // they were before the claim (attempt number included; KILLED if a kill waits) and the job is dropped.
  // Returns how many changed.
  virtual absl::StatusOr<int> ReturnUnsentJob(const std::string& job_id, absl::Time now) = 0;

  // Jobs whose files have been SUBMITTING since before `claimed_before` (the scheduler or the adapter
  // died mid-hand-over); their claim time is renewed to `now` so one replica takes each.
  virtual absl::StatusOr<std::vector<PendingJob>> TakeStalePendingJobs(absl::Time claimed_before,
                                                                       absl::Time now, int limit) = 0;

  // One step of the link optimizer for all replicas together (its cursor and time are in table
  // link_optimizer): unless another replica stepped less than `interval` ago, reads per link the attempts
  // recorded since the last step, lets `decide` turn them (and the window's length) into new adaptive
  // limits and stores these (table links) with the cursor's new mark, in one statement that takes effect
  // only if no other replica stepped since the read. The very first step only starts the cursor at the
  // newest attempt. Returns whether this call's step was stored.
  virtual absl::StatusOr<bool> OptimizeLinks(
      absl::Time now, absl::Duration interval,
      const std::function<std::vector<LinkDecision>(const std::vector<LinkOutcomes>&, absl::Duration window)>&
          decide) = 0;

  // Admin: a link's ceiling (nullopt keeps it) and pause state (nullopt keeps it). NOT_FOUND for an
  // unknown site.
  virtual absl::Status SetLink(const std::string& source_site, const std::string& destination_site,
                               std::optional<int> max_active, std::optional<bool> paused, absl::Time now) = 0;
  // Admin: a site's state (ENABLED, DRAINING, BANNED). NOT_FOUND for an unknown site.
  virtual absl::Status SetSiteState(const std::string& site, const std::string& state, absl::Time now) = 0;
  // Admin: a user's weight in the fair share of every link (default 1).
  virtual absl::Status SetUserWeight(const std::string& user, double weight, absl::Time now) = 0;
  // The backend's row; a default one (available, no limit of its own) when it has none yet. Counts the
  // files in flight only with `count_active` (a scan of all of them).
  virtual absl::StatusOr<BackendState> GetBackend(const std::string& name, bool count_active = false) = 0;
  // Admin: the backend's limit.
  virtual absl::Status SetBackendLimit(const std::string& name, int max_active, absl::Time now) = 0;
  // Stores why the ready files of links wait (empty: they do not), shown as their waiting reason.
  virtual absl::Status SetLinkWaiting(const std::vector<std::pair<std::string, std::string>>& links,
                                      const std::vector<std::string>& reasons) = 0;
  // Records whether the scheduler reaches the backend (the error when it does not).
  virtual absl::Status SetBackendAvailable(const std::string& name, bool available, const std::string& error,
                                           absl::Time now) = 0;
  // Queued and in-flight files grouped by link, site or user, largest queue first.
  virtual absl::StatusOr<std::vector<QueueGroup>> QueueStats(QueueGrouping by, absl::Time now, int limit) = 0;
  // Records the deployment's choice for sites whose credentials are 'default' (`owner_by_default`: their
  // files move with their owners' credentials), then holds the users with files in progress on a link
  // where either site moves files with owners' credentials whose delegated credential is missing or has
  // less than `min_remaining` left (their queued files on such links are not dispatched; their waiting
  // reason says why), and releases the others. Returns the number of users held after the call.
  virtual absl::StatusOr<int> RefreshUserHolds(bool owner_by_default, absl::Duration min_remaining,
                                               absl::Time now) = 0;
};

class PgSchedulingRepository final : public SchedulingRepository {
 public:
  explicit PgSchedulingRepository(Database& db) : db_(db) {}
  absl::StatusOr<std::vector<LinkLoad>> ListLinks(absl::Time now) override;
  absl::StatusOr<std::vector<PendingJob>> ClaimForLink(
      const std::string& source_site, const std::string& destination_site, const ClaimLimits& limits,
      absl::Time now, const std::function<std::vector<JobPlan>(const std::vector<ClaimedFile>&)>& plan,
      std::string* waiting = nullptr) override;
  absl::StatusOr<std::vector<LinkClaimResult>> ClaimForLinks(
      const std::vector<LinkClaim>& links, absl::Time now,
      const std::function<std::vector<JobPlan>(size_t link, const std::vector<ClaimedFile>&)>& plan) override;
  absl::StatusOr<int> MarkSubmitted(const std::vector<std::string>& job_ids, absl::Time now) override;
  absl::StatusOr<int> ExpireOverdue(absl::Time now, int max_tasks) override;
  absl::StatusOr<int> FailRefusedJob(const std::string& job_id, const std::string& reason,
                                     absl::Time now) override;
  absl::StatusOr<std::vector<PendingJob>> TakeStalePendingJobs(absl::Time claimed_before, absl::Time now,
                                                               int limit) override;
  absl::StatusOr<int> ReturnUnsentJob(const std::string& job_id, absl::Time now) override;
  absl::StatusOr<bool> OptimizeLinks(
      absl::Time now, absl::Duration interval,
      const std::function<std::vector<LinkDecision>(const std::vector<LinkOutcomes>&, absl::Duration window)>&
          decide) override;
  absl::Status SetLink(const std::string& source_site, const std::string& destination_site,
                       std::optional<int> max_active, std::optional<bool> paused, absl::Time now) override;
  absl::Status SetSiteState(const std::string& site, const std::string& state, absl::Time now) override;
  absl::Status SetUserWeight(const std::string& user, double weight, absl::Time now) override;
  absl::StatusOr<BackendState> GetBackend(const std::string& name, bool count_active = false) override;
  absl::Status SetBackendLimit(const std::string& name, int max_active, absl::Time now) override;
  absl::Status SetBackendAvailable(const std::string& name, bool available, const std::string& error,
                                   absl::Time now) override;
  absl::Status SetLinkWaiting(const std::vector<std::pair<std::string, std::string>>& links,
                              const std::vector<std::string>& reasons) override;
  absl::StatusOr<std::vector<QueueGroup>> QueueStats(QueueGrouping by, absl::Time now, int limit) override;
  absl::StatusOr<int> RefreshUserHolds(bool owner_by_default, absl::Duration min_remaining,
                                       absl::Time now) override;

 private:
  Database& db_;
};

}  // namespace aso::db

#endif  // ASO_LIBS_DB_SCHEDULING_REPOSITORY_H_
