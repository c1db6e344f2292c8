// A pool of PostgreSQL connections shared by the repositories of one process. Thread-safe.
// libpqxx stays behind this header: repositories reach connections through internal/transaction.h.
#ifndef ASO_LIBS_DB_DATABASE_H_
#define ASO_LIBS_DB_DATABASE_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace aso::db {

class Database {
 public:
  // Opens `pool_size` connections to `dsn` (a libpq connection string or postgresql:// URL).
  // UNAVAILABLE if the server cannot be reached.
  static absl::StatusOr<std::unique_ptr<Database>> Connect(const std::string& dsn, int pool_size);
  ~Database();

  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  // A one-line description for logs, without the password.
  std::string Describe() const;

  class Impl;
  Impl& impl() { return *impl_; }

 private:
  explicit Database(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// `message` with every password `dsn` carries (URI user info, password= in keyword or query form, raw and
// percent-decoded) replaced by "***". libpq quotes a malformed URI whole in its errors, so every message of
// a failed connection goes through this before anyone sees it.
std::string WithoutDsnPassword(std::string message, const std::string& dsn);

}  // namespace aso::db

#endif  // ASO_LIBS_DB_DATABASE_H_
