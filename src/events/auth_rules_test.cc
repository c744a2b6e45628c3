#include "events/auth_rules.h"

#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/crypto.h"
#include "common/error.h"
#include "common/json.h"
#include "events/auth_events.h"
#include "events/event.h"
#include "events/identifiers.h"
#include "events/power_levels.h"
#include "events/signing.h"

namespace vigie::events {
namespace {

namespace bj = boost::json;

// The cast of every table row. alice created the room; in the base state
// mod and mod2 have power level 50, bob 0; eve is banned, ivan invited,
// kenny knocking, leo has left; carol and dave have never been in the room.
constexpr const char* kAlice = "@alice:hs1";
constexpr const char* kMod = "@mod:hs1";
constexpr const char* kMod2 = "@mod2:hs1";
constexpr const char* kBob = "@bob:hs1";
constexpr const char* kLeo = "@leo:hs1";
constexpr const char* kCarol = "@carol:hs2";
constexpr const char* kDave = "@dave:hs2";
constexpr const char* kEve = "@eve:hs2";
constexpr const char* kIvan = "@ivan:hs2";
constexpr const char* kKenny = "@kenny:hs2";

// A state or test event: `content` is JSON in which "%A" stands for alice's
// `"@alice:hs1": 100,` entry of power levels users, written in v10/v11 and
// left out in v12 (where creators must not be listed).
struct Ev {
  std::string type;
  std::string sender;
  std::optional<std::string> state_key;
  std::string content;
};

Ev Member(const std::string& user, const std::string& membership, const std::string& extra = "") {
  return {"m.room.member", user, user,
          R"({"membership":")" + membership + "\"" + (extra.empty() ? "" : "," + extra) + "}"};
}
Ev MemberBy(const std::string& sender, const std::string& target, const std::string& membership,
            const std::string& extra = "") {
  Ev e = Member(target, membership, extra);
  e.sender = sender;
  return e;
}
Ev JoinRule(const std::string& rule) {
  return {"m.room.join_rules", kAlice, "", R"({"join_rule":")" + rule + "\"}"};
}
Ev JoinRulesContent(const std::string& content) {
  return {"m.room.join_rules", kAlice, "", content};
}
Ev Power(const std::string& content, const std::string& sender = kAlice) {
  return {"m.room.power_levels", sender, "", content};
}
// Keys merged into the base m.room.create content.
Ev CreateExtra(const std::string& content) { return {"m.room.create", kAlice, "", content}; }
Ev Message(const std::string& sender, const std::string& type = "m.room.message") {
  return {type, sender, std::nullopt, R"({"body":"hi"})"};
}
Ev State(const std::string& sender, const std::string& type, const std::string& state_key,
         const std::string& content = "{}") {
  return {type, sender, state_key, content};
}
// Removes the state event of (type, state_key).
Ev Absent(const std::string& type, const std::string& state_key) {
  return {type, kAlice, state_key, "null"};
}

const char* kBasePowerLevels = R"({"users":{%A"@mod:hs1":50,"@mod2:hs1":50}})";

struct Options {
  bool only_create = false;                // state is the create event (+ `state`) only
  bool prev_is_create = false;             // prev_events = [the create event's id]
  std::vector<std::string> extra_signers;  // servers that also sign the event
  std::string room_id;                     // overrides the event's room_id
};

struct Row {
  std::string name;
  std::vector<Ev> state;  // applied over the base state
  Ev event;
  std::string expect;  // outcome in v10, v11, v12: 'A' allowed, 'D' denied
  Options opts = {};
};

SigningKey KeyFor(char seed, const char* version) {
  return SigningKey::FromSeed(std::string(32, seed), version);
}

const SigningKey& Hs1Key() {
  static const SigningKey k = KeyFor('1', "k1");
  return k;
}
const SigningKey& Hs2Key() {
  static const SigningKey k = KeyFor('2', "k2");
  return k;
}
const SigningKey& IdentityKey() {
  static const SigningKey k = KeyFor('i', "0");
  return k;
}
const SigningKey& OtherIdentityKey() {
  static const SigningKey k = KeyFor('o', "0");
  return k;
}

const SigningKey* ServerKey(std::string_view server) {
  if (server == "hs1") return &Hs1Key();
  if (server == "hs2") return &Hs2Key();
  return nullptr;
}

std::optional<std::string> LookupKey(std::string_view server, std::string_view key_id) {
  const SigningKey* key = ServerKey(server);
  if (key != nullptr && key->key_id() == key_id) return key->PublicKey();
  return std::nullopt;
}

// The `third_party_invite` content of an invite for `mxid`, signed by `key`.
std::string ThirdPartyInvite(const std::string& mxid, const std::string& token,
                             const SigningKey& key) {
  bj::object signed_obj{{"mxid", mxid}, {"token", token}};
  SignJson(signed_obj, "id.example", key);
  bj::object tpi{{"display_name", "c...@example.org"}, {"signed", std::move(signed_obj)}};
  return R"("third_party_invite":)" + json::Serialize(tpi);
}

std::string IdentityPublicKeyB64() { return crypto::Base64(IdentityKey().PublicKey()); }

Ev ThirdPartyInviteState(const std::string& sender, const std::string& token = "tok") {
  return State(sender, "m.room.third_party_invite", token,
               R"({"display_name":"c...","key_validity_url":"https://id.example/v",)"
               R"("public_key":")" +
                   IdentityPublicKeyB64() + "\"}");
}

