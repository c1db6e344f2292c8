#include "services/ingest/ingest_service.h"

#include <thread>

#include "absl/strings/str_cat.h"
#include "libs/common/logging.h"
#include "libs/db/pg_util.h"
#include "libs/server/grpc_status.h"
#include "libs/transfer/state.h"

namespace aso::ingest {
namespace cv1 = aso::common::v1;
using server::ToGrpcStatus;

namespace {
// The public API is for users and admins; services have their internal RPCs.
constexpr std::initializer_list<auth::Role> kPublicRoles = {auth::Role::kUser, auth::Role::kAdmin};

std::string CodeLabel(absl::StatusCode code) { return absl::StatusCodeToString(code); }

absl::Time TimeOf(const google::protobuf::Timestamp& ts) {
  return absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
}
}  // namespace

IngestService::IngestService(db::TransferRepository& transfers, db::SiteRepository& sites, Clock& clock,
                             SubmissionLimits limits, metrics::Metrics& metrics,
                             const auth::Authenticator& auth, IngestLimits ingest_limits)
    : transfers_(transfers),
      sites_(sites),
      clock_(clock),
      limits_(limits),
      ingest_limits_(ingest_limits),
      auth_(auth),
      files_accepted_(metrics.AddCounter("aso_ingest_files_accepted_total",
                                         "Files accepted by SubmitTransfers, new or repeated.", {"result"})),
      submissions_refused_(metrics.AddCounter("aso_ingest_submissions_refused_total",
                                              "SubmitTransfers calls refused, by reason.", {"reason"})),
      denied_(metrics.AddCounter("aso_ingest_calls_denied_total",
                                 "Calls refused for authentication or authorization, by RPC and code.",
                                 {"rpc", "code"})) {
  // Every refusal reason (the fixed set of SubmitTransfers' refuse()) exists from the start, at 0.
  for (const char* reason : {"invalid_files", "invalid_request", "wrong_user", "unauthenticated",
                             "permission_denied", "quota", "rate_limit", "database"}) {
    submissions_refused_.Inc({reason}, 0);
  }
  for (const char* code : {"UNAUTHENTICATED", "PERMISSION_DENIED"}) denied_.Inc({"SubmitTransfers", code}, 0);
}

absl::Status IngestService::CheckTaskAccess(const auth::Principal& principal, const std::string& task_id) {
  auto owner = transfers_.TaskOwner(task_id);
  if (!owner.ok()) return owner.status();
  if (!auth::MayActFor(principal, *owner)) {
    return absl::PermissionDeniedError(absl::StrCat("task ", task_id, " belongs to another user"));
  }
  return absl::OkStatus();
}

absl::StatusOr<db::KillSelector> IngestService::SelectionFor(
    const auth::Principal& principal, const std::string& task_id,
    const google::protobuf::RepeatedField<int64_t>& ids, const std::string& user) {
  if (task_id.empty() && ids.empty()) return absl::InvalidArgumentError("task_id or ids is required");
  for (int i = 0; i < ids.size(); ++i) {
    if (ids[i] <= 0) return absl::InvalidArgumentError(absl::StrCat("ids[", i, "] must be positive"));
  }
  if (ids.size() > limits_.max_files) {
    return absl::InvalidArgumentError(
        absl::StrCat("more than ", limits_.max_files, " ids; select by task or in several calls"));
  }
  db::KillSelector selector;
  selector.task_id = task_id;
  selector.ids.assign(ids.begin(), ids.end());
  selector.user = user;
  if (principal.role != auth::Role::kAdmin) {
    if (!user.empty() && user != principal.name) {
      return absl::PermissionDeniedError(absl::StrCat("user ", principal.name, " may not act for ", user));
    }
    selector.user = principal.name;
    if (!task_id.empty()) {
      if (absl::Status s = CheckTaskAccess(principal, task_id); !s.ok()) return s;
    }
    if (!selector.ids.empty()) {
      auto foreign = transfers_.FirstNotOwned(selector.ids, principal.name);
      if (!foreign.ok()) return foreign.status();
      if (foreign->has_value()) {
        return absl::PermissionDeniedError(absl::StrCat("transfer ", **foreign, " belongs to another user"));
      }
    }
  }
  return selector;
}

absl::Status IngestService::TakeRate(const std::string& user, int files, absl::Time now) {
  const double rate = ingest_limits_.user_files_per_second;
  if (rate <= 0) return absl::OkStatus();
  absl::MutexLock lock(&rate_mu_);
  auto [it, inserted] = buckets_.try_emplace(user, Bucket{ingest_limits_.user_burst_files, now});
  Bucket& b = it->second;
  b.tokens =
      std::min(ingest_limits_.user_burst_files, b.tokens + rate * absl::ToDoubleSeconds(now - b.refreshed));
  b.refreshed = now;
  if (b.tokens < files) {
    const double wait = (files - b.tokens) / rate;
    return absl::ResourceExhaustedError(absl::StrCat("user ", user, " submits faster than ", rate,
                                                     " files/s; retry in ", static_cast<int>(wait) + 1,
                                                     " s"));
  }
  b.tokens -= files;
  return absl::OkStatus();
}

grpc::Status IngestService::SubmitTransfers(grpc::ServerContext* ctx,
                                            const v1::SubmitTransfersRequest* request,
                                            v1::SubmitTransfersResponse* response) {
  // `reason`: one of a fixed set (docs/metrics.md), so the metric's labels stay bounded.
  auto refuse = [&](const char* reason, const absl::Status& s) {
    submissions_refused_.Inc({reason});
    ASO_LOG(INFO, "refused submission task=", request->task_id(), " files=", request->files_size(), ": ",
            s.message());
    return ToGrpcStatus(s);
  };
  auto principal = auth::Authorize(auth_, *ctx, "SubmitTransfers", kPublicRoles);
  if (!principal.ok()) {
    denied_.Inc({"SubmitTransfers", CodeLabel(principal.status().code())});
    return refuse(absl::IsUnauthenticated(principal.status()) ? "unauthenticated" : "permission_denied",
                  principal.status());
  }
  v1::SubmitTransfersRequest owned = *request;
  if (owned.user().empty()) owned.set_user(principal->name);
  if (owned.user() != principal->name && principal->role != auth::Role::kAdmin) {
    return refuse("wrong_user", absl::PermissionDeniedError(absl::StrCat(
                                    "user ", principal->name, " may not submit for ", owned.user())));
  }
  const absl::Time now = clock_.Now();
  db::TaskOptions options;
  if (request->has_deadline() && request->has_max_time_in_queue()) {
    return refuse("invalid_request",
                  absl::InvalidArgumentError("give deadline or max_time_in_queue, not both"));
  }
  if (request->max_attempts() < 0 || request->max_attempts() > 20) {
    return refuse("invalid_request",
                  absl::InvalidArgumentError(absl::StrCat("max_attempts must be 0 (the default) to 20, got ",
                                                          request->max_attempts())));
  }
  options.max_attempts = request->max_attempts();
  if (request->has_deadline()) options.deadline = TimeOf(request->deadline());
  if (request->has_max_time_in_queue()) {
    const absl::Duration d = absl::Seconds(request->max_time_in_queue().seconds());
    if (d <= absl::ZeroDuration())
      return refuse("invalid_request", absl::InvalidArgumentError("max_time_in_queue must be positive"));
    options.deadline = now + d;
  }
  if (options.deadline.has_value()) {
    if (*options.deadline <= now)
      return refuse("invalid_request", absl::InvalidArgumentError("deadline is in the past"));
    if (*options.deadline - now > ingest_limits_.max_time_in_queue) {
      return refuse("invalid_request", absl::InvalidArgumentError(absl::StrCat(
                                           "deadline is more than ",
                                           absl::FormatDuration(ingest_limits_.max_time_in_queue), " away")));
    }
  }
  auto sites = sites_.List();
  if (!sites.ok()) return refuse("database", sites.status());
  SubmissionValidator validator(std::move(*sites), limits_);
  auto batch = validator.Validate(owned);
  if (!batch.ok()) return refuse("invalid_files", batch.status());
  // Quotas count new files only: a job retrying a call whose reply it lost must get its ids back.
  int64_t new_files = static_cast<int64_t>(batch->size());
  bool counted = false;
  auto count_new = [&]() -> absl::Status {
    if (counted) return absl::OkStatus();
    std::vector<std::string> keys;
    for (const auto& t : *batch) keys.push_back(t.idempotency_key());
    auto stored = transfers_.CountStored(keys);
    if (!stored.ok()) return stored.status();
    new_files -= *stored;
    counted = true;
    return absl::OkStatus();
  };
  if (ingest_limits_.user_max_live_files > 0) {
    auto live = transfers_.CountLive(owned.user(), ingest_limits_.user_max_live_files);
    if (!live.ok()) return refuse("database", live.status());
    if (*live + new_files > ingest_limits_.user_max_live_files) {
      if (absl::Status s = count_new(); !s.ok()) return refuse("database", s);
    }
    if (*live + new_files > ingest_limits_.user_max_live_files) {
      return refuse("quota",
                    absl::ResourceExhaustedError(absl::StrCat(
                        "user ", owned.user(), " has ", *live, " transfers in progress; the quota is ",
                        ingest_limits_.user_max_live_files, ", so ", new_files, " more do not fit")));
    }
  }
  if (ingest_limits_.user_files_per_second > 0) {
    if (absl::Status s = count_new(); !s.ok()) return refuse("database", s);
    if (absl::Status s = TakeRate(owned.user(), static_cast<int>(new_files), now); !s.ok()) {
      return refuse("rate_limit", s);
    }
  }
  auto result = transfers_.InsertBatch(*batch, now, options);
  if (!result.ok()) {
    return refuse(absl::IsUnavailable(result.status()) || absl::IsInternal(result.status()) ? "database"
                                                                                            : "invalid_files",
                  result.status());
  }
  for (int64_t id : result->ids) response->add_transfer_ids(id);
  response->set_created(result->created);
  files_accepted_.Inc({"created"}, result->created);
  files_accepted_.Inc({"repeated"}, static_cast<double>(result->ids.size()) - result->created);
  ASO_LOG(INFO, "accepted task=", owned.task_id(), " user=", owned.user(), " by=", principal->name,
          " files=", result->ids.size(), " new=", result->created);
  return grpc::Status::OK;
}

grpc::Status IngestService::GetTransfer(grpc::ServerContext* ctx, const v1::GetTransferRequest* request,
                                        cv1::Transfer* response) {
  auto principal = auth::Authorize(auth_, *ctx, "GetTransfer", kPublicRoles);
  if (!principal.ok()) return ToGrpcStatus(principal.status());
  if (request->id() <= 0) return ToGrpcStatus(absl::InvalidArgumentError("id must be positive"));
  auto t = transfers_.Get(request->id(), clock_.Now());
  if (!t.ok()) return ToGrpcStatus(t.status());
  if (!auth::MayActFor(*principal, t->user())) {
    return ToGrpcStatus(
        absl::PermissionDeniedError(absl::StrCat("transfer ", request->id(), " belongs to another user")));
  }
  *response = std::move(*t);
  return grpc::Status::OK;
}

grpc::Status IngestService::ListTransfers(grpc::ServerContext* ctx, const v1::ListTransfersRequest* request,
                                          v1::ListTransfersResponse* response) {
  auto principal = auth::Authorize(auth_, *ctx, "ListTransfers", kPublicRoles);
  if (!principal.ok()) return ToGrpcStatus(principal.status());
  int page_size = request->page_size() == 0 ? 100 : request->page_size();
  if (page_size < 0 || page_size > 1000) {
    return ToGrpcStatus(absl::InvalidArgumentError("page_size must be 1..1000"));
  }
  db::TransferFilter filter;
  filter.task_id = request->task_id();
  filter.user = request->user();
  filter.site = request->site();
  if (principal->role != auth::Role::kAdmin) {
    if (!filter.user.empty() && filter.user != principal->name) {
      return ToGrpcStatus(absl::PermissionDeniedError(
          absl::StrCat("user ", principal->name, " may not list the transfers of ", filter.user)));
    }
    filter.user = principal->name;
  }
  for (int s : request->states()) {
    if (s <= cv1::TRANSFER_STATE_UNSPECIFIED || !cv1::TransferState_IsValid(s)) {
      return ToGrpcStatus(absl::InvalidArgumentError(absl::StrCat("states: invalid value ", s)));
    }
    filter.states.push_back(static_cast<cv1::TransferState>(s));
  }
  filter.source_site = request->source_site();
  filter.destination_site = request->destination_site();
  if (request->failure_class() != cv1::FAILURE_CLASS_UNSPECIFIED) {
    if (!cv1::FailureClass_IsValid(request->failure_class())) {
      return ToGrpcStatus(absl::InvalidArgumentError(
          absl::StrCat("failure_class: invalid value ", static_cast<int>(request->failure_class()))));
    }
    filter.failure_class = std::string(transfer::FailureClassName(request->failure_class()));
  }
  if (request->has_created_after()) filter.created_after = TimeOf(request->created_after());
  if (request->has_created_before()) filter.created_before = TimeOf(request->created_before());
  auto page = transfers_.List(filter, page_size, request->page_token(), clock_.Now());
  if (!page.ok()) return ToGrpcStatus(page.status());
  for (auto& t : page->transfers) *response->add_transfers() = std::move(t);
  response->set_next_page_token(page->next_page_token);
  return grpc::Status::OK;
}

grpc::Status IngestService::ListTasks(grpc::ServerContext* ctx, const v1::ListTasksRequest* request,
                                      v1::ListTasksResponse* response) {
  auto principal = auth::Authorize(auth_, *ctx, "ListTasks", kPublicRoles);
  if (!principal.ok()) return ToGrpcStatus(principal.status());
  const int page_size = request->page_size() == 0 ? 50 : request->page_size();
  if (page_size < 0 || page_size > 500)
    return ToGrpcStatus(absl::InvalidArgumentError("page_size must be 1..500"));
  std::string user = request->user();
  if (principal->role != auth::Role::kAdmin) {
    if (!user.empty() && user != principal->name) {
      return ToGrpcStatus(absl::PermissionDeniedError(
          absl::StrCat("user ", principal->name, " may not list the tasks of ", user)));
    }
    user = principal->name;
  }
  auto page = transfers_.ListTasks(user, page_size, request->page_token(), clock_.Now());
  if (!page.ok()) return ToGrpcStatus(page.status());
  for (auto& t : page->tasks) *response->add_tasks() = std::move(t);
  response->set_next_page_token(page->next_page_token);
  return grpc::Status::OK;
}

grpc::Status IngestService::Whoami(grpc::ServerContext* ctx, const v1::WhoamiRequest*,
                                   v1::WhoamiResponse* response) {
  auto principal = auth::Authorize(auth_, *ctx, "Whoami");  // any role
  if (!principal.ok()) return ToGrpcStatus(principal.status());
  response->set_name(principal->name);
  response->set_role(std::string(auth::RoleName(principal->role)));
  response->set_method(principal->mechanism);
  response->set_subject(principal->subject);
  return grpc::Status::OK;
}

grpc::Status IngestService::GetTaskSummary(grpc::ServerContext* ctx, const v1::GetTaskSummaryRequest* request,
                                           cv1::TaskSummary* response) {
  auto principal = auth::Authorize(auth_, *ctx, "GetTaskSummary", kPublicRoles);
  if (!principal.ok()) return ToGrpcStatus(principal.status());
  if (request->task_id().empty()) return ToGrpcStatus(absl::InvalidArgumentError("task_id is required"));
  if (absl::Status s = CheckTaskAccess(*principal, request->task_id()); !s.ok()) return ToGrpcStatus(s);
  auto summary = transfers_.Summarize(request->task_id(), clock_.Now());
  if (!summary.ok()) return ToGrpcStatus(summary.status());
  *response = std::move(*summary);
  return grpc::Status::OK;
}

grpc::Status IngestService::KillTransfers(grpc::ServerContext* ctx, const v1::KillTransfersRequest* request,
                                          v1::KillTransfersResponse* response) {
  auto principal = auth::Authorize(auth_, *ctx, "KillTransfers", kPublicRoles);
  if (!principal.ok()) return ToGrpcStatus(principal.status());
  if (request->reason().size() > 1024) {
    return ToGrpcStatus(absl::InvalidArgumentError("reason is longer than 1024 characters"));
  }
  auto selector = SelectionFor(*principal, request->task_id(), request->ids(), request->user());
  if (!selector.ok()) return ToGrpcStatus(selector.status());
  const std::string reason = request->reason().empty() ? "killed on request" : request->reason();
  auto result = transfers_.Kill(*selector, reason, clock_.Now());
  if (!result.ok()) return ToGrpcStatus(result.status());
  response->set_killed(result->killed);
  response->set_kill_requested(result->kill_requested);
  ASO_LOG(INFO, "kill task=", request->task_id(), " ids=", request->ids_size(), " by=", principal->name, ": ",
          result->killed, " killed, ", result->kill_requested, " being cancelled");
  return grpc::Status::OK;
}

grpc::Status IngestService::RetryTransfers(grpc::ServerContext* ctx, const v1::RetryTransfersRequest* request,
                                           v1::RetryTransfersResponse* response) {
  auto principal = auth::Authorize(auth_, *ctx, "RetryTransfers", kPublicRoles);
  if (!principal.ok()) return ToGrpcStatus(principal.status());
  auto selector = SelectionFor(*principal, request->task_id(), request->ids(), request->user());
  if (!selector.ok()) return ToGrpcStatus(selector.status());
  auto result = transfers_.Retry(*selector, clock_.Now());
  if (!result.ok()) return ToGrpcStatus(result.status());
  response->set_requeued(result->requeued);
  for (int64_t id : result->skipped_ids) response->add_skipped_ids(id);
  ASO_LOG(INFO, "retry task=", request->task_id(), " ids=", request->ids_size(), " by=", principal->name,
          ": ", result->requeued, " requeued");
  return grpc::Status::OK;
}

grpc::Status IngestService::WatchTask(grpc::ServerContext* ctx, const v1::WatchTaskRequest* request,
                                      grpc::ServerWriter<v1::TaskEvent>* writer) {
  auto principal = auth::Authorize(auth_, *ctx, "WatchTask", kPublicRoles);
  if (!principal.ok()) return ToGrpcStatus(principal.status());
  if (request->task_id().empty()) return ToGrpcStatus(absl::InvalidArgumentError("task_id is required"));
  if (absl::Status s = CheckTaskAccess(*principal, request->task_id()); !s.ok()) return ToGrpcStatus(s);
  if (watches_.fetch_add(1) >= ingest_limits_.max_watch_streams) {
    watches_.fetch_sub(1);
    return ToGrpcStatus(absl::ResourceExhaustedError(
        absl::StrCat("this server already streams ", ingest_limits_.max_watch_streams,
                     " tasks; poll GetTaskSummary or retry later")));
  }
  struct Release {
    std::atomic<int>& n;
    ~Release() { n.fetch_sub(1); }
  } release{watches_};
  std::string cursor = request->cursor();
  while (!ctx->IsCancelled() && !stopping_) {
    auto page = transfers_.Watch(request->task_id(), cursor, 1000, clock_.Now());
    if (!page.ok()) return ToGrpcStatus(page.status());
    for (size_t i = 0; i < page->changed.size(); ++i) {
      v1::TaskEvent event;
      event.set_cursor(page->cursors[i]);
      *event.mutable_transfer() = std::move(page->changed[i]);
      if (!writer->Write(event)) return grpc::Status::OK;  // the client went away
    }
    cursor = page->cursor;
    if (page->changed.empty()) {
      // Wait for a change (WakeWatchers) or the poll interval, in short steps so a cancelled stream or a
      // drain ends promptly.
      absl::MutexLock lock(&wake_mu_);
      const int64_t seen = wake_generation_;
      const absl::Time until = absl::Now() + ingest_limits_.watch_poll;
      auto changed = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(wake_mu_) { return wake_generation_ != seen; };
      while (absl::Now() < until && !ctx->IsCancelled() && !stopping_ &&
             !wake_mu_.AwaitWithTimeout(absl::Condition(&changed), absl::Milliseconds(100))) {
      }
    }
  }
  return grpc::Status::OK;
}

}  // namespace aso::ingest
