#include "libs/db/database.h"

#include <deque>
#include <pqxx/pqxx>
#include <set>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "libs/db/internal/transaction.h"

namespace aso::db {
namespace {

std::string PercentDecoded(const std::string& in) {
  std::string out;
  for (size_t i = 0; i < in.size(); ++i) {
    int hi = 0, lo = 0;
    auto hex = [](char c, int& v) {
      if (c >= '0' && c <= '9') return v = c - '0', true;
      if (c >= 'a' && c <= 'f') return v = c - 'a' + 10, true;
      if (c >= 'A' && c <= 'F') return v = c - 'A' + 10, true;
      return false;
    };
    if (in[i] == '%' && i + 2 < in.size() && hex(in[i + 1], hi) && hex(in[i + 2], lo)) {
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      out += in[i];
    }
  }
  return out;
}

// A connection to `dsn`; a failure is thrown as pqxx::broken_connection without the DSN's password.
std::unique_ptr<pqxx::connection> Open(const std::string& dsn) {
  try {
    return std::make_unique<pqxx::connection>(dsn);
  } catch (const std::exception& e) {
    throw pqxx::broken_connection(WithoutDsnPassword(e.what(), dsn));
  }
}

}  // namespace

std::string WithoutDsnPassword(std::string message, const std::string& dsn) {
  std::vector<std::string> passwords;
  if (size_t scheme = dsn.find("://"); scheme != std::string::npos) {
    const size_t start = scheme + 3;
    const size_t at = dsn.find('@', start), slash = dsn.find('/', start);
    if (at != std::string::npos && (slash == std::string::npos || at < slash)) {
      const size_t colon = dsn.find(':', start);
      if (colon != std::string::npos && colon < at)
        passwords.push_back(dsn.substr(colon + 1, at - colon - 1));
    }
  }
  for (size_t pos = 0; (pos = dsn.find("password=", pos)) != std::string::npos; pos += 9) {
    size_t begin = pos + 9, end;
    if (begin < dsn.size() && dsn[begin] == '\'') {  // quoted, with backslash escapes
      ++begin;
      end = begin;
      std::string unescaped;
      while (end < dsn.size() && dsn[end] != '\'') {
        if (dsn[end] == '\\' && end + 1 < dsn.size()) ++end;
        unescaped += dsn[end++];
      }
      passwords.push_back(unescaped);
    } else {
      end = dsn.find_first_of(" &", begin);
    }
    passwords.push_back(dsn.substr(begin, std::min(end, dsn.size()) - begin));
  }
  std::set<std::string> forms;
  for (const std::string& p : passwords) {
    if (!p.empty()) forms.insert(p);
    if (std::string d = PercentDecoded(p); !d.empty()) forms.insert(d);
  }
  for (const std::string& form : forms) {
    for (size_t at = 0; (at = message.find(form, at)) != std::string::npos; at += 3) {
      message.replace(at, form.size(), "***");
    }
  }
  return message;
}

class Database::Impl {
 public:
  Impl(std::string dsn, int size) : dsn_(std::move(dsn)), size_(size) {}

  // Borrows a connection, waiting while all are in use.
  std::unique_ptr<pqxx::connection> Acquire() {
    absl::MutexLock lock(&mu_, absl::Condition(this, &Impl::Available));
    if (!idle_.empty()) {
      auto c = std::move(idle_.front());
      idle_.pop_front();
      return c;
    }
    ++opened_;
    mu_.Unlock();
    std::unique_ptr<pqxx::connection> c;
    try {
      c = Open(dsn_);
    } catch (...) {
      mu_.Lock();
      --opened_;
      throw;
    }
    mu_.Lock();
    return c;
  }

  void Release(std::unique_ptr<pqxx::connection> c) {
    absl::MutexLock lock(&mu_);
    if (c && c->is_open()) {
      idle_.push_back(std::move(c));
    } else {
      --opened_;
    }
  }

  const std::string& dsn() const { return dsn_; }

 private:
  bool Available() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !idle_.empty() || opened_ < size_; }

  const std::string dsn_;
  const int size_;
  absl::Mutex mu_;
  std::deque<std::unique_ptr<pqxx::connection>> idle_ ABSL_GUARDED_BY(mu_);
  int opened_ ABSL_GUARDED_BY(mu_) = 0;
};