std::vector<Row> Rows() {
  const std::string via_mod = R"("join_authorised_via_users_server":"@mod:hs1")";
  const Ev public_room = JoinRule("public");
  const Ev knock_room = JoinRule("knock");
  const Ev restricted = JoinRulesContent(
      R"({"join_rule":"restricted","allow":[{"type":"m.room_membership","room_id":"!s:hs1"}]})");
  const Ev knock_restricted = JoinRulesContent(
      R"({"join_rule":"knock_restricted","allow":[{"type":"m.room_membership","room_id":"!s:hs1"}]})");
  const Options signed_by_hs1 = {.extra_signers = {"hs1"}};
  const Ev level_0_state_event =
      Power(R"({"users":{%A"@mod:hs1":50,"@mod2:hs1":50},"events":{"com.example.s":0}})");
  const Ev tpi_by_mod = ThirdPartyInviteState(kMod);
  const std::string tpi_carol = ThirdPartyInvite(kCarol, "tok", IdentityKey());
  const Ev dave_creator = CreateExtra(R"({"additional_creators":["@dave:hs2"]})");

  return {
      // ---- join --------------------------------------------------------
      {"join public room", {public_room}, Member(kCarol, "join"), "AAA"},
      {"join invite-only room uninvited", {}, Member(kCarol, "join"), "DDD"},
      {"join invite-only room when invited", {}, Member(kIvan, "join"), "AAA"},
      {"joined member updates profile in invite room",
       {},
       Member(kBob, "join", R"("displayname":"B")"),
       "AAA"},
      {"join knock room after knocking, not invited", {knock_room}, Member(kKenny, "join"), "DDD"},
      {"join knock room when invited", {knock_room}, Member(kIvan, "join"), "AAA"},
      {"banned user joins public room", {public_room}, Member(kEve, "join"), "DDD"},
      {"join on behalf of another user", {public_room}, MemberBy(kBob, kCarol, "join"), "DDD"},
      {"left user rejoins public room", {public_room}, Member(kLeo, "join"), "AAA"},
      {"left user rejoins invite room", {}, Member(kLeo, "join"), "DDD"},
      {"invited user joins 'private' room", {JoinRule("private")}, Member(kIvan, "join"), "DDD"},
      {"no join rules: invited user joins",
       {Absent("m.room.join_rules", "")},
       Member(kIvan, "join"),
       "AAA"},
      {"no join rules: uninvited user joins",
       {Absent("m.room.join_rules", "")},
       Member(kCarol, "join"),
       "DDD"},
      {"non-string join_rule",
       {JoinRulesContent(R"({"join_rule":5})")},
       Member(kIvan, "join"),
       "DDD"},
      {"restricted join authorised by a member",
       {restricted},
       Member(kCarol, "join", via_mod),
       "AAA",
       signed_by_hs1},
      {"restricted join without authoriser", {restricted}, Member(kCarol, "join"), "DDD"},
      {"restricted join authorised by a user who left",
       {restricted},
       Member(kCarol, "join", R"("join_authorised_via_users_server":"@leo:hs1")"),
       "DDD",
       signed_by_hs1},
      {"restricted join authorised by a user who cannot invite",
       {restricted, Power(R"({"users":{%A"@mod:hs1":50},"invite":50})")},
       Member(kCarol, "join", R"("join_authorised_via_users_server":"@bob:hs1")"),
       "DDD",
       signed_by_hs1},
      {"restricted join not signed by the authoriser's server",
       {restricted},
       Member(kCarol, "join", via_mod),
       "DDD"},
      {"restricted join with a malformed authoriser",
       {restricted},
       Member(kCarol, "join", R"("join_authorised_via_users_server":"mod")"),
       "DDD",
       signed_by_hs1},
      {"restricted join of an invited user needs no authoriser",
       {restricted},
       Member(kIvan, "join"),
       "AAA"},
      {"restricted join of a banned user",
       {restricted},
       Member(kEve, "join", via_mod),
       "DDD",
       signed_by_hs1},
      {"knock_restricted join authorised by a member",
       {knock_restricted},
       Member(kCarol, "join", via_mod),
       "AAA",
       signed_by_hs1},
      {"knock_restricted join after knocking, no authoriser",
       {knock_restricted},
       Member(kKenny, "join"),
       "DDD"},
      {"public join with unverifiable join_authorised_via_users_server",
       {public_room},
       Member(kCarol, "join", via_mod),
       "DDD"},
      {"creator's first join after create",
       {},
       Member(kAlice, "join"),
       "AAA",
       {.only_create = true, .prev_is_create = true}},
      {"creator's join when prev is not the create event",
       {},
       Member(kAlice, "join"),
       "DDD",
       {.only_create = true}},
      {"non-creator's first join after create",
       {},
       Member(kBob, "join"),
       "DDD",
       {.only_create = true, .prev_is_create = true}},
      // v10 reads content.creator; v11+ read the create sender.
      {"first join of content.creator who is not the sender",
       {CreateExtra(R"({"creator":"@zed:hs1"})")},
       Member("@zed:hs1", "join"),
       "ADD",
       {.only_create = true, .prev_is_create = true}},
      {"first join of create sender who is not content.creator",
       {CreateExtra(R"({"creator":"@zed:hs1"})")},
       Member(kAlice, "join"),
       "DAA",
       {.only_create = true, .prev_is_create = true}},
      {"additional creator's first join after create",
       {dave_creator},
       Member(kDave, "join"),
       "DDD",
       {.only_create = true, .prev_is_create = true}},

      // ---- invite ------------------------------------------------------
      {"member invites at default invite level", {}, MemberBy(kBob, kCarol, "invite"), "AAA"},
      {"member below invite level invites",
       {Power(R"({"users":{%A"@mod:hs1":50},"invite":50})")},
       MemberBy(kBob, kCarol, "invite"),
       "DDD"},
      {"moderator at invite level invites",
       {Power(R"({"users":{%A"@mod:hs1":50},"invite":50})")},
       MemberBy(kMod, kCarol, "invite"),
       "AAA"},
      {"invite a joined user", {}, MemberBy(kMod, kBob, "invite"), "DDD"},
      {"invite a banned user", {}, MemberBy(kMod, kEve, "invite"), "DDD"},
      {"non-member invites", {}, MemberBy(kLeo, kCarol, "invite"), "DDD"},
      {"invited user invites", {}, MemberBy(kIvan, kCarol, "invite"), "DDD"},
      {"re-invite an invited user", {}, MemberBy(kBob, kIvan, "invite"), "AAA"},
      {"invite a knocking user (accept knock)", {}, MemberBy(kMod, kKenny, "invite"), "AAA"},
      {"third-party invite", {tpi_by_mod}, MemberBy(kMod, kCarol, "invite", tpi_carol), "AAA"},
      {"third-party invite for another mxid",
       {tpi_by_mod},
       MemberBy(kMod, kCarol, "invite", ThirdPartyInvite(kDave, "tok", IdentityKey())),
       "DDD"},
      {"third-party invite with unknown token",
       {},
       MemberBy(kMod, kCarol, "invite", tpi_carol),
       "DDD"},
      {"third-party invite sent by another user",
       {tpi_by_mod},
       MemberBy(kBob, kCarol, "invite", tpi_carol),
       "DDD"},
      {"third-party invite signed by a foreign key",
       {tpi_by_mod},
       MemberBy(kMod, kCarol, "invite", ThirdPartyInvite(kCarol, "tok", OtherIdentityKey())),
       "DDD"},
      {"third-party invite of a banned user",
       {tpi_by_mod},
       MemberBy(kMod, kEve, "invite", ThirdPartyInvite(kEve, "tok", IdentityKey())),
       "DDD"},
      {"third-party invite without signed",
       {tpi_by_mod},
       MemberBy(kMod, kCarol, "invite", R"("third_party_invite":{"display_name":"x"})"),
       "DDD"},
      {"third-party invite signed without token",
       {tpi_by_mod},
       MemberBy(kMod, kCarol, "invite",
                R"("third_party_invite":{"signed":{"mxid":"@carol:hs2","signatures":{}}})"),
       "DDD"},
      {"third-party invite matching a key of public_keys",
       {State(kMod, "m.room.third_party_invite", "tok",
              R"({"display_name":"c","public_key":"AAAA","public_keys":[{"public_key":")" +
                  crypto::Base64Url(IdentityKey().PublicKey()) + R"("}]})")},
       MemberBy(kMod, kCarol, "invite", tpi_carol),
       "AAA"},
      // Rule 4.4.1 does not look at the sender's current membership.
      {"third-party invite by its sender who has since left",
       {ThirdPartyInviteState(kLeo)},
       MemberBy(kLeo, kCarol, "invite", tpi_carol),
       "AAA"},

      // ---- leave / kick / unban ----------------------------------------
      {"member leaves", {}, Member(kBob, "leave"), "AAA"},
      {"invited user rejects invite", {}, Member(kIvan, "leave"), "AAA"},
      {"knocking user retracts knock", {}, Member(kKenny, "leave"), "AAA"},
      {"left user leaves again", {}, Member(kLeo, "leave"), "DDD"},
      {"banned user leaves", {}, Member(kEve, "leave"), "DDD"},
      {"stranger leaves", {}, Member(kCarol, "leave"), "DDD"},
      {"moderator kicks member", {}, MemberBy(kMod, kBob, "leave"), "AAA"},
      {"member kicks moderator", {}, MemberBy(kBob, kMod, "leave"), "DDD"},
      {"moderator kicks creator", {}, MemberBy(kMod, kAlice, "leave"), "DDD"},
      {"moderator kicks equal moderator", {}, MemberBy(kMod, kMod2, "leave"), "DDD"},
      {"creator kicks moderator", {}, MemberBy(kAlice, kMod, "leave"), "AAA"},
      {"moderator unbans", {}, MemberBy(kMod, kEve, "leave"), "AAA"},
      {"member unbans", {}, MemberBy(kBob, kEve, "leave"), "DDD"},
      {"moderator below ban level unbans",
       {Power(R"({"users":{%A"@mod:hs1":50},"ban":75})")},
       MemberBy(kMod, kEve, "leave"),
       "DDD"},
      {"non-member kicks", {}, MemberBy(kLeo, kBob, "leave"), "DDD"},
      {"moderator rescinds an invite", {}, MemberBy(kMod, kIvan, "leave"), "AAA"},
      {"kick at level 0 of an equal user",
       {Power(R"({"users":{%A"@mod:hs1":50},"kick":0})")},
       MemberBy(kBob, kIvan, "leave"),
       "DDD"},
      {"kick at level 0 of a user with a negative level",
       {Power(R"({"users":{%A"@mod:hs1":50,"@ivan:hs2":-1},"kick":0})")},
       MemberBy(kBob, kIvan, "leave"),
       "AAA"},

      // ---- ban ---------------------------------------------------------
      {"moderator bans member", {}, MemberBy(kMod, kBob, "ban"), "AAA"},
      {"moderator bans stranger", {}, MemberBy(kMod, kCarol, "ban"), "AAA"},
      {"member bans", {}, MemberBy(kBob, kCarol, "ban"), "DDD"},
      {"moderator bans creator", {}, MemberBy(kMod, kAlice, "ban"), "DDD"},
      {"non-member bans", {}, MemberBy(kLeo, kBob, "ban"), "DDD"},
      {"moderator bans equal moderator", {}, MemberBy(kMod, kMod2, "ban"), "DDD"},
      {"moderator bans additional creator", {dave_creator}, MemberBy(kMod, kDave, "ban"), "AAD"},
      {"user bans self", {}, MemberBy(kMod, kMod, "ban"), "DDD"},

      // ---- knock -------------------------------------------------------
      {"knock on knock room", {knock_room}, Member(kCarol, "knock"), "AAA"},
      {"knock on invite room", {}, Member(kCarol, "knock"), "DDD"},
      {"knock on public room", {public_room}, Member(kCarol, "knock"), "DDD"},
      {"knock on knock_restricted room", {knock_restricted}, Member(kCarol, "knock"), "AAA"},
      {"knock on restricted room", {restricted}, Member(kCarol, "knock"), "DDD"},
      {"banned user knocks", {knock_room}, Member(kEve, "knock"), "DDD"},
      {"invited user knocks", {knock_room}, Member(kIvan, "knock"), "DDD"},
      {"joined user knocks", {knock_room}, Member(kBob, "knock"), "DDD"},
      {"left user knocks", {knock_room}, Member(kLeo, "knock"), "AAA"},
      {"knocking user knocks again", {knock_room}, Member(kKenny, "knock"), "AAA"},
      {"knock on behalf of another user", {knock_room}, MemberBy(kBob, kCarol, "knock"), "DDD"},

      // ---- malformed membership ----------------------------------------
      {"unknown membership", {public_room}, Member(kCarol, "foo"), "DDD"},
      {"membership missing", {public_room}, {"m.room.member", kCarol, kCarol, "{}"}, "DDD"},
      {"membership not a string",
       {public_room},
       {"m.room.member", kCarol, kCarol, R"({"membership":["join"]})"},
       "DDD"},
      {"member event without state_key",
       {public_room},
       {"m.room.member", kCarol, std::nullopt, R"({"membership":"join"})"},
       "DDD"},

      // ---- other events ------------------------------------------------
      {"member sends message", {}, Message(kBob), "AAA"},
      {"stranger sends message", {}, Message(kCarol), "DDD"},
      {"invited user sends message", {}, Message(kIvan), "DDD"},
      {"banned user sends message", {}, Message(kEve), "DDD"},
      {"knocking user sends message", {}, Message(kKenny), "DDD"},
      {"member below events_default",
       {Power(R"({"users":{%A"@mod:hs1":50},"events_default":10})")},
       Message(kBob),
       "DDD"},
      {"moderator above events_default",
       {Power(R"({"users":{%A"@mod:hs1":50},"events_default":10})")},
       Message(kMod),
       "AAA"},
      {"member sets name below state_default",
       {},
       State(kBob, "m.room.name", "", R"({"name":"n"})"),
       "DDD"},
      {"moderator sets name", {}, State(kMod, "m.room.name", "", R"({"name":"n"})"), "AAA"},
      {"events override lowers name level",
       {Power(R"({"users":{%A"@mod:hs1":50},"events":{"m.room.name":0}})")},
       State(kBob, "m.room.name", "", R"({"name":"n"})"),
       "AAA"},
      {"events override raises message level",
       {Power(R"({"users":{%A"@mod:hs1":50},"events":{"m.room.message":60}})")},
       Message(kMod),
       "DDD"},
      {"state event with no state_default override uses state level",
       {},
       State(kBob, "com.example.s", "x"),
       "DDD"},
      {"state_key of another user",
       {level_0_state_event},
       State(kBob, "com.example.s", kAlice),
       "DDD"},
      {"state_key of the sender", {level_0_state_event}, State(kBob, "com.example.s", kBob), "AAA"},
      {"state_key extending the sender's id",
       {level_0_state_event},
       State(kBob, "com.example.s", "@bob:hs1.evil"),
       "DDD"},
      {"state_key not a user id",
       {level_0_state_event},
       State(kBob, "com.example.s", "bob"),
       "AAA"},
      {"redaction needs only its event level, not redact",
       {},
       Message(kBob, "m.room.redaction"),
       "AAA"},
      {"redaction above its event level",
       {Power(R"({"users":{%A"@mod:hs1":50},"events":{"m.room.redaction":100}})")},
       Message(kMod, "m.room.redaction"),
       "DDD"},
      {"third_party_invite event at invite level", {}, ThirdPartyInviteState(kBob), "AAA"},
      {"third_party_invite event below invite level",
       {Power(R"({"users":{%A"@mod:hs1":50},"invite":50})")},
       ThirdPartyInviteState(kBob),
       "DDD"},
      {"third_party_invite ignores state_default",
       {Power(R"({"users":{%A"@mod:hs1":50},"invite":50,"state_default":100})")},
       ThirdPartyInviteState(kMod),
       "AAA"},
      {"third_party_invite by a non-member", {}, ThirdPartyInviteState(kLeo), "DDD"},
      {"m.federate false: remote user joins",
       {CreateExtra(R"({"m.federate":false})"), public_room},
       Member(kCarol, "join"),
       "DDD"},
      {"m.federate false: local user joins",
       {CreateExtra(R"({"m.federate":false})"), public_room},
       Member(kLeo, "join"),
       "AAA"},
      {"m.federate true: remote user joins",
       {CreateExtra(R"({"m.federate":true})"), public_room},
       Member(kCarol, "join"),
       "AAA"},
      {"event for another room", {}, Message(kBob), "DDD", {.room_id = "!other:hs1"}},
      {"sender is not a user id", {}, Message("bob"), "DDD"},

      // ---- power levels ------------------------------------------------
      {"creator promotes member to 50",
       {},
       Power(R"({"users":{%A"@mod:hs1":50,"@mod2:hs1":50,"@bob:hs1":50}})"),
       "AAA"},
      {"moderator promotes member to own level",
       {},
       Power(R"({"users":{%A"@mod:hs1":50,"@mod2:hs1":50,"@bob:hs1":50}})", kMod),
       "AAA"},
      {"moderator promotes member above own level",
       {},
       Power(R"({"users":{%A"@mod:hs1":50,"@mod2:hs1":50,"@bob:hs1":51}})", kMod),
       "DDD"},
      {"moderator raises own level",
       {},
       Power(R"({"users":{%A"@mod:hs1":100,"@mod2:hs1":50}})", kMod),
       "DDD"},
      {"moderator lowers own level",
       {},
       Power(R"({"users":{%A"@mod:hs1":10,"@mod2:hs1":50}})", kMod),
       "AAA"},
      {"moderator removes equal moderator",
       {},
       Power(R"({"users":{%A"@mod:hs1":50}})", kMod),
       "DDD"},
      {"moderator demotes equal moderator",
       {},
       Power(R"({"users":{%A"@mod:hs1":50,"@mod2:hs1":0}})", kMod),
       "DDD"},
      {"moderator demotes creator",
       {},
       Power(R"({"users":{"@alice:hs1":40,"@mod:hs1":50,"@mod2:hs1":50}})", kMod),
       "DDD"},
      {"moderator lowers ban level",
       {},
       Power(R"({"users":{%A"@mod:hs1":50,"@mod2:hs1":50},"ban":40})", kMod),
       "AAA"},
      {"moderator raises kick level above own",
       {},
       Power(R"({"users":{%A"@mod:hs1":50,"@mod2:hs1":50},"kick":60})", kMod),
       "DDD"},
      {"moderator changes a level above own",
       {Power(R"({"users":{%A"@mod:hs1":50,"@mod2:hs1":50},"ban":60})")},
       Power(R"({"users":{%A"@mod:hs1":50,"@mod2:hs1":50},"ban":40})", kMod),
       "DDD"},
      {"moderator removes a level above own",
       {Power(R"({"users":{%A"@mod:hs1":50,"@mod2:hs1":50},"ban":60})")},
       Power(R"({"users":{%A"@mod:hs1":50,"@mod2:hs1":50}})", kMod),
       "DDD"},
      {"moderator keeps a level above own unchanged",
       {Power(R"({"users":{%A"@mod:hs1":50,"@mod2:hs1":50},"ban":60})")},
       Power(R"({"users":{%A"@mod:hs1":50,"@mod2:hs1":50},"ban":60,"kick":20})", kMod),
       "AAA"},
      {"moderator sets users_default to own level",
       {},
       Power(R"({"users":{%A"@mod:hs1":50,"@mod2:hs1":50},"users_default":50})", kMod),
       "AAA"},
      {"moderator sets users_default above own level",
       {},
       Power(R"({"users":{%A"@mod:hs1":50,"@mod2:hs1":50},"users_default":51})", kMod),
       "DDD"},
      {"moderator adds event level at own level",
       {},
       Power(R"({"users":{%A"@mod:hs1":50,"@mod2:hs1":50},"events":{"m.room.topic":50}})", kMod),
       "AAA"},
      {"moderator adds event level above own level",
       {},
       Power(R"({"users":{%A"@mod:hs1":50,"@mod2:hs1":50},"events":{"m.room.topic":75}})", kMod),
       "DDD"},
      {"moderator removes event level above own",
       {Power(R"({"users":{%A"@mod:hs1":50,"@mod2:hs1":50},"events":{"m.room.tombstone":100}})")},
       Power(R"({"users":{%A"@mod:hs1":50,"@mod2:hs1":50}})", kMod),
       "DDD"},
      {"moderator keeps event level above own and adds one",
       {Power(R"({"users":{%A"@mod:hs1":50,"@mod2:hs1":50},"events":{"m.room.tombstone":100}})")},
       Power(R"({"users":{%A"@mod:hs1":50,"@mod2:hs1":50},)"
             R"("events":{"m.room.tombstone":100,"m.room.topic":10}})",
             kMod),
       "AAA"},
      {"moderator lowers @room notification level",
       {},
       Power(R"({"users":{%A"@mod:hs1":50,"@mod2:hs1":50},"notifications":{"room":20}})", kMod),
       "AAA"},
      {"moderator changes notification level above own",
       {Power(R"({"users":{%A"@mod:hs1":50,"@mod2:hs1":50},"notifications":{"room":100}})")},
       Power(R"({"users":{%A"@mod:hs1":50,"@mod2:hs1":50},"notifications":{"room":20}})", kMod),
       "DDD"},
      {"string power level", {}, Power(R"({"users":{%A"@mod:hs1":50},"ban":"50"})"), "DDD"},
      {"string user level", {}, Power(R"({"users":{%A"@mod:hs1":"50"}})"), "DDD"},
      {"users key not a user id", {}, Power(R"({"users":{%A"mod":50}})"), "DDD"},
      {"string event level", {}, Power(R"({"users":{%A"@mod:hs1":50},"events":{"a":"1"}})"), "DDD"},
      {"float users_default",
       {},
       Power(R"({"users":{%A"@mod:hs1":50},"users_default":1.5})"),
       "DDD"},
      {"integral float kick level", {}, Power(R"({"users":{%A"@mod:hs1":50},"kick":50.0})"), "DDD"},
      {"events not an object", {}, Power(R"({"users":{%A"@mod:hs1":50},"events":[]})"), "DDD"},
      {"users not an object", {}, Power(R"({"users":[]})"), "DDD"},
      {"string notification level",
       {},
       Power(R"({"users":{%A"@mod:hs1":50},"notifications":{"room":"50"}})"),
       "DDD"},
      {"power level out of canonical range",
       {},
       Power(R"({"users":{%A"@mod:hs1":50},"redact":9007199254740992})"),
       "DDD"},
      {"member sends power levels", {}, Power(R"({"users":{%A"@mod:hs1":50}})", kBob), "DDD"},
      {"creator sends the first power levels",
       {Absent("m.room.power_levels", "")},
       Power(R"({"users":{%A"@bob:hs1":100}})"),
       "AAA"},
      {"member sends the first power levels",
       {Absent("m.room.power_levels", "")},
       Power(R"({"users":{"@bob:hs1":100}})", kBob),
       "DDD"},
      {"creator listed in users",
       {},
       Power(R"({"users":{"@alice:hs1":100,"@mod:hs1":50,"@mod2:hs1":50}})"),
       "AAD"},
      {"additional creator listed in users",
       {dave_creator},
       Power(R"({"users":{%A"@dave:hs2":0,"@mod:hs1":50,"@mod2:hs1":50}})"),
       "AAD"},
      {"creator raises a member above 100",
       {},
       Power(R"({"users":{%A"@mod:hs1":50,"@mod2:hs1":50,"@bob:hs1":1000000}})"),
       "DDA"},
      {"additional creator changes power levels",
       {dave_creator, Member(kDave, "join")},
       Power(R"({"users":{%A"@mod:hs1":50,"@mod2:hs1":50,"@bob:hs1":100}})", kDave),
       "DDA"},
      {"additional creator kicks moderator",
       {dave_creator, Member(kDave, "join")},
       MemberBy(kDave, kMod, "leave"),
       "DDA"},
      {"creator without power levels event sets state",
       {Absent("m.room.power_levels", "")},
       State(kAlice, "m.room.name", "", R"({"name":"n"})"),
       "AAA"},
      {"member without power levels event sets state",
       {Absent("m.room.power_levels", "")},
       State(kBob, "m.room.name", "", R"({"name":"n"})"),
       "DDD"},
      {"member without power levels event sends message",
       {Absent("m.room.power_levels", "")},
       Message(kBob),
       "AAA"},
      {"member without power levels event kicks",
       {Absent("m.room.power_levels", "")},
       MemberBy(kBob, kIvan, "leave"),
       "DDD"},
  };
}

