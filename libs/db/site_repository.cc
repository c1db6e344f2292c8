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
    "extract(epoch from updated)::float8, "
    "ARRAY(SELECT r->>'protocol' FROM jsonb_array_elements(lfn_rules) r), "
    "ARRAY(SELECT r->>'match' FROM jsonb_array_elements(lfn_rules) r), "
    "ARRAY(SELECT r->>'pfn' FROM jsonb_array_elements(lfn_rules) r), credentials";

constexpr char kUpsert[] = R"sql(
  INSERT INTO sites (name, state, url_prefixes, max_active_outbound, max_active_inbound,
                     cleanup_source, updated, lfn_rules, credentials)
  VALUES ($1, $2, $3::text[], $4, $5, $6, to_timestamp($7),
          (SELECT COALESCE(jsonb_agg(jsonb_build_object('protocol', p, 'match', m, 'pfn', f) ORDER BY i), '[]')
           FROM unnest($8::text[], $9::text[], $10::text[]) WITH ORDINALITY AS r(p, m, f, i)), $11)
  ON CONFLICT (name) DO UPDATE SET
    state = EXCLUDED.state, url_prefixes = EXCLUDED.url_prefixes,
    max_active_outbound = EXCLUDED.max_active_outbound,
    max_active_inbound = EXCLUDED.max_active_inbound,
    cleanup_source = EXCLUDED.cleanup_source, updated = EXCLUDED.updated,
    lfn_rules = EXCLUDED.lfn_rules, credentials = EXCLUDED.credentials)sql";

Site SiteFromRow(const pqxx::row& r) {
  Site s;
  s.set_name(r[0].as<std::string>());
  s.set_state(transfer::SiteStateFromName(r[1].as<std::string>()).value_or(v1::SITE_STATE_ENABLED));
  for (auto& p : ParseTextArray(r[2].as<std::string>())) s.add_url_prefixes(p);
  s.set_max_active_outbound(r[3].as<int>());
  s.set_max_active_inbound(r[4].as<int>());
  s.set_cleanup_source(r[5].as<bool>());
  SetTimestamp(r[6].as<double>(), s.mutable_updated());
  auto protocols = ParseTextArray(r[7].as<std::string>());
  auto matches = ParseTextArray(r[8].as<std::string>());
  auto pfns = ParseTextArray(r[9].as<std::string>());
  for (size_t i = 0; i < protocols.size() && i < matches.size() && i < pfns.size(); ++i) {
    auto* rule = s.add_lfn_rules();
    rule->set_protocol(protocols[i]);
    rule->set_match(matches[i]);
    rule->set_pfn(pfns[i]);
  }
  s.set_credentials(
      transfer::SiteCredentialsFromName(r[10].as<std::string>()).value_or(v1::SITE_CREDENTIALS_DEFAULT));
  return s;
}

}  // namespace

absl::StatusOr<Site> PgSiteRepository::Upsert(const Site& site, absl::Time now) {
  std::vector<std::string> prefixes(site.url_prefixes().begin(), site.url_prefixes().end());
  std::vector<std::string> protocols, matches, pfns;
  for (const auto& rule : site.lfn_rules()) {
    protocols.push_back(rule.protocol());
    matches.push_back(rule.match());
    pfns.push_back(rule.pfn());
  }
  absl::Status s = Transact(db_, [&](pqxx::work& txn) {
    txn.exec_params0(kUpsert, site.name(), std::string(transfer::SiteStateName(site.state())),
                     TextArray(prefixes), site.max_active_outbound(), site.max_active_inbound(),
                     site.cleanup_source(), EpochSeconds(now), TextArray(protocols), TextArray(matches),
                     TextArray(pfns), std::string(transfer::SiteCredentialsName(site.credentials())));
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
