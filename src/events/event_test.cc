#include "events/event.h"

#include <gtest/gtest.h>

#include <functional>
#include <optional>

#include "common/canonical_json.h"
#include "common/crypto.h"
#include "common/error.h"
#include "common/json.h"
#include "events/event_builder.h"
#include "events/identifiers.h"
#include "events/signing.h"

namespace vigie::events {
namespace {

namespace bj = boost::json;

bj::object Obj(std::string_view text) { return json::Parse(text).as_object(); }

std::optional<ErrorCode> ThrownCode(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.code();
  }
  return std::nullopt;
}

const RoomVersion& V10() { return RoomVersionOrThrow("10"); }
const RoomVersion& V11() { return RoomVersionOrThrow("11"); }
const RoomVersion& V12() { return RoomVersionOrThrow("12"); }

// Decodes standard base64 ignoring the unused low bits of the last
// character, as Python's decoder does. The appendix seed below ends in such
// non-zero bits, which libsodium (crypto::Base64Decode) refuses.
std::string LenientBase64Decode(std::string_view text) {
  static constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::uint32_t bits = 0;
  int nbits = 0;
  for (char c : text) {
    bits = (bits << 6) | static_cast<std::uint32_t>(kAlphabet.find(c));
    nbits += 6;
    if (nbits >= 8) {
      nbits -= 8;
      out.push_back(static_cast<char>((bits >> nbits) & 0xff));
    }
  }
  return out;
}

// The key of the appendix "Cryptographic Test Vectors".
SigningKey SpecKey() {
  return SigningKey::FromSeed(LenientBase64Decode("YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1"),
                              "1");
}

TEST(ContentOfTest, GivesTheContentObjectOrNothing) {
  EXPECT_EQ(ContentOf(R"({"auth_events":["$a"],"content":{"body":"x\"}"},"type":"t"})"),
            bj::parse(R"({"body":"x\"}"})"));
  // Read by a parse: a key written with escapes.
  EXPECT_EQ(ContentOf(R"({"c\u006fntent":{"a":1}})"), bj::parse(R"({"a":1})"));
  EXPECT_TRUE(ContentOf(R"({"content":[1]})").empty());
  EXPECT_TRUE(ContentOf(R"({"type":"t"})").empty());
  EXPECT_TRUE(ContentOf(R"({"content":{"a":1)").empty());
  EXPECT_TRUE(ContentOf(R"({"content":{"a":1x}})").empty());  // found, but not JSON
  EXPECT_TRUE(ContentOf("not json").empty());
  // Deeper than Boost.JSON parses by default.
  const std::string deep = std::string(50, '[') + std::string(50, ']');
  EXPECT_EQ(ContentOf(R"({"content":{"d":)" + deep + "}}").at("d").as_array().size(), 1U);
}

TEST(SigningVectorsTest, SeedHasNonCanonicalTrailingBits) {
  std::string strict;
  EXPECT_FALSE(crypto::Base64Decode("YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1", &strict));
  // The same 32 bytes with the unused bits cleared.
  ASSERT_TRUE(crypto::Base64Decode("YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA0", &strict));
  EXPECT_EQ(strict, LenientBase64Decode("YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1"));
  EXPECT_EQ(strict.size(), 32u);
}

PublicKeyLookup KeysOf(std::string server, const SigningKey& key) {
  return [server, key](std::string_view entity,
                       std::string_view key_id) -> std::optional<std::string> {
    if (entity == server && key_id == key.key_id()) return key.PublicKey();
    return std::nullopt;
  };
}

// ---------------------------------------------------------------------------
// Appendix test vectors.

TEST(SigningVectorsTest, JsonSigningOfEmptyObject) {
  bj::object o;
  SignJson(o, "domain", SpecKey());
  EXPECT_EQ(o, Obj(R"({
    "signatures": {
      "domain": {
        "ed25519:1": "K8280/U9SSy9IVtjBuVeLr+HpOB4BQFWbg+UZaADMtTdGYI7Geitb76LTrr5QV/7Xg4ahLwYGYZzuHGZKM5ZAQ"
      }
    }
  })"));
}

TEST(SigningVectorsTest, JsonSigningWithData) {
  bj::object o = Obj(R"({"one": 1, "two": "Two"})");
  SignJson(o, "domain", SpecKey());
  EXPECT_EQ(o, Obj(R"({
    "one": 1,
    "signatures": {
      "domain": {
        "ed25519:1": "KqmLSbO39/Bzb0QIYE82zqLwsA+PDzYIpIRA2sRQ4sL53+sN6/fpNSoqE7BP7vBZhG6kYdD13EIMJpvhJI+6Bw"
      }
    },
    "two": "Two"
  })"));
  SigningKey key = SpecKey();
  EXPECT_TRUE(VerifyJsonSignature(o, "domain", "ed25519:1", key.PublicKey()));
  o["two"] = "Three";
  EXPECT_FALSE(VerifyJsonSignature(o, "domain", "ed25519:1", key.PublicKey()));
}