std::string Expand(std::string content, const RoomVersion& v) {
  const std::string alice = v.privileged_creators ? "" : R"("@alice:hs1":100,)";
  for (std::size_t at; (at = content.find("%A")) != std::string::npos;) {
    content.replace(at, 2, alice);
  }
  return content;
}

// The room of one row in one room version.
class Room {
 public:
  Room(const RoomVersion& v, const Row& row) : v_(v) {
    bj::object create_content = v.creator_in_content
                                    ? bj::object{{"creator", kAlice}, {"room_version", v.id}}
                                    : bj::object{{"room_version", v.id}};
    for (const Ev& e : row.state) {
      if (e.type != "m.room.create") continue;
      bj::value extra = json::Parse(e.content);
      for (const auto& kv : extra.as_object()) create_content[kv.key()] = kv.value();
    }
    bj::object create{{"type", "m.room.create"},
                      {"state_key", ""},
                      {"sender", kAlice},
                      {"content", create_content},
                      {"prev_events", bj::array{}},
                      {"auth_events", bj::array{}},
                      {"depth", 1},
                      {"origin_server_ts", 0}};
    if (!v.room_id_from_create_event) create["room_id"] = "!room:hs1";
    HashAndSignEvent(v, create, "hs1", Hs1Key());
    room_id_ = v.room_id_from_create_event ? RoomIdFromCreateEvent(v, create) : "!room:hs1";
    create_id_ = ComputeEventId(v, create);
    state_.Add(create);

    if (!row.opts.only_create) {
      for (const Ev& e : {Member(kAlice, "join"), Power(kBasePowerLevels), JoinRule("invite"),
                          Member(kMod, "join"), Member(kMod2, "join"), Member(kBob, "join"),
                          MemberBy(kMod, kEve, "ban"), MemberBy(kBob, kIvan, "invite"),
                          Member(kKenny, "knock"), Member(kLeo, "leave")}) {
        state_.Add(Build(e));
      }
    }
    for (const Ev& e : row.state) {
      if (e.type == "m.room.create") continue;
      if (e.content == "null") {
        state_.Remove(e.type, *e.state_key);
      } else {
        state_.Add(Build(e));
      }
    }
  }

