// The scheduler's narrow view of aso-fts-adapter, so the scheduling logic is tested without a server.
#ifndef ASO_SERVICES_SCHEDULER_ADAPTER_STUB_H_
#define ASO_SERVICES_SCHEDULER_ADAPTER_STUB_H_

#include <memory>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "aso/fts_adapter/v1/fts_adapter.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "libs/auth/credentials.h"

namespace aso::scheduler {

class AdapterStub {
 public:
  virtual ~AdapterStub() = default;
  // Hands a job to the adapter. Returns whether the adapter already knew it. UNAVAILABLE /
  // DEADLINE_EXCEEDED when the adapter could not be reached (the job may or may not have arrived).
  virtual absl::StatusOr<bool> SubmitJob(const aso::fts_adapter::v1::Job& job) = 0;
  // True when a call made now would fail without reaching the adapter (gRPC: the channel is in
  // TRANSIENT_FAILURE, so the call is refused before anything is sent). Then a job is certainly not
  // delivered.
  virtual bool KnownUnreachable() { return false; }
};

// Calls the real service with a deadline on every call.
std::unique_ptr<AdapterStub> MakeGrpcAdapterStub(std::shared_ptr<auth::ClientAuth> auth,
                                                 const std::string& target, absl::Duration deadline);

}  // namespace aso::scheduler

#endif  // ASO_SERVICES_SCHEDULER_ADAPTER_STUB_H_
