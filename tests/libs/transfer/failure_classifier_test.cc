#include "libs/transfer/failure_classifier.h"

#include <cerrno>

#include "gtest/gtest.h"

namespace aso::transfer {
namespace {
namespace v1 = aso::common::v1;

struct Case {
  const char* reason;  // as FTS3 or gfal2/XRootD word it: "SCOPE [errno] message"
  int error_number;
  v1::FailureClass expected;
  bool recoverable;
};

// Real failure texts of gfal2 (file, root, davs plugins), XRootD and FTS3, with the class and the retry
// verdict FTS3's transfer agent gives them (FTS3_REST.md, "Failure classification").
const Case kCases[] = {
    // Source missing or unreadable.
    {"SOURCE [2] Result No such file or directory: srm-ifce err: Communication error on send", ENOENT,
     v1::FAILURE_CLASS_SOURCE, false},
    {"SOURCE [3011] Run: [ERROR] Server responded with an error: [3011] Unable to open /data/f; no such file "
     "or "
     "directory",
     0, v1::FAILURE_CLASS_SOURCE, false},
    {"SOURCE [2] davs://se.example/f: HTTP 404 : File not found 550 File not found", ENOENT,
     v1::FAILURE_CLASS_SOURCE, false},
    {"SOURCE [13] Permission denied", EACCES, v1::FAILURE_CLASS_SOURCE_PERMISSION, false},
    {"SOURCE [1] source file is not ONLINE", EPERM, v1::FAILURE_CLASS_SOURCE, false},
    // Destination.
    {"DESTINATION [13] davs://dst.example:443/store/f: HTTP 403 : Permission refused Permission denied",
     EACCES, v1::FAILURE_CLASS_DESTINATION_PERMISSION, false},
    {"DESTINATION [17] Destination file exists and overwrite is not enabled", EEXIST,
     v1::FAILURE_CLASS_DESTINATION_EXISTS, false},
    {"DESTINATION [3018] Run: [ERROR] Server responded with an error: [3018] File exists", 0,
     v1::FAILURE_CLASS_DESTINATION_EXISTS, false},
    {"DESTINATION [2] Failed to create the parent directory: No such file or directory", ENOENT,
     v1::FAILURE_CLASS_DESTINATION, false},
    {"DESTINATION [30] Read-only file system", EROFS, v1::FAILURE_CLASS_DESTINATION, false},
    // Space and quota.
    {"TRANSFER [28] TRANSFER  Result No space left on device", ENOSPC, v1::FAILURE_CLASS_NO_SPACE, false},
    {"DESTINATION [122] Disk quota exceeded", EDQUOT, v1::FAILURE_CLASS_NO_SPACE, false},
    {"DESTINATION [5] SRM_NO_FREE_SPACE no free space in the space token", EIO, v1::FAILURE_CLASS_NO_SPACE,
     false},
    // Checksums and sizes.
    {"TRANSFER [5] Source and destination ADLER32 do not match (0a1b2c3d != 0badc0de)", EIO,
     v1::FAILURE_CLASS_CHECKSUM, false},
    {"TRANSFER [5] CHECKSUM MISMATCH User defined checksum and source checksum do not match", EIO,
     v1::FAILURE_CLASS_CHECKSUM, false},
    {"TRANSFER [5] Run: [ERROR] CheckSum error: checksum do not match", 0, v1::FAILURE_CLASS_CHECKSUM, false},
    {"TRANSFER [5] Source and destination file size mismatch (1048576 != 524288)", EIO,
     v1::FAILURE_CLASS_SIZE_MISMATCH, true},
    // Time and network: retried.
    {"TRANSFER [110] Operation timeout", ETIMEDOUT, v1::FAILURE_CLASS_TIMEOUT, true},
    {"TRANSFER [70] Transfer canceled because the gsiftp performance marker timeout of 360 seconds has been "
     "exceeded",
     0, v1::FAILURE_CLASS_TIMEOUT, true},
    {"SOURCE [110] Connection timed out", ETIMEDOUT, v1::FAILURE_CLASS_TIMEOUT, true},
    {"SOURCE [2] Could not resolve host: Name or service not known", ENOENT, v1::FAILURE_CLASS_NETWORK, true},
    {"TRANSFER [111] Connection refused", ECONNREFUSED, v1::FAILURE_CLASS_NETWORK, true},
    {"SOURCE [3009] Run: [FATAL] Socket error: Unable to connect", 0, v1::FAILURE_CLASS_NETWORK, true},
    {"TRANSFER [104] Connection reset by peer", ECONNRESET, v1::FAILURE_CLASS_NETWORK, true},
    {"TRANSFER [5] globus_xio: An end of file occurred", EIO, v1::FAILURE_CLASS_TRANSFER, true},
    // The gfal2 copier's own text when another writer removed the destination it had just written.
    {"TRANSFER the destination root://b//f.root was removed right after the copy, before its checksum was "
     "read",
     0, v1::FAILURE_CLASS_TRANSFER, true},
    // The gfal2 copier's own text when the storage did not answer the checksum query after the copy.
    {"TRANSFER cannot read the destination checksum after the copy: Could not get the checksum (Bad address)",
     EFAULT, v1::FAILURE_CLASS_TRANSFER, true},
    // Credentials.
    {"GENERAL_FAILURE [1] Error: the proxy expired", EPERM, v1::FAILURE_CLASS_CREDENTIAL_EXPIRED, false},
    {"SOURCE [1] SSL handshake failed: certificate has expired", 0, v1::FAILURE_CLASS_CREDENTIAL_EXPIRED,
     false},
    {"SOURCE [5] SRM_AUTHENTICATION_FAILURE", EIO, v1::FAILURE_CLASS_PERMISSION, false},
    // Cancel and the rest.
    {"TRANSFER [125] Transfer canceled by the user", ECANCELED, v1::FAILURE_CLASS_CANCELED, false},
    {"TRANSFER [5] Transfer failed: something the storage never said before", EIO, v1::FAILURE_CLASS_TRANSFER,
     true},
    {"GENERAL_FAILURE [0] internal error", 0, v1::FAILURE_CLASS_GENERAL, true},
};

TEST(FailureClassifierTest, RealFailureTexts) {
  for (const Case& c : kCases) {
    const Classification got = ClassifyFailure(ScopeFromReason(c.reason), c.error_number, c.reason);
    EXPECT_EQ(FailureClassName(got.failure_class), FailureClassName(c.expected)) << c.reason;
    EXPECT_EQ(got.recoverable, c.recoverable) << c.reason;
  }
}

TEST(FailureClassifierTest, EveryClassHasAName) {
  for (int c = v1::FailureClass_MIN + 1; c <= v1::FailureClass_MAX; ++c) {
    const auto name = FailureClassName(static_cast<v1::FailureClass>(c));
    ASSERT_FALSE(name.empty()) << c;
    EXPECT_EQ(FailureClassFromName(name), static_cast<v1::FailureClass>(c)) << name;
  }
}

TEST(FailureClassifierTest, ScopeFromReason) {
  EXPECT_EQ(ScopeFromReason("SOURCE [2] x"), ErrorScope::kSource);
  EXPECT_EQ(ScopeFromReason("DESTINATION x"), ErrorScope::kDestination);
  EXPECT_EQ(ScopeFromReason("TRANSFER x"), ErrorScope::kTransfer);
  EXPECT_EQ(ScopeFromReason("whatever"), ErrorScope::kGeneral);
}

}  // namespace
}  // namespace aso::transfer
