// Injected time: logic takes a Clock so tests can drive time with FakeClock. Thread-safe.
#ifndef ASO_LIBS_COMMON_CLOCK_H_
#define ASO_LIBS_COMMON_CLOCK_H_

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace aso {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;
};

// The wall clock.
class RealClock final : public Clock {
 public:
  absl::Time Now() const override;
  // A process-wide instance; stateless, so sharing it is safe.
  static RealClock& Get();
};

// A clock that moves only when told to.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(absl::Time start = absl::FromUnixSeconds(1'800'000'000)) : now_(start) {}
  absl::Time Now() const override;
  void AdvanceTime(absl::Duration d);
  void SetTime(absl::Time t);

 private:
  mutable absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
};

}  // namespace aso

#endif  // ASO_LIBS_COMMON_CLOCK_H_