// The appendix vectors predate v11 and keep `origin`: the v9 redaction rules
// (room version 10) reproduce them.
TEST(SigningVectorsTest, MinimalEvent) {
  bj::object event = Obj(R"({
    "room_id": "!x:domain",
    "sender": "@a:domain",
    "origin": "domain",
    "origin_server_ts": 1000000,
    "signatures": {},
    "hashes": {},
    "type": "X",
    "content": {},
    "prev_events": [],
    "auth_events": [],
    "depth": 3,
    "unsigned": {
        "age_ts": 1000000
    }
  })");
  const std::string reference_hash = HashAndSignEvent(V10(), event, "domain", SpecKey());
  EXPECT_EQ(reference_hash, ReferenceHash(V10(), event));  // of the event as signed
  EXPECT_EQ(event, Obj(R"({
    "auth_events": [],
    "content": {},
    "depth": 3,
    "hashes": {
        "sha256": "5jM4wQpv6lnBo7CLIghJuHdW+s2CMBJPUOGOC89ncos"
    },
    "origin": "domain",
    "origin_server_ts": 1000000,
    "prev_events": [],
    "room_id": "!x:domain",
    "sender": "@a:domain",
    "signatures": {
        "domain": {
            "ed25519:1": "KxwGjPSDEtvnFgU00fwFz+l6d2pJM6XBIaMEn81SXPTRl16AqLAYqfIReFGZlHi5KLjAWbOoMszkwsQma+lYAg"
        }
    },
    "type": "X",
    "unsigned": {
        "age_ts": 1000000
    }
  })"));
  SigningKey key = SpecKey();
  EXPECT_TRUE(HasValidContentHash(event));
  EXPECT_TRUE(VerifyEventSignature(V10(), event, "domain", KeysOf("domain", key)));
}

TEST(SigningVectorsTest, RedactableEvent) {
  bj::object event = Obj(R"({
    "content": {
        "body": "Here is the message content"
    },
    "event_id": "$0:domain",
    "origin": "domain",
    "origin_server_ts": 1000000,
    "type": "m.room.message",
    "room_id": "!r:domain",
    "sender": "@u:domain",
    "signatures": {},
    "unsigned": {
        "age_ts": 1000000
    }
  })");
  const std::string reference_hash = HashAndSignEvent(V10(), event, "domain", SpecKey());
  EXPECT_EQ(reference_hash, ReferenceHash(V10(), event));  // of the event as signed
  EXPECT_EQ(event, Obj(R"({
    "content": {
        "body": "Here is the message content"
    },
    "event_id": "$0:domain",
    "hashes": {
        "sha256": "onLKD1bGljeBWQhWZ1kaP9SorVmRQNdN5aM2JYU2n/g"
    },
    "origin": "domain",
    "origin_server_ts": 1000000,
    "type": "m.room.message",
    "room_id": "!r:domain",
    "sender": "@u:domain",
    "signatures": {
        "domain": {
            "ed25519:1": "Wm+VzmOUOz08Ds+0NTWb1d4CZrVsJSikkeRxh6aCcUwu6pNC78FunoD7KNWzqFn241eYHYMGCA5McEiVPdhzBA"
        }
    },
    "unsigned": {
        "age_ts": 1000000
    }
  })"));
  // The signature covers the redacted event: still valid once the body is
  // removed, while the content hash no longer matches.
  const PublicKeyLookup keys = KeysOf("domain", SpecKey());
  bj::object tampered = event;
  tampered["content"] = bj::object{{"body", "something else"}};
  EXPECT_TRUE(VerifyEventSignature(V10(), tampered, "domain", keys));
  EXPECT_FALSE(HasValidContentHash(tampered));
  EXPECT_TRUE(VerifyEventSignature(V10(), Redact(V10(), event), "domain", keys));
  // A protected key is covered.
  tampered = event;
  tampered["origin_server_ts"] = 1000001;
  EXPECT_FALSE(VerifyEventSignature(V10(), tampered, "domain", keys));
  // v11 redaction drops `origin`, so the v10 signature does not verify there.
  EXPECT_FALSE(VerifyEventSignature(V11(), event, "domain", keys));
}

// ---------------------------------------------------------------------------
// Signing keys.

