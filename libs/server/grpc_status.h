// absl::Status <-> grpc::Status at the edge of every service and client.
#ifndef ASO_LIBS_SERVER_GRPC_STATUS_H_
#define ASO_LIBS_SERVER_GRPC_STATUS_H_

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace aso::server {

grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace aso::server

#endif  // ASO_LIBS_SERVER_GRPC_STATUS_H_
