// aso-ingest: the public API where jobs hand over their output files.
#include <iostream>

#include "absl/flags/flag.h"
#include "libs/common/env_flags.h"
#include "libs/db/site_repository.h"
#include "libs/db/transfer_repository.h"
#include "libs/server/grpc_server.h"
#include "libs/server/service_runtime.h"
#include "services/ingest/ingest_service.h"

ABSL_FLAG(int, max_batch_files, 10000,
          "Most files one SubmitTransfers call may carry (env ASO_MAX_BATCH_FILES)");

int main(int argc, char** argv) {
  aso::server::BlockTerminationSignals();
  aso::ParseFlagsWithEnv(argc, argv, "aso-ingest: accepts transfer requests from jobs. Flags: --helpfull");
  auto config = aso::server::CommonConfigFromFlags("aso-ingest", "0.0.0.0:50051", "0.0.0.0:9101");
  if (!config.ok()) return std::cerr << config.status().message() << "\n", 2;
  auto rt = aso::server::StartRuntime(*config, "ingest");
  if (!rt.ok()) return std::cerr << "aso-ingest: " << rt.status().message() << "\n", 1;

  aso::db::PgTransferRepository transfers(*rt->db);
  aso::db::PgSiteRepository sites(*rt->db);
  aso::ingest::SubmissionLimits limits;
  limits.max_files = absl::GetFlag(FLAGS_max_batch_files);
  aso::ingest::IngestService service(transfers, sites, aso::RealClock::Get(), limits, *rt->metrics);
  return aso::server::ServeUntilSignal(*rt, "aso.ingest.v1.Ingest", {&service}, {});
}
