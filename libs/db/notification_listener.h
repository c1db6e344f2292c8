// Wakes a process when PostgreSQL announces work (LISTEN/NOTIFY), so loops react within milliseconds
// instead of at their next poll. Polling stays as the fallback: a notification is a hint, never the only
// way work is found. Runs its own connection and thread; reconnects with backoff and, after a reconnect,
// calls back once since notifications may have been missed. Thread-safe.
#ifndef ASO_LIBS_DB_NOTIFICATION_LISTENER_H_
#define ASO_LIBS_DB_NOTIFICATION_LISTENER_H_

#include <atomic>
#include <functional>
#include <string>
#include <thread>
#include <vector>

namespace aso::db {

// Channels the schema notifies (see migrations/0002_*.sql).
inline constexpr char kTransfersQueuedChannel[] = "aso_transfers_queued";
inline constexpr char kBackendJobsChannel[] = "aso_backend_jobs";

class NotificationListener {
 public:
  // `on_notify(channel)` runs on the listener's thread; keep it short (e.g. PeriodicLoop::Wake).
  NotificationListener(std::string dsn, std::vector<std::string> channels,
                       std::function<void(const std::string&)> on_notify);
  ~NotificationListener();  // stops

  void Start();
  void Stop();

 private:
  void Run();

  std::string dsn_;
  std::vector<std::string> channels_;
  std::function<void(const std::string&)> on_notify_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace aso::db

#endif  // ASO_LIBS_DB_NOTIFICATION_LISTENER_H_
