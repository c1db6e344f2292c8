#include "libs/db/testing/test_database.h"

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <iostream>
#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "libs/db/migrations.h"

namespace aso::db::testing {
namespace {

std::string WithDatabase(const std::string& server_dsn, const std::string& name) {
  // The server DSN ends in /<maintenance db>; swap the last path element.
  size_t slash = server_dsn.rfind('/');
  return absl::StrCat(server_dsn.substr(0, slash + 1), name);
}

void AdminExec(const std::string& server_dsn, const std::string& sql) {
  pqxx::connection c(server_dsn);
  pqxx::nontransaction n(c);
  n.exec(sql);
}

}  // namespace

absl::StatusOr<std::unique_ptr<TestDatabase>> TestDatabase::Create(bool migrate) {
  const char* server = std::getenv("ASO_TEST_PG");
  if (server == nullptr || *server == '\0') {
    return absl::FailedPreconditionError(
        "ASO_TEST_PG is not set (run through ctest, which starts PostgreSQL)");
  }
  static std::atomic<int> counter{0};
  auto t = std::unique_ptr<TestDatabase>(new TestDatabase());
  t->server_dsn_ = server;
  t->name_ = absl::StrCat("aso_test_", getpid(), "_", counter++);
  try {
    AdminExec(t->server_dsn_, absl::StrCat("DROP DATABASE IF EXISTS ", t->name_));
    AdminExec(t->server_dsn_, absl::StrCat("CREATE DATABASE ", t->name_));
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("cannot create test database: ", e.what()));
  }
  t->dsn_ = WithDatabase(t->server_dsn_, t->name_);
  auto db = Database::Connect(t->dsn_, 8);
  if (!db.ok()) return db.status();
  t->db_ = std::move(*db);
  if (migrate) {
    auto applied = Migrate(*t->db_);
    if (!applied.ok()) return applied.status();
  }
  return t;
}

TestDatabase::~TestDatabase() {
  db_.reset();
  try {
    AdminExec(server_dsn_, absl::StrCat("DROP DATABASE IF EXISTS ", name_, " WITH (FORCE)"));
  } catch (const std::exception& e) {
    std::cerr << "warning: could not drop " << name_ << ": " << e.what() << "\n";
  }
}

void TestDatabase::Exec(const std::string& sql) {
  try {
    pqxx::connection c(dsn_);
    pqxx::work w(c);
    w.exec(sql);
    w.commit();
  } catch (const std::exception& e) {
    std::cerr << "TestDatabase::Exec failed: " << e.what() << "\n" << sql << "\n";
    std::abort();
  }
}

int64_t TestDatabase::QueryInt(const std::string& sql) {
  try {
    pqxx::connection c(dsn_);
    pqxx::work w(c);
    auto r = w.exec1(sql);
    return r[0].is_null() ? 0 : r[0].as<int64_t>();
  } catch (const std::exception& e) {
    std::cerr << "TestDatabase::QueryInt failed: " << e.what() << "\n" << sql << "\n";
    std::abort();
  }
}

std::string TestDatabase::QueryText(const std::string& sql) {
  try {
    pqxx::connection c(dsn_);
    pqxx::work w(c);
    auto r = w.exec1(sql);
    return r[0].is_null() ? "" : r[0].as<std::string>();
  } catch (const std::exception& e) {
    std::cerr << "TestDatabase::QueryText failed: " << e.what() << "\n" << sql << "\n";
    std::abort();
  }
}

}  // namespace aso::db::testing
