#include "common/canonical_json.h"

#include <gtest/gtest.h>

#include <functional>
#include <optional>

#include "common/error.h"
#include "common/json.h"

namespace vigie {
namespace {

namespace bj = boost::json;

std::string Canon(std::string_view text, CanonicalFloats floats = CanonicalFloats::kReject) {
  return CanonicalJson(json::Parse(text), floats);
}

// The error code thrown by `fn`, or nullopt if it returns normally.
std::optional<ErrorCode> ThrownCode(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.code();
  }
  return std::nullopt;
}

// Every example of the appendix "Canonical JSON" section, in order.
TEST(CanonicalJsonTest, SpecExamples) {
  EXPECT_EQ(Canon("{}"), "{}");
  EXPECT_EQ(Canon(R"({
      "one": 1,
      "two": "Two"
  })"),
            R"({"one":1,"two":"Two"})");
  EXPECT_EQ(Canon(R"({
      "b": "2",
      "a": "1"
  })"),
            R"({"a":"1","b":"2"})");
  EXPECT_EQ(Canon(R"({"b":"2","a":"1"})"), R"({"a":"1","b":"2"})");
  EXPECT_EQ(Canon(R"({
      "auth": {
          "success": true,
          "mxid": "@john.doe:example.com",
          "profile": {
              "display_name": "John Doe",
              "three_pids": [
                  {
                      "medium": "email",
                      "address": "john.doe@example.org"
                  },
                  {
                      "medium": "msisdn",
                      "address": "123456789"
                  }
              ]
          }
      }
  })"),
            R"({"auth":{"mxid":"@john.doe:example.com","profile":{"display_name":"John Doe",)"
            R"("three_pids":[{"address":"john.doe@example.org","medium":"email"},)"
            R"({"address":"123456789","medium":"msisdn"}]},"success":true}})");
  EXPECT_EQ(Canon(R"({
      "a": "日本語"
  })"),
            R"({"a":"日本語"})");
  EXPECT_EQ(Canon(R"({
      "本": 2,
      "日": 1
  })"),
            R"({"日":1,"本":2})");
  EXPECT_EQ(Canon(R"({
      "a": "\u65E5"
  })"),
            R"({"a":"日"})");
  EXPECT_EQ(Canon(R"({
      "a": null
  })"),
            R"({"a":null})");
  // 1e10 is a double for Boost.JSON: only the integral-float mode reproduces
  // the example; the default (used for events) refuses any float.
  EXPECT_EQ(Canon(R"({
      "a": -0,
      "b": 1e10
  })",
                  CanonicalFloats::kIntegral),
            R"({"a":0,"b":10000000000})");
  EXPECT_EQ(ThrownCode([] { Canon(R"({"a": -0, "b": 1e10})"); }), ErrorCode::kBadJson);
}

TEST(CanonicalJsonTest, Scalars) {
  EXPECT_EQ(Canon("null"), "null");
  EXPECT_EQ(Canon("true"), "true");
  EXPECT_EQ(Canon("false"), "false");
  EXPECT_EQ(Canon("0"), "0");
  EXPECT_EQ(Canon("-0"), "0");
  EXPECT_EQ(Canon("-12"), "-12");
  EXPECT_EQ(Canon(R"("")"), R"("")");
  EXPECT_EQ(Canon("[]"), "[]");
}

TEST(CanonicalJsonTest, NestedAndWhitespace) {
  EXPECT_EQ(Canon(" { \"z\" : [ 3 , { \"y\" : [ ] , \"x\" : { } } ] , \"a\" : [ [ ] ] } "),
            R"({"a":[[]],"z":[3,{"x":{},"y":[]}]})");
  // Arrays keep their order.
  EXPECT_EQ(Canon(R"([3,1,2,"b","a"])"), R"([3,1,2,"b","a"])");
}