  // `e` as an unsigned PDU of this room.
  bj::object Build(const Ev& e, const std::string& room_id = "") const {
    bj::object pdu{{"room_id", room_id.empty() ? room_id_ : room_id},
                   {"type", e.type},
                   {"content", json::Parse(Expand(e.content, v_))},
                   {"prev_events", bj::array{"$prev"}},
                   {"auth_events", bj::array{}},
                   {"depth", 10},
                   {"origin_server_ts", 1000}};
    if (!e.sender.empty()) pdu["sender"] = e.sender;
    if (e.state_key) pdu["state_key"] = *e.state_key;
    return pdu;
  }

  // The row's event, signed by its sender's server and `opts.extra_signers`.
  bj::object TestEvent(const Row& row) const {
    bj::object pdu = Build(row.event, row.opts.room_id);
    if (row.opts.prev_is_create) pdu["prev_events"] = bj::array{create_id_};
    try {
      AddContentHash(pdu);
      if (const SigningKey* key = ServerKey(DomainOf(row.event.sender))) {
        SignEvent(v_, pdu, DomainOf(row.event.sender), *key);
      }
      for (const auto& server : row.opts.extra_signers) {
        SignEvent(v_, pdu, server, *ServerKey(server));
      }
    } catch (const Error&) {
      // Content that is not canonical JSON (floats) cannot be hashed or
      // signed; the rows using it test the rules' own checks.
    }
    return pdu;
  }