TEST(SigningKeyTest, SerializeRoundTrip) {
  SigningKey key = SigningKey::Generate("a_Bc9");
  EXPECT_EQ(key.key_id(), "ed25519:a_Bc9");
  EXPECT_EQ(key.Seed().size(), 32u);
  EXPECT_EQ(key.PublicKey().size(), 32u);
  SigningKey copy = SigningKey::Parse(key.Serialize() + "\n");
  EXPECT_EQ(copy.version(), "a_Bc9");
  EXPECT_EQ(copy.Seed(), key.Seed());
  EXPECT_EQ(copy.PublicKeyBase64(), key.PublicKeyBase64());
  EXPECT_EQ(copy.Sign("x"), key.Sign("x"));
  EXPECT_TRUE(VerifyEd25519(key.PublicKey(), "x", key.Sign("x")));
  EXPECT_FALSE(VerifyEd25519(key.PublicKey(), "y", key.Sign("x")));
  EXPECT_FALSE(VerifyEd25519("short", "x", key.Sign("x")));
  EXPECT_NE(SigningKey::Generate("a").Seed(), key.Seed());
}

TEST(SigningKeyTest, RejectsBadInput) {
  EXPECT_EQ(ThrownCode([] { SigningKey::FromSeed("too short", "1"); }), ErrorCode::kInvalidParam);
  EXPECT_EQ(ThrownCode([] { SigningKey::FromSeed(std::string(32, 'x'), ""); }),
            ErrorCode::kInvalidParam);
  EXPECT_EQ(ThrownCode([] { SigningKey::FromSeed(std::string(32, 'x'), "a:b"); }),
            ErrorCode::kInvalidParam);
  EXPECT_EQ(ThrownCode([] { SigningKey::Parse("ed25519 1"); }), ErrorCode::kInvalidParam);
  EXPECT_EQ(ThrownCode([] { SigningKey::Parse("rsa 1 AAAA"); }), ErrorCode::kInvalidParam);
  EXPECT_EQ(ThrownCode([] { SigningKey::Parse("ed25519 1 !!!"); }), ErrorCode::kInvalidParam);
  EXPECT_EQ(ThrownCode([] { SigningKey::Parse("ed25519 1 AAAA"); }), ErrorCode::kInvalidParam);
}

TEST(SigningKeyTest, IsSignedByFollowsTheCheckingAlgorithm) {
  SigningKey a = SigningKey::FromSeed(std::string(32, 'a'), "a");
  SigningKey b = SigningKey::FromSeed(std::string(32, 'b'), "b");
  bj::object o = Obj(R"({"x": 1, "unsigned": {"y": 2}})");
  SignJson(o, "hs", a);
  SignJson(o, "hs", b);
  auto only_a = KeysOf("hs", a);
  EXPECT_TRUE(IsSignedBy(o, "hs", only_a));  // b's signature: unknown key, skipped
  EXPECT_FALSE(IsSignedBy(o, "other", only_a));
  EXPECT_FALSE(IsSignedBy(o, "hs", nullptr));
  // A known key with a bad signature fails the whole check.
  bj::object forged = o;
  forged["signatures"].as_object()["hs"].as_object()["ed25519:a"] =
      o["signatures"].as_object()["hs"].as_object()["ed25519:b"];
  EXPECT_FALSE(IsSignedBy(forged, "hs", only_a));
  // Unknown algorithms are ignored; unsigned is not covered.
  o["signatures"].as_object()["hs"].as_object()["curve25519:z"] = "AAAA";
  o["unsigned"] = bj::object{{"changed", true}};
  EXPECT_TRUE(IsSignedBy(o, "hs", only_a));
  // Malformed signatures never throw.
  o["signatures"] = "nope";
  EXPECT_FALSE(IsSignedBy(o, "hs", only_a));
  EXPECT_FALSE(VerifyJsonSignature(o, "hs", "ed25519:a", a.PublicKey()));
  bj::object with_float = Obj(R"({"f": 1.5, "signatures": {"hs": {"ed25519:a": "AAAA"}}})");
  EXPECT_FALSE(VerifyJsonSignature(with_float, "hs", "ed25519:a", a.PublicKey()));
  EXPECT_EQ(ThrownCode([&] { SignJson(with_float, "hs", a); }), ErrorCode::kBadJson);
}

// ---------------------------------------------------------------------------
// Redaction.