TEST(CanonicalJsonTest, KeysSortByCodePointNotUtf16) {
  // z (U+007A) < é (U+00E9) < 日 (U+65E5) < ｡ (U+FF61) < 😀 (U+1F600).
  // UTF-16 ordering would put 😀 (D83D DE00) before ｡ (FF61).
  EXPECT_EQ(Canon(R"({"😀":5,"｡":4,"日":3,"é":2,"z":1})"), R"({"z":1,"é":2,"日":3,"｡":4,"😀":5})");
  // Upper case sorts before lower case; a prefix sorts first.
  EXPECT_EQ(Canon(R"({"ab":1,"a":2,"B":3,"":4})"), R"({"":4,"B":3,"a":2,"ab":1})");
}

TEST(CanonicalJsonTest, StringEscapes) {
  EXPECT_EQ(Canon(R"("\u0000\u0001\u0007\u000b\u000e\u001f")"),
            R"("\u0000\u0001\u0007\u000b\u000e\u001f")");
  EXPECT_EQ(Canon(R"("\u0008\u0009\u000A\u000C\u000D")"), R"("\b\t\n\f\r")");
  EXPECT_EQ(Canon(R"("\"\\\/")"), R"("\"\\/")");
  // Hex digits are lower case.
  EXPECT_EQ(Canon(R"("\u001A\u001B")"), R"("\u001a\u001b")");
  // DEL, U+2028 and non-ASCII are written raw.
  EXPECT_EQ(Canon(R"("\u007f\u2028\u00e9")"), "\"\x7f\u2028\u00e9\"");
  // Astral characters written as escaped surrogate pairs come out as UTF-8.
  EXPECT_EQ(Canon(R"("\ud83d\ude00")"), "\"😀\"");
  // Keys are escaped like values.
  EXPECT_EQ(Canon(R"({"a\nb":"\t"})"), R"({"a\nb":"\t"})");
}

TEST(CanonicalJsonTest, IntegerBounds) {
  EXPECT_EQ(Canon("9007199254740991"), "9007199254740991");
  EXPECT_EQ(Canon("-9007199254740991"), "-9007199254740991");
  EXPECT_EQ(ThrownCode([] { Canon("9007199254740992"); }), ErrorCode::kBadJson);
  EXPECT_EQ(ThrownCode([] { Canon("-9007199254740992"); }), ErrorCode::kBadJson);
  EXPECT_EQ(ThrownCode([] { Canon("18446744073709551615"); }), ErrorCode::kBadJson);  // uint64
  EXPECT_EQ(ThrownCode([] { Canon(R"({"a":[1,{"b":9007199254740992}]})"); }), ErrorCode::kBadJson);
  EXPECT_EQ(CanonicalJson(bj::value(std::uint64_t{42})), "42");
  EXPECT_EQ(ThrownCode([] { CanonicalJson(bj::value(INT64_MIN)); }), ErrorCode::kBadJson);
}

TEST(CanonicalJsonTest, FloatsRejectedByDefault) {
  for (const char* text : {"1.5", "1.0", "1e10", "-0.0", "0.1", "[1e2]", R"({"a":2.5})"}) {
    EXPECT_EQ(ThrownCode([&] { Canon(text); }), ErrorCode::kBadJson) << text;
  }
}

TEST(CanonicalJsonTest, IntegralFloatsMode) {
  auto c = [](const char* t) { return Canon(t, CanonicalFloats::kIntegral); };
  EXPECT_EQ(c("1.0"), "1");
  EXPECT_EQ(c("-0.0"), "0");
  EXPECT_EQ(c("1e10"), "10000000000");
  EXPECT_EQ(c("-2.5e1"), "-25");
  // Built directly: Boost.JSON's default parser is not exact near 2^53.
  EXPECT_EQ(CanonicalJson(bj::value(9007199254740991.0), CanonicalFloats::kIntegral),
            "9007199254740991");
  EXPECT_EQ(
      ThrownCode([] { CanonicalJson(bj::value(9007199254740992.0), CanonicalFloats::kIntegral); }),
      ErrorCode::kBadJson);
  EXPECT_EQ(ThrownCode([&] { c("1.5"); }), ErrorCode::kBadJson);
  EXPECT_EQ(ThrownCode([&] { c("1e300"); }), ErrorCode::kBadJson);
  EXPECT_EQ(ThrownCode([&] { c("-1e300"); }), ErrorCode::kBadJson);
  // Integers beyond int64 are parsed as doubles; still out of range.
  EXPECT_EQ(ThrownCode([&] { c("-9223372036854775809"); }), ErrorCode::kBadJson);
}

TEST(CanonicalJsonTest, InvalidUtf8Rejected) {
  const char* bad[] = {
      "\xff",              // never valid
      "\xc0\xaf",          // overlong '/'
      "\xe0\x80\xaf",      // overlong
      "\xed\xa0\x80",      // encoded surrogate U+D800
      "\xf4\x90\x80\x80",  // U+110000
      "\xe6\x97",          // truncated
      "\x80",              // lone continuation byte
  };
  for (const char* s : bad) {
    EXPECT_EQ(ThrownCode([&] { CanonicalJson(bj::value(bj::string(s))); }), ErrorCode::kBadJson)
        << s;
    EXPECT_EQ(ThrownCode([&] { CanonicalJson(bj::object{{s, 1}}); }), ErrorCode::kBadJson) << s;
  }
  // The largest valid code point and the edges around surrogates pass.
  EXPECT_EQ(CanonicalJson(bj::value(bj::string("\xf4\x8f\xbf\xbf\xed\x9f\xbf\xee\x80\x80"))),
            "\"\xf4\x8f\xbf\xbf\xed\x9f\xbf\xee\x80\x80\"");
}

TEST(CanonicalJsonTest, EmbeddedNulInString) {
  bj::string s("a");
  s.push_back('\0');
  s.push_back('b');
  EXPECT_EQ(CanonicalJson(bj::value(s)), R"("a\u0000b")");
}

TEST(CanonicalJsonTest, WithoutSkipsOnlyTopLevelKeys) {
  bj::object o = json::Parse(R"({"signatures":{"x":1},"unsigned":{"age":5},"b":{"unsigned":1},
                                 "a":1})")
                     .as_object();
  EXPECT_EQ(CanonicalJsonWithout(o, {"signatures", "unsigned"}), R"({"a":1,"b":{"unsigned":1}})");
  EXPECT_EQ(CanonicalJsonWithout(o, {}), CanonicalJson(o));
  EXPECT_EQ(CanonicalJson(o), CanonicalJson(bj::value(o)));
}

