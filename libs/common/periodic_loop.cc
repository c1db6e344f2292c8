#include "libs/common/periodic_loop.h"

#include "libs/common/logging.h"

namespace aso {

PeriodicLoop::PeriodicLoop(std::string name, absl::Duration interval, std::function<bool()> step)
    : name_(std::move(name)), interval_(interval), step_(std::move(step)) {}

PeriodicLoop::~PeriodicLoop() { Stop(); }

void PeriodicLoop::Start() {
  thread_ = std::thread([this] {
    absl::Time last_start = absl::InfinitePast();
    for (;;) {
      {
        absl::MutexLock lock(&mu_);
        const absl::Duration wait = last_start + min_spacing_ - absl::Now();
        if (wait > absl::ZeroDuration())
          mu_.AwaitWithTimeout(absl::Condition(this, &PeriodicLoop::Stopping), wait);
        if (stopping_) return;
        woken_ = false;
      }
      last_start = absl::Now();
      bool busy = false;
      try {
        busy = step_();
      } catch (const std::exception& e) {
        ASO_LOG(ERROR, "loop ", name_, " step threw: ", e.what());
      }
      if (busy) continue;
      absl::MutexLock lock(&mu_);
      mu_.AwaitWithTimeout(absl::Condition(this, &PeriodicLoop::WokenOrStopped), interval_);
    }
  });
}

void PeriodicLoop::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void PeriodicLoop::Wake() {
  absl::MutexLock lock(&mu_);
  woken_ = true;
}

}  // namespace aso
