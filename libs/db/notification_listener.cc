#include "libs/db/notification_listener.h"

#include <memory>
#include <pqxx/pqxx>

#include "absl/time/clock.h"
#include "libs/common/logging.h"
#include "libs/db/database.h"

namespace aso::db {
namespace {

class Receiver final : public pqxx::notification_receiver {
 public:
  Receiver(pqxx::connection_base& c, const std::string& channel,
           const std::function<void(const std::string&)>& on_notify)
      : pqxx::notification_receiver(c, channel), on_notify_(on_notify) {}
  void operator()(const std::string&, int) override { on_notify_(channel()); }

 private:
  const std::function<void(const std::string&)>& on_notify_;
};

}  // namespace

NotificationListener::NotificationListener(std::string dsn, std::vector<std::string> channels,
                                           std::function<void(const std::string&)> on_notify)
    : dsn_(std::move(dsn)), channels_(std::move(channels)), on_notify_(std::move(on_notify)) {}

NotificationListener::~NotificationListener() { Stop(); }

void NotificationListener::Start() {
  thread_ = std::thread([this] { Run(); });
}

void NotificationListener::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void NotificationListener::Run() {
  absl::Duration backoff = absl::Milliseconds(100);
  bool first = true;
  while (!stop_) {
    try {
      pqxx::connection conn(dsn_);
      std::vector<std::unique_ptr<Receiver>> receivers;
      for (const auto& channel : channels_) {
        receivers.push_back(std::make_unique<Receiver>(conn, channel, on_notify_));
      }
      if (!first) {
        for (const auto& channel : channels_) on_notify_(channel);  // may have missed some
      }
      first = false;
      backoff = absl::Milliseconds(100);
      while (!stop_) conn.await_notification(0, 200'000);  // wake up to check stop_
    } catch (const std::exception& e) {
      if (stop_) break;
      ASO_LOG(WARNING, "notification listener lost its connection (", WithoutDsnPassword(e.what(), dsn_),
              "); reconnecting in ", absl::FormatDuration(backoff));
      absl::SleepFor(backoff);
      backoff = std::min(backoff * 2, absl::Seconds(10));
    }
  }
}

}  // namespace aso::db
