// A DSN's password never reaches a message: libpq quotes a malformed URI whole in its errors.
#include "gtest/gtest.h"
#include "libs/db/database.h"

namespace aso::db {
namespace {

TEST(DsnTest, PasswordsAreRemovedFromMessages) {
  EXPECT_EQ(WithoutDsnPassword("invalid URI: \"postgresql://aso:s3cr%40t@[::1/aso\"",
                               "postgresql://aso:s3cr%40t@[::1/aso"),
            "invalid URI: \"postgresql://aso:***@[::1/aso\"");
  EXPECT_EQ(WithoutDsnPassword("bad: s3cr@t", "postgresql://aso:s3cr%40t@db/aso"), "bad: ***");  // decoded
  EXPECT_EQ(WithoutDsnPassword("x pw1 y", "host=db password=pw1 dbname=aso"), "x *** y");
  EXPECT_EQ(WithoutDsnPassword("x it's y", "host=db password='it\\'s' dbname=aso"), "x *** y");
  EXPECT_EQ(WithoutDsnPassword("x it\\'s y", "host=db password='it\\'s' dbname=aso"), "x *** y");
  EXPECT_EQ(WithoutDsnPassword("q pw2 q", "postgresql://db/aso?user=aso&password=pw2&sslmode=require"),
            "q *** q");
  EXPECT_EQ(WithoutDsnPassword("a*b", "postgresql://u:*@db/aso"), "a***b");  // no endless replacing
  EXPECT_EQ(WithoutDsnPassword("nothing secret", "postgresql://aso@db/aso"), "nothing secret");
}

}  // namespace
}  // namespace aso::db
