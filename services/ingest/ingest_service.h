// The gRPC adapter of aso-ingest: authenticates and authorizes every call (a user acts on its own tasks
// and transfers; admins and services on all), applies the per-user quotas, validates requests, calls the
// transfer repository and maps statuses. Thread-safe (handlers run on the server's thread pool).
#ifndef ASO_SERVICES_INGEST_INGEST_SERVICE_H_
#define ASO_SERVICES_INGEST_INGEST_SERVICE_H_

#include <atomic>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "aso/ingest/v1/ingest.grpc.pb.h"
#include "libs/auth/authenticator.h"
#include "libs/common/clock.h"
#include "libs/db/site_repository.h"
#include "libs/db/transfer_repository.h"
#include "libs/metrics/metrics.h"
#include "services/ingest/submission_validator.h"

namespace aso::ingest {

struct IngestLimits {
  double user_files_per_second = 0;  // sustained submission rate per user; 0 = unlimited
  double user_burst_files = 100000;  // files a user may submit at once above the rate
  int64_t user_max_live_files = 0;   // non-terminal transfers per user; 0 = unlimited
  int max_watch_streams = 16;        // concurrent WatchTask streams (each holds a handler thread)
  absl::Duration watch_poll = absl::Seconds(1);
  absl::Duration max_time_in_queue = absl::Hours(24 * 30);  // the longest deadline a task may ask for
};

class IngestService final : public aso::ingest::v1::Ingest::Service {
 public:
  IngestService(db::TransferRepository& transfers, db::SiteRepository& sites, Clock& clock,
                SubmissionLimits limits, metrics::Metrics& metrics, const auth::Authenticator& auth,
                IngestLimits ingest_limits = {});

  grpc::Status SubmitTransfers(grpc::ServerContext* ctx, const v1::SubmitTransfersRequest* request,
                               v1::SubmitTransfersResponse* response) override;
  grpc::Status GetTransfer(grpc::ServerContext* ctx, const v1::GetTransferRequest* request,
                           aso::common::v1::Transfer* response) override;
  grpc::Status ListTransfers(grpc::ServerContext* ctx, const v1::ListTransfersRequest* request,
                             v1::ListTransfersResponse* response) override;
  grpc::Status ListTasks(grpc::ServerContext* ctx, const v1::ListTasksRequest* request,
                         v1::ListTasksResponse* response) override;
  grpc::Status Whoami(grpc::ServerContext* ctx, const v1::WhoamiRequest* request,
                      v1::WhoamiResponse* response) override;
  grpc::Status GetTaskSummary(grpc::ServerContext* ctx, const v1::GetTaskSummaryRequest* request,
                              aso::common::v1::TaskSummary* response) override;
  grpc::Status KillTransfers(grpc::ServerContext* ctx, const v1::KillTransfersRequest* request,
                             v1::KillTransfersResponse* response) override;
  grpc::Status RetryTransfers(grpc::ServerContext* ctx, const v1::RetryTransfersRequest* request,
                              v1::RetryTransfersResponse* response) override;
  grpc::Status WatchTask(grpc::ServerContext* ctx, const v1::WatchTaskRequest* request,
                         grpc::ServerWriter<v1::TaskEvent>* writer) override;

  // Ends running WatchTask streams (for a drain).
  void StopWatches() { stopping_ = true; }
  // Transfers changed state (PostgreSQL's NOTIFY): idle WatchTask streams look again now instead of at their
  // next poll.
  void WakeWatchers() {
    absl::MutexLock lock(&wake_mu_);
    ++wake_generation_;
  }

 private:
  // OK when the caller may act on the task (its owner, an admin or a service); NOT_FOUND for an unknown
  // task, PERMISSION_DENIED otherwise.
  absl::Status CheckTaskAccess(const auth::Principal& principal, const std::string& task_id);
  // The selection a Kill/Retry of this caller may touch; PERMISSION_DENIED naming a task or id of another.
  absl::StatusOr<db::KillSelector> SelectionFor(const auth::Principal& principal, const std::string& task_id,
                                                const google::protobuf::RepeatedField<int64_t>& ids,
                                                const std::string& user);
  // RESOURCE_EXHAUSTED when the user submits faster than the configured rate.
  absl::Status TakeRate(const std::string& user, int files, absl::Time now);

  db::TransferRepository& transfers_;
  db::SiteRepository& sites_;
  Clock& clock_;
  SubmissionLimits limits_;
  IngestLimits ingest_limits_;
  const auth::Authenticator& auth_;
  metrics::CounterVec files_accepted_;
  metrics::CounterVec submissions_refused_;
  metrics::CounterVec denied_;
  std::atomic<int> watches_{0};
  std::atomic<bool> stopping_{false};
  absl::Mutex wake_mu_;
  int64_t wake_generation_ ABSL_GUARDED_BY(wake_mu_) = 0;

  struct Bucket {
    double tokens = 0;
    absl::Time refreshed;
  };
  absl::Mutex rate_mu_;
  absl::flat_hash_map<std::string, Bucket> buckets_ ABSL_GUARDED_BY(rate_mu_);
};

}  // namespace aso::ingest

#endif  // ASO_SERVICES_INGEST_INGEST_SERVICE_H_
