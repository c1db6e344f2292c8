#include "libs/transfer/failure_classifier.h"

#include <cerrno>

#include "gtest/gtest.h"

namespace aso::transfer {
namespace {
namespace v1 = aso::common::v1;

TEST(FailureClassifierTest, MissingSourceIsFinal) {
  auto c = ClassifyFailure(ErrorScope::kSource, ENOENT, "SOURCE [2] No such file or directory");
  EXPECT_EQ(c.failure_class, v1::FAILURE_CLASS_SOURCE);
  EXPECT_FALSE(c.recoverable);
}

TEST(FailureClassifierTest, TimeoutsAndNetworkAreRetried) {
  auto t = ClassifyFailure(ErrorScope::kTransfer, ETIMEDOUT, "TRANSFER operation timeout");
  EXPECT_EQ(t.failure_class, v1::FAILURE_CLASS_TIMEOUT);
  EXPECT_TRUE(t.recoverable);
  auto n = ClassifyFailure(ErrorScope::kSource, 0, "Name or service not known");
  EXPECT_TRUE(n.recoverable);
  auto other = ClassifyFailure(ErrorScope::kTransfer, EIO, "TRANSFER something odd");
  EXPECT_TRUE(other.recoverable);
}

TEST(FailureClassifierTest, ChecksumPermissionSpaceAndCancel) {
  EXPECT_EQ(ClassifyFailure(ErrorScope::kDestination, 0, "CHECKSUM MISMATCH x").failure_class,
            v1::FAILURE_CLASS_CHECKSUM);
  auto p = ClassifyFailure(ErrorScope::kDestination, EACCES, "DESTINATION Permission denied");
  EXPECT_EQ(p.failure_class, v1::FAILURE_CLASS_PERMISSION);
  EXPECT_FALSE(p.recoverable);
  auto s = ClassifyFailure(ErrorScope::kTransfer, ENOSPC, "TRANSFER write failed");
  EXPECT_EQ(s.failure_class, v1::FAILURE_CLASS_NO_SPACE);
  EXPECT_FALSE(s.recoverable);
  auto c = ClassifyFailure(ErrorScope::kGeneral, ECANCELED, "canceled");
  EXPECT_EQ(c.failure_class, v1::FAILURE_CLASS_CANCELED);
  EXPECT_FALSE(c.recoverable);
}

TEST(FailureClassifierTest, ExistingDestinationIsADestinationProblem) {
  auto c = ClassifyFailure(ErrorScope::kDestination, EEXIST, "DESTINATION File exists");
  EXPECT_EQ(c.failure_class, v1::FAILURE_CLASS_DESTINATION);
  EXPECT_FALSE(c.recoverable);
}

TEST(FailureClassifierTest, ScopeFromReason) {
  EXPECT_EQ(ScopeFromReason("SOURCE [2] x"), ErrorScope::kSource);
  EXPECT_EQ(ScopeFromReason("DESTINATION x"), ErrorScope::kDestination);
  EXPECT_EQ(ScopeFromReason("TRANSFER x"), ErrorScope::kTransfer);
  EXPECT_EQ(ScopeFromReason("whatever"), ErrorScope::kGeneral);
}

}  // namespace
}  // namespace aso::transfer
