#include "libs/db/credential_repository.h"

#include "absl/strings/str_cat.h"
#include "libs/db/internal/transaction.h"
#include "libs/db/pg_util.h"

namespace aso::db {
namespace {

constexpr char kColumns[] =
    "username, kind, subject, extract(epoch from not_after)::float8, extract(epoch from updated)::float8, "
    "refreshable";

StoredCredential FromRow(const pqxx::row& r) {
  StoredCredential c;
  c.username = r[0].as<std::string>();
  c.kind = r[1].as<std::string>();
  c.subject = r[2].as<std::string>();
  c.not_after = FromEpochSeconds(r[3].as<double>());
  c.updated = FromEpochSeconds(r[4].as<double>());
  c.refreshable = r[5].as<bool>();
  return c;
}

// Stores `c` as the user's credential of its kind, replacing the previous one.
void Upsert(pqxx::work& txn, const StoredCredential& c, absl::Time now) {
  txn.exec_params(
      "INSERT INTO user_credentials (username, kind, subject, not_after, sealed, updated, refreshable) "
      "VALUES ($1, $2, $3, to_timestamp($4), $5, to_timestamp($6), $7) "
      "ON CONFLICT (username, kind) DO UPDATE SET subject = EXCLUDED.subject, not_after = "
      "EXCLUDED.not_after, "
      "sealed = EXCLUDED.sealed, updated = EXCLUDED.updated, refreshable = EXCLUDED.refreshable",
      c.username, c.kind, c.subject, EpochSeconds(c.not_after), c.sealed, EpochSeconds(now), c.refreshable);
}

}  // namespace

absl::Status PgCredentialRepository::AddRequest(const std::string& delegation_id, const std::string& username,
                                                const std::string& sealed_key, absl::Time now,
                                                absl::Duration max_age) {
  return Transact(db_, [&](pqxx::work& txn) {
    txn.exec_params("DELETE FROM delegation_requests WHERE created < to_timestamp($1)",
                    EpochSeconds(now - max_age));
    txn.exec_params(
        "INSERT INTO delegation_requests (delegation_id, username, sealed_key, created) "
        "VALUES ($1, $2, $3, to_timestamp($4))",
        delegation_id, username, sealed_key, EpochSeconds(now));
    return absl::OkStatus();
  });
}

absl::StatusOr<std::string> PgCredentialRepository::GetRequest(const std::string& delegation_id,
                                                               const std::string& username, absl::Time now,
                                                               absl::Duration max_age) {
  std::string sealed;
  absl::Status s = Transact(db_, [&](pqxx::work& txn) {
    pqxx::result r = txn.exec_params(
        "SELECT sealed_key FROM delegation_requests WHERE delegation_id = $1 AND username = $2 "
        "AND created >= to_timestamp($3)",
        delegation_id, username, EpochSeconds(now - max_age));
    if (r.empty()) {
      return absl::NotFoundError(absl::StrCat("no delegation ", delegation_id, " in progress for ", username,
                                              " (unknown, completed or older than an hour: start again)"));
    }
    sealed = r[0][0].as<std::string>();
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return sealed;
}

absl::Status PgCredentialRepository::CompleteDelegation(const std::string& delegation_id,
                                                        const StoredCredential& c, absl::Time now) {
  return Transact(db_, [&](pqxx::work& txn) {
    pqxx::result gone = txn.exec_params(
        "DELETE FROM delegation_requests WHERE delegation_id = $1 AND username = $2 RETURNING 1",
        delegation_id, c.username);
    if (gone.empty())
      return absl::NotFoundError(absl::StrCat("delegation ", delegation_id, " was completed already"));
    Upsert(txn, c, now);
    return absl::OkStatus();
  });
}

absl::Status PgCredentialRepository::Put(const StoredCredential& c, absl::Time now) {
  return Transact(db_, [&](pqxx::work& txn) {
    Upsert(txn, c, now);
    return absl::OkStatus();
  });
}

absl::StatusOr<std::vector<StoredCredential>> PgCredentialRepository::List(
    const std::string& user, std::optional<absl::Time> expiring_before) {
  std::vector<StoredCredential> out;
  absl::Status s = Transact(db_, [&](pqxx::work& txn) {
    out.clear();
    pqxx::result r = txn.exec_params(
        absl::StrCat("SELECT ", kColumns,
                     " FROM user_credentials WHERE ($1 = '' OR username = $1) "
                     "AND (NOT $2 OR not_after < to_timestamp($3)) ORDER BY not_after, username"),
        user, expiring_before.has_value(), expiring_before ? EpochSeconds(*expiring_before) : 0.0);
    for (const auto& row : r) out.push_back(FromRow(row));
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<StoredCredential> PgCredentialRepository::Get(const std::string& username,
                                                             const std::string& kind) {
  StoredCredential c;
  absl::Status s = Transact(db_, [&](pqxx::work& txn) {
    pqxx::result r = txn.exec_params(
        absl::StrCat("SELECT ", kColumns, ", sealed FROM user_credentials WHERE username = $1 AND kind = $2"),
        username, kind);
    if (r.empty()) return absl::NotFoundError(absl::StrCat(username, " has delegated no ", kind));
    c = FromRow(r[0]);
    c.sealed = r[0][6].as<std::string>();
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return c;
}

}  // namespace aso::db
