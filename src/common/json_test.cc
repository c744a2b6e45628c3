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

// What ScanMembers gives for "content" and "redacts", as {found, content,
// redacts}.
struct Scanned {
  bool ok = false;
  std::string content, redacts;
};

Scanned ScanContentAndRedacts(std::string_view text) {
  static constexpr std::string_view kKeys[] = {"content", "redacts"};
  std::string_view found[2];
  Scanned out;
  out.ok = ScanMembers(text, kKeys, found);
  out.content = found[0];
  out.redacts = found[1];
  return out;
}

TEST(Json, ScanMembersGivesTheValuesAsWritten) {
  const std::string pdu =
      R"({"auth_events":["$a"],"content":{"body":"} ] \" {[","n":[1,{"x":null}],"u":"\u0000"},)"
      R"("depth":12,"hashes":{"sha256":"x"},"sender":"@a:b","type":"m.room.message"})";
  Scanned s = ScanContentAndRedacts(pdu);
  ASSERT_TRUE(s.ok);
  EXPECT_EQ(s.content, R"({"body":"} ] \" {[","n":[1,{"x":null}],"u":"\u0000"})");
  EXPECT_EQ(s.redacts, "");  // absent

  s = ScanContentAndRedacts(" {\n \"redacts\" : \"$e\" ,\t\"content\":[ ],\"depth\":-1.5e3 }\r\n");
  ASSERT_TRUE(s.ok);
  EXPECT_EQ(s.content, "[ ]");
  EXPECT_EQ(s.redacts, "\"$e\"");
  EXPECT_TRUE(ScanContentAndRedacts("{}").ok);
  EXPECT_TRUE(ScanContentAndRedacts(R"({"content":true,"redacts":null})").ok);

  // A value found parses to what a parse of the whole finds there.
  for (const char* text :
       {R"({"content":{"a":[{"b":"]}"}]},"x":7})", R"({"x":{"content":1},"content":"\"}"})",
        R"({"content":-0})", R"({"a":"\\","content":"\\\"\\"})"}) {
    SCOPED_TRACE(text);
    s = ScanContentAndRedacts(text);
    ASSERT_TRUE(s.ok);
    EXPECT_EQ(Parse(s.content), Parse(text).as_object().at("content"));
  }
}

TEST(Json, ScanMembersRefusesWhatItCannotReadSafely) {
  for (const char* text : {
           "", "[]", "\"content\"",
           R"({"content":{}} x)",             // more after the object
           R"({"content":{})",                // unclosed
           R"({"content":{]})",               // mismatched brackets
           R"({"content":[}]})",              // mismatched brackets
           R"({"content":"abc})",             // unclosed string
           R"({"content":"abc\"})",           // its quote escaped: unclosed
           R"({"content" {}})",               // no colon
           R"({"content":})",                 // no value
           R"({"content":{},})",              // a trailing comma
           R"({"content":1 "redacts":2})",    // no comma
           R"({"c\u006fntent":{}})",          // an escaped key
           R"({"content":{},"content":{}})",  // a wanted key twice
           R"({"content":@})",                // not a value
       }) {
    SCOPED_TRACE(text);
    EXPECT_FALSE(ScanContentAndRedacts(text).ok);
  }
  // Nesting: kMaxDepth levels within a value, no more.
  std::string deep = std::string(kMaxDepth, '[') + std::string(kMaxDepth, ']');
  EXPECT_TRUE(ScanContentAndRedacts(R"({"content":)" + deep + "}").ok);
  deep = "[" + deep + "]";
  EXPECT_FALSE(ScanContentAndRedacts(R"({"content":)" + deep + "}").ok);
}

}  // namespace
}  // namespace vigie::json
