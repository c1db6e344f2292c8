// Versioned schema migrations (libs/db/migrations/NNNN_name.sql, embedded at build time) and the runner
// that applies them. Services call CheckSchema at start-up and refuse to run on an older schema.
#ifndef ASO_LIBS_DB_MIGRATIONS_H_
#define ASO_LIBS_DB_MIGRATIONS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "libs/db/database.h"

namespace aso::db {

struct Migration {
  int version;
  std::string name;
  std::string sql;
};

// Every migration compiled into this binary, in version order.
const std::vector<Migration>& EmbeddedMigrations();

// The schema version this binary needs (the highest embedded migration).
int RequiredSchemaVersion();

// The version recorded in the database; 0 for an empty database.
absl::StatusOr<int> CurrentSchemaVersion(Database& db);

// Applies the missing migrations, each in its own transaction, serialized between concurrent runners by
// an advisory lock. Returns the versions applied (empty when already current).
absl::StatusOr<std::vector<int>> Migrate(Database& db);

// OK when the database is at RequiredSchemaVersion(). FAILED_PRECONDITION naming the command that
// migrates it when older; FAILED_PRECONDITION asking for a newer binary when newer.
absl::Status CheckSchema(Database& db);

}  // namespace aso::db

#endif  // ASO_LIBS_DB_MIGRATIONS_H_
