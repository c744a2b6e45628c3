#include "api/client_event.h"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

namespace vigie::api {
namespace {

storage::EventRecord Record(std::int64_t nid, const std::string& type, const std::string& json) {
  storage::EventRecord e;
  e.event_nid = nid;
  e.event_id = "$e" + std::to_string(nid);
  e.type = type;
  e.sender = "@a:x";
  e.origin_server_ts = 1;
  e.json = json;
  return e;
}

// As deep as stored events go (Boost.JSON's default stops at 32).
boost::json::value Parse(std::string_view text) {
  boost::json::parse_options opt;
  opt.max_depth = 128;
  return boost::json::parse(text, {}, opt);
}

std::string Message(const std::string& body) {
  return R"({"type":"m.room.message","sender":"@a:x","content":{"msgtype":"m.text","body":")" +
         body + R"("},"hashes":{"sha256":"h"},"signatures":{},"auth_events":[],"prev_events":[]})";
}

TEST(ClientEventTest, AnEventTurnedAgainGivesTheSameContent) {
  auto e = Record(1, "m.room.message", Message("hello"));
  auto first = ClientEvent(e, "!r:x");
  auto again = ClientEvent(e, "!r:x");
  EXPECT_EQ(first.at("content"), again.at("content"));
  EXPECT_EQ(first.at("content").at("body"), "hello");
  EXPECT_EQ(again.at("event_id"), "$e1");
  EXPECT_FALSE(again.contains("hashes"));
}

// The same event, redacted since it was last turned: its new text is read,
// the old content is never served again.
TEST(ClientEventTest, ARedactedEventIsNotServedItsOldContent) {
  auto e = Record(2, "m.room.message", Message("secret"));
  EXPECT_EQ(ClientEvent(e, "!r:x").at("content").at("body"), "secret");
  e.json = R"({"type":"m.room.message","sender":"@a:x","content":{}})";
  e.redacted_by = "$red";
  auto redacted = ClientEvent(e, "!r:x");
  EXPECT_TRUE(redacted.at("content").as_object().empty()) << boost::json::serialize(redacted);
  EXPECT_EQ(redacted.at("unsigned").at("redacted_because").at("event_id"), "$red");
}

TEST(ClientEventTest, ManyEventsEachKeepTheirOwnContent) {
  for (int round = 0; round < 2; ++round) {
    for (int i = 0; i < 1500; ++i) {
      auto e = Record(1000 + i, "m.room.message", Message("m" + std::to_string(i)));
      ASSERT_EQ(ClientEvent(e, "!r:x").at("content").at("body").as_string(),
                "m" + std::to_string(i));
    }
  }
}

TEST(ClientEventTest, ARedactionNamesItsTargetAtTheTopLevel) {
  // Room versions up to 10: `redacts` at the top level of the PDU.
  auto v10 = Record(5000, "m.room.redaction",
                    R"({"type":"m.room.redaction","redacts":"$t1","content":{"reason":"r"}})");
  EXPECT_EQ(ClientEvent(v10, "!r:x").at("redacts"), "$t1");
  // Version 11 on: in the content.
  auto v11 = Record(5001, "m.room.redaction",
                    R"({"type":"m.room.redaction","content":{"redacts":"$t2"}})");
  auto out = ClientEvent(v11, "!r:x");
  EXPECT_EQ(out.at("redacts"), "$t2");
  EXPECT_EQ(out.at("content").at("redacts"), "$t2");
}