// Keys of a member event at every level that matters for redaction.
constexpr std::string_view kFullMember = R"({
  "event_id": "$e", "type": "m.room.member", "room_id": "!r:hs", "sender": "@a:hs",
  "state_key": "@a:hs", "hashes": {"sha256": "h"}, "signatures": {"hs": {"ed25519:1": "s"}},
  "depth": 4, "prev_events": ["$p"], "prev_state": [], "auth_events": ["$a"], "origin": "hs",
  "origin_server_ts": 7, "membership": "join", "unsigned": {"age": 1}, "redacts": "$x",
  "extra": true,
  "content": {"membership": "invite", "displayname": "A", "avatar_url": "mxc://a/b",
              "join_authorised_via_users_server": "@b:hs", "reason": "r",
              "third_party_invite": {"display_name": "x", "signed": {"mxid": "@a:hs", "token": "t"}}}
})";

TEST(RedactionTest, V10KeepsV9TopLevelKeys) {
  EXPECT_EQ(Redact(V10(), Obj(kFullMember)), Obj(R"({
    "event_id": "$e", "type": "m.room.member", "room_id": "!r:hs", "sender": "@a:hs",
    "state_key": "@a:hs", "hashes": {"sha256": "h"}, "signatures": {"hs": {"ed25519:1": "s"}},
    "depth": 4, "prev_events": ["$p"], "prev_state": [], "auth_events": ["$a"], "origin": "hs",
    "origin_server_ts": 7, "membership": "join",
    "content": {"membership": "invite", "join_authorised_via_users_server": "@b:hs"}
  })"));
}

TEST(RedactionTest, V11DropsOriginMembershipPrevStateKeepsSigned3pid) {
  for (const RoomVersion* v : {&V11(), &V12()}) {
    EXPECT_EQ(Redact(*v, Obj(kFullMember)), Obj(R"({
      "event_id": "$e", "type": "m.room.member", "room_id": "!r:hs", "sender": "@a:hs",
      "state_key": "@a:hs", "hashes": {"sha256": "h"}, "signatures": {"hs": {"ed25519:1": "s"}},
      "depth": 4, "prev_events": ["$p"], "auth_events": ["$a"], "origin_server_ts": 7,
      "content": {"membership": "invite", "join_authorised_via_users_server": "@b:hs",
                  "third_party_invite": {"signed": {"mxid": "@a:hs", "token": "t"}}}
    })"))
        << v->id;
  }
  // third_party_invite without `signed`, or not an object, is dropped.
  bj::object e = Obj(R"({"type": "m.room.member",
                         "content": {"membership": "invite", "third_party_invite": {"x": 1}}})");
  EXPECT_EQ(Redact(V11(), e), Obj(R"({"type": "m.room.member",
                                      "content": {"membership": "invite"}})"));
  e["content"].as_object()["third_party_invite"] = "str";
  EXPECT_EQ(Redact(V11(), e), Obj(R"({"type": "m.room.member",
                                      "content": {"membership": "invite"}})"));
}

struct ContentCase {
  const char* type;
  const char* content;
  const char* v10;  // content kept in v10
  const char* v11;  // content kept in v11 and v12
};

TEST(RedactionTest, ContentPerEventType) {
  const ContentCase cases[] = {
      {"m.room.create",
       R"({"creator": "@a:hs", "room_version": "10", "m.federate": false, "x": 1})",
       R"({"creator": "@a:hs"})",
       R"({"creator": "@a:hs", "room_version": "10", "m.federate": false, "x": 1})"},
      {"m.room.join_rules", R"({"join_rule": "restricted", "allow": [{"type": "t"}], "x": 1})",
       R"({"join_rule": "restricted", "allow": [{"type": "t"}]})",
       R"({"join_rule": "restricted", "allow": [{"type": "t"}]})"},
      {"m.room.power_levels",
       R"({"ban": 1, "events": {"a": 1}, "events_default": 2, "invite": 3, "kick": 4,
           "redact": 5, "state_default": 6, "users": {"@a:hs": 7}, "users_default": 8,
           "notifications": {"room": 9}, "x": 1})",
       R"({"ban": 1, "events": {"a": 1}, "events_default": 2, "kick": 4, "redact": 5,
           "state_default": 6, "users": {"@a:hs": 7}, "users_default": 8})",
       R"({"ban": 1, "events": {"a": 1}, "events_default": 2, "invite": 3, "kick": 4,
           "redact": 5, "state_default": 6, "users": {"@a:hs": 7}, "users_default": 8})"},
      {"m.room.history_visibility", R"({"history_visibility": "shared", "x": 1})",
       R"({"history_visibility": "shared"})", R"({"history_visibility": "shared"})"},
      {"m.room.redaction", R"({"redacts": "$x", "reason": "spam"})", R"({})",
       R"({"redacts": "$x"})"},
      {"m.room.aliases", R"({"aliases": ["#a:hs"]})", R"({})", R"({})"},
      {"m.room.message", R"({"body": "hi", "msgtype": "m.text"})", R"({})", R"({})"},
      {"m.room.name", R"({"name": "n"})", R"({})", R"({})"},
  };
  for (const auto& c : cases) {
    bj::object event{{"type", c.type}, {"content", json::Parse(c.content)}};
    EXPECT_EQ(Redact(V10(), event), (bj::object{{"type", c.type}, {"content", json::Parse(c.v10)}}))
        << c.type;
    for (const RoomVersion* v : {&V11(), &V12()}) {
      EXPECT_EQ(Redact(*v, event), (bj::object{{"type", c.type}, {"content", json::Parse(c.v11)}}))
          << c.type << " v" << v->id;
    }
  }
}

