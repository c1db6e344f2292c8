#include "libs/db/migrations.h"

#include "absl/strings/str_cat.h"
#include "libs/db/internal/transaction.h"

namespace aso::db {
namespace {

constexpr char kCreateVersionTable[] = R"sql(
  CREATE TABLE IF NOT EXISTS schema_migrations (
    version  integer PRIMARY KEY,
    name     text NOT NULL,
    applied  timestamptz NOT NULL DEFAULT now()))sql";
// Any constant shared by all runners; keeps two concurrent `asoctl db migrate` from interleaving.
constexpr char kMigrationLock[] = "SELECT pg_advisory_xact_lock(4242001)";
constexpr char kCurrentVersion[] = R"sql(
  SELECT COALESCE(MAX(version), 0) FROM schema_migrations)sql";
constexpr char kVersionTableExists[] = "SELECT to_regclass('schema_migrations') IS NOT NULL";

}  // namespace

int RequiredSchemaVersion() {
  const auto& all = EmbeddedMigrations();
  return all.empty() ? 0 : all.back().version;
}

absl::StatusOr<int> CurrentSchemaVersion(Database& db) {
  int version = 0;
  absl::Status s = Transact(db, [&](pqxx::work& txn) {
    if (!txn.exec1(kVersionTableExists)[0].as<bool>()) return absl::OkStatus();
    version = txn.exec1(kCurrentVersion)[0].as<int>();
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return version;
}

absl::StatusOr<std::vector<int>> Migrate(Database& db) {
  std::vector<int> applied;
  for (const Migration& m : EmbeddedMigrations()) {
    bool did = false;
    absl::Status s = Transact(
        db,
        [&](pqxx::work& txn) {
          txn.exec(kMigrationLock);
          txn.exec0(kCreateVersionTable);
          if (txn.exec1(kCurrentVersion)[0].as<int>() >= m.version) return absl::OkStatus();
          txn.exec0(m.sql);
          txn.exec_params0("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", m.version,
                           m.name);
          did = true;
          return absl::OkStatus();
        },
        /*retry_on_broken=*/false);
    if (!s.ok()) {
      return absl::Status(s.code(), absl::StrCat("migration ", m.name, " failed: ", s.message()));
    }
    if (did) applied.push_back(m.version);
  }
  return applied;
}

absl::Status CheckSchema(Database& db) {
  auto current = CurrentSchemaVersion(db);
  if (!current.ok()) return current.status();
  const int required = RequiredSchemaVersion();
  if (*current < required) {
    return absl::FailedPreconditionError(absl::StrCat("database schema is at version ", *current,
                                                      " but this binary needs version ", required,
                                                      "; run `asoctl db migrate --db <dsn>` first"));
  }
  if (*current > required) {
    return absl::FailedPreconditionError(absl::StrCat("database schema is at version ", *current,
                                                      ", newer than this binary's ", required,
                                                      "; deploy the matching ASO version"));
  }
  return absl::OkStatus();
}

}  // namespace aso::db
