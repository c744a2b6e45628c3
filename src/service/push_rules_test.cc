#include "service/push_rules.h"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include "common/error.h"

namespace vigie::service::push {
namespace {

namespace bj = boost::json;

constexpr const char* kMe = "@bob:test.local";

bj::object Message(std::string body, bj::object extra = {}) {
  bj::object content{{"msgtype", "m.text"}, {"body", std::move(body)}};
  for (auto& [k, v] : extra) content[k] = v;
  return {{"type", "m.room.message"},
          {"sender", "@alice:test.local"},
          {"room_id", "!room:test.local"},
          {"content", std::move(content)}};
}

class PushEval : public ::testing::Test {
 protected:
  Outcome Eval(const bj::object& ev, const Ruleset& rs = *DefaultRuleset()) {
    EventContext ctx;
    ctx.event = &ev;
    ctx.member_count = members;
    ctx.sender_may_notify = [this](std::string_view key) { return key == "room" && powerful; };
    ctx.display_name = [this](std::string_view) { return display_name; };
    return Evaluate(rs, ctx, kMe);
  }
  std::string RuleOf(const bj::object& ev, const Ruleset& rs = *DefaultRuleset()) {
    auto out = Eval(ev, rs);
    return out.rule ? out.rule->rule_id : "";
  }
  // A ruleset stored as the m.push_rules account data would be.
  static Ruleset Stored(const std::string& global) {
    return LoadRuleset(bj::parse("{\"global\":" + global + "}").as_object());
  }
  std::int64_t members = 5;
  bool powerful = false;
  std::optional<std::string> display_name;
};

TEST(PushGlob, WholeValue) {
  Glob g("lunc?*");
  EXPECT_TRUE(g.Matches("Lunch plans"));
  EXPECT_TRUE(g.Matches("LUNCH"));
  EXPECT_FALSE(g.Matches(" lunch"));
  EXPECT_FALSE(g.Matches("lunc"));
  EXPECT_TRUE(Glob("m.notice").Matches("m.notice"));
  EXPECT_FALSE(Glob("m.notice").Matches("m.notices"));
  EXPECT_TRUE(Glob("").Matches(""));
  EXPECT_FALSE(Glob("").Matches("x"));
  EXPECT_TRUE(Glob("*").Matches(""));
  EXPECT_TRUE(Glob("a**b").Matches("ab"));
  EXPECT_TRUE(Glob("*a*b*").Matches("xxaxxbxx"));
  EXPECT_FALSE(Glob("*a*b*").Matches("xxbxxaxx"));
  // '?' is one character, not one byte.
  EXPECT_TRUE(Glob("caf?").Matches("café"));
  EXPECT_FALSE(Glob("caf??").Matches("café"));
}

TEST(PushGlob, Words) {
  Glob g("ex*ple");
  EXPECT_TRUE(g.MatchesWords("An example event."));
  EXPECT_TRUE(g.MatchesWords("exple"));
  EXPECT_TRUE(g.MatchesWords("An exciting triple-whammy"));
  EXPECT_FALSE(g.MatchesWords("examples"));
  EXPECT_FALSE(g.MatchesWords("reexample"));
  Glob cake("cake");
  EXPECT_TRUE(cake.MatchesWords("I like CAKE!"));
  EXPECT_TRUE(cake.MatchesWords("cake"));
  EXPECT_FALSE(cake.MatchesWords("cakes"));
  EXPECT_FALSE(cake.MatchesWords("pancake"));
  EXPECT_FALSE(cake.MatchesWords("cake_lover"));  // '_' is a word character
  EXPECT_TRUE(Glob("@room").MatchesWords("hey @room!"));
}

TEST(PushGlob, LongPatternsSpanMachineWords) {
  std::string text(150, 'a');
  text += "b";
  EXPECT_TRUE(Glob(std::string(100, 'a') + "*b").Matches(text));
  EXPECT_TRUE(Glob(std::string(150, '?') + "b").Matches(text));
  EXPECT_FALSE(Glob(std::string(151, '?') + "b").Matches(text));
  EXPECT_TRUE(Glob(std::string(70, 'a') + "*" + std::string(70, 'a')).Matches(text.substr(0, 150)));
  EXPECT_FALSE(
      Glob(std::string(70, 'a') + "*" + std::string(81, 'a')).Matches(text.substr(0, 150)));
}

TEST(PushKeys, DotsAndBackslashesAreEscaped) {
  EXPECT_EQ(SplitKey("content.body"), (std::vector<std::string>{"content", "body"}));
  EXPECT_EQ(SplitKey("content.m\\.mentions.user_ids"),
            (std::vector<std::string>{"content", "m.mentions", "user_ids"}));
  EXPECT_EQ(SplitKey("content.m\\\\foo"), (std::vector<std::string>{"content", "m\\foo"}));
  // Other escapes are literal.
  EXPECT_EQ(SplitKey("a\\xb"), (std::vector<std::string>{"a\\xb"}));
}

TEST(PushDefaults, SpecListAndOrder) {
  auto json = RulesetJson(*DefaultRuleset(), kMe);
  auto ids = [&](const char* kind) {
    std::vector<std::string> out;
    for (const auto& r : json.at(kind).as_array()) {
      out.emplace_back(r.at("rule_id").as_string());
      EXPECT_TRUE(r.at("default").as_bool());
    }
    return out;
  };
  EXPECT_EQ(ids("override"),
            (std::vector<std::string>{".m.rule.master", ".m.rule.suppress_notices",
                                      ".m.rule.invite_for_me", ".m.rule.member_event",
                                      ".m.rule.is_user_mention", ".m.rule.is_room_mention",
                                      ".m.rule.tombstone", ".m.rule.reaction",
                                      ".m.rule.room.server_acl", ".m.rule.suppress_edits"}));
  EXPECT_TRUE(ids("content").empty());
  EXPECT_TRUE(ids("room").empty());
  EXPECT_TRUE(ids("sender").empty());
  EXPECT_EQ(ids("underride"),
            (std::vector<std::string>{".m.rule.call", ".m.rule.encrypted_room_one_to_one",
                                      ".m.rule.room_one_to_one", ".m.rule.message",
                                      ".m.rule.encrypted"}));
  // The placeholders show the user's id.
  const auto& invite = json.at("override").as_array()[2].as_object();
  EXPECT_EQ(invite.at("conditions").as_array()[2].at("pattern"), kMe);
  const auto& mention = json.at("override").as_array()[4].as_object();
  EXPECT_EQ(mention.at("conditions").as_array()[0].at("value"), kMe);
  EXPECT_EQ(mention.at("conditions").as_array()[0].at("key"), "content.m\\.mentions.user_ids");
  EXPECT_FALSE(json.at("override").as_array()[0].at("enabled").as_bool());  // master
}

TEST_F(PushEval, UserMentionHighlights) {
  auto ev = Message("hi", {{"m.mentions", {{"user_ids", {"@carol:test.local", kMe}}}}});
  auto out = Eval(ev);
  EXPECT_TRUE(out.notify);
  EXPECT_TRUE(out.highlight);
  EXPECT_EQ(out.rule->rule_id, ".m.rule.is_user_mention");
  // Someone else's mention is an ordinary message.
  auto other = Message("hi", {{"m.mentions", {{"user_ids", {"@carol:test.local"}}}}});
  out = Eval(other);
  EXPECT_TRUE(out.notify);
  EXPECT_FALSE(out.highlight);
  EXPECT_EQ(out.rule->rule_id, ".m.rule.message");
  // The id in the body alone no longer mentions (v1.17).
  EXPECT_FALSE(Eval(Message(std::string("hey ") + kMe)).highlight);
}

TEST_F(PushEval, RoomMentionNeedsPowerLevel) {
  auto ev = Message("@room", {{"m.mentions", {{"room", true}}}});
  powerful = false;
  EXPECT_EQ(RuleOf(ev), ".m.rule.message");
  EXPECT_FALSE(Eval(ev).highlight);
  powerful = true;
  EXPECT_EQ(RuleOf(ev), ".m.rule.is_room_mention");
  EXPECT_TRUE(Eval(ev).highlight);
  // "true" is not true.
  EXPECT_EQ(RuleOf(Message("@room", {{"m.mentions", {{"room", "true"}}}})), ".m.rule.message");
}

TEST_F(PushEval, OneToOneAndEncryptedRooms) {
  bj::object encrypted{{"type", "m.room.encrypted"},
                       {"sender", "@alice:test.local"},
                       {"content", {{"algorithm", "m.megolm.v1.aes-sha2"}}}};
  members = 2;
  EXPECT_EQ(RuleOf(Message("hi")), ".m.rule.room_one_to_one");
  EXPECT_EQ(RuleOf(encrypted), ".m.rule.encrypted_room_one_to_one");
  EXPECT_TRUE(Eval(encrypted).notify);
  EXPECT_FALSE(Eval(encrypted).highlight);
  members = 3;
  EXPECT_EQ(RuleOf(Message("hi")), ".m.rule.message");
  EXPECT_EQ(RuleOf(encrypted), ".m.rule.encrypted");
  EXPECT_TRUE(Eval(encrypted).notify);
}

TEST_F(PushEval, NoticesReactionsEditsAndMembersDoNotNotify) {
  auto notice = Message("bot says", {{"msgtype", "m.notice"}});
  EXPECT_EQ(RuleOf(notice), ".m.rule.suppress_notices");
  EXPECT_FALSE(Eval(notice).notify);
  // Suppressed even when it mentions the user: the override comes first.
  auto loud = Message("bot", {{"msgtype", "m.notice"}, {"m.mentions", {{"user_ids", {kMe}}}}});
  EXPECT_FALSE(Eval(loud).notify);

  bj::object join{{"type", "m.room.member"},
                  {"sender", "@carol:test.local"},
                  {"state_key", "@carol:test.local"},
                  {"content", {{"membership", "join"}}}};
  EXPECT_EQ(RuleOf(join), ".m.rule.member_event");
  EXPECT_FALSE(Eval(join).notify);

  bj::object invite{{"type", "m.room.member"},
                    {"sender", "@alice:test.local"},
                    {"state_key", kMe},
                    {"content", {{"membership", "invite"}}}};
  EXPECT_EQ(RuleOf(invite), ".m.rule.invite_for_me");
  EXPECT_TRUE(Eval(invite).notify);
  invite["state_key"] = "@carol:test.local";
  EXPECT_FALSE(Eval(invite).notify);

  bj::object reaction{{"type", "m.reaction"},
                      {"sender", "@alice:test.local"},
                      {"content", {{"m.relates_to", {{"rel_type", "m.annotation"}}}}}};
  EXPECT_FALSE(Eval(reaction).notify);

  auto edit = Message("* fixed", {{"m.relates_to", {{"rel_type", "m.replace"}}}});
  EXPECT_EQ(RuleOf(edit), ".m.rule.suppress_edits");
  EXPECT_FALSE(Eval(edit).notify);

  bj::object tombstone{{"type", "m.room.tombstone"},
                       {"sender", "@alice:test.local"},
                       {"state_key", ""},
                       {"content", {{"replacement_room", "!new:test.local"}}}};
  EXPECT_TRUE(Eval(tombstone).highlight);
  tombstone["state_key"] = "x";  // not the room's tombstone
  EXPECT_FALSE(Eval(tombstone).notify);

  bj::object acl{{"type", "m.room.server_acl"}, {"state_key", ""}, {"content", bj::object{}}};
  EXPECT_FALSE(Eval(acl).notify);
  bj::object topic{{"type", "m.room.topic"}, {"state_key", ""}, {"content", bj::object{}}};
  EXPECT_FALSE(Eval(topic).notify);  // no rule matches
  EXPECT_EQ(Eval(topic).rule, nullptr);
}

TEST_F(PushEval, CallsRing) {
  bj::object call{{"type", "m.call.invite"}, {"content", {{"call_id", "1"}}}};
  EXPECT_EQ(RuleOf(call), ".m.rule.call");
  EXPECT_TRUE(Eval(call).notify);
}

TEST_F(PushEval, DisabledRulesAndMaster) {
  Ruleset rs = *DefaultRuleset();
  rs.Find(RuleKind::kUnderride, ".m.rule.message")->enabled = false;
  EXPECT_FALSE(Eval(Message("hi"), rs).notify);
  rs = *DefaultRuleset();
  rs.Find(RuleKind::kOverride, ".m.rule.master")->enabled = true;
  auto mention = Message("hi", {{"m.mentions", {{"user_ids", {kMe}}}}});
  EXPECT_EQ(RuleOf(mention, rs), ".m.rule.master");
  EXPECT_FALSE(Eval(mention, rs).notify);
}

TEST_F(PushEval, StoredUserRulesComeBeforeDefaults) {
  // A user override muting a room's messages that mention "spam", a
  // changed default, a content rule, room and sender rules.
  Ruleset rs = Stored(R"({
    "override": [
      {"rule_id": ".m.rule.master", "default": true, "enabled": false, "actions": []},
      {"rule_id": "nospam", "default": false, "enabled": true, "actions": ["dont_notify"],
       "conditions": [{"kind": "event_match", "key": "content.body", "pattern": "spam"}]},
      {"rule_id": ".m.rule.is_user_mention", "default": true, "enabled": true,
       "actions": ["notify"]},
      {"rule_id": ".m.rule.legacy_gone", "default": true, "enabled": true, "actions": []}
    ],
    "content": [
      {"rule_id": "cake", "default": false, "enabled": true, "pattern": "cake",
       "actions": ["notify", {"set_tweak": "highlight"}]}
    ],
    "room": [{"rule_id": "!quiet:test.local", "default": false, "enabled": true, "actions": []}],
    "sender": [{"rule_id": "@boss:test.local", "default": false, "enabled": true,
                "actions": ["notify", {"set_tweak": "highlight", "value": true}]}],
    "underride": []
  })");
  EXPECT_EQ(rs.rules[0].rule_id, ".m.rule.master");
  EXPECT_EQ(rs.rules[1].rule_id, "nospam");
  EXPECT_EQ(rs.Find(RuleKind::kOverride, ".m.rule.legacy_gone"), nullptr);
  EXPECT_TRUE(rs.Find(RuleKind::kOverride, "nospam")->actions.empty());  // dont_notify stripped