TEST(RedactionTest, MalformedEventsDoNotThrow) {
  EXPECT_EQ(Redact(V11(), bj::object{}), bj::object{});
  EXPECT_EQ(Redact(V11(), Obj(R"({"type": 5, "content": {"membership": "join"}})")),
            Obj(R"({"type": 5, "content": {}})"));
  EXPECT_EQ(Redact(V11(), Obj(R"({"type": "m.room.member", "content": [1]})")),
            Obj(R"({"type": "m.room.member", "content": {}})"));
  // Redaction is idempotent.
  bj::object once = Redact(V10(), Obj(kFullMember));
  EXPECT_EQ(Redact(V10(), once), once);
}

// ---------------------------------------------------------------------------
// Hashes and ids.

TEST(EventHashTest, ContentHashIgnoresUnsignedSignaturesHashes) {
  bj::object e = Obj(R"({"type": "m.room.message", "content": {"body": "x"}})");
  std::string h = ContentHash(e);
  EXPECT_EQ(h, crypto::Sha256(R"({"content":{"body":"x"},"type":"m.room.message"})"));
  e["unsigned"] = bj::object{{"age", 5}};
  e["signatures"] = bj::object{};
  e["hashes"] = bj::object{{"sha256", "x"}};
  EXPECT_EQ(ContentHash(e), h);
  EXPECT_FALSE(HasValidContentHash(e));
  AddContentHash(e);
  EXPECT_TRUE(HasValidContentHash(e));
  e["hashes"] = "nope";
  EXPECT_FALSE(HasValidContentHash(e));
  e["content"] = bj::object{{"f", 0.5}};
  EXPECT_FALSE(HasValidContentHash(e));
  EXPECT_EQ(ThrownCode([&] { ContentHash(e); }), ErrorCode::kBadJson);
}

TEST(EventHashTest, ReferenceHashAndEventId) {
  bj::object e = Obj(R"({"type": "m.room.message", "room_id": "!r:hs", "sender": "@a:hs",
                         "content": {"body": "x"}, "hashes": {"sha256": "abc"},
                         "signatures": {"hs": {"ed25519:1": "sig"}},
                         "unsigned": {"age_ts": 5}, "origin": "hs"})");
  // Redacted (v11: content emptied, origin dropped), then without signatures.
  std::string expected = crypto::Sha256(
      R"({"content":{},"hashes":{"sha256":"abc"},"room_id":"!r:hs","sender":"@a:hs",)"
      R"("type":"m.room.message"})");
  EXPECT_EQ(ReferenceHash(V11(), e), expected);
  std::string id = ComputeEventId(V11(), e);
  EXPECT_EQ(id, "$" + crypto::Base64Url(expected));
  EXPECT_EQ(id.size(), 44u);
  EXPECT_EQ(id.find_first_of("+/="), std::string::npos);
  // Content and signatures do not change the id; protected keys do.
  e["content"] = bj::object{{"body", "y"}};
  e["signatures"] = bj::object{};
  EXPECT_EQ(ComputeEventId(V11(), e), id);
  e["hashes"] = bj::object{{"sha256", "abd"}};
  EXPECT_NE(ComputeEventId(V11(), e), id);
  // v10 keeps `origin`.
  EXPECT_NE(ComputeEventId(V10(), e), ComputeEventId(V11(), e));
}

// ---------------------------------------------------------------------------
// Size and format.