TEST(CanonicalJsonTest, DepthLimit) {
  bj::value v = bj::array{};
  for (std::size_t i = 1; i < kMaxCanonicalDepth; ++i) v = bj::array{std::move(v)};
  EXPECT_NO_THROW(CanonicalJson(v));
  v = bj::object{{"k", std::move(v)}};
  EXPECT_EQ(ThrownCode([&] { CanonicalJson(v); }), ErrorCode::kBadJson);
}

TEST(CanonicalJsonTest, OutputIsStableUnderReparse) {
  const char* texts[] = {
      R"({"b":[{"d":"\u0001","c":null}],"a":{"é":true,"e":false}})",
      R"(["\"", "\\", "日本", -5, 0, 123456789])",
  };
  for (const char* t : texts) {
    std::string once = Canon(t);
    EXPECT_EQ(Canon(once), once);
  }
}

TEST(CanonicalJsonTest, IsCanonicalInteger) {
  EXPECT_TRUE(IsCanonicalInteger(bj::value(0)));
  EXPECT_TRUE(IsCanonicalInteger(bj::value(kMaxCanonicalInt)));
  EXPECT_TRUE(IsCanonicalInteger(bj::value(kMinCanonicalInt)));
  EXPECT_TRUE(IsCanonicalInteger(bj::value(std::uint64_t{7})));
  EXPECT_FALSE(IsCanonicalInteger(bj::value(kMaxCanonicalInt + 1)));
  EXPECT_FALSE(IsCanonicalInteger(bj::value(kMinCanonicalInt - 1)));
  EXPECT_FALSE(IsCanonicalInteger(bj::value(1.0)));
  EXPECT_FALSE(IsCanonicalInteger(bj::value("1")));
  EXPECT_FALSE(IsCanonicalInteger(bj::value(nullptr)));
}

}  // namespace
}  // namespace vigie
