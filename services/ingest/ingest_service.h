// The gRPC adapter of aso-ingest: validates requests, calls the transfer repository, maps statuses.
// Thread-safe (handlers run on the server's thread pool).
#ifndef ASO_SERVICES_INGEST_INGEST_SERVICE_H_
#define ASO_SERVICES_INGEST_INGEST_SERVICE_H_

#include "aso/ingest/v1/ingest.grpc.pb.h"
#include "libs/common/clock.h"
#include "libs/db/site_repository.h"
#include "libs/db/transfer_repository.h"
#include "libs/metrics/metrics.h"
#include "services/ingest/submission_validator.h"

namespace aso::ingest {

class IngestService final : public aso::ingest::v1::Ingest::Service {
 public:
  IngestService(db::TransferRepository& transfers, db::SiteRepository& sites, Clock& clock,
                SubmissionLimits limits, metrics::Metrics& metrics);

  grpc::Status SubmitTransfers(grpc::ServerContext* ctx, const v1::SubmitTransfersRequest* request,
                               v1::SubmitTransfersResponse* response) override;
  grpc::Status GetTransfer(grpc::ServerContext* ctx, const v1::GetTransferRequest* request,
                           aso::common::v1::Transfer* response) override;
  grpc::Status ListTransfers(grpc::ServerContext* ctx, const v1::ListTransfersRequest* request,
                             v1::ListTransfersResponse* response) override;
  grpc::Status GetTaskSummary(grpc::ServerContext* ctx, const v1::GetTaskSummaryRequest* request,
                              aso::common::v1::TaskSummary* response) override;
  grpc::Status KillTransfers(grpc::ServerContext* ctx, const v1::KillTransfersRequest* request,
                             v1::KillTransfersResponse* response) override;

 private:
  db::TransferRepository& transfers_;
  db::SiteRepository& sites_;
  Clock& clock_;
  SubmissionLimits limits_;
  metrics::CounterVec files_accepted_;
  metrics::CounterVec submissions_refused_;
};

}  // namespace aso::ingest

#endif  // ASO_SERVICES_INGEST_INGEST_SERVICE_H_
