// Turns a SubmitTransfersRequest into transfers ready to store, or refuses it naming the field and file:
// URLs, sites (resolved from the site catalog's URL prefixes), sizes, checksums, metadata, batch size.
// Pure logic over a snapshot of the site catalog; thread-compatible.
#ifndef ASO_SERVICES_INGEST_SUBMISSION_VALIDATOR_H_
#define ASO_SERVICES_INGEST_SUBMISSION_VALIDATOR_H_

#include <vector>

#include "absl/status/statusor.h"
#include "aso/common/v1/common.pb.h"
#include "aso/ingest/v1/ingest.pb.h"

namespace aso::ingest {

struct SubmissionLimits {
  int max_files = 10000;
  int max_metadata_entries = 64;
  int max_metadata_bytes = 16 * 1024;
};

class SubmissionValidator {
 public:
  SubmissionValidator(std::vector<aso::common::v1::Site> sites, SubmissionLimits limits)
      : sites_(std::move(sites)), limits_(limits) {}

  // INVALID_ARGUMENT naming the problem ("files[3].source_url: ...") when anything is wrong; nothing is
  // partially accepted. The transfers carry resolved sites and their idempotency keys.
  absl::StatusOr<std::vector<aso::common::v1::Transfer>> Validate(
      const aso::ingest::v1::SubmitTransfersRequest& request) const;

  // The site whose URL prefix is the longest match for `url`; nullptr if none.
  const aso::common::v1::Site* SiteForUrl(const std::string& url) const;

 private:
  std::vector<aso::common::v1::Site> sites_;
  SubmissionLimits limits_;
};

// The idempotency key used when a file brings none: task, job and destination identify one output.
std::string DefaultIdempotencyKey(const std::string& task_id, const std::string& job_id,
                                  const std::string& destination_url);

}  // namespace aso::ingest

#endif  // ASO_SERVICES_INGEST_SUBMISSION_VALIDATOR_H_
