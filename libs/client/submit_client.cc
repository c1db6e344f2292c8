#include "libs/client/submit_client.h"

#include <sys/stat.h>

#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "libs/auth/delegation.h"
#include "libs/common/adler32.h"
#include "libs/server/grpc_status.h"

namespace aso::client {
namespace iv1 = aso::ingest::v1;
namespace cv1 = aso::common::v1;

absl::Status DescribeLocalSource(iv1::FileRequest& file) {
  constexpr absl::string_view kFile = "file://";
  if (!absl::StartsWith(file.source_url(), kFile)) return absl::OkStatus();
  std::string path = file.source_url().substr(kFile.size());
  if (absl::StartsWith(path, "localhost/")) path = path.substr(9);
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) {
    return absl::NotFoundError(absl::StrCat("source file ", path, " does not exist"));
  }
  if (file.size_bytes() <= 0) file.set_size_bytes(st.st_size);
  if (file.checksum().empty()) {
    auto sum = Adler32OfFile(path);
    if (!sum.ok()) return sum.status();
    file.set_checksum(absl::StrCat("adler32:", FormatAdler32(*sum)));
  }
  return absl::OkStatus();
}

SubmitClient::SubmitClient(std::shared_ptr<auth::ClientAuth> auth, const std::string& target,
                           ClientOptions options)
    : auth_(std::move(auth)), options_(options) {
  auto channel = auth_->Channel(target);
  stub_ = iv1::Ingest::NewStub(channel);
  credentials_ = iv1::Credentials::NewStub(channel);
}

absl::StatusOr<iv1::Credential> SubmitClient::DelegateProxy(const std::string& signer_pem,
                                                            absl::Duration lifetime) {
  iv1::DelegationRequest request;
  absl::Status s = Call([&](grpc::ClientContext& ctx) {
    return credentials_->GetDelegationRequest(&ctx, iv1::GetDelegationRequestRequest(), &request);
  });
  if (!s.ok()) return s;
  auto chain = auth::SignProxy(request.csr_pem(), signer_pem, lifetime, absl::Now());
  if (!chain.ok()) return chain.status();
  iv1::PutDelegatedProxyRequest put;
  put.set_delegation_id(request.delegation_id());
  put.set_chain_pem(*chain);
  iv1::Credential out;
  s = Call([&](grpc::ClientContext& ctx) { return credentials_->PutDelegatedProxy(&ctx, put, &out); });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<iv1::Credential> SubmitClient::DelegateToken(const iv1::PutBearerTokenRequest& token) {
  iv1::Credential out;
  absl::Status s =
      Call([&](grpc::ClientContext& ctx) { return credentials_->PutBearerToken(&ctx, token, &out); });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<iv1::ListCredentialsResponse> SubmitClient::ListCredentials(const std::string& user,
                                                                           absl::Duration expiring_within) {
  iv1::ListCredentialsRequest req;
  req.set_user(user);
  req.set_expiring_within_seconds(absl::ToInt64Seconds(expiring_within));
  iv1::ListCredentialsResponse out;
  absl::Status s =
      Call([&](grpc::ClientContext& ctx) { return credentials_->ListCredentials(&ctx, req, &out); });
  if (!s.ok()) return s;
  return out;
}

absl::Status SubmitClient::Call(const std::function<grpc::Status(grpc::ClientContext&)>& call) {
  absl::Duration backoff = options_.first_backoff;
  for (int attempt = 1;; ++attempt) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(options_.call_deadline));
    auth_->Apply(ctx);
    grpc::Status s = call(ctx);
    const bool transient = s.error_code() == grpc::StatusCode::UNAVAILABLE ||
                           s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED;
    if (s.ok() || !transient || attempt >= options_.max_attempts) return server::FromGrpcStatus(s);
    std::this_thread::sleep_for(absl::ToChronoMilliseconds(backoff));
    backoff *= 2;
  }
}

absl::StatusOr<std::vector<int64_t>> SubmitClient::Submit(const std::string& task_id, const std::string& user,
                                                          const std::vector<iv1::FileRequest>& files) {
  iv1::SubmitTransfersRequest request;
  request.set_task_id(task_id);
  request.set_user(user);
  for (const auto& f : files) *request.add_files() = f;
  return Submit(request);
}

absl::StatusOr<std::vector<int64_t>> SubmitClient::Submit(const iv1::SubmitTransfersRequest& whole) {
  std::vector<int64_t> ids;
  const size_t total = static_cast<size_t>(whole.files_size());
  for (size_t start = 0; start < total; start += options_.batch_size) {
    iv1::SubmitTransfersRequest request = whole;
    request.clear_files();
    for (size_t i = start; i < total && i < start + options_.batch_size; ++i) {
      *request.add_files() = whole.files(static_cast<int>(i));
    }
    iv1::SubmitTransfersResponse response;
    absl::Status s = Call([&](grpc::ClientContext& ctx) {
      response.Clear();
      return stub_->SubmitTransfers(&ctx, request, &response);
    });
    if (!s.ok()) {
      if (start == 0) return s;
      return absl::Status(s.code(),
                          absl::StrCat(s.message(), " (files before index ", start, " were submitted)"));
    }
    ids.insert(ids.end(), response.transfer_ids().begin(), response.transfer_ids().end());
  }
  return ids;
}

