// Publication: DONE files that asked for it (publication_state PENDING) go into the file catalog, in the
// open block of their dataset, and — when an external catalog is configured — into the outbox from which
// they are delivered with retries. See migration 0009. Thread-safe; replicas share the work.
#ifndef ASO_LIBS_DB_PUBLICATION_REPOSITORY_H_
#define ASO_LIBS_DB_PUBLICATION_REPOSITORY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "aso/bookkeeping/v1/bookkeeping.pb.h"
#include "libs/db/database.h"

namespace aso::db {

struct OutboxItem {
  int64_t transfer_id = 0;
  std::string payload;  // the catalog entry as JSON
  int attempts = 0;     // deliveries tried before
};

struct Delivery {
  int64_t transfer_id = 0;
  bool delivered = false;
  absl::Time retry_at;  // when not delivered
  std::string error;
};

class PublicationRepository {
 public:
  virtual ~PublicationRepository() = default;

  // Catalogs up to `limit` pending files, each in one transaction with its block's count and (when
  // `outbox`) its outbox row, and marks them DONE — or FAILED when the catalog already holds their LFN at
  // that site from another transfer. A block that reaches `block_max_files` closes. Returns how many.
  virtual absl::StatusOr<int> PublishPending(int limit, int block_max_files, bool outbox, absl::Time now) = 0;

  // Closes the open blocks nothing was added to since now - `idle`. Returns how many.
  virtual absl::StatusOr<int> CloseIdleBlocks(absl::Duration idle, absl::Time now) = 0;

  // Up to `limit` undelivered outbox items that are due, hidden from other callers until now + `hold`.
  virtual absl::StatusOr<std::vector<OutboxItem>> TakeOutbox(int limit, absl::Duration hold,
                                                             absl::Time now) = 0;
  virtual absl::Status RecordDeliveries(const std::vector<Delivery>& deliveries, absl::Time now) = 0;

  // Catalog entries matching every non-empty field of `query`, newest first.
  virtual absl::StatusOr<std::vector<aso::bookkeeping::v1::CatalogEntry>> ListCatalog(
      const aso::bookkeeping::v1::ListCatalogRequest& query) = 0;

  // The outbox, oldest first (only the undelivered announcements with `pending_only`).
  virtual absl::StatusOr<std::vector<aso::bookkeeping::v1::OutboxEntry>> ListOutbox(bool pending_only,
                                                                                    int limit) = 0;
  // Undelivered announcements (these, or all when `transfer_ids` is empty) become due now. Returns how many.
  virtual absl::StatusOr<int> RetryOutbox(const std::vector<int64_t>& transfer_ids, absl::Time now) = 0;
};

class PgPublicationRepository final : public PublicationRepository {
 public:
  explicit PgPublicationRepository(Database& db) : db_(db) {}
  absl::StatusOr<int> PublishPending(int limit, int block_max_files, bool outbox, absl::Time now) override;
  absl::StatusOr<int> CloseIdleBlocks(absl::Duration idle, absl::Time now) override;
  absl::StatusOr<std::vector<OutboxItem>> TakeOutbox(int limit, absl::Duration hold, absl::Time now) override;
  absl::Status RecordDeliveries(const std::vector<Delivery>& deliveries, absl::Time now) override;
  absl::StatusOr<std::vector<aso::bookkeeping::v1::CatalogEntry>> ListCatalog(
      const aso::bookkeeping::v1::ListCatalogRequest& query) override;
  absl::StatusOr<std::vector<aso::bookkeeping::v1::OutboxEntry>> ListOutbox(bool pending_only,
                                                                            int limit) override;
  absl::StatusOr<int> RetryOutbox(const std::vector<int64_t>& transfer_ids, absl::Time now) override;

 private:
  Database& db_;
};

}  // namespace aso::db

#endif  // ASO_LIBS_DB_PUBLICATION_REPOSITORY_H_
