// The pure parts of the HTTP layer: Range headers.
#include "http/message.h"

#include <gtest/gtest.h>

namespace vigie::http {
namespace {

struct RangeCase {
  const char* header;
  std::uint64_t size;
  RangeAnswer answer;
  std::uint64_t first = 0, last = 0;  // for kPartial
};

TEST(ParseRangeTest, Table) {
  const RangeCase cases[] = {
      {"bytes=0-99", 1000, RangeAnswer::kPartial, 0, 99},
      {"bytes=100-", 1000, RangeAnswer::kPartial, 100, 999},
      {"bytes=-100", 1000, RangeAnswer::kPartial, 900, 999},
      {"bytes=-5000", 1000, RangeAnswer::kPartial, 0, 999},
      {"bytes=990-5000", 1000, RangeAnswer::kPartial, 990, 999},
      {"bytes=999-999", 1000, RangeAnswer::kPartial, 999, 999},
      {" Bytes=1-2 ", 1000, RangeAnswer::kPartial, 1, 2},
      {"bytes=1000-", 1000, RangeAnswer::kUnsatisfiable},
      {"bytes=1000-2000", 1000, RangeAnswer::kUnsatisfiable},
      {"bytes=-0", 1000, RangeAnswer::kUnsatisfiable},
      // Ignored: the whole representation.
      {"", 1000, RangeAnswer::kWhole},
      {"bytes=0-1,5-6", 1000, RangeAnswer::kWhole},
      {"items=0-1", 1000, RangeAnswer::kWhole},
      {"bytes=5-1", 1000, RangeAnswer::kWhole},
      {"bytes=", 1000, RangeAnswer::kWhole},
      {"bytes = 1-2", 1000, RangeAnswer::kWhole},
      {"bytes=-", 1000, RangeAnswer::kWhole},
      {"bytes=a-b", 1000, RangeAnswer::kWhole},
      {"bytes=+1-2", 1000, RangeAnswer::kWhole},
      {"bytes=1-+2", 1000, RangeAnswer::kWhole},
      {"bytes=99999999999999999999-", 1000, RangeAnswer::kWhole},
      {"bytes=0-", 0, RangeAnswer::kWhole},
      {"bytes=-1", 0, RangeAnswer::kWhole},
  };
  for (const auto& c : cases) {
    ByteRange r{7, 7};
    EXPECT_EQ(ParseRange(c.header, c.size, &r), c.answer) << c.header;
    if (c.answer == RangeAnswer::kPartial) {
      EXPECT_EQ(r.first, c.first) << c.header;
      EXPECT_EQ(r.last, c.last) << c.header;
    }
  }
}

}  // namespace
}  // namespace vigie::http
