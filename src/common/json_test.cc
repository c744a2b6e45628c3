#include "common/json.h"

#include <gtest/gtest.h>

#include "common/error.h"

namespace vigie::json {
namespace {

ErrorCode CodeOf(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.code();
  }
  ADD_FAILURE() << "no error thrown";
  return ErrorCode::kInternal;
}

TEST(Json, ParseObjectAcceptsEmptyBody) { EXPECT_TRUE(ParseObject("  \n").empty()); }

TEST(Json, NotJson) {
  EXPECT_EQ(CodeOf([] { ParseObject("{\"a\":"); }), ErrorCode::kNotJson);
  EXPECT_EQ(CodeOf([] { ParseObject("{\"a\":1,}"); }), ErrorCode::kNotJson);
  EXPECT_EQ(CodeOf([] { ParseObject("{/*c*/}"); }), ErrorCode::kNotJson);
  EXPECT_EQ(CodeOf([] { ParseObject("\"\xff\xfe\""); }), ErrorCode::kNotJson);
}

TEST(Json, NonObjectBodyIsBadJson) {
  EXPECT_EQ(CodeOf([] { ParseObject("[1,2]"); }), ErrorCode::kBadJson);
  EXPECT_EQ(CodeOf([] { ParseObject("42"); }), ErrorCode::kBadJson);
}

TEST(Json, DepthIsBounded) {
  std::string deep(70, '[');
  deep += std::string(70, ']');
  EXPECT_EQ(CodeOf([&] { Parse(deep, 64); }), ErrorCode::kNotJson);
  std::string ok(10, '[');
  ok += std::string(10, ']');
  EXPECT_NO_THROW(Parse(ok, 64));
  std::string huge(100000, '[');
  EXPECT_EQ(CodeOf([&] { Parse(huge, 64); }), ErrorCode::kNotJson);
}

TEST(Json, TypedAccessors) {
  auto o = ParseObject(
      R"({"s":"x","b":true,"i":5,"o":{},"a":[],"n":null,"f":1.5,"big":18446744073709551615})");
  EXPECT_EQ(GetString(o, "s"), "x");
  EXPECT_EQ(GetString(o, "missing"), std::nullopt);
  EXPECT_EQ(GetString(o, "n"), std::nullopt);
  EXPECT_EQ(GetBool(o, "b"), true);
  EXPECT_EQ(GetInt(o, "i"), 5);
  EXPECT_NE(GetObject(o, "o"), nullptr);
  EXPECT_NE(GetArray(o, "a"), nullptr);
  EXPECT_EQ(CodeOf([&] { GetString(o, "i"); }), ErrorCode::kBadJson);
  EXPECT_EQ(CodeOf([&] { GetBool(o, "s"); }), ErrorCode::kBadJson);
  EXPECT_EQ(CodeOf([&] { GetInt(o, "f"); }), ErrorCode::kBadJson);
  EXPECT_EQ(CodeOf([&] { GetInt(o, "big"); }), ErrorCode::kBadJson);
  EXPECT_EQ(CodeOf([&] { GetObject(o, "a"); }), ErrorCode::kBadJson);
  EXPECT_EQ(CodeOf([&] { RequireString(o, "missing"); }), ErrorCode::kMissingParam);
}

}  // namespace
}  // namespace vigie::json
