#include "services/fts_adapter/backend_runner.h"

#include <algorithm>
#include <cstdlib>
#include <map>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "libs/common/logging.h"
#include "libs/transfer/failure_classifier.h"

namespace aso::fts_adapter {
namespace {

// The errno of an FTS3 reason "SCOPE [errno] message"; 0 when absent.
int ErrnoOf(const std::string& reason) {
  const size_t open = reason.find('[');
  const size_t close = reason.find(']', open == std::string::npos ? 0 : open);
  int value = 0;
  if (open == std::string::npos || close == std::string::npos) return 0;
  return absl::SimpleAtoi(reason.substr(open + 1, close - open - 1), &value) ? value : 0;
}

// Errors that concern FTS3 as a whole rather than one job.
bool EndsTheRound(const absl::Status& s) {
  return absl::IsUnavailable(s) || absl::IsResourceExhausted(s) || absl::IsFailedPrecondition(s) ||
         absl::IsPermissionDenied(s);
}

// Every file of `job` FAILED with one class and reason, as the job's states are recorded.
std::vector<db::ExternalFileState> AllFailed(const aso::fts_adapter::v1::Job& job,
                                             const std::string& failure_class, bool recoverable,
                                             const std::string& error) {
  std::vector<db::ExternalFileState> failed;
  for (const auto& f : job.files()) {
    db::ExternalFileState s;
    s.transfer_id = f.transfer_id();
    s.state = "FAILED";
    s.failure_class = failure_class;
    s.recoverable = recoverable;
    s.error = error;
    failed.push_back(std::move(s));
  }
  return failed;
}

}  // namespace

std::string AdapterFileState(const std::string& s) {
  if (s == "FINISHED") return "FINISHED";
  if (s == "FAILED") return "FAILED";
  if (s == "CANCELED") return "CANCELED";
  if (s == "ACTIVE" || s == "STARTED" || s == "ARCHIVING") return "ACTIVE";
  return "SUBMITTED";  // SUBMITTED, READY, STAGING, ON_HOLD, ...
}

db::ExternalFileState ExternalStateOf(const backend::FileStatus& file, int64_t transfer_id,
                                      const std::string& checksum) {
  db::ExternalFileState out;
  out.transfer_id = transfer_id;
  out.external_file_id = file.file_id;
  // PostgreSQL text cannot hold NUL; a server's message should not carry one, but it is dropped if it does.
  std::string reason = file.reason;
  reason.erase(std::remove(reason.begin(), reason.end(), '\0'), reason.end());
  out.state = AdapterFileState(file.file_state);
  if (out.state == "FINISHED") {
    out.bytes = file.filesize;
    out.checksum = checksum;  // verified by FTS3 on both ends (verify_checksum: both)
  } else if (out.state == "FAILED") {
    out.error = reason;
    const transfer::Classification c =
        transfer::ClassifyFailure(transfer::ScopeFromReason(reason), ErrnoOf(reason), reason);
    out.failure_class = std::string(transfer::FailureClassName(c.failure_class));
    out.recoverable = c.recoverable;
  } else if (out.state == "CANCELED") {
    out.failure_class = "CANCELED";
    out.error = reason.empty() ? "canceled in FTS3" : reason;
  }
  return out;
}

BackendRunner::BackendRunner(db::BackendJobRepository& jobs, const backend::TransferBackend& backend,
                             Clock& clock, BackendRunnerConfig config, metrics::Metrics& metrics)
    : jobs_(jobs),
      backend_(backend),
      clock_(clock),
      config_(std::move(config)),
      requests_(metrics.AddCounter("aso_fts3_requests_total",
                                   "Calls to FTS3 servers, by server, call and result.",
                                   {"endpoint", "call", "result"})),
      up_(metrics.AddGauge("aso_fts3_up", "1 when the FTS3 server answers /whoami, else 0.", {"endpoint"})),
      credential_errors_(metrics.AddCounter(
          "aso_fts3_credential_errors_total",
          "FTS3 answers 419: no delegated credential, or one that expires within the hour.", {"endpoint"})) {
  credential_errors_.Inc({backend_.endpoint()}, 0);
}

void BackendRunner::CheckHealth() {
  const absl::Time now = clock_.Now();
  if (now < next_health_check_) return;
  next_health_check_ = now + config_.health_interval;
  auto dn = backend_.Whoami();
  requests_.Inc(
      {backend_.endpoint(), "whoami", dn.ok() ? "ok" : absl::StatusCodeToString(dn.status().code())});
  up_.Set({backend_.endpoint()}, dn.ok() ? 1 : 0);
  if (!dn.ok())
    ASO_LOG(WARNING, "FTS3 at ", backend_.endpoint(), " does not answer: ", dn.status().message());
}

absl::StatusOr<BackendRoundResult> BackendRunner::RunOnce() {
  CheckHealth();
  BackendRoundResult result;
  auto submitted = Submit();
  if (!submitted.ok()) return submitted.status();
  result.submitted = *submitted;
  if (auto cancelled = CancelKilled(); !cancelled.ok()) return cancelled;
  auto changed = Poll();
  if (!changed.ok()) return changed.status();
  result.changed = *changed;
  return result;
}

absl::Status BackendRunner::CancelKilled() {
  auto cancels = jobs_.TakeExternalCancels(config_.backend, 500);
  if (!cancels.ok()) return cancels.status();
  std::map<std::string, std::vector<int64_t>> by_job;
  for (const auto& [job, file] : *cancels) by_job[job].push_back(file);
  for (const auto& [job, files] : by_job) {
    absl::Status s = backend_.CancelFiles(job, files);
    requests_.Inc({backend_.endpoint(), "cancel", s.ok() ? "ok" : absl::StatusCodeToString(s.code())});
    // The cancel shows in the job's next status; a cancel that did not arrive is not repeated, and the file
    // then ends as FTS3 finishes it (bookkeeping still ends the transfer KILLED).
    if (!s.ok()) ASO_LOG(WARNING, "FTS3 cancel of ", files.size(), " file(s) of ", job, ": ", s.message());
  }
  return absl::OkStatus();
}

absl::StatusOr<int> BackendRunner::Submit() {
  auto pending = jobs_.JobsToSubmit(config_.backend, config_.submit_per_round);
  if (!pending.ok()) return pending.status();
  std::vector<std::string> sites;
  for (const auto& job : *pending) {
    sites.push_back(job.source_site());
    sites.push_back(job.destination_site());
  }
  absl::flat_hash_set<std::string> as_owners;
  if (!pending->empty()) {
    auto owners = jobs_.SitesMovingAsOwners(sites);
    if (!owners.ok()) return owners.status();
    as_owners.insert(owners->begin(), owners->end());
  }
  int submitted = 0;
  for (const auto& job : *pending) {
    backend::JobRequest request;
    request.sid = job.job_id();
    request.job_metadata = {{"issuer", "aso"}, {"user", job.user()}, {"task", job.task_id()}};
    request.overwrite = std::all_of(job.files().begin(), job.files().end(), [this](const auto& f) {
      return backend::MayOverwrite(config_.overwrite, f.attempt());
    });
    request.timeout_seconds = config_.file_timeout_seconds;
    for (const auto& f : job.files()) {
      backend::FileRequest file;
      file.source = f.source_url();
      file.destination = f.destination_url();
      file.checksum = f.checksum();
      file.filesize = f.size_bytes();
      file.metadata = {{"transfer_id", absl::StrCat(f.transfer_id())},
                       {"attempt", absl::StrCat(f.attempt())}};
      request.files.push_back(std::move(file));
    }
    // Never submitted with another credential than the owner's: a job whose owner has none usable (or
    // whose owner FTS3 refuses) fails its files recoverably, to wait in the queue for a fresh delegation.
    auto owner_cannot_submit = [&](const absl::Status& why) -> absl::Status {
      ASO_LOG(WARNING, "job=", job.job_id(), " not submitted as ", job.user(), ": ", why.message());
      return jobs_
          .ApplyExternalStates(
              job.job_id(), "FAILED",
              AllFailed(
                  job, "CREDENTIAL_EXPIRED", /*recoverable=*/true,
                  absl::StrCat("not submitted with the credential of the file's owner: ", why.message())),
              clock_.Now())
          .status();
    };
    std::shared_ptr<const backend::TransferBackend> as_owner;
    const backend::TransferBackend* backend = &backend_;
    const bool owner_credentials =
        as_owners.contains(job.source_site()) || as_owners.contains(job.destination_site());
    if (owner_credentials && !config_.submit_as) {
      ASO_LOG(ERROR, "job=", job.job_id(), " needs its owner's credential and this adapter has none");
      absl::Status s =
          jobs_
              .ApplyExternalStates(
                  job.job_id(), "FAILED",
                  AllFailed(job, "GENERAL", /*recoverable=*/false,
                            absl::StrCat("not submitted: ", job.source_site(), " -> ", job.destination_site(),
                                         " moves files with their owners' credentials, and this fts-adapter "
                                         "holds no credential key (start it with --user_credentials and "
                                         "--credential_key_file)")),
                  clock_.Now())
              .status();
      if (!s.ok()) return s;
      continue;
    }
    if (owner_credentials) {
      auto client = config_.submit_as(job.user());
      if (absl::IsFailedPrecondition(client.status()) || absl::IsDataLoss(client.status())) {
        if (absl::Status s = owner_cannot_submit(client.status()); !s.ok()) return s;
        continue;
      }
      if (!client.ok()) {
        // This owner's credential cannot be had just now (the issuer's token endpoint is down): other
        // owners' jobs go on; this one is tried again next round.
        ASO_LOG(WARNING, "job=", job.job_id(), " waits: ", client.status().message());
        continue;
      }
      as_owner = *std::move(client);
      backend = as_owner.get();
    }
    auto id = backend->Submit(request);
    // With the owner's credential, a refusal of that credential (no delegation FTS3 accepts, a DN FTS3 does
    // not allow) is the owner's, not FTS3's: it must not stop the other owners' jobs.
    if (as_owner != nullptr &&
        (absl::IsFailedPrecondition(id.status()) || absl::IsPermissionDenied(id.status()))) {
      credential_errors_.Inc({backend_.endpoint()});
      if (absl::Status s = owner_cannot_submit(id.status()); !s.ok()) return s;
      continue;
    }
    if (absl::IsAlreadyExists(id.status())) {
      // Submitted before (the adapter stopped before recording FTS3's answer): adopt that job.
      id = backend->FindJobBySid(job.job_id());
      requests_.Inc({backend_.endpoint(), "submit", "adopted"});
    } else {
      requests_.Inc(
          {backend_.endpoint(), "submit", id.ok() ? "ok" : absl::StatusCodeToString(id.status().code())});
    }
    if (id.ok()) {
      if (auto s = jobs_.SetExternalId(job.job_id(), *id, clock_.Now()); !s.ok()) return s;
      ASO_LOG(INFO, "job=", job.job_id(), " submitted to FTS3 as ", *id, " (", job.files_size(), " files)");
      ++submitted;
      continue;
    }
    if (absl::IsFailedPrecondition(id.status())) credential_errors_.Inc({backend_.endpoint()});
    if (EndsTheRound(id.status())) {
      ASO_LOG(WARNING, "FTS3 submission of job=", job.job_id(), " failed: ", id.status().message());
      return id.status();
    }
    if (absl::IsInvalidArgument(id.status())) {
      // FTS3 will never take this job: its files fail, not retried, with FTS3's reason.
      auto failed = AllFailed(job, "BACKEND", /*recoverable=*/false, std::string(id.status().message()));
      if (auto s = jobs_.ApplyExternalStates(job.job_id(), "FAILED", failed, clock_.Now()); !s.ok()) {
        return s.status();
      }
      ASO_LOG(ERROR, "FTS3 refused job=", job.job_id(), ": ", id.status().message());
      continue;
    }
    ASO_LOG(WARNING, "FTS3 submission of job=", job.job_id(), " failed, will retry: ", id.status().message());
  }
  return submitted;
}

absl::StatusOr<int> BackendRunner::Poll() {
  auto live = jobs_.JobsToPoll(config_.backend, config_.poll_per_round, clock_.Now());
  if (!live.ok()) return live.status();
  int changed = 0;
  const size_t batch = static_cast<size_t>(std::max(config_.poll_batch, 1));
  for (size_t first = 0; first < live->size(); first += batch) {
    const size_t last = std::min(live->size(), first + batch);
    std::vector<std::string> ids;
    for (size_t i = first; i < last; ++i) ids.push_back((*live)[i].external_id);
    auto statuses = backend_.GetJobs(ids);
    requests_.Inc({backend_.endpoint(), "status",
                   statuses.ok() ? "ok" : absl::StatusCodeToString(statuses.status().code())});
    if (!statuses.ok()) return statuses.status();
    for (size_t i = first; i < last; ++i) {
      const db::ExternalJob& job = (*live)[i];
      const backend::JobStatus* status = nullptr;
      for (const auto& s : *statuses) {
        if (s.job_id == job.external_id) status = &s;
      }
      if (status == nullptr || status->http_status.rfind("404", 0) == 0) {
        const int polls = ++unknown_polls_[job.external_id];
        ASO_LOG(WARNING, "job=", job.job.job_id(), ": FTS3 does not know its job ", job.external_id, " (",
                polls, " of ", kLostAfterPolls, " polls)");
        if (polls < kLostAfterPolls) continue;
        std::vector<db::ExternalFileState> lost;
        for (const auto& f : job.job.files()) {
          db::ExternalFileState s;
          s.transfer_id = f.transfer_id();
          s.state = "FAILED";
          s.failure_class = "BACKEND";
          s.recoverable = true;
          s.error = absl::StrCat("FTS3 ", backend_.endpoint(), " lost job ", job.external_id,
                                 ": it answered 404 for a job it had accepted");
          lost.push_back(std::move(s));
        }
        auto n = jobs_.ApplyExternalStates(job.job.job_id(), "LOST", lost, clock_.Now());
        if (!n.ok()) return n.status();
        changed += *n;
        unknown_polls_.erase(job.external_id);
        continue;
      }
      unknown_polls_.erase(job.external_id);
      std::vector<db::ExternalFileState> files;
      for (const auto& f : status->files) {
        int64_t transfer_id = 0;
        auto it = f.metadata.find("transfer_id");
        if (it == f.metadata.end() || !absl::SimpleAtoi(it->second, &transfer_id)) continue;
        std::string checksum;
        for (const auto& jf : job.job.files()) {
          if (jf.transfer_id() == transfer_id) checksum = jf.checksum();
        }
        files.push_back(ExternalStateOf(f, transfer_id, checksum));
      }
      auto n = jobs_.ApplyExternalStates(job.job.job_id(), status->job_state, files, clock_.Now());
      if (!n.ok()) return n.status();
      changed += *n;
    }
  }
  return changed;
}

}  // namespace aso::fts_adapter
