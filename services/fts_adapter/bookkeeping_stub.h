// The adapter's narrow view of aso-bookkeeping, so outcome reporting is tested without a server.
#ifndef ASO_SERVICES_FTS_ADAPTER_BOOKKEEPING_STUB_H_
#define ASO_SERVICES_FTS_ADAPTER_BOOKKEEPING_STUB_H_

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "aso/bookkeeping/v1/bookkeeping.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "libs/auth/credentials.h"

namespace aso::fts_adapter {

class BookkeepingStub {
 public:
  virtual ~BookkeepingStub() = default;
  // Reports outcomes. On success, one status per outcome: OK when bookkeeping has durably handled it
  // (applied, or recognised as a repeat or stale), else why not. A failed call handled none.
  virtual absl::StatusOr<std::vector<absl::Status>> ReportOutcomes(
      const std::vector<aso::common::v1::FileOutcome>& outcomes) = 0;
};

std::unique_ptr<BookkeepingStub> MakeGrpcBookkeepingStub(std::shared_ptr<auth::ClientAuth> auth,
                                                         const std::string& target, absl::Duration deadline);

}  // namespace aso::fts_adapter

#endif  // ASO_SERVICES_FTS_ADAPTER_BOOKKEEPING_STUB_H_
