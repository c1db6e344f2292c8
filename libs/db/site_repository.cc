#include "libs/db/site_repository.h"

#include "absl/strings/str_cat.h"
#include "libs/db/internal/transaction.h"
#include "libs/db/pg_util.h"
#include "libs/transfer/state.h"

namespace aso::db {
namespace v1 = aso::common::v1;
namespace {

constexpr char kColumns[] =
    "name, state, url_prefixes, max_active_outbound, max_active_inbound, cleanup_source, "
    "extract(epoch from updated)::float8";

constexpr char kUpsert[] = R"sql(
  INSERT INTO sites (name, state, url_prefixes, max_active_outbound, max_active_inbound,
                     cleanup_source, updated)
  VALUES ($1, $2, $3::text[], $4, $5, $6, to_timestamp($7))
  ON CONFLICT (name) DO UPDATE SET
    state = EXCLUDED.state, url_prefixes = EXCLUDED.url_prefixes,
    max_active_outbound = EXCLUDED.max_active_outbound,
    max_active_inbound = EXCLUDED.max_active_inbound,
    cleanup_source = EXCLUDED.cleanup_source, updated = EXCLUDED.updated)sql";

Site SiteFromRow(const pqxx::row& r) {
  Site s;
  s.set_name(r[0].as<std::string>());
  s.set_state(transfer::SiteStateFromName(r[1].as<std::string>()).value_or(v1::SITE_STATE_ENABLED));
  for (auto& p : ParseTextArray(r[2].as<std::string>())) s.add_url_prefixes(p);
  s.set_max_active_outbound(r[3].as<int>());
  s.set_max_active_inbound(r[4].as<int>());
  s.set_cleanup_source(r[5].as<bool>());
  SetTimestamp(r[6].as<double>(), s.mutable_updated());
  return s;
}

}  // namespace

absl::StatusOr<Site> PgSiteRepository::Upsert(const Site& site, absl::Time now) {
  std::vector<std::string> prefixes(site.url_prefixes().begin(), site.url_prefixes().end());
  absl::Status s = Transact(db_, [&](pqxx::work& txn) {
    txn.exec_params0(kUpsert, site.name(), std::string(transfer::SiteStateName(site.state())),
                     TextArray(prefixes), site.max_active_outbound(), site.max_active_inbound(),
                     site.cleanup_source(), EpochSeconds(now));
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return Get(site.name());
}

absl::StatusOr<Site> PgSiteRepository::Get(const std::string& name) {
  Site out;
  absl::Status s = Transact(db_, [&](pqxx::work& txn) {
    auto r = txn.exec_params(absl::StrCat("SELECT ", kColumns, " FROM sites WHERE name = $1"), name);
    if (r.empty()) return absl::NotFoundError(absl::StrCat("unknown site: ", name));
    out = SiteFromRow(r[0]);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<std::vector<Site>> PgSiteRepository::List() {
  std::vector<Site> out;
  absl::Status s = Transact(db_, [&](pqxx::work& txn) {
    out.clear();
    for (const auto& row : txn.exec(absl::StrCat("SELECT ", kColumns, " FROM sites ORDER BY name"))) {
      out.push_back(SiteFromRow(row));
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

}  // namespace aso::db