TEST(EventSizeTest, Limits) {
  bj::object e = Obj(R"({"type": "t", "sender": "@a:hs", "room_id": "!r:hs", "content": {}})");
  EXPECT_NO_THROW(CheckEventSize(e));
  std::string base = CanonicalJson(e);
  // Fill content.p so that the whole event is exactly the limit.
  std::size_t overhead = base.size() + std::string(R"("p":"")").size();
  e["content"] = bj::object{{"p", std::string(kMaxPduBytes - overhead, 'x')}};
  EXPECT_EQ(CanonicalJson(e).size(), kMaxPduBytes);
  EXPECT_NO_THROW(CheckEventSize(e));
  e["content"] = bj::object{{"p", std::string(kMaxPduBytes - overhead + 1, 'x')}};
  EXPECT_EQ(ThrownCode([&] { CheckEventSize(e); }), ErrorCode::kTooLarge);

  for (const char* key : {"sender", "room_id", "state_key", "type", "event_id"}) {
    bj::object f = Obj(R"({"content": {}})");
    f[key] = std::string(255, 'a');
    EXPECT_NO_THROW(CheckEventSize(f)) << key;
    f[key] = std::string(256, 'a');
    EXPECT_EQ(ThrownCode([&] { CheckEventSize(f); }), ErrorCode::kTooLarge) << key;
  }
  e["content"] = bj::object{{"n", 9007199254740992}};
  EXPECT_EQ(ThrownCode([&] { CheckEventSize(e); }), ErrorCode::kBadJson);
}

bj::object ValidPdu() {
  return Obj(R"({"type": "m.room.message", "sender": "@a:hs", "room_id": "!r:hs",
                 "content": {"body": "x"}, "origin_server_ts": 1, "depth": 2,
                 "hashes": {"sha256": "x"}, "signatures": {"hs": {"ed25519:1": "s"}},
                 "prev_events": ["$p"], "auth_events": ["$a", "$b"]})");
}

TEST(EventFormatTest, AcceptsValidPdu) {
  EXPECT_NO_THROW(ValidateEventFormat(V10(), ValidPdu()));
  EXPECT_NO_THROW(ValidateEventFormat(V12(), ValidPdu()));
}

TEST(EventFormatTest, RejectsEachMalformation) {
  const std::pair<const char*, const char*> breakages[] = {
      {"type", "null"},
      {"type", "\"\""},
      {"sender", "\"alice\""},
      {"sender", "5"},
      {"room_id", "\"r:hs\""},
      {"room_id", "null"},
      {"content", "[]"},
      {"origin_server_ts", "-1"},
      {"origin_server_ts", "1.5"},
      {"depth", "\"2\""},
      {"depth", "9007199254740992"},
      {"hashes", "{}"},
      {"hashes", "{\"sha256\": 1}"},
      {"signatures", "[]"},
      {"signatures", "{\"hs\": \"x\"}"},
      {"signatures", "{\"hs\": {\"k\": 1}}"},
      {"prev_events", "\"$p\""},
      {"prev_events", "[\"p\"]"},
      {"auth_events", "[1]"},
      {"auth_events",
       "[\"$1\",\"$2\",\"$3\",\"$4\",\"$5\",\"$6\",\"$7\",\"$8\",\"$9\",\"$10\",\"$11\"]"},
      {"state_key", "5"},
      {"unsigned", "[]"},
  };
  for (const auto& [key, value] : breakages) {
    bj::object e = ValidPdu();
    e[key] = json::Parse(value);
    EXPECT_EQ(ThrownCode([&] { ValidateEventFormat(V11(), e); }), ErrorCode::kBadJson)
        << key << "=" << value;
  }
  for (const char* key : {"type", "sender", "room_id", "content", "origin_server_ts", "depth",
                          "hashes", "signatures", "prev_events", "auth_events"}) {
    bj::object e = ValidPdu();
    e.erase(key);
    EXPECT_EQ(ThrownCode([&] { ValidateEventFormat(V11(), e); }), ErrorCode::kBadJson) << key;
  }
}

TEST(EventFormatTest, VersionSpecificRules) {
  bj::object create = ValidPdu();
  create["type"] = "m.room.create";
  create["state_key"] = "";
  EXPECT_NO_THROW(ValidateEventFormat(V11(), create));
  EXPECT_EQ(ThrownCode([&] { ValidateEventFormat(V12(), create); }), ErrorCode::kBadJson);
  create.erase("room_id");
  EXPECT_NO_THROW(ValidateEventFormat(V12(), create));
  EXPECT_EQ(ThrownCode([&] { ValidateEventFormat(V11(), create); }), ErrorCode::kBadJson);

  bj::object member = ValidPdu();
  member["type"] = "m.room.member";
  member["state_key"] = "not a user";
  EXPECT_EQ(ThrownCode([&] { ValidateEventFormat(V11(), member); }), ErrorCode::kBadJson);
  member["state_key"] = "@b:hs";
  EXPECT_NO_THROW(ValidateEventFormat(V11(), member));

  bj::object redaction = ValidPdu();
  redaction["type"] = "m.room.redaction";
  redaction["redacts"] = "$x";
  EXPECT_NO_THROW(ValidateEventFormat(V10(), redaction));
  EXPECT_EQ(ThrownCode([&] { ValidateEventFormat(V11(), redaction); }), ErrorCode::kBadJson);
  redaction["content"].as_object()["redacts"] = "$x";
  redaction.erase("redacts");
  EXPECT_NO_THROW(ValidateEventFormat(V11(), redaction));
  EXPECT_EQ(ThrownCode([&] { ValidateEventFormat(V10(), redaction); }), ErrorCode::kBadJson);
}