Database::Database(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Database::~Database() = default;

absl::StatusOr<std::unique_ptr<Database>> Database::Connect(const std::string& dsn, int pool_size) {
  auto impl = std::make_unique<Impl>(dsn, pool_size < 1 ? 1 : pool_size);
  try {
    impl->Release(impl->Acquire());
  } catch (...) {
    absl::Status s = StatusFromCurrentException();
    return absl::Status(s.code(), absl::StrCat("cannot connect to PostgreSQL: ", s.message()));
  }
  return std::unique_ptr<Database>(new Database(std::move(impl)));
}

std::string Database::Describe() const {
  // Show host/port/dbname only; a DSN may carry a password.
  try {
    auto c = Open(impl_->dsn());
    return absl::StrCat("postgresql ", c->hostname() ? c->hostname() : "(socket)", ":",
                        c->port() ? c->port() : "", "/", c->dbname());
  } catch (...) {
    return "postgresql (unreachable)";
  }
}

absl::Status StatusFromCurrentException() {
  try {
    throw;
  } catch (const pqxx::broken_connection& e) {
    return absl::UnavailableError(e.what());
  } catch (const pqxx::unique_violation& e) {
    return absl::AlreadyExistsError(e.what());
  } catch (const pqxx::serialization_failure& e) {
    return absl::AbortedError(e.what());
  } catch (const pqxx::deadlock_detected& e) {
    return absl::AbortedError(e.what());
  } catch (const pqxx::check_violation& e) {
    return absl::InvalidArgumentError(e.what());
  } catch (const pqxx::foreign_key_violation& e) {
    return absl::InvalidArgumentError(e.what());
  } catch (const pqxx::in_doubt_error& e) {
    return absl::UnavailableError(e.what());
  } catch (const pqxx::sql_error& e) {
    return absl::InternalError(absl::StrCat(e.what(), " [", e.query().substr(0, 200), "]"));
  } catch (const std::exception& e) {
    return absl::InternalError(e.what());
  }
}

namespace {

// Runs `attempt` on a pooled connection until it succeeds or fails for good: a deadlock or serialization
// failure is retried (up to 4 times), a broken connection on a new connection when `retry_on_broken`, an
// unknown commit outcome never.
absl::Status WithRetries(Database& db, bool retry_on_broken,
                         absl::FunctionRef<absl::Status(pqxx::connection&)> attempt) {
  constexpr int kMaxRounds = 5;
  auto& pool = db.impl();
  absl::Duration backoff = absl::Milliseconds(20);
  for (int round = 1;; ++round) {
    std::unique_ptr<pqxx::connection> conn;
    absl::Status status;
    bool commit_unknown = false;
    try {
      conn = pool.Acquire();
      status = attempt(*conn);
    } catch (const pqxx::in_doubt_error& e) {
      commit_unknown = true;
      status = absl::UnavailableError(absl::StrCat("the commit's outcome is unknown: ", e.what()));
    } catch (...) {
      status = StatusFromCurrentException();
    }
    if (conn && !conn->is_open()) conn.reset();
    pool.Release(std::move(conn));
    const bool retry = !commit_unknown && round < kMaxRounds &&
                       (absl::IsAborted(status) || (absl::IsUnavailable(status) && retry_on_broken));
    if (!retry) return status;
    absl::SleepFor(backoff);
    backoff *= 3;
  }
}

}  // namespace

absl::Status Transact(Database& db, absl::FunctionRef<absl::Status(pqxx::work&)> body, bool retry_on_broken) {
  return WithRetries(db, retry_on_broken, [&](pqxx::connection& conn) {
    pqxx::work txn(conn);
    absl::Status status = body(txn);
    if (status.ok()) txn.commit();
    return status;
  });
}

absl::Status Autocommit(Database& db, absl::FunctionRef<absl::Status(pqxx::nontransaction&)> body,
                        bool retry_on_broken) {
  return WithRetries(db, retry_on_broken, [&](pqxx::connection& conn) {
    pqxx::nontransaction txn(conn);
    return body(txn);
  });
}

}  // namespace aso::db
