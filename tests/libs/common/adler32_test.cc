#include "libs/common/adler32.h"

#include <cstdio>
#include <fstream>
#include <string>

#include "gtest/gtest.h"

namespace aso {
namespace {

TEST(Adler32Test, KnownValues) {
  std::string path = ::testing::TempDir() + "/adler32_test_file";
  {
    std::ofstream f(path, std::ios::binary);
    f << "Wikipedia";  // the textbook example: 0x11E60398
  }
  auto sum = Adler32OfFile(path);
  ASSERT_TRUE(sum.ok()) << sum.status();
  EXPECT_EQ(FormatAdler32(*sum), "11e60398");
  { std::ofstream f(path, std::ios::binary | std::ios::trunc); }
  EXPECT_EQ(FormatAdler32(*Adler32OfFile(path)), "00000001");  // empty file
  std::remove(path.c_str());
}

TEST(Adler32Test, MissingFileIsNotFound) {
  EXPECT_EQ(Adler32OfFile("/nonexistent/aso/file").status().code(), absl::StatusCode::kNotFound);
}

TEST(Adler32Test, ParsesChecksums) {
  EXPECT_EQ(*ParseAdler32Checksum("adler32:11e60398"), 0x11e60398u);
  EXPECT_EQ(*ParseAdler32Checksum("ADLER32:1"), 1u);
  EXPECT_FALSE(ParseAdler32Checksum("md5:11e60398").ok());
  EXPECT_FALSE(ParseAdler32Checksum("adler32:").ok());
  EXPECT_FALSE(ParseAdler32Checksum("adler32:123456789").ok());
  EXPECT_FALSE(ParseAdler32Checksum("adler32:xyz").ok());
}

}  // namespace
}  // namespace aso