// ---------------------------------------------------------------------------
// Builder.

EventDraft MessageDraft() {
  EventDraft d;
  d.room_id = "!room:hs";
  d.sender = "@alice:hs";
  d.type = "m.room.message";
  d.content = Obj(R"({"msgtype": "m.text", "body": "hello"})");
  d.prev_events = {"$prev"};
  d.auth_events = {"$create", "$pl", "$member"};
  d.depth = 5;
  d.origin_server_ts = 1700000000000;
  return d;
}

TEST(EventBuilderTest, BuildsSignedPdu) {
  SigningKey key = SigningKey::FromSeed(std::string(32, 'k'), "v1");
  for (const RoomVersion& v : SupportedRoomVersions()) {
    BuiltEvent built = BuildEvent(v, MessageDraft(), "hs", key);
    const bj::object& pdu = built.pdu;
    EXPECT_NO_THROW(ValidateEventFormat(v, pdu));
    EXPECT_FALSE(pdu.contains("event_id"));
    EXPECT_FALSE(pdu.contains("origin"));
    EXPECT_FALSE(pdu.contains("unsigned"));
    EXPECT_EQ(built.room_id, "!room:hs");
    EXPECT_EQ(built.event_id, ComputeEventId(v, pdu));
    EXPECT_TRUE(HasValidContentHash(pdu));
    EXPECT_TRUE(VerifyEventSignature(v, pdu, "hs", KeysOf("hs", key)));
    EXPECT_EQ(pdu.at("depth"), 5);
    EXPECT_EQ(pdu.at("prev_events"), bj::array{"$prev"});
    EXPECT_EQ(pdu.at("content").at("body"), "hello");
    // What is stored: the PDU's canonical JSON, encoded once for the size check.
    EXPECT_EQ(built.json, CanonicalJson(pdu));
  }
}

TEST(EventBuilderTest, V12CreateDerivesRoomId) {
  SigningKey key = SigningKey::FromSeed(std::string(32, 'k'), "v1");
  EventDraft d;
  d.sender = "@alice:hs";
  d.type = "m.room.create";
  d.state_key = "";
  d.content = Obj(R"({"room_version": "12"})");
  d.depth = 1;
  d.origin_server_ts = 1;
  BuiltEvent built = BuildEvent(V12(), d, "hs", key);
  EXPECT_FALSE(built.pdu.contains("room_id"));
  EXPECT_EQ(built.room_id, "!" + built.event_id.substr(1));
  EXPECT_EQ(built.room_id, RoomIdFromCreateEvent(V12(), built.pdu));
  EXPECT_EQ(built.room_id.size(), 44u);

  d.room_id = "!given:hs";
  EXPECT_EQ(ThrownCode([&] { BuildEvent(V12(), d, "hs", key); }), ErrorCode::kInvalidParam);
  EXPECT_EQ(ThrownCode([&] { RoomIdFromCreateEvent(V11(), built.pdu); }), ErrorCode::kInternal);
  // v11 create events carry their room id.
  BuiltEvent v11 = BuildEvent(V11(), d, "hs", key);
  EXPECT_EQ(v11.pdu.at("room_id"), "!given:hs");
  EXPECT_EQ(v11.room_id, "!given:hs");
}

TEST(EventBuilderTest, RedactsPlacementPerVersion) {
  SigningKey key = SigningKey::FromSeed(std::string(32, 'k'), "v1");
  EventDraft d = MessageDraft();
  d.type = "m.room.redaction";
  d.content = bj::object{{"reason", "spam"}};
  d.redacts = "$target";
  BuiltEvent v10 = BuildEvent(V10(), d, "hs", key);
  EXPECT_EQ(v10.pdu.at("redacts"), "$target");
  EXPECT_FALSE(v10.pdu.at("content").as_object().contains("redacts"));
  BuiltEvent v11 = BuildEvent(V11(), d, "hs", key);
  EXPECT_FALSE(v11.pdu.contains("redacts"));
  EXPECT_EQ(v11.pdu.at("content").at("redacts"), "$target");
  // v11 keeps content.redacts through redaction.
  EXPECT_EQ(Redact(V11(), v11.pdu).at("content"), (bj::object{{"redacts", "$target"}}));

  EventDraft msg = MessageDraft();
  msg.redacts = "$x";
  EXPECT_EQ(ThrownCode([&] { BuildEvent(V11(), msg, "hs", key); }), ErrorCode::kInvalidParam);
}

