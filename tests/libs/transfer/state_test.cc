#include "libs/transfer/state.h"

#include "gtest/gtest.h"

namespace aso::transfer {
namespace {
namespace v1 = aso::common::v1;

TEST(StateTest, NamesRoundTrip) {
  for (int s = v1::TRANSFER_STATE_QUEUED; s <= v1::TRANSFER_STATE_KILLED; ++s) {
    auto state = static_cast<State>(s);
    EXPECT_EQ(StateFromName(StateName(state)), state);
  }
  EXPECT_FALSE(StateFromName("RUNNING").has_value());
}

TEST(StateTest, TerminalStatesGoNowhere) {
  for (State t : {v1::TRANSFER_STATE_DONE, v1::TRANSFER_STATE_FAILED, v1::TRANSFER_STATE_KILLED}) {
    EXPECT_TRUE(IsTerminal(t));
    for (int s = v1::TRANSFER_STATE_QUEUED; s <= v1::TRANSFER_STATE_KILLED; ++s) {
      EXPECT_FALSE(IsLegalTransition(t, static_cast<State>(s))) << StateName(t) << "->" << s;
    }
  }
}

TEST(StateTest, TheDesignedPath) {
  EXPECT_TRUE(IsLegalTransition(v1::TRANSFER_STATE_QUEUED, v1::TRANSFER_STATE_SUBMITTING));
  EXPECT_TRUE(IsLegalTransition(v1::TRANSFER_STATE_SUBMITTING, v1::TRANSFER_STATE_SUBMITTED));
  EXPECT_TRUE(IsLegalTransition(v1::TRANSFER_STATE_SUBMITTED, v1::TRANSFER_STATE_ACTIVE));
  EXPECT_TRUE(IsLegalTransition(v1::TRANSFER_STATE_ACTIVE, v1::TRANSFER_STATE_DONE));
  EXPECT_TRUE(IsLegalTransition(v1::TRANSFER_STATE_ACTIVE, v1::TRANSFER_STATE_QUEUED));  // retry
  EXPECT_TRUE(IsLegalTransition(v1::TRANSFER_STATE_QUEUED, v1::TRANSFER_STATE_KILLED));
  // A queued file is never copied or finished without being claimed first.
  EXPECT_FALSE(IsLegalTransition(v1::TRANSFER_STATE_QUEUED, v1::TRANSFER_STATE_ACTIVE));
  EXPECT_FALSE(IsLegalTransition(v1::TRANSFER_STATE_QUEUED, v1::TRANSFER_STATE_DONE));
  EXPECT_FALSE(IsLegalTransition(v1::TRANSFER_STATE_ACTIVE, v1::TRANSFER_STATE_SUBMITTED));
}

TEST(StateTest, FailureClassNamesRoundTrip) {
  for (int c = v1::FAILURE_CLASS_SOURCE; c <= v1::FAILURE_CLASS_GENERAL; ++c) {
    auto fc = static_cast<FailureClass>(c);
    EXPECT_EQ(FailureClassFromName(FailureClassName(fc)), fc);
  }
}

TEST(StateTest, SiteStateNamesRoundTrip) {
  for (auto st : {v1::SITE_STATE_ENABLED, v1::SITE_STATE_DRAINING, v1::SITE_STATE_BANNED}) {
    EXPECT_EQ(SiteStateFromName(SiteStateName(st)), st);
  }
  EXPECT_EQ(SiteStateFromName("draining"), v1::SITE_STATE_DRAINING);
  EXPECT_FALSE(SiteStateFromName("offline").has_value());
}

}  // namespace
}  // namespace aso::transfer