  const AuthState& state() const { return state_; }
  const std::string& room_id() const { return room_id_; }

 private:
  const RoomVersion& v_;
  AuthState state_;
  std::string room_id_;
  std::string create_id_;
};

TEST(AuthRulesTableTest, EveryRowInEveryVersion) {
  const std::vector<Row> rows = Rows();
  ASSERT_GE(rows.size(), 60u);
  int checked = 0;
  for (const Row& row : rows) {
    ASSERT_EQ(row.expect.size(), 3u) << row.name;
    for (std::size_t i = 0; i < 3; ++i) {
      const RoomVersion& v = SupportedRoomVersions()[i];
      Room room(v, row);
      bj::object event = room.TestEvent(row);
      AuthResult result = Authorize(v, event, room.state(), LookupKey);
      EXPECT_EQ(result.allowed, row.expect[i] == 'A')
          << "v" << v.id << ": " << row.name << " -> " << result.reason << "\n"
          << json::Serialize(event);
      ++checked;
    }
  }
  EXPECT_EQ(checked, static_cast<int>(rows.size() * 3));
}

// Denial reasons name the rule that fired, for a few representative rows.
TEST(AuthRulesTableTest, ReasonsAreSpecific) {
  const RoomVersion& v = SupportedRoomVersions()[2];
  Row row{"", {}, MemberBy(kMod, kAlice, "ban"), "DDD"};
  Room room(v, row);
  EXPECT_EQ(Authorize(v, room.TestEvent(row), room.state(), LookupKey).reason,
            "sender cannot ban the target");
  row = {"", {}, Message(kCarol), "DDD"};
  EXPECT_EQ(Authorize(v, room.TestEvent(row), room.state(), LookupKey).reason,
            "sender is not joined");
  row = {"", {}, Member(kCarol, "join"), "DDD"};
  EXPECT_EQ(Authorize(v, room.TestEvent(row), room.state(), LookupKey).reason,
            "join rule requires an invite");
}

