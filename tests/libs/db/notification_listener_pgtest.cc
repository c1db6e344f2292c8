#include "libs/db/notification_listener.h"

#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "libs/common/periodic_loop.h"
#include "tests/libs/db/db_test_util.h"

namespace aso::db {
namespace {

TEST(NotificationListenerTest, QueuedTransfersWakeTheListener) {
  auto t = testing::TestDatabase::Create();
  ASSERT_TRUE(t.ok()) << t.status();
  auto& tdb = **t;
  AddSite(tdb.db(), "A");
  AddSite(tdb.db(), "B");
  absl::Notification woken;
  NotificationListener listener(tdb.dsn(), {kTransfersQueuedChannel}, [&](const std::string& channel) {
    EXPECT_EQ(channel, kTransfersQueuedChannel);
    if (!woken.HasBeenNotified()) woken.Notify();
  });
  listener.Start();
  // Let LISTEN take effect, then queue work.
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_FALSE(woken.HasBeenNotified());
  InsertTransfers(tdb.db(), 3, "f");
  EXPECT_TRUE(woken.WaitForNotificationWithTimeout(absl::Seconds(10)));
  listener.Stop();
}

TEST(PeriodicLoopTest, WakeRunsTheNextStepWithoutWaitingForTheInterval) {
  std::atomic<int> steps{0};
  PeriodicLoop loop("test", absl::Hours(1), [&] {
    ++steps;
    return false;
  });
  loop.Start();
  while (steps.load() < 1) absl::SleepFor(absl::Milliseconds(1));
  loop.Wake();
  for (int i = 0; i < 10000 && steps.load() < 2; ++i) absl::SleepFor(absl::Milliseconds(1));
  EXPECT_EQ(steps.load(), 2);  // an hour-long interval, yet it ran again
  loop.Stop();
}

}  // namespace
}  // namespace aso::db
