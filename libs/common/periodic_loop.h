// Runs a step on its own thread every `interval` until stopped. The step is the service's RunOnce(), so
// tests call RunOnce() directly and only production wiring uses this thread. Thread-safe.
#ifndef ASO_LIBS_COMMON_PERIODIC_LOOP_H_
#define ASO_LIBS_COMMON_PERIODIC_LOOP_H_

#include <functional>
#include <string>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace aso {

class PeriodicLoop {
 public:
  // `step` returns true when it did work, so the next step runs at once instead of after `interval`.
  PeriodicLoop(std::string name, absl::Duration interval, std::function<bool()> step);
  ~PeriodicLoop();  // stops and joins

  void Start();
  // Asks the loop to stop after the current step and waits for it.
  void Stop();

  // Steps start at least `spacing` apart, however busy the loop is and however often it is woken, so a
  // burst of wake-ups (one per finished file) is served by one larger step. Call before Start().
  void set_min_spacing(absl::Duration spacing) { min_spacing_ = spacing; }

  // Runs the next step now instead of after the interval (e.g. on a database notification). A wake
  // during a step makes the loop run once more right after it. Cheap; callable from any thread.
  void Wake();

 private:
  bool WokenOrStopped() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return woken_ || stopping_; }
  bool Stopping() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; }

  std::string name_;
  absl::Duration interval_;
  absl::Duration min_spacing_ = absl::ZeroDuration();
  std::function<bool()> step_;
  absl::Mutex mu_;
  bool woken_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace aso

#endif  // ASO_LIBS_COMMON_PERIODIC_LOOP_H_
