// How repositories run SQL: a transaction on a pooled connection, with libpqxx exceptions mapped to
// absl::Status at this boundary. Private to libs/db.
#ifndef ASO_LIBS_DB_INTERNAL_TRANSACTION_H_
#define ASO_LIBS_DB_INTERNAL_TRANSACTION_H_

#include <pqxx/pqxx>
#include <string>
#include <utility>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "libs/db/database.h"

namespace aso::db {

// Runs `body` in a READ COMMITTED transaction and commits if it returns OK (rolls back otherwise).
// A transaction that failed before its commit is retried with backoff — after a serialization failure or
// deadlock (up to 4 times), and after a broken connection (on a new connection, up to 4 times, when
// `retry_on_broken`) — so `body` must only write through its transaction. A commit whose outcome is
// unknown is never retried. Errors: UNAVAILABLE (connection), ALREADY_EXISTS (unique violation), ABORTED
// (serialization failure / deadlock, retries spent), INVALID_ARGUMENT (check or foreign-key violation),
// INTERNAL (other).
absl::Status Transact(Database& db, absl::FunctionRef<absl::Status(pqxx::work&)> body,
                      bool retry_on_broken = true);

// Runs `body` on a pooled connection without a transaction block: each statement commits on its own, as
// one implicit transaction (one round trip instead of three with BEGIN and COMMIT). For a single statement,
// or reads that need no common snapshot. Retried as Transact after a deadlock or serialization failure
// (the statement was rolled back); after a broken connection only when `retry_on_broken`, which a caller
// sets only when running `body` twice is harmless (reads), since a write's commit may have happened.
absl::Status Autocommit(Database& db, absl::FunctionRef<absl::Status(pqxx::nontransaction&)> body,
                        bool retry_on_broken);

// Runs `sql` as a statement prepared on the transaction's connection under `name` (once per connection:
// a hot statement is parsed and planned once instead of at every call). One name, one text.
template <typename... Args>
pqxx::result ExecPrepared(pqxx::transaction_base& txn, const char* name, const std::string& sql,
                          Args&&... args) {
  txn.conn().prepare(name, sql);
  return txn.exec_prepared(name, std::forward<Args>(args)...);
}

// Lets the transaction commit without waiting for its WAL flush (synchronous_commit off), for the
// adapter's high-rate bookkeeping of its own work (leases, recorded outcomes, report marks). Safe where
// losing the transaction's last moments in a database crash only repeats work: WAL is flushed in order,
// so any later synchronous commit — bookkeeping applying the outcome, the scheduler recording a job —
// makes it durable first, and a lost lease or outcome only means the file is copied again, idempotently.
inline void CommitWithoutWaitingForFlush(pqxx::work& txn) { txn.exec0("SET LOCAL synchronous_commit = off"); }

// Maps the exception in flight (call inside a catch block) to a Status.
absl::Status StatusFromCurrentException();

}  // namespace aso::db

#endif  // ASO_LIBS_DB_INTERNAL_TRANSACTION_H_
