// The site catalog: storage sites, their URL prefixes, states and throttles. Thread-safe.
#ifndef ASO_LIBS_DB_SITE_REPOSITORY_H_
#define ASO_LIBS_DB_SITE_REPOSITORY_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "aso/common/v1/common.pb.h"
#include "libs/db/database.h"

namespace aso::db {

using aso::common::v1::Site;

class SiteRepository {
 public:
  virtual ~SiteRepository() = default;
  // Creates or replaces the site named site.name(). Returns the stored site.
  virtual absl::StatusOr<Site> Upsert(const Site& site, absl::Time now) = 0;
  // NOT_FOUND if unknown.
  virtual absl::StatusOr<Site> Get(const std::string& name) = 0;
  // All sites in name order.
  virtual absl::StatusOr<std::vector<Site>> List() = 0;
};

class PgSiteRepository final : public SiteRepository {
 public:
  explicit PgSiteRepository(Database& db) : db_(db) {}
  absl::StatusOr<Site> Upsert(const Site& site, absl::Time now) override;
  absl::StatusOr<Site> Get(const std::string& name) override;
  absl::StatusOr<std::vector<Site>> List() override;

 private:
  Database& db_;
};

}  // namespace aso::db

#endif  // ASO_LIBS_DB_SITE_REPOSITORY_H_
