#include "services/fts_adapter/copy_worker.h"

#include <fstream>

#include <signal.h>

#include <algorithm>
#include <cerrno>
#include <optional>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "libs/common/logging.h"
#include "libs/common/utf8.h"
#include "libs/transfer/state.h"

namespace aso::fts_adapter {
namespace cv1 = aso::common::v1;

namespace {

void SetTime(absl::Time t, google::protobuf::Timestamp* out) {
  const int64_t micros = absl::ToUnixMicros(t);
  out->set_seconds(micros / 1000000);
  out->set_nanos(static_cast<int32_t>((micros % 1000000) * 1000));
}
// Whether `pid` is a running process. A killed process nobody has reaped yet (a zombie: its parent, or an
// init that does not reap orphans, has not waited for it) runs no more and holds nothing.
bool ProcessRuns(int pid) {
  if (kill(pid, 0) != 0 && errno == ESRCH) return false;
  std::ifstream stat(absl::StrCat("/proc/", pid, "/stat"));
  std::string line;
  if (!std::getline(stat, line)) return true;  // not ours to judge
  const size_t paren = line.rfind(')');        // "pid (comm) S ...": comm may hold spaces and parentheses
  if (paren == std::string::npos || paren + 2 >= line.size()) return true;
  const char state = line[paren + 2];
  return state != 'Z' && state != 'X';
}

}  // namespace

absl::StatusOr<int> ReclaimLeasesOfDeadProcesses(db::BackendJobRepository& jobs, const std::string& host,
                                                 absl::Time now) {
  auto owners = jobs.LeaseOwners(host + "/");
  if (!owners.ok()) return owners.status();
  int freed = 0;
  for (const std::string& owner : *owners) {
    const std::vector<std::string> parts = absl::StrSplit(owner, '/');
    int pid = 0;
    if (parts.size() != 3 || !absl::SimpleAtoi(parts[1], &pid) || pid <= 0) continue;
    if (ProcessRuns(pid)) continue;
    auto n = jobs.ExpireLeases(owner, now);
    if (!n.ok()) return n.status();
    if (*n > 0) ASO_LOG(INFO, "took back ", *n, " file(s) leased by ", owner, ", a process that is gone");
    freed += *n;
  }
  return freed;
}

absl::Duration CopyTimeout(absl::Duration configured, int64_t size_bytes) {
  if (configured > absl::ZeroDuration()) return configured;
  return absl::Seconds(600) +
         absl::Seconds(2) * static_cast<double>(std::max<int64_t>(size_bytes, 0) / 1'000'000);
}

CopyWorker::CopyWorker(db::BackendJobRepository& jobs, std::unique_ptr<backend::Copier> copier, Clock& clock,
                       CopyWorkerConfig config, metrics::Metrics& metrics)
    : jobs_(jobs),
      copier_(std::move(copier)),
      clock_(clock),
      config_(std::move(config)),
      copies_(metrics.AddCounter("aso_adapter_copies_total",
                                 "Copies run by the gfal2 backend, by result and failure class.",
                                 {"result", "failure_class"})),
      copy_seconds_(metrics.AddHistogram("aso_adapter_copy_seconds", "Duration of one copy.", {"result"},
                                         {0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900})),
      copy_size_(metrics.AddHistogram("aso_adapter_copy_size_bytes", "Size of each file copied successfully.",
                                      {}, metrics::FileSizeBuckets())),
      copied_bytes_(metrics.AddCounter("aso_adapter_copied_bytes_total",
                                       "Bytes written by running copies, as they progress (rate() is the "
                                       "backend's throughput).",
                                       {})) {
  copied_bytes_.Inc({}, 0);
}

CopyWorker::~CopyWorker() {
  if (next_.empty()) return;
  auto freed = jobs_.ExpireLeases(config_.owner, clock_.Now());
  if (!freed.ok()) ASO_LOG(WARNING, "giving back the next file's lease: ", freed.status().message());
}

absl::StatusOr<bool> CopyWorker::RunOnce() {
  // The lease outlives the copy's own timeout, so only a dead worker's file is taken over; it is taken
  // for a small file and extended once the file's size (and so its timeout) is known.
  const absl::Duration lease = CopyTimeout(config_.copy_timeout, 0) * 2 + absl::Seconds(30);
  std::vector<db::LeasedFile> leased = std::move(next_);  // leased when the previous copy was recorded
  next_.clear();
  if (leased.empty()) {
    auto fresh = jobs_.LeaseFiles(config_.owner, 1, lease, clock_.Now());
    if (!fresh.ok()) return fresh.status();
    leased = *std::move(fresh);
  }
  if (leased.empty()) return false;
  const db::LeasedFile& file = leased.front();
  const absl::Duration timeout = CopyTimeout(config_.copy_timeout, file.size_bytes);
  if (timeout * 2 + absl::Seconds(30) > lease) {
    if (absl::Status s = jobs_.ExtendLease(config_.owner, file.job_id, file.transfer_id,
                                           clock_.Now() + timeout * 2 + absl::Seconds(30));
        !s.ok()) {
      return s;
    }
  }

  if (file.kill_requested) {
    // Killed after it was handed over: report the cancel without copying.
    cv1::FileOutcome outcome;
    outcome.set_transfer_id(file.transfer_id);
    outcome.set_attempt(file.attempt);
    outcome.set_backend_job_id(file.job_id);
    outcome.set_state(cv1::TRANSFER_STATE_KILLED);
    outcome.set_failure_class(cv1::FAILURE_CLASS_CANCELED);
    outcome.set_error("cancelled before the copy started: the transfer was killed");
    SetTime(clock_.Now(), outcome.mutable_finished());
    copies_.Inc({"canceled", "CANCELED"});
    ASO_LOG(INFO, "cancelled transfer=", file.transfer_id, " attempt=", file.attempt, " job=", file.job_id);
    if (absl::Status s = jobs_.RecordOutcome(config_.owner, outcome); !s.ok()) return s;
    return true;
  }

  backend::CopyRequest request;
  request.source_url = file.source_url;
  request.destination_url = file.destination_url;
  request.size_bytes = file.size_bytes;
  request.checksum = file.checksum;
  request.timeout = timeout;
  request.overwrite = backend::MayOverwrite(config_.overwrite, file.attempt);
  // Progress feeds the byte counter; a kill requested while the file is copying stops the copy.
  int64_t reported = 0;
  absl::Time next_kill_check = clock_.Now() + config_.kill_check_interval;
  bool killed = false;
  request.progress = [&](int64_t bytes) {
    if (bytes > reported) {
      copied_bytes_.Inc({}, static_cast<double>(bytes - reported));
      reported = bytes;
    }
    if (clock_.Now() < next_kill_check) return true;
    next_kill_check = clock_.Now() + config_.kill_check_interval;
    auto kill = jobs_.KillRequested(file.transfer_id, file.attempt);
    killed = kill.ok() && *kill;
    return !killed;
  };
  // Where a site moves files with their owners' credentials, the copy runs as its owner or not at all.
  std::optional<transfer::Classification> no_credential;
  backend::CopyResult result;
  if (file.source_as_owner || file.destination_as_owner) {
    absl::StatusOr<backend::StorageCredential> credential =
        config_.user_credentials == nullptr
            ? absl::UnimplementedError(
                  "this fts-adapter holds no credential key (start it with --user_credentials and "
                  "--credential_key_file)")
            // Valid for the whole copy: neither gfal2 nor the storage renews it midway.
            : config_.user_credentials->For(file.username, timeout);
    if (credential.ok()) {
      request.source_credential = file.source_as_owner ? *credential : config_.service_credential;
      request.destination_credential = file.destination_as_owner ? *credential : config_.service_credential;
    } else {
      // Missing or expiring: the file waits in the queue for a fresh delegation (the scheduler holds it).
      no_credential = transfer::Classification{absl::IsFailedPrecondition(credential.status())
                                                   ? cv1::FAILURE_CLASS_CREDENTIAL_EXPIRED
                                                   : cv1::FAILURE_CLASS_GENERAL,
                                               /*recoverable=*/!absl::IsUnimplemented(credential.status())};
      result.error = absl::StrCat("not copied: no usable credential of the file's owner: ",
                                  credential.status().message());
    }
  } else if (config_.user_credentials != nullptr) {
    // Other copies of this process run with owners' proxies: this one names the service's own.
    request.source_credential = request.destination_credential = config_.service_credential;
  }
  const absl::Time started = clock_.Now();
  if (!no_credential.has_value()) result = copier_->Copy(request);
  const absl::Time finished = clock_.Now();

  cv1::FileOutcome outcome;
  outcome.set_transfer_id(file.transfer_id);
  outcome.set_attempt(file.attempt);
  outcome.set_backend_job_id(file.job_id);
  SetTime(started, outcome.mutable_started());
  SetTime(finished, outcome.mutable_finished());
  outcome.set_bytes(result.bytes);
  if (result.ok) {
    outcome.set_state(cv1::TRANSFER_STATE_DONE);
    outcome.set_checksum(result.checksum);
  } else if (killed && result.error_number == ECANCELED) {
    outcome.set_state(cv1::TRANSFER_STATE_KILLED);
    outcome.set_failure_class(cv1::FAILURE_CLASS_CANCELED);
    outcome.set_error("cancelled while copying: the transfer was killed");
  } else {
    auto c =
        no_credential.value_or(transfer::ClassifyFailure(result.scope, result.error_number, result.error));
    outcome.set_state(cv1::TRANSFER_STATE_FAILED);
    outcome.set_failure_class(c.failure_class);
    outcome.set_recoverable(c.recoverable);
    // Storage messages go into PostgreSQL text and protobuf strings: valid UTF-8, no NUL, bounded.
    outcome.set_error(PrintableUtf8(result.error));
  }
  const std::string result_label = result.ok ? "done" : "failed";
  copies_.Inc({result_label, std::string(transfer::FailureClassName(outcome.failure_class()))});
  copy_seconds_.Observe({result_label}, absl::ToDoubleSeconds(finished - started));
  if (result.ok) copy_size_.Observe({}, static_cast<double>(result.bytes));
  ASO_LOG(INFO, "copy ", result_label, " transfer=", file.transfer_id, " attempt=", file.attempt,
          " job=", file.job_id, " bytes=", result.bytes,
          " seconds=", absl::ToDoubleSeconds(finished - started),
          result.ok ? ""
                    : absl::StrCat(" class=", transfer::FailureClassName(outcome.failure_class()),
                                   " error=", result.error));
  // Recorded together with the lease of the next file, in one transaction. The outcome exists only here:
  // while the database is unreachable (restarting, failing over) it is tried again for up to 30 s, well
  // within the lease (at least 30 s beyond the copy's timeout), instead of being dropped and the file
  // copied again once its lease runs out.
  const absl::Time give_up = absl::Now() + absl::Seconds(30);
  absl::Duration backoff = absl::Milliseconds(250);
  for (;;) {
    auto next = jobs_.RecordAndLease(config_.owner, outcome, 1, lease, clock_.Now());
    if (next.ok()) {
      next_ = *std::move(next);
      return true;
    }
    const bool transient = absl::IsUnavailable(next.status()) || absl::IsAborted(next.status());
    if (!transient || absl::Now() + backoff > give_up) return next.status();
    ASO_LOG(WARNING, "recording the copy of transfer=", file.transfer_id, " attempt=", file.attempt,
            " failed (", next.status().message(), "); trying again in ", absl::FormatDuration(backoff));
    absl::SleepFor(backoff);
    backoff = std::min(backoff * 2, absl::Seconds(4));
  }
}

}  // namespace aso::fts_adapter