// ---------------------------------------------------------------------------
// m.room.create (rule 1).

struct CreateRow {
  std::string name;
  std::string version;
  std::string content;
  std::optional<std::string> room_id;
  std::string prev_events;
  bool allowed;
};

TEST(AuthRulesCreateTest, Table) {
  const CreateRow rows[] = {
      {"v10 valid", "10", R"({"creator":"@alice:hs1","room_version":"10"})", "!r:hs1", "[]", true},
      {"v10 without creator", "10", R"({"room_version":"10"})", "!r:hs1", "[]", false},
      {"v11 without creator", "11", R"({"room_version":"11"})", "!r:hs1", "[]", true},
      {"v12 without creator", "12", R"({"room_version":"12"})", std::nullopt, "[]", true},
      {"v10 room_id on another server", "10", R"({"creator":"@alice:hs1"})", "!r:hs2", "[]", false},
      {"v11 room_id on another server", "11", R"({})", "!r:hs2", "[]", false},
      {"v11 room_id without server", "11", R"({})", "!r", "[]", false},
      {"v11 without room_id", "11", R"({})", std::nullopt, "[]", false},
      {"v11 with prev_events", "11", R"({})", "!r:hs1", R"(["$x"])", false},
      {"v12 with prev_events", "12", R"({})", std::nullopt, R"(["$x"])", false},
      {"v11 prev_events not an array", "11", R"({})", "!r:hs1", R"("x")", false},
      {"v11 unknown room_version", "11", R"({"room_version":"99"})", "!r:hs1", "[]", false},
      {"v11 numeric room_version", "11", R"({"room_version":11})", "!r:hs1", "[]", false},
      {"v11 room_version without room_version key", "11", R"({})", "!r:hs1", "[]", true},
      {"v12 with room_id", "12", R"({})", "!r:hs1", "[]", false},
      {"v12 additional_creators", "12", R"({"additional_creators":["@bob:hs1","@c:hs2"]})",
       std::nullopt, "[]", true},
      {"v12 empty additional_creators", "12", R"({"additional_creators":[]})", std::nullopt, "[]",
       true},
      {"v12 additional_creators not user ids", "12", R"({"additional_creators":["bob"]})",
       std::nullopt, "[]", false},
      {"v12 additional_creators not an array", "12", R"({"additional_creators":"@bob:hs1"})",
       std::nullopt, "[]", false},
      {"v12 additional_creators not strings", "12", R"({"additional_creators":[1]})", std::nullopt,
       "[]", false},
      {"v11 ignores additional_creators", "11", R"({"additional_creators":["bob"]})", "!r:hs1",
       "[]", true},
  };
  AuthState empty;
  for (const auto& row : rows) {
    const RoomVersion& v = RoomVersionOrThrow(row.version);
    bj::object event{{"type", "m.room.create"},
                     {"state_key", ""},
                     {"sender", kAlice},
                     {"content", json::Parse(row.content)},
                     {"prev_events", json::Parse(row.prev_events)},
                     {"auth_events", bj::array{}},
                     {"depth", 1},
                     {"origin_server_ts", 0}};
    if (row.room_id) event["room_id"] = *row.room_id;
    AuthResult r = Authorize(v, event, empty);
    EXPECT_EQ(r.allowed, row.allowed) << row.name << " -> " << r.reason;
  }
}

// ---------------------------------------------------------------------------
// Malformed input never throws and is denied.

TEST(AuthRulesMalformedTest, EventsAreDenied) {
  for (const RoomVersion& v : SupportedRoomVersions()) {
    Row row{"", {JoinRule("public")}, Message(kBob), "AAA"};
    Room room(v, row);
    bj::object good = room.TestEvent(row);
    ASSERT_TRUE(Authorize(v, good, room.state()).allowed);
    const std::pair<const char*, const char*> breakages[] = {
        {"type", "5"},        {"type", "null"},           {"sender", "null"}, {"sender", "[]"},
        {"content", "\"x\""}, {"content", "null"},        {"state_key", "5"}, {"room_id", "5"},
        {"room_id", "null"},  {"content", "{\"f\":1.5}"},
    };
    for (const auto& [key, value] : breakages) {
      bj::object e = good;
      if (std::string_view(value) == "null") {
        e.erase(key);
      } else {
        e[key] = json::Parse(value);
      }
      AuthResult r;
      EXPECT_NO_THROW(r = Authorize(v, e, room.state()));
      // A float in a message's content is not examined by the rules.
      bool expect_allowed = std::string_view(value) == "{\"f\":1.5}";
      EXPECT_EQ(r.allowed, expect_allowed) << "v" << v.id << " " << key << "=" << value;
    }
    EXPECT_FALSE(Authorize(v, bj::object{}, room.state()).allowed);
  }
}