absl::StatusOr<cv1::TaskSummary> SubmitClient::Summary(const std::string& task_id) {
  iv1::GetTaskSummaryRequest request;
  request.set_task_id(task_id);
  cv1::TaskSummary summary;
  absl::Status s =
      Call([&](grpc::ClientContext& ctx) { return stub_->GetTaskSummary(&ctx, request, &summary); });
  if (!s.ok()) return s;
  return summary;
}

absl::StatusOr<cv1::TaskSummary> SubmitClient::WaitForTask(
    const std::string& task_id, absl::Duration poll_interval, absl::Duration timeout,
    const std::function<void(const cv1::TaskSummary&)>& progress) {
  const absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    auto summary = Summary(task_id);
    if (!summary.ok()) return summary.status();
    if (progress) progress(*summary);
    if (summary->finished()) return summary;
    if (absl::Now() + poll_interval > deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("task ", task_id, " has not finished after ", absl::FormatDuration(timeout)));
    }
    std::this_thread::sleep_for(absl::ToChronoMilliseconds(poll_interval));
  }
}

absl::StatusOr<iv1::KillTransfersResponse> SubmitClient::KillTask(const std::string& task_id,
                                                                  const std::string& user,
                                                                  const std::string& reason) {
  iv1::KillTransfersRequest request;
  request.set_task_id(task_id);
  request.set_user(user);
  request.set_reason(reason);
  iv1::KillTransfersResponse response;
  absl::Status s =
      Call([&](grpc::ClientContext& ctx) { return stub_->KillTransfers(&ctx, request, &response); });
  if (!s.ok()) return s;
  return response;
}

absl::StatusOr<std::vector<cv1::Transfer>> SubmitClient::ListTransfers(
    const std::string& task_id, const std::vector<cv1::TransferState>& states) {
  std::vector<cv1::Transfer> out;
  iv1::ListTransfersRequest request;
  request.set_task_id(task_id);
  request.set_page_size(1000);
  for (auto s : states) request.add_states(s);
  for (;;) {
    iv1::ListTransfersResponse response;
    absl::Status s = Call([&](grpc::ClientContext& ctx) {
      response.Clear();
      return stub_->ListTransfers(&ctx, request, &response);
    });
    if (!s.ok()) return s;
    for (auto& t : *response.mutable_transfers()) out.push_back(std::move(t));
    if (response.next_page_token().empty()) return out;
    request.set_page_token(response.next_page_token());
  }
}

absl::StatusOr<std::string> SubmitClient::Watch(const std::string& task_id, const std::string& cursor,
                                                absl::Duration timeout,
                                                const std::function<bool(const iv1::TaskEvent&)>& on_event) {
  const absl::Time deadline = absl::Now() + timeout;
  std::string last = cursor;
  absl::Duration backoff = options_.first_backoff;
  int failures = 0;
  for (;;) {
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(deadline));
    auth_->Apply(ctx);
    iv1::WatchTaskRequest request;
    request.set_task_id(task_id);
    request.set_cursor(last);
    auto reader = stub_->WatchTask(&ctx, request);
    iv1::TaskEvent event;
    bool stop = false;
    while (reader->Read(&event)) {
      failures = 0;
      last = event.cursor();
      if (!on_event(event)) {
        stop = true;
        ctx.TryCancel();
        break;
      }
    }
    grpc::Status s = reader->Finish();
    if (stop) return last;
    if (s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED || absl::Now() >= deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("task ", task_id, " is still running after ", absl::FormatDuration(timeout)));
    }
    // A stream that ends without an error (the server drains) or breaks is resumed from the last cursor.
    if (!s.ok() && s.error_code() != grpc::StatusCode::UNAVAILABLE) return server::FromGrpcStatus(s);
    if (!s.ok() && ++failures >= options_.max_attempts) return server::FromGrpcStatus(s);
    std::this_thread::sleep_for(absl::ToChronoMilliseconds(backoff));
    backoff = std::min(backoff * 2, absl::Seconds(10));
  }
}

absl::StatusOr<iv1::RetryTransfersResponse> SubmitClient::RetryTask(const std::string& task_id,
                                                                    const std::string& user) {
  iv1::RetryTransfersRequest request;
  request.set_task_id(task_id);
  request.set_user(user);
  iv1::RetryTransfersResponse response;
  absl::Status s =
      Call([&](grpc::ClientContext& ctx) { return stub_->RetryTransfers(&ctx, request, &response); });
  if (!s.ok()) return s;
  return response;
}

}  // namespace aso::client
