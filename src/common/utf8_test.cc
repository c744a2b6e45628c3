#include "common/utf8.h"

#include <gtest/gtest.h>

namespace vigie::utf8 {
namespace {

TEST(Utf8, Validity) {
  EXPECT_TRUE(IsValid(""));
  EXPECT_TRUE(IsValid("plain ascii"));
  EXPECT_TRUE(IsValid("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));
  EXPECT_FALSE(IsValid("\xff"));
  EXPECT_FALSE(IsValid("\xc3"));              // truncated
  EXPECT_FALSE(IsValid("\xc0\xaf"));          // overlong '/'
  EXPECT_FALSE(IsValid("\xed\xa0\x80"));      // surrogate
  EXPECT_FALSE(IsValid("\xf4\x90\x80\x80"));  // above U+10FFFF
}

TEST(Utf8, SanitizeReplacesAndCutsOnCharacterBoundaries) {
  EXPECT_EQ(Sanitize(std::string("a\0b", 3)), "a?b");
  EXPECT_EQ(Sanitize("x\xffy"), "x?y");
  // "é" is two bytes: a 2-byte cut after "a" must not split it.
  EXPECT_EQ(Sanitize("a\xc3\xa9", 2), "a");
  EXPECT_EQ(Sanitize("a\xc3\xa9", 3), "a\xc3\xa9");
  EXPECT_TRUE(IsValid(Sanitize("\xe2\x82\xac\xe2\x82\xac", 4)));
}

}  // namespace
}  // namespace vigie::utf8