TEST(AuthRulesMalformedTest, StateIsHandled) {
  for (const RoomVersion& v : SupportedRoomVersions()) {
    Row row{"", {}, Message(kBob), "AAA"};
    {
      Room room(v, row);
      AuthState state = room.state();
      state.Remove("m.room.create", "");
      EXPECT_FALSE(Authorize(v, room.TestEvent(row), state).allowed) << v.id;
    }
    {
      // A power levels event the rules could never have accepted.
      row.state = {Power(R"({"users":{"@bob:hs1":"100"}})")};
      Room room(v, row);
      AuthResult r = Authorize(v, room.TestEvent(row), room.state());
      EXPECT_FALSE(r.allowed) << v.id;
      EXPECT_NE(r.reason.find("malformed"), std::string::npos) << r.reason;
    }
    {
      // A member event without a membership counts as no membership.
      row.state = {{"m.room.member", kBob, kBob, R"({"displayname":"B"})"}};
      Room room(v, row);
      EXPECT_FALSE(Authorize(v, room.TestEvent(row), room.state()).allowed) << v.id;
    }
    {
      row.state = {State(kAlice, "m.room.power_levels", "", "[]")};
      Room room(v, row);
      EXPECT_FALSE(Authorize(v, room.TestEvent(row), room.state()).allowed) << v.id;
    }
  }
}

TEST(AuthRulesV12Test, RoomIdMustBeTheCreateEventId) {
  const RoomVersion& v = RoomVersionOrThrow("12");
  Row row{"", {}, Message(kBob), "AAA"};
  Room room(v, row);
  EXPECT_TRUE(Authorize(v, room.TestEvent(row), room.state()).allowed);
  row.opts.room_id = "!" + std::string(43, 'A');
  EXPECT_FALSE(Authorize(v, room.TestEvent(row), room.state()).allowed);
  // A create event altered after the room id was derived no longer matches.
  AuthState state = room.state();
  bj::object create = *state.Create();
  create["content"].as_object()["additional_creators"] = bj::array{kBob};
  state.Add(create);
  row.opts.room_id.clear();
  AuthResult r = Authorize(v, room.TestEvent(row), state);
  EXPECT_FALSE(r.allowed);
  EXPECT_EQ(r.reason, "room_id is not the m.room.create event's id");
}

// A lookup that knows the id its m.room.create event was stored under.
class KnownCreateId final : public StateLookup {
 public:
  KnownCreateId(const AuthState& state, std::string id) : state_(state), id_(std::move(id)) {}
  const bj::object* Get(std::string_view type, std::string_view state_key) const override {
    return state_.Get(type, state_key);
  }
  std::string_view CreateEventId() const override { return id_; }

 private:
  const AuthState& state_;
  std::string id_;
};

TEST(AuthRulesV12Test, RoomIdIsComparedWithTheCreateEventIdTheLookupKnows) {
  const RoomVersion& v = RoomVersionOrThrow("12");
  Row row{"", {}, Message(kBob), "AAA"};
  Room room(v, row);
  const bj::object event = room.TestEvent(row);
  const std::string room_id(event.at("room_id").as_string());
  // The id as stored: the same answer as hashing the create event.
  EXPECT_TRUE(Authorize(v, event, KnownCreateId(room.state(), "$" + room_id.substr(1))).allowed);
  // The known id is what is compared (the event is not hashed again).
  AuthResult r = Authorize(v, event, KnownCreateId(room.state(), "$" + std::string(43, 'B')));
  EXPECT_FALSE(r.allowed);
  EXPECT_EQ(r.reason, "room_id is not the m.room.create event's id");
  bj::object other = event;
  other["room_id"] = "!" + std::string(43, 'B');
  EXPECT_TRUE(Authorize(v, other, KnownCreateId(room.state(), "$" + std::string(43, 'B'))).allowed);
  // A room id without its "!" never matches.
  other["room_id"] = "$" + std::string(43, 'B');
  EXPECT_FALSE(
      Authorize(v, other, KnownCreateId(room.state(), "$" + std::string(43, 'B'))).allowed);
}

// ---------------------------------------------------------------------------
// Auth events selection and rule 2/3.

std::vector<StateKey> Keys(std::initializer_list<std::pair<const char*, const char*>> keys) {
  std::vector<StateKey> out;
  for (const auto& [t, sk] : keys) out.push_back({t, sk});
  return out;
}

TEST(AuthEventsTest, Selection) {
  const RoomVersion& v11 = RoomVersionOrThrow("11");
  const RoomVersion& v12 = RoomVersionOrThrow("12");
  auto event = [](const char* text) { return json::Parse(text).as_object(); };

  bj::object message = event(R"({"type":"m.room.message","sender":"@b:hs","content":{}})");
  EXPECT_EQ(SelectAuthEvents(v11, message),
            Keys({{"m.room.create", ""}, {"m.room.power_levels", ""}, {"m.room.member", "@b:hs"}}));
  EXPECT_EQ(SelectAuthEvents(v12, message),
            Keys({{"m.room.power_levels", ""}, {"m.room.member", "@b:hs"}}));

  EXPECT_TRUE(SelectAuthEvents(v11, event(R"({"type":"m.room.create","sender":"@b:hs"})")).empty());

  bj::object join = event(R"({"type":"m.room.member","sender":"@c:hs","state_key":"@c:hs",
      "content":{"membership":"join","join_authorised_via_users_server":"@m:hs"}})");
  EXPECT_EQ(SelectAuthEvents(v12, join), Keys({{"m.room.power_levels", ""},
                                               {"m.room.member", "@c:hs"},
                                               {"m.room.join_rules", ""},
                                               {"m.room.member", "@m:hs"}}));

  bj::object invite = event(R"({"type":"m.room.member","sender":"@m:hs","state_key":"@c:hs",
      "content":{"membership":"invite","third_party_invite":{"signed":{"token":"tok"}}}})");
  EXPECT_EQ(SelectAuthEvents(v11, invite), Keys({{"m.room.create", ""},
                                                 {"m.room.power_levels", ""},
                                                 {"m.room.member", "@m:hs"},
                                                 {"m.room.member", "@c:hs"},
                                                 {"m.room.join_rules", ""},
                                                 {"m.room.third_party_invite", "tok"}}));

  bj::object kick = event(R"({"type":"m.room.member","sender":"@m:hs","state_key":"@c:hs",
      "content":{"membership":"leave","join_authorised_via_users_server":"@x:hs"}})");
  EXPECT_EQ(
      SelectAuthEvents(v12, kick),
      Keys({{"m.room.power_levels", ""}, {"m.room.member", "@m:hs"}, {"m.room.member", "@c:hs"}}));

  bj::object knock = event(R"({"type":"m.room.member","sender":"@c:hs","state_key":"@c:hs",
      "content":{"membership":"knock"}})");
  EXPECT_EQ(
      SelectAuthEvents(v12, knock),
      Keys({{"m.room.power_levels", ""}, {"m.room.member", "@c:hs"}, {"m.room.join_rules", ""}}));

  // Malformed fields select less, and never throw.
  EXPECT_EQ(SelectAuthEvents(v12, event(R"({"type":"m.room.member","sender":5,"content":7})")),
            Keys({{"m.room.power_levels", ""}}));
}

