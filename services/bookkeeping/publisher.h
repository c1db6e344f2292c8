// Publication (see libs/db/publication_repository.h): catalogs the files that asked for it, closes idle
// dataset blocks, and delivers the outbox to the external catalog through an ExternalCatalog plug-in,
// retrying a failed delivery with a doubling delay, indefinitely (the outbox keeps the last error).
#ifndef ASO_SERVICES_BOOKKEEPING_PUBLISHER_H_
#define ASO_SERVICES_BOOKKEEPING_PUBLISHER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "libs/common/clock.h"
#include "libs/db/publication_repository.h"
#include "libs/metrics/metrics.h"

namespace aso::bookkeeping {

// A collaboration's catalog that published files are announced to. Publish must be idempotent on the
// transfer id: after a crash a file may be announced again.
class ExternalCatalog {
 public:
  virtual ~ExternalCatalog() = default;
  // `entry_json` is the catalog entry (lfn, site, url, size_bytes, checksum, task_id, dataset, job_id,
  // username, metadata, block_id, published). An error means: try again later.
  virtual absl::Status Publish(int64_t transfer_id, const std::string& entry_json) = 0;
};

// POSTs each entry as JSON to `url` with the header "Idempotency-Key: aso-transfer-<id>"; any 2xx is
// success. Uses libcurl; `bearer_token` (optional) is sent as Authorization: Bearer.
std::unique_ptr<ExternalCatalog> NewWebhookCatalog(const std::string& url, const std::string& bearer_token,
                                                   absl::Duration timeout);

struct PublisherConfig {
  int batch = 200;
  int block_max_files = 100;                       // a dataset block closes with this many files
  absl::Duration block_idle = absl::Hours(1);      // or when nothing was added for this long
  absl::Duration retry_delay = absl::Seconds(30);  // before the second delivery, doubling
  absl::Duration max_retry_delay = absl::Hours(1);
  absl::Duration hold = absl::Minutes(5);
};

class Publisher {
 public:
  // `external` may be null: files are catalogued, nothing is delivered.
  Publisher(db::PublicationRepository& repo, ExternalCatalog* external, Clock& clock, PublisherConfig config,
            metrics::Metrics& metrics);

  // One round; returns how many files were catalogued or delivered.
  absl::StatusOr<int> RunOnce();

 private:
  db::PublicationRepository& repo_;
  ExternalCatalog* external_;
  Clock& clock_;
  PublisherConfig config_;
  metrics::CounterVec published_;
  metrics::CounterVec deliveries_;
};

}  // namespace aso::bookkeeping

#endif  // ASO_SERVICES_BOOKKEEPING_PUBLISHER_H_
