#include "libs/common/utf8.h"

#include <string>

#include "gtest/gtest.h"

namespace aso {
namespace {

TEST(Utf8Test, WellFormedTextIsValid) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("T2_CH_CERN /store/user/alice"));
  EXPECT_TRUE(IsValidUtf8("Zürich \xE2\x82\xAC \xF0\x9F\x98\x80"));  // 2, 3 and 4 byte forms
  EXPECT_TRUE(IsValidUtf8(std::string("a\0b", 3)));
  EXPECT_TRUE(IsValidUtf8("\xF4\x8F\xBF\xBF"));  // U+10FFFF
}

TEST(Utf8Test, MalformedTextIsRefused) {
  EXPECT_FALSE(IsValidUtf8("u\xCF\xCF"));         // a lead byte followed by another lead byte
  EXPECT_FALSE(IsValidUtf8("\xC3"));              // cut short
  EXPECT_FALSE(IsValidUtf8("\xE2\x82"));          // cut short
  EXPECT_FALSE(IsValidUtf8("\x80"));              // a continuation byte alone
  EXPECT_FALSE(IsValidUtf8("\xC0\xAF"));          // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xE0\x80\xAF"));      // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xED\xA0\x80"));      // a UTF-16 surrogate
  EXPECT_FALSE(IsValidUtf8("\xF4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(IsValidUtf8("\xFF"));
}

TEST(Utf8Test, NoncharactersAreFound) {
  EXPECT_FALSE(
      HoldsNoncharacter("Zürich \xE2\x82\xAC \xF0\x9F\x98\x80 \xEF\xBF\xBD"));  // U+FFFD is a character
  EXPECT_FALSE(HoldsNoncharacter("\xEF\xB7\x8F \xEF\xB7\xB0"));                 // U+FDCF, U+FDF0
  EXPECT_TRUE(HoldsNoncharacter("A\xEF\xBF\xBF"));                              // U+FFFF
  EXPECT_TRUE(
      HoldsNoncharacter("\xEF\xBF\xBE"
                        "B"));                         // U+FFFE
  EXPECT_TRUE(HoldsNoncharacter("\xEF\xB7\x90"));      // U+FDD0
  EXPECT_TRUE(HoldsNoncharacter("\xEF\xB7\xAF"));      // U+FDEF
  EXPECT_TRUE(HoldsNoncharacter("\xF0\x9F\xBF\xBE"));  // U+1FFFE
  EXPECT_TRUE(HoldsNoncharacter("\xF4\x8F\xBF\xBF"));  // U+10FFFF
}

TEST(Utf8Test, PrintableTextKeepsWhatIsValidAndBounded) {
  EXPECT_EQ(PrintableUtf8("copy failed: Permission denied\n\tat /data"),
            "copy failed: Permission denied\n\tat /data");
  EXPECT_EQ(PrintableUtf8(std::string("a\0b\x1b[31m\xCF\xCFz\xC3\xBC", 13)), "a?b?[31m??z\xC3\xBC");
  EXPECT_EQ(PrintableUtf8(std::string(5000, 'x')).size(), 4096u);
  EXPECT_EQ(PrintableUtf8("ab\xE2\x82\xAC", 4), "ab??");  // a sequence is never cut
  EXPECT_TRUE(IsValidUtf8(PrintableUtf8("\xF0\x9F\x98")));
}

}  // namespace
}  // namespace aso
