#include "libs/common/periodic_loop.h"

#include "libs/common/logging.h"

namespace aso {

PeriodicLoop::PeriodicLoop(std::string name, absl::Duration interval, std::function<bool()> step)
    : name_(std::move(name)), interval_(interval), step_(std::move(step)) {}

PeriodicLoop::~PeriodicLoop() { Stop(); }

void PeriodicLoop::Start() {
  thread_ = std::thread([this] {
    while (!stop_.HasBeenNotified()) {
      bool busy = false;
      try {
        busy = step_();
      } catch (const std::exception& e) {
        ASO_LOG(ERROR, "loop ", name_, " step threw: ", e.what());
      }
      if (!busy) stop_.WaitForNotificationWithTimeout(interval_);
    }
  });
}

void PeriodicLoop::Stop() {
  if (!stop_.HasBeenNotified()) stop_.Notify();
  if (thread_.joinable()) thread_.join();
}

}  // namespace aso
