// The job-side client of aso-ingest: submit files (retrying safely thanks to idempotency keys, in
// batches), watch a task until it ends (resuming the stream after a disconnect), read failures, kill and
// retry. Thread-compatible; one per thread or guarded.
#ifndef ASO_LIBS_CLIENT_SUBMIT_CLIENT_H_
#define ASO_LIBS_CLIENT_SUBMIT_CLIENT_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "aso/ingest/v1/credentials.grpc.pb.h"
#include "aso/ingest/v1/ingest.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "libs/auth/credentials.h"

namespace aso::client {

struct ClientOptions {
  absl::Duration call_deadline = absl::Seconds(30);
  int max_attempts = 5;  // per call, on UNAVAILABLE / DEADLINE_EXCEEDED
  absl::Duration first_backoff = absl::Milliseconds(200);
  int batch_size = 1000;  // files per SubmitTransfers call
};

// Fills size and adler32 of a file:// source that has none, by reading the local file. Other URLs are
// left as they are. NOT_FOUND if a local source is missing.
absl::Status DescribeLocalSource(aso::ingest::v1::FileRequest& file);

class SubmitClient {
 public:
  // `auth` says how to reach and authenticate to aso-ingest at `target` (see libs/auth/credentials.h).
  SubmitClient(std::shared_ptr<auth::ClientAuth> auth, const std::string& target, ClientOptions options = {});

  // Submits every file of `request` (task, user, deadline and files), in batches; returns the transfer
  // ids in order. Each batch is validated by the server; on an error, earlier batches stay submitted
  // (re-running the same call is safe: the idempotency keys return the same ids).
  absl::StatusOr<std::vector<int64_t>> Submit(const aso::ingest::v1::SubmitTransfersRequest& request);
  absl::StatusOr<std::vector<int64_t>> Submit(const std::string& task_id, const std::string& user,
                                              const std::vector<aso::ingest::v1::FileRequest>& files);

  // Streams the task's changes from `cursor` (empty: the current state of every file first), calling
  // `on_event` for each until it returns false or `timeout` passes (DEADLINE_EXCEEDED). A dropped stream
  // is resumed from the last cursor, so no change is missed or repeated. Returns the last cursor.
  absl::StatusOr<std::string> Watch(const std::string& task_id, const std::string& cursor,
                                    absl::Duration timeout,
                                    const std::function<bool(const aso::ingest::v1::TaskEvent&)>& on_event);

  // Puts the task's FAILED and KILLED transfers back in the queue with a fresh attempt budget.
  absl::StatusOr<aso::ingest::v1::RetryTransfersResponse> RetryTask(const std::string& task_id,
                                                                    const std::string& user);

  absl::StatusOr<aso::common::v1::TaskSummary> Summary(const std::string& task_id);

  // Polls until every file of the task is terminal or `timeout` passes (DEADLINE_EXCEEDED), calling
  // `progress` after each poll.
  absl::StatusOr<aso::common::v1::TaskSummary> WaitForTask(
      const std::string& task_id, absl::Duration poll_interval, absl::Duration timeout,
      const std::function<void(const aso::common::v1::TaskSummary&)>& progress);

  // Kills the live transfers of `user` in the task. Returns (killed now, being cancelled in the backend).
  absl::StatusOr<aso::ingest::v1::KillTransfersResponse> KillTask(const std::string& task_id,
                                                                  const std::string& user,
                                                                  const std::string& reason);

  // Delegates the caller's grid proxy to ASO (docs/credentials.md): asks ASO for a certificate request,
  // signs an RFC 3820 proxy for it with `signer_pem` (a proxy file, or a certificate and its key) valid for
  // `lifetime` (never beyond the signer), and sends it back. Returns what ASO stored.
  absl::StatusOr<aso::ingest::v1::Credential> DelegateProxy(const std::string& signer_pem,
                                                            absl::Duration lifetime);

  // Stores the caller's bearer token (and what renews it) in ASO (aso.ingest.v1.Credentials.PutBearerToken).
  absl::StatusOr<aso::ingest::v1::Credential> DelegateToken(
      const aso::ingest::v1::PutBearerTokenRequest& token);

  // Stored credentials (see aso.ingest.v1.Credentials.ListCredentials).
  absl::StatusOr<aso::ingest::v1::ListCredentialsResponse> ListCredentials(const std::string& user,
                                                                           absl::Duration expiring_within);

  // Every transfer of the task in the given states (all states when empty).
  absl::StatusOr<std::vector<aso::common::v1::Transfer>> ListTransfers(
      const std::string& task_id, const std::vector<aso::common::v1::TransferState>& states);

 private:
  // Runs `call` with a fresh context and deadline, retrying transient failures with backoff.
  absl::Status Call(const std::function<grpc::Status(grpc::ClientContext&)>& call);

  std::shared_ptr<auth::ClientAuth> auth_;
  std::unique_ptr<aso::ingest::v1::Ingest::Stub> stub_;
  std::unique_ptr<aso::ingest::v1::Credentials::Stub> credentials_;
  ClientOptions options_;
};

}  // namespace aso::client

#endif  // ASO_LIBS_CLIENT_SUBMIT_CLIENT_H_
