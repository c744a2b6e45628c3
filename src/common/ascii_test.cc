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

}  // namespace
}  // namespace vigie::ascii
