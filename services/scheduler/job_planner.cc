#include "services/scheduler/job_planner.h"

#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace aso::scheduler {

std::string JobIdFor(const std::vector<const db::ClaimedFile*>& files) {
  // FNV-1a over the (transfer, attempt) pairs: stable across processes and builds.
  uint64_t h = 1469598103934665603ULL;
  auto mix = [&h](uint64_t v) {
    for (int i = 0; i < 8; ++i) {
      h ^= (v >> (8 * i)) & 0xff;
      h *= 1099511628211ULL;
    }
  };
  for (const auto* f : files) {
    mix(static_cast<uint64_t>(f->transfer_id));
    mix(static_cast<uint64_t>(f->attempt));
  }
  return absl::StrFormat("aso-%d-%d-%016x", files.front()->transfer_id, files.front()->attempt, h);
}

std::vector<db::JobPlan> PlanJobs(const std::vector<db::ClaimedFile>& files, const JobLimits& limits,
                                  absl::Time now, bool may_linger) {
  // Keep users in the order their first file was claimed, files in claim order.
  std::vector<std::string> users;
  std::map<std::string, std::vector<const db::ClaimedFile*>> by_user;
  for (const auto& f : files) {
    auto [it, inserted] = by_user.try_emplace(f.user);
    if (inserted) users.push_back(f.user);
    it->second.push_back(&f);
  }
  std::vector<db::JobPlan> plans;
  for (const auto& user : users) {
    std::vector<const db::ClaimedFile*> current;
    int64_t bytes = 0;
    auto flush = [&](bool last) {
      if (current.empty()) return;
      if (last && may_linger && limits.linger > absl::ZeroDuration() &&
          static_cast<int>(current.size()) < limits.max_files) {
        absl::Time oldest = absl::InfiniteFuture();
        for (const auto* f : current) oldest = std::min(oldest, f->queued_since);
        if (now - oldest < limits.linger) return;  // may still fill up: stays QUEUED
      }
      db::JobPlan plan;
      plan.job_id = JobIdFor(current);
      for (const auto* f : current) plan.transfer_ids.push_back(f->transfer_id);
      plans.push_back(std::move(plan));
      current.clear();
      bytes = 0;
    };
    for (const auto* f : by_user[user]) {
      int64_t size = f->size_bytes > 0 ? f->size_bytes : 0;
      if (!current.empty() &&
          (static_cast<int>(current.size()) >= limits.max_files || bytes + size > limits.max_bytes)) {
        flush(false);
      }
      current.push_back(f);
      bytes += size;
    }
    flush(true);
  }
  return plans;
}

aso::fts_adapter::v1::Job JobMessage(const db::PendingJob& job) {
  aso::fts_adapter::v1::Job msg;
  msg.set_job_id(job.job_id);
  msg.set_source_site(job.source_site);
  msg.set_destination_site(job.destination_site);
  bool one_task = true;
  for (const auto& f : job.files) {
    msg.set_user(f.user);
    one_task = one_task && f.task_id == job.files.front().task_id;
    auto* jf = msg.add_files();
    jf->set_transfer_id(f.transfer_id);
    jf->set_attempt(f.attempt);
    jf->set_source_url(f.source_url);
    jf->set_destination_url(f.destination_url);
    jf->set_size_bytes(f.size_bytes);
    jf->set_checksum(f.checksum);
  }
  if (one_task && !job.files.empty()) msg.set_task_id(job.files.front().task_id);
  return msg;
}

}  // namespace aso::scheduler