TEST(AuthEventsTest, CheckAuthEvents) {
  for (const RoomVersion& v : SupportedRoomVersions()) {
    Row row{"", {}, Member(kIvan, "join"), "AAA"};
    Room room(v, row);
    bj::object event = room.TestEvent(row);
    const AuthState& s = room.state();
    const bj::object* create = s.Create();
    const bj::object* pl = s.PowerLevels();
    const bj::object* jr = s.JoinRules();
    const bj::object* ivan = s.Member(kIvan);
    const bj::object* bob = s.Member(kBob);

    std::vector<const bj::object*> good = {pl, jr, ivan};
    if (v.create_in_auth_events) good.push_back(create);
    EXPECT_TRUE(CheckAuthEvents(v, event, good).allowed) << v.id;

    std::vector<const bj::object*> dup = good;
    dup.push_back(pl);
    EXPECT_FALSE(CheckAuthEvents(v, event, dup).allowed) << v.id;

    std::vector<const bj::object*> extra = good;
    extra.push_back(bob);
    EXPECT_FALSE(CheckAuthEvents(v, event, extra).allowed) << v.id;

    std::vector<const bj::object*> toggled_create = {pl, jr, ivan};
    if (!v.create_in_auth_events) toggled_create.push_back(create);
    EXPECT_FALSE(CheckAuthEvents(v, event, toggled_create).allowed) << v.id;

    bj::object foreign = *jr;
    foreign["room_id"] = "!elsewhere:hs1";
    std::vector<const bj::object*> other_room = {pl, &foreign, ivan};
    if (v.create_in_auth_events) other_room.push_back(create);
    EXPECT_FALSE(CheckAuthEvents(v, event, other_room).allowed) << v.id;

    bj::object message = room.Build(Message(kBob));
    std::vector<const bj::object*> not_state = {pl, bob, &message};
    EXPECT_FALSE(CheckAuthEvents(v, event, not_state).allowed) << v.id;

    std::vector<const bj::object*> with_null = {pl, nullptr};
    EXPECT_FALSE(CheckAuthEvents(v, event, with_null).allowed) << v.id;

    // Authorising against the auth events themselves gives the same answer.
    // In v12 the create event is not among them and comes from the room id.
    std::vector<bj::object> copies;
    for (const bj::object* e : good) copies.push_back(*e);
    if (!v.create_in_auth_events) copies.push_back(*create);
    EXPECT_TRUE(Authorize(v, event, AuthState(copies)).allowed) << v.id;
  }
}

// ---------------------------------------------------------------------------
// Power levels helpers.

TEST(PowerLevelsTest, DefaultsAndCreators) {
  const RoomVersion& v10 = RoomVersionOrThrow("10");
  const RoomVersion& v11 = RoomVersionOrThrow("11");
  const RoomVersion& v12 = RoomVersionOrThrow("12");
  bj::object create = json::Parse(R"({"type":"m.room.create","sender":"@a:hs",
      "content":{"creator":"@c:hs","additional_creators":["@x:hs",5]}})")
                          .as_object();
  EXPECT_EQ(RoomCreators(v10, create), std::vector<std::string>{"@c:hs"});
  EXPECT_EQ(RoomCreators(v11, create), std::vector<std::string>{"@a:hs"});
  EXPECT_EQ(RoomCreators(v12, create), (std::vector<std::string>{"@a:hs", "@x:hs"}));

  PowerLevels none10(v10, create, nullptr);
  EXPECT_EQ(none10.UserLevel("@c:hs"), 100);
  EXPECT_EQ(none10.UserLevel("@a:hs"), 0);
  EXPECT_EQ(none10.EventLevel("m.room.name", true), 50);
  EXPECT_EQ(none10.EventLevel("m.room.message", false), 0);
  EXPECT_EQ(none10.invite(), 0);
  EXPECT_EQ(none10.kick(), 50);
  EXPECT_EQ(none10.ban(), 50);
  EXPECT_EQ(none10.redact(), 50);
  EXPECT_EQ(none10.NotificationLevel("room"), 50);

  PowerLevels none12(v12, create, nullptr);
  EXPECT_EQ(none12.UserLevel("@a:hs"), kInfinitePowerLevel);
  EXPECT_EQ(none12.UserLevel("@x:hs"), kInfinitePowerLevel);
  EXPECT_EQ(none12.UserLevel("@c:hs"), 0);

  bj::object pl = json::Parse(R"({"type":"m.room.power_levels","content":{
      "users":{"@a:hs":7,"@x:hs":3},"users_default":2,"events":{"m.room.name":9},
      "state_default":40,"events_default":1,"invite":4,"kick":5,"ban":6,"redact":8,
      "notifications":{"room":11}}})")
                      .as_object();
  PowerLevels p11(v11, create, &pl);
  EXPECT_EQ(p11.UserLevel("@a:hs"), 7);
  EXPECT_EQ(p11.UserLevel("@x:hs"), 3);
  EXPECT_EQ(p11.UserLevel("@other:hs"), 2);
  EXPECT_EQ(p11.EventLevel("m.room.name", true), 9);
  EXPECT_EQ(p11.EventLevel("m.room.name", false), 9);
  EXPECT_EQ(p11.EventLevel("m.room.topic", true), 40);
  EXPECT_EQ(p11.EventLevel("m.room.message", false), 1);
  EXPECT_EQ(p11.invite(), 4);
  EXPECT_EQ(p11.kick(), 5);
  EXPECT_EQ(p11.ban(), 6);
  EXPECT_EQ(p11.redact(), 8);
  EXPECT_EQ(p11.NotificationLevel("room"), 11);
  EXPECT_EQ(p11.NotificationLevel("other"), 50);
  PowerLevels p12(v12, create, &pl);
  EXPECT_EQ(p12.UserLevel("@a:hs"), kInfinitePowerLevel);  // creators override users
  EXPECT_EQ(p12.UserLevel("@x:hs"), kInfinitePowerLevel);

  bj::object bad = json::Parse(R"({"content":{"kick":"50"}})").as_object();
  EXPECT_THROW(PowerLevels(v11, create, &bad).invite(), Error);
  EXPECT_EQ(PowerLevelsContentError(json::Parse(R"({"kick":"50"})").as_object()),
            "'kick' must be an integer");
  EXPECT_EQ(PowerLevelsContentError(json::Parse(R"({"users":{"@a:hs":1},"x":"y"})").as_object()),
            std::nullopt);
}

}  // namespace
}  // namespace vigie::events
