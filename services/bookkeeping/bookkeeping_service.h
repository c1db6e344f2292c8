// The gRPC adapter of aso-bookkeeping: outcomes from the adapter, the site catalog for admins, the file
// catalog for everyone.
// Thread-safe.
#ifndef ASO_SERVICES_BOOKKEEPING_BOOKKEEPING_SERVICE_H_
#define ASO_SERVICES_BOOKKEEPING_BOOKKEEPING_SERVICE_H_

#include "aso/bookkeeping/v1/bookkeeping.grpc.pb.h"
#include "libs/auth/authenticator.h"
#include "libs/common/clock.h"
#include "libs/db/publication_repository.h"
#include "libs/db/site_repository.h"
#include "services/bookkeeping/outcome_applier.h"

namespace aso::bookkeeping {

// INVALID_ARGUMENT naming the field when a site definition is unusable.
absl::Status ValidateSite(const aso::common::v1::Site& site);

class BookkeepingService final : public aso::bookkeeping::v1::Bookkeeping::Service {
 public:
  BookkeepingService(OutcomeApplier& applier, db::SiteRepository& sites, db::PublicationRepository& catalog,
                     Clock& clock, const auth::Authenticator& auth)
      : applier_(applier), sites_(sites), catalog_(catalog), clock_(clock), auth_(auth) {}

  grpc::Status ReportOutcomes(grpc::ServerContext* ctx, const v1::ReportOutcomesRequest* request,
                              v1::ReportOutcomesResponse* response) override;
  grpc::Status UpsertSite(grpc::ServerContext* ctx, const v1::UpsertSiteRequest* request,
                          aso::common::v1::Site* response) override;
  grpc::Status GetSite(grpc::ServerContext* ctx, const v1::GetSiteRequest* request,
                       aso::common::v1::Site* response) override;
  grpc::Status ListSites(grpc::ServerContext* ctx, const v1::ListSitesRequest* request,
                         v1::ListSitesResponse* response) override;
  grpc::Status ImportSites(grpc::ServerContext* ctx, const v1::ImportSitesRequest* request,
                           v1::ImportSitesResponse* response) override;
  grpc::Status ListCatalog(grpc::ServerContext* ctx, const v1::ListCatalogRequest* request,
                           v1::ListCatalogResponse* response) override;
  grpc::Status ListOutbox(grpc::ServerContext* ctx, const v1::ListOutboxRequest* request,
                          v1::ListOutboxResponse* response) override;
  grpc::Status RetryOutbox(grpc::ServerContext* ctx, const v1::RetryOutboxRequest* request,
                           v1::RetryOutboxResponse* response) override;

 private:
  OutcomeApplier& applier_;
  db::SiteRepository& sites_;
  db::PublicationRepository& catalog_;
  Clock& clock_;
  const auth::Authenticator& auth_;
};

}  // namespace aso::bookkeeping

#endif  // ASO_SERVICES_BOOKKEEPING_BOOKKEEPING_SERVICE_H_
