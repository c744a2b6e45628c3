#include "common/ascii.h"

#include <gtest/gtest.h>

namespace vigie::ascii {
namespace {

TEST(AsciiTest, LowersOnlyAToZ) {
  EXPECT_EQ(Lower("@Alice:Example.ORG"), "@alice:example.org");
  EXPECT_EQ(Lower("image/PNG; charset=X"), "image/png; charset=x");
  // The characters either side of A-Z in ASCII, and digits, stay.
  EXPECT_EQ(Lower("@[`{09_"), "@[`{09_");
  EXPECT_EQ(Lower('Z'), 'z');
  EXPECT_EQ(Lower('a'), 'a');
}

TEST(AsciiTest, StartsWithNoCaseFoldsOnlyLetters) {
  EXPECT_TRUE(StartsWithNoCase("bearer abc", "Bearer "));
  EXPECT_TRUE(StartsWithNoCase("BYTES=0-1", "bytes="));
  EXPECT_TRUE(StartsWithNoCase("::FFFF:1.2.3.4", "::ffff:"));
  EXPECT_TRUE(StartsWithNoCase("abc", ""));
  EXPECT_FALSE(StartsWithNoCase("Bearer", "Bearer "));  // shorter than the prefix
  EXPECT_FALSE(StartsWithNoCase("Basic abc", "Bearer "));
  // '[' and '{' differ only in the case bit, but they are not letters.
  EXPECT_FALSE(StartsWithNoCase("[", "{"));
  EXPECT_FALSE(StartsWithNoCase("\xC3\x89", "\xC3\xA9"));
}

TEST(AsciiTest, LeavesUtf8BytesAlone) {
  // "ÉCOLE": the two bytes of É (0xC3 0x89) are not ASCII letters.
  const std::string e_acute = "\xC3\x89";
  EXPECT_EQ(Lower(e_acute + "COLE"), e_acute + "cole");
  EXPECT_EQ(Lower(std::string_view("A\0B", 3)), std::string("a\0b", 3));
  EXPECT_EQ(Lower(""), "");
}

TEST(AsciiTest, FindAnyFindsWhatFindFirstOfFinds) {
  const std::string_view breaks("\r\n\0", 3);
  for (const std::string_view s :
       {std::string_view(""), std::string_view("plain"), std::string_view("a\rb"),
        std::string_view("ab\n"), std::string_view("\0x", 2), std::string_view("x%41+y")}) {
    for (std::size_t from = 0; from <= s.size() + 1; ++from) {
      EXPECT_EQ(FindAny(s, breaks, from), s.find_first_of(breaks, from)) << s << " " << from;
      EXPECT_EQ(FindAny(s, "%+", from), s.find_first_of("%+", from)) << s << " " << from;
    }
  }
  EXPECT_EQ(FindAny("abc", ""), std::string_view::npos);
  static_assert(FindAny("a*b?", "*?") == 1);
}

}  // namespace
}  // namespace vigie::ascii