TEST(EventBuilderTest, RejectsBadDrafts) {
  SigningKey key = SigningKey::FromSeed(std::string(32, 'k'), "v1");
  auto code = [&](const std::function<void(EventDraft&)>& change) {
    EventDraft d = MessageDraft();
    change(d);
    return ThrownCode([&] { BuildEvent(V12(), d, "hs", key); });
  };
  EXPECT_EQ(code([](EventDraft&) {}), std::nullopt);
  EXPECT_EQ(code([](EventDraft& d) { d.sender = "@alice:other"; }), ErrorCode::kInvalidParam);
  EXPECT_EQ(code([](EventDraft& d) { d.type = ""; }), ErrorCode::kInvalidParam);
  EXPECT_EQ(code([](EventDraft& d) { d.room_id = "room"; }), ErrorCode::kInvalidParam);
  EXPECT_EQ(code([](EventDraft& d) { d.depth = -1; }), ErrorCode::kInvalidParam);
  EXPECT_EQ(code([](EventDraft& d) { d.prev_events = {"no-sigil"}; }), ErrorCode::kInvalidParam);
  EXPECT_EQ(code([](EventDraft& d) { d.prev_events.assign(21, "$p"); }), ErrorCode::kInvalidParam);
  EXPECT_EQ(code([](EventDraft& d) {
              d.type = "m.room.member";
              d.state_key = "bob";
              d.content = bj::object{{"membership", "join"}};
            }),
            ErrorCode::kInvalidParam);
  EXPECT_EQ(code([](EventDraft& d) { d.content["f"] = 0.5; }), ErrorCode::kBadJson);
  EXPECT_EQ(code([](EventDraft& d) { d.content["big"] = std::string(70000, 'x'); }),
            ErrorCode::kTooLarge);
  EXPECT_EQ(code([](EventDraft& d) { d.state_key = std::string(256, 'k'); }), ErrorCode::kTooLarge);
}

// ---------------------------------------------------------------------------
// Identifiers.

TEST(IdentifiersTest, ServerNames) {
  for (const char* ok : {"matrix.org", "matrix.org:8888", "1.2.3.4", "1.2.3.4:1234",
                         "[1234:5678::abcd]", "[1234:5678::abcd]:5678", "localhost", "a-b.c"}) {
    EXPECT_TRUE(IsValidServerName(ok)) << ok;
  }
  for (const char* bad :
       {"", ":80", "matrix.org:", "matrix.org:123456", "matrix.org:80a", "ma trix.org", "[1234",
        "[]", "[::1]x", "[12g4::1]", "host_name", "é.org"}) {
    EXPECT_FALSE(IsValidServerName(bad)) << bad;
  }
}

TEST(IdentifiersTest, UserIds) {
  for (const char* ok : {"@alice:example.org", "@a:hs:8448", "@:hs", "@Ünïcode:hs", "@a:[::1]"}) {
    EXPECT_TRUE(IsValidUserId(ok)) << ok;
  }
  for (const char* bad : {"", "@", "alice:hs", "@alice", "@alice:", "#a:hs", "@a:bad host"}) {
    EXPECT_FALSE(IsValidUserId(bad)) << bad;
  }
  EXPECT_FALSE(IsValidUserId(std::string_view("@a\0b:hs", 7)));
  EXPECT_TRUE(IsValidUserId("@" + std::string(251, 'a') + ":hs"));  // 255 bytes
  EXPECT_FALSE(IsValidUserId("@" + std::string(252, 'a') + ":hs"));
  EXPECT_EQ(DomainOf("@a:hs:8448"), "hs:8448");
  EXPECT_EQ(DomainOf("!abc"), "");
}

TEST(RoomVersionTest, Lookup) {
  EXPECT_EQ(SupportedRoomVersions().size(), 3u);
  EXPECT_EQ(FindRoomVersion(kDefaultRoomVersion)->id, "12");
  EXPECT_EQ(FindRoomVersion("9"), nullptr);
  EXPECT_EQ(FindRoomVersion(""), nullptr);
  EXPECT_EQ(ThrownCode([] { RoomVersionOrThrow("1"); }), ErrorCode::kUnsupportedRoomVersion);
  EXPECT_TRUE(V10().creator_in_content);
  EXPECT_FALSE(V11().creator_in_content);
  EXPECT_TRUE(V12().privileged_creators && V12().room_id_from_create_event);
  EXPECT_FALSE(V12().create_in_auth_events);
  EXPECT_TRUE(V11().create_in_auth_events);
}

}  // namespace
}  // namespace vigie::events
