// A fresh database per test on the PostgreSQL server named by $ASO_TEST_PG (e.g.
// postgresql://postgres@127.0.0.1:25499/postgres; CTest's pg fixture starts one), migrated to the current
// schema and dropped afterwards. Also small SQL helpers so tests check state in the database itself.
#ifndef ASO_LIBS_DB_TESTING_TEST_DATABASE_H_
#define ASO_LIBS_DB_TESTING_TEST_DATABASE_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "libs/db/database.h"

namespace aso::db::testing {

class TestDatabase {
 public:
  // FAILED_PRECONDITION when $ASO_TEST_PG is unset.
  static absl::StatusOr<std::unique_ptr<TestDatabase>> Create(bool migrate = true);
  ~TestDatabase();

  Database& db() { return *db_; }
  const std::string& dsn() const { return dsn_; }

  // Runs SQL (no result). Aborts the test process on error: a broken fixture is not a test result.
  void Exec(const std::string& sql);
  // The single integer (count(*), ...) that `sql` returns.
  int64_t QueryInt(const std::string& sql);
  // The single text value that `sql` returns.
  std::string QueryText(const std::string& sql);

 private:
  TestDatabase() = default;
  std::string server_dsn_;
  std::string name_;
  std::string dsn_;
  std::unique_ptr<Database> db_;
};

}  // namespace aso::db::testing

#endif  // ASO_LIBS_DB_TESTING_TEST_DATABASE_H_
