// Transfers as the public API sees them: idempotent batch insert, lookups, listings, task summaries.
// Thread-safe.
#ifndef ASO_LIBS_DB_TRANSFER_REPOSITORY_H_
#define ASO_LIBS_DB_TRANSFER_REPOSITORY_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "aso/common/v1/common.pb.h"
#include "libs/db/database.h"

namespace aso::db {

using aso::common::v1::TaskSummary;
using aso::common::v1::Transfer;
using aso::common::v1::TransferState;

struct InsertResult {
  std::vector<int64_t> ids;  // in input order
  int created = 0;           // rows that did not exist before
};

// Options of a task, taken from its first submission.
struct TaskOptions {
  std::optional<absl::Time> deadline;  // files not DONE by then end FAILED
  int max_attempts = 0;                // attempts per file; 0: bookkeeping's default
};

struct TransferFilter {
  std::string task_id;
  std::string user;
  std::vector<TransferState> states;
  std::string site;                          // source or destination
  std::optional<absl::Time> created_after;   // inclusive
  std::optional<absl::Time> created_before;  // exclusive
  std::string source_site;                   // the link's ends
  std::string destination_site;
  std::string failure_class;  // the last failure's class name ("SOURCE", ...)
};

struct TaskPage {
  std::vector<TaskSummary> tasks;
  std::string next_page_token;  // empty on the last page
};

// Which transfers a kill applies to: a task, some ids, or both (ids within the task). When `user` is set,
// only that user's transfers are touched.
struct KillSelector {
  std::string task_id;
  std::vector<int64_t> ids;
  std::string user;
};

struct KillResult {
  int killed = 0;          // QUEUED -> KILLED at once
  int kill_requested = 0;  // held by the backend: cancelled there, then KILLED by bookkeeping
};

struct RetryResult {
  int requeued = 0;
  std::vector<int64_t> skipped_ids;  // named ids not FAILED/KILLED, or whose destination is busy again
};

struct TransferPage {
  std::vector<Transfer> transfers;
  std::string next_page_token;
};

// Changes of a task's files after a cursor (see Watch).
struct WatchPage {
  std::vector<Transfer> changed;     // the current state of each file that changed, in id order
  std::vector<std::string> cursors;  // after changed[i]: resumes with the changes after it
  std::string cursor;                // after the whole page: pass to the next call
};

// The file's timeline from its row, attempts, catalog entry (time, block) and announcement (time).
void AddTimeline(Transfer& t, std::optional<double> catalogued, int64_t block_id,
                 std::optional<double> announced, std::optional<double> cleaned, absl::Time now);

class TransferRepository {
 public:
  virtual ~TransferRepository() = default;

  // Stores new QUEUED transfers in one transaction. Each transfer must carry its idempotency key, sites
  // and URLs; a key already stored returns the existing id (also for repeats inside the batch).
  // ALREADY_EXISTS naming the file index when a destination is the target of another live transfer;
  // PERMISSION_DENIED when the task belongs to another user. All transfers must share task and user.
  virtual absl::StatusOr<InsertResult> InsertBatch(const std::vector<Transfer>& batch, absl::Time now,
                                                   const TaskOptions& options = {}) = 0;
  // The transfer with its attempts and waiting reason. NOT_FOUND if unknown.
  virtual absl::StatusOr<Transfer> Get(int64_t id, absl::Time now) = 0;
  // Transfers matching `filter` in id order, after `page_token`. INVALID_ARGUMENT on a bad token.
  virtual absl::StatusOr<TransferPage> List(const TransferFilter& filter, int page_size,
                                            const std::string& page_token, absl::Time now) = 0;
  // Counts by state, failures, progress and the completion estimate at `now`. NOT_FOUND if the task has
  // no transfers.
  virtual absl::StatusOr<TaskSummary> Summarize(const std::string& task_id, absl::Time now) = 0;
  // Tasks in task id order (of `user` when set), each summarized; INVALID_ARGUMENT for a bad token.
  virtual absl::StatusOr<TaskPage> ListTasks(const std::string& user, int page_size,
                                             const std::string& page_token, absl::Time now) = 0;
  // Kills the selected live transfers with `reason`. INVALID_ARGUMENT for an empty selector. Terminal
  // transfers are left as they are.
  virtual absl::StatusOr<KillResult> Kill(const KillSelector& selector, const std::string& reason,
                                          absl::Time now) = 0;
  // Puts the selected FAILED and KILLED transfers back in the queue with a fresh attempt budget; ones
  // whose destination became the target of another live transfer stay as they are (skipped_ids).
  virtual absl::StatusOr<RetryResult> Retry(const KillSelector& selector, absl::Time now) = 0;
  // The owner of a task; NOT_FOUND if unknown.
  virtual absl::StatusOr<std::string> TaskOwner(const std::string& task_id) = 0;
  // The first of `ids` that exists and does not belong to `user`, if any.
  virtual absl::StatusOr<std::optional<int64_t>> FirstNotOwned(const std::vector<int64_t>& ids,
                                                               const std::string& user) = 0;
  // A user's non-terminal transfers, counted up to `limit`.
  virtual absl::StatusOr<int64_t> CountLive(const std::string& user, int64_t limit) = 0;
  // How many of these idempotency keys are stored already (repeats of earlier submissions).
  virtual absl::StatusOr<int64_t> CountStored(const std::vector<std::string>& keys) = 0;
  // The files of the task changed by transactions committed after `cursor` (empty: every file), as far
  // as no older transaction can still commit, at most `limit` of them: a later call with the page's
  // cursor, or with the cursor of any file in it, neither misses nor repeats a change. Changes to a file
  // between two calls arrive as its latest state. INVALID_ARGUMENT on a cursor not issued here.
  virtual absl::StatusOr<WatchPage> Watch(const std::string& task_id, const std::string& cursor, int limit,
                                          absl::Time now) = 0;
};

class PgTransferRepository final : public TransferRepository {
 public:
  explicit PgTransferRepository(Database& db) : db_(db) {}
  absl::StatusOr<InsertResult> InsertBatch(const std::vector<Transfer>& batch, absl::Time now,
                                           const TaskOptions& options = {}) override;
  absl::StatusOr<Transfer> Get(int64_t id, absl::Time now) override;
  absl::StatusOr<TransferPage> List(const TransferFilter& filter, int page_size,
                                    const std::string& page_token, absl::Time now) override;
  absl::StatusOr<TaskSummary> Summarize(const std::string& task_id, absl::Time now) override;
  absl::StatusOr<TaskPage> ListTasks(const std::string& user, int page_size, const std::string& page_token,
                                     absl::Time now) override;
  absl::StatusOr<KillResult> Kill(const KillSelector& selector, const std::string& reason,
                                  absl::Time now) override;
  absl::StatusOr<RetryResult> Retry(const KillSelector& selector, absl::Time now) override;
  absl::StatusOr<std::string> TaskOwner(const std::string& task_id) override;
  absl::StatusOr<int64_t> CountLive(const std::string& user, int64_t limit) override;
  absl::StatusOr<int64_t> CountStored(const std::vector<std::string>& keys) override;
  absl::StatusOr<std::optional<int64_t>> FirstNotOwned(const std::vector<int64_t>& ids,
                                                       const std::string& user) override;
  absl::StatusOr<WatchPage> Watch(const std::string& task_id, const std::string& cursor, int limit,
                                  absl::Time now) override;

 private:
  Database& db_;
};

}  // namespace aso::db

#endif  // ASO_LIBS_DB_TRANSFER_REPOSITORY_H_