// The text sync responses are made of says what the object says, for each
// viewer, when its shared part is served again from the cache, and once the
// event is redacted since.
TEST(ClientEventTest, TheTextFormSaysWhatTheObjectSays) {
  service::Requester sender;
  sender.user_id = "@a:x";
  sender.device_id = "DEV";
  service::Requester other;
  other.user_id = "@b:x";
  other.device_id = "DEV";

  std::vector<storage::EventRecord> events;
  auto sent = Record(7000, "m.room.message", Message(R"(quote \" tab \t \u00e9 \ud83d\ude00)"));
  sent.txn_id = "txn\"1";
  sent.device_id = "DEV";
  events.push_back(sent);
  auto state = Record(7001, "m.room.topic",
                      R"({"type":"m.room.topic","state_key":"","content":{"topic":"t"}})");
  state.state_key = "";
  events.push_back(state);
  events.push_back(Record(7002, "m.room.redaction",
                          R"({"type":"m.room.redaction","redacts":"$t1","content":{}})"));
  events.push_back(Record(7003, "m.room.redaction",
                          R"({"type":"m.room.redaction","content":{"redacts":"$t2"}})"));
  auto gone = Record(7004, "m.room.message", R"({"type":"m.room.message","content":{}})");
  gone.redacted_by = "$r";
  gone.redacted_because =
      R"({"type":"m.room.redaction","sender":"@b:x","origin_server_ts":5,"content":{"redacts":"$e7004"}})";
  events.push_back(gone);
  // Text this server does not write: a key written with escapes (read by a
  // parse, not the scan), content that is not an object, and content
  // nested deeper than Boost.JSON's default parse allows.
  events.push_back(Record(7005, "m.room.message",
                          R"( { "c\u006fntent" : {"a": [1, "}"]}, "type": "m.room.message" } )"));
  events.push_back(Record(7006, "m.room.message", R"({"content":[1],"type":"m.room.message"})"));
  const std::string deep = std::string(40, '[') + std::string(40, ']');
  events.push_back(Record(7007, "m.room.message",
                          R"({"content":{"d":)" + deep + R"(},"type":"m.room.message"})"));

  auto without_age = [](boost::json::value v) {
    auto& u = v.as_object().at("unsigned").as_object();
    EXPECT_TRUE(u.at("age").is_int64());
    u.erase("age");
    return v;
  };
  for (int round = 0; round < 2; ++round) {
    for (const auto& e : events) {
      for (const auto* viewer : {&sender, &other}) {
        for (bool with_room : {false, true}) {
          const ClientEventOptions opts{viewer, with_room};
          std::string text;
          AppendClientEvent(text, e, "!r\"oom:x", opts);
          boost::json::value expected = ClientEvent(e, "!r\"oom:x", opts);
          EXPECT_EQ(without_age(Parse(text)), without_age(expected))
              << text << "\n"
              << boost::json::serialize(expected);
        }
      }
    }
  }
  EXPECT_EQ(ClientEvent(events[5], "!r:x").at("content"), boost::json::parse(R"({"a":[1,"}"]})"));
  EXPECT_EQ(ClientEvent(events[6], "!r:x").at("content"), boost::json::object());
  std::string text;
  AppendClientEvent(text, events[7], "!r:x");
  EXPECT_NE(text.find(R"("content":{"d":)" + deep + "}"), std::string::npos) << text;

  std::string mine, theirs;
  AppendClientEvent(mine, sent, "!r:x", {&sender, false});
  AppendClientEvent(theirs, sent, "!r:x", {&other, false});
  EXPECT_EQ(boost::json::parse(mine).at("unsigned").at("transaction_id"), "txn\"1");
  EXPECT_FALSE(boost::json::parse(theirs).at("unsigned").as_object().contains("transaction_id"));

  // Redacted after its text was cached.
  sent.json = R"({"type":"m.room.message","sender":"@a:x","content":{}})";
  sent.redacted_by = "$red";
  std::string redacted;
  AppendClientEvent(redacted, sent, "!r:x", {&other, false});
  auto v = boost::json::parse(redacted);
  EXPECT_TRUE(v.at("content").as_object().empty()) << redacted;
  EXPECT_EQ(v.at("unsigned").at("redacted_because").at("event_id"), "$red");
}

}  // namespace
}  // namespace vigie::api