  EXPECT_EQ(RuleOf(Message("buy spam now"), rs), "nospam");
  EXPECT_FALSE(Eval(Message("buy spam now"), rs).notify);
  // The changed default: mentions notify but no longer highlight.
  auto mention = Message("hi", {{"m.mentions", {{"user_ids", {kMe}}}}});
  EXPECT_TRUE(Eval(mention, rs).notify);
  EXPECT_FALSE(Eval(mention, rs).highlight);
  // Content rules match words of the body.
  EXPECT_TRUE(Eval(Message("I want Cake."), rs).highlight);
  EXPECT_FALSE(Eval(Message("cupcakes"), rs).highlight);
  // Room rule mutes one room.
  auto quiet = Message("hello");
  quiet["room_id"] = "!quiet:test.local";
  EXPECT_EQ(RuleOf(quiet, rs), "!quiet:test.local");
  EXPECT_FALSE(Eval(quiet, rs).notify);
  // Sender rule.
  auto boss = Message("meeting");
  boss["sender"] = "@boss:test.local";
  EXPECT_TRUE(Eval(boss, rs).highlight);

  // Round trip through the stored form keeps order and changes.
  bj::object global = RulesetJson(rs, kMe);
  Ruleset again = LoadRuleset({{"global", global}});
  ASSERT_EQ(again.rules.size(), rs.rules.size());
  for (std::size_t i = 0; i < rs.rules.size(); ++i) {
    EXPECT_EQ(again.rules[i].rule_id, rs.rules[i].rule_id);
    EXPECT_EQ(again.rules[i].enabled, rs.rules[i].enabled);
    EXPECT_EQ(again.rules[i].actions, rs.rules[i].actions);
  }
}

TEST_F(PushEval, PropertyConditions) {
  auto rule = [](bj::array conditions) {
    Ruleset rs;
    rs.rules.push_back(ParseUserRule(RuleKind::kOverride, "r",
                                     {{"actions", {"notify"}}, {"conditions", conditions}}));
    return rs;
  };
  auto ev = Message("x", {{"m.relates_to", {{"rel_type", "m.thread"}}},
                          {"n", 42},
                          {"flag", true},
                          {"nothing", nullptr},
                          {"list", {"a", 7, false, nullptr, bj::object{}}}});
  auto is = [&](const char* key, bj::value v) {
    return Eval(ev, rule({{{"kind", "event_property_is"}, {"key", key}, {"value", v}}})).notify;
  };
  EXPECT_TRUE(is("content.m\\.relates_to.rel_type", "m.thread"));
  EXPECT_FALSE(is("content.m.relates_to.rel_type", "m.thread"));  // unescaped: a nested path
  EXPECT_TRUE(is("content.n", 42));
  EXPECT_FALSE(is("content.n", "42"));
  EXPECT_TRUE(is("content.flag", true));
  EXPECT_FALSE(is("content.flag", 1));
  EXPECT_TRUE(is("content.nothing", nullptr));
  EXPECT_FALSE(is("content.missing", nullptr));
  EXPECT_FALSE(is("content.list", "a"));  // arrays are not values
  auto contains = [&](bj::value v) {
    return Eval(
               ev,
               rule({{{"kind", "event_property_contains"}, {"key", "content.list"}, {"value", v}}}))
        .notify;
  };
  EXPECT_TRUE(contains("a"));
  EXPECT_TRUE(contains(7));
  EXPECT_TRUE(contains(false));
  EXPECT_TRUE(contains(nullptr));
  EXPECT_FALSE(contains("b"));
  // event_match wants a string; '*' does not match an absent or non-string.
  auto match = [&](const char* key, const char* pattern) {
    return Eval(ev, rule({{{"kind", "event_match"}, {"key", key}, {"pattern", pattern}}})).notify;
  };
  EXPECT_TRUE(match("type", "m.room.*"));
  EXPECT_FALSE(match("content.n", "*"));
  EXPECT_FALSE(match("content.absent", "*"));
  // Unknown condition kinds never match.
  EXPECT_FALSE(Eval(ev, rule({{{"kind", "org.example.future"}}})).notify);
  // No conditions: always.
  EXPECT_TRUE(Eval(ev, rule({})).notify);
}

TEST_F(PushEval, MemberCountAndDisplayName) {
  auto count = [&](const char* is) {
    Ruleset rs;
    rs.rules.push_back(ParseUserRule(
        RuleKind::kOverride, "r",
        {{"actions", {"notify"}}, {"conditions", {{{"kind", "room_member_count"}, {"is", is}}}}}));
    return Eval(Message("x"), rs).notify;
  };
  members = 10;
  EXPECT_TRUE(count("10"));
  EXPECT_TRUE(count("==10"));
  EXPECT_FALSE(count("9"));
  EXPECT_TRUE(count("<11"));
  EXPECT_FALSE(count("<10"));
  EXPECT_TRUE(count("<=10"));
  EXPECT_TRUE(count(">9"));
  EXPECT_FALSE(count(">10"));
  EXPECT_TRUE(count(">=10"));
  EXPECT_FALSE(count("ten"));
  EXPECT_FALSE(count(">"));

  Ruleset rs;
  rs.rules.push_back(ParseUserRule(RuleKind::kOverride, "name",
                                   {{"actions", {"notify", {{"set_tweak", "highlight"}}}},
                                    {"conditions", {{{"kind", "contains_display_name"}}}}}));
  display_name = "Bob";
  EXPECT_TRUE(Eval(Message("thanks bob!"), rs).highlight);
  EXPECT_FALSE(Eval(Message("bobby"), rs).notify);
  display_name = "B*b";  // matched literally
  EXPECT_FALSE(Eval(Message("Bob"), rs).notify);
  EXPECT_TRUE(Eval(Message("hi b*b"), rs).notify);
  display_name.reset();
  EXPECT_FALSE(Eval(Message("Bob"), rs).notify);
}

// One context serves every recipient of an event: conditions that do not
// depend on the user are worked out once (and reused, also across rules of
// one shared ruleset), those that do (own id, display name) per user.
TEST(PushMemo, OneContextServesEveryRecipient) {
  const auto rs = DefaultRuleset();
  bj::object invite{{"type", "m.room.member"},
                    {"sender", "@alice:test.local"},
                    {"state_key", "@bob:test.local"},
                    {"content", {{"membership", "invite"}}}};
  EventContext ctx;
  ctx.event = &invite;
  ctx.member_count = 5;
  EXPECT_FALSE(Evaluate(*rs, ctx, "@carol:test.local").notify);  // .m.rule.member_event
  EXPECT_FALSE(ctx.memo.empty());
  const auto remembered = ctx.memo.size();
  EXPECT_TRUE(Evaluate(*rs, ctx, "@bob:test.local").notify);  // .m.rule.invite_for_me
  EXPECT_FALSE(Evaluate(*rs, ctx, "@dan:test.local").notify);
  EXPECT_EQ(ctx.memo.size(), remembered);  // nothing new to work out

  auto message = Message("hello Dan", {{"m.mentions", {{"user_ids", {"@erin:test.local"}}}}});
  Ruleset named;
  named.rules.push_back(ParseUserRule(RuleKind::kOverride, "name",
                                      {{"actions", {"notify", {{"set_tweak", "highlight"}}}},
                                       {"conditions", {{{"kind", "contains_display_name"}}}}}));
  EventContext mctx;
  mctx.event = &message;
  mctx.member_count = 5;
  mctx.display_name = [](std::string_view user) -> std::optional<std::string> {
    if (user == "@dan:test.local") return "Dan";
    return "Frank";
  };
  EXPECT_FALSE(Evaluate(named, mctx, "@frank:test.local").notify);
  EXPECT_TRUE(Evaluate(named, mctx, "@dan:test.local").highlight);
  EXPECT_TRUE(Evaluate(*rs, mctx, "@erin:test.local").highlight);    // mentioned
  EXPECT_FALSE(Evaluate(*rs, mctx, "@frank:test.local").highlight);  // not
  EXPECT_TRUE(Evaluate(*rs, mctx, "@frank:test.local").notify);
}

TEST(PushParse, UserRulesAreValidated) {
  auto code = [](RuleKind k, const char* id, const char* body) {
    try {
      ParseUserRule(k, id, bj::parse(body).as_object());
    } catch (const Error& e) {
      return e.code();
    }
    return ErrorCode::kInternal;  // accepted
  };
  EXPECT_EQ(code(RuleKind::kOverride, ".m.rule.mine", R"({"actions": []})"),
            ErrorCode::kInvalidParam);
  EXPECT_EQ(code(RuleKind::kOverride, "a/b", R"({"actions": []})"), ErrorCode::kInvalidParam);
  EXPECT_EQ(code(RuleKind::kOverride, "ok", R"({})"), ErrorCode::kMissingParam);
  EXPECT_EQ(code(RuleKind::kOverride, "ok", R"({"actions": ["explode"]})"),
            ErrorCode::kInvalidParam);
  EXPECT_EQ(code(RuleKind::kOverride, "ok", R"({"actions": [{"value": 1}]})"),
            ErrorCode::kInvalidParam);
  EXPECT_EQ(code(RuleKind::kOverride, "ok", R"({"actions": [], "conditions": [1]})"),
            ErrorCode::kBadJson);
  EXPECT_EQ(code(RuleKind::kContent, "ok", R"({"actions": []})"), ErrorCode::kMissingParam);
  EXPECT_EQ(code(RuleKind::kOverride, "ok", R"({"actions": ["notify"], "conditions": []})"),
            ErrorCode::kInternal);
}

}  // namespace
}  // namespace vigie::service::push
