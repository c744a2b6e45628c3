#include "service/key_backup_service.h"

#include <gtest/gtest.h>

#include "service/engine_test_util.h"

namespace vigie::service {
namespace {

namespace bj = boost::json;

class KeyBackupTest : public EngineHomeserverTest {
 protected:
  static bj::object VersionBody(const std::string& public_key) {
    return {{"algorithm", kMegolmBackupV1}, {"auth_data", {{"public_key", public_key}}}};
  }
  std::string Create(const Requester& who, const std::string& public_key = "pk") {
    return hs_->RunSync(hs_->key_backup.CreateVersion(who, VersionBody(public_key)));
  }
  bj::object Info(const Requester& who, std::optional<std::string> version = std::nullopt) {
    return hs_->RunSync(hs_->key_backup.GetVersion(who, std::move(version)));
  }
  static bj::object Key(std::int64_t first_index, std::int64_t forwarded, bool verified,
                        const std::string& ciphertext) {
    return {{"first_message_index", first_index},
            {"forwarded_count", forwarded},
            {"is_verified", verified},
            {"session_data", {{"ephemeral", "e"}, {"ciphertext", ciphertext}, {"mac", "m"}}}};
  }
  static bj::object Rooms(const std::string& room, const std::string& session, bj::object key) {
    return {{room, {{"sessions", {{session, std::move(key)}}}}}};
  }
  bj::object Put(const Requester& who, const std::string& version, const bj::object& rooms) {
    return hs_->RunSync(hs_->key_backup.PutKeys(who, version, rooms));
  }
  bj::object Get(const Requester& who, const std::string& version, BackupKeyScope scope = {}) {
    return hs_->RunSync(hs_->key_backup.GetKeys(who, version, scope));
  }
  static std::string Ciphertext(const bj::object& rooms, const std::string& room,
                                const std::string& session) {
    return std::string(
        rooms.at(room).at("sessions").at(session).at("session_data").at("ciphertext").as_string());
  }
};

TEST_P(KeyBackupTest, VersionsAreCreatedReadUpdatedAndDeleted) {
  auto alice = Register("alice");
  EXPECT_EQ(CodeOf([&] { Info(alice); }), ErrorCode::kNotFound);

  EXPECT_EQ(Create(alice, "pk1"), "1");
  EXPECT_EQ(Create(alice, "pk2"), "2");
  auto current = Info(alice);
  EXPECT_EQ(current.at("version"), "2");
  EXPECT_EQ(current.at("algorithm"), kMegolmBackupV1);
  EXPECT_EQ(current.at("auth_data").at("public_key"), "pk2");
  EXPECT_EQ(current.at("count"), 0);
  EXPECT_TRUE(current.at("etag").is_string());
  EXPECT_EQ(Info(alice, "1").at("auth_data").at("public_key"), "pk1");

  // Only auth_data changes; the algorithm and a body version must match.
  auto update = VersionBody("pk2b");
  hs_->RunSync(hs_->key_backup.UpdateVersion(alice, "2", update));
  EXPECT_EQ(Info(alice).at("auth_data").at("public_key"), "pk2b");
  auto wrong_alg = update;
  wrong_alg["algorithm"] = "m.megolm_backup.v2";
  EXPECT_EQ(CodeOf([&] { hs_->RunSync(hs_->key_backup.UpdateVersion(alice, "2", wrong_alg)); }),
            ErrorCode::kInvalidParam);
  auto wrong_version = update;
  wrong_version["version"] = "1";
  EXPECT_EQ(CodeOf([&] { hs_->RunSync(hs_->key_backup.UpdateVersion(alice, "2", wrong_version)); }),
            ErrorCode::kInvalidParam);
  EXPECT_EQ(CodeOf([&] { hs_->RunSync(hs_->key_backup.UpdateVersion(alice, "9", update)); }),
            ErrorCode::kNotFound);

  // Deleting the current version makes the previous one current; a deleted
  // version can be deleted again; one that never existed is not found, and
  // numbers are never reused.
  hs_->RunSync(hs_->key_backup.DeleteVersion(alice, "2"));
  EXPECT_EQ(Info(alice).at("version"), "1");
  EXPECT_EQ(CodeOf([&] { Info(alice, "2"); }), ErrorCode::kNotFound);
  hs_->RunSync(hs_->key_backup.DeleteVersion(alice, "2"));
  EXPECT_EQ(CodeOf([&] { hs_->RunSync(hs_->key_backup.DeleteVersion(alice, "7")); }),
            ErrorCode::kNotFound);
  EXPECT_EQ(CodeOf([&] { hs_->RunSync(hs_->key_backup.DeleteVersion(alice, "x")); }),
            ErrorCode::kNotFound);
  EXPECT_EQ(Create(alice), "3");

  bj::object unsupported{{"algorithm", "m.megolm_backup.v0"}, {"auth_data", bj::object{}}};
  EXPECT_EQ(CodeOf([&] { hs_->RunSync(hs_->key_backup.CreateVersion(alice, unsupported)); }),
            ErrorCode::kInvalidParam);
  bj::object no_auth{{"algorithm", kMegolmBackupV1}};
  EXPECT_EQ(CodeOf([&] { hs_->RunSync(hs_->key_backup.CreateVersion(alice, no_auth)); }),
            ErrorCode::kMissingParam);
}

TEST_P(KeyBackupTest, KeysGoOnlyIntoTheCurrentVersion) {
  auto alice = Register("alice");
  auto key = Rooms("!r:test.local", "s1", Key(0, 0, false, "c"));
  EXPECT_EQ(CodeOf([&] { Put(alice, "1", key); }), ErrorCode::kNotFound);
  Create(alice);
  Create(alice);
  auto err = ErrorOf([&] { Put(alice, "1", key); });
  EXPECT_EQ(err.code(), ErrorCode::kWrongRoomKeysVersion);
  EXPECT_EQ(err.extra().at("current_version"), "2");
  EXPECT_EQ(Put(alice, "2", key).at("count"), 1);
  // The older version stays readable, and empty.
  EXPECT_TRUE(Get(alice, "1").empty());
}

TEST_P(KeyBackupTest, AStoredKeyIsReplacedOnlyByABetterOne) {
  auto alice = Register("alice");
  auto v = Create(alice);
  const std::string room = "!r:test.local";
  auto first = Put(alice, v, Rooms(room, "s", Key(5, 1, false, "first")));
  EXPECT_EQ(first.at("count"), 1);
  const auto etag = first.at("etag");

  // Worse or equal: a higher index, more forwards, the same key again.
  for (auto worse : {Key(6, 0, false, "x"), Key(5, 2, false, "x"), Key(5, 1, false, "x")}) {
    auto r = Put(alice, v, Rooms(room, "s", worse));
    EXPECT_EQ(r.at("etag"), etag);
    EXPECT_EQ(Ciphertext(Get(alice, v), room, "s"), "first");
  }
  // Better: a lower index, then fewer forwards at that index, then verified
  // beats any unverified key.
  Put(alice, v, Rooms(room, "s", Key(3, 4, false, "lower-index")));
  EXPECT_EQ(Ciphertext(Get(alice, v), room, "s"), "lower-index");
  Put(alice, v, Rooms(room, "s", Key(3, 0, false, "fewer-forwards")));
  EXPECT_EQ(Ciphertext(Get(alice, v), room, "s"), "fewer-forwards");
  auto verified = Put(alice, v, Rooms(room, "s", Key(9, 9, true, "verified")));
  EXPECT_EQ(Ciphertext(Get(alice, v), room, "s"), "verified");
  EXPECT_NE(verified.at("etag"), etag);
  Put(alice, v, Rooms(room, "s", Key(0, 0, false, "unverified")));
  EXPECT_EQ(Ciphertext(Get(alice, v), room, "s"), "verified");
  EXPECT_EQ(Info(alice).at("count"), 1);
}

TEST_P(KeyBackupTest, KeysAreReadAndDeletedByRoomAndSession) {
  auto alice = Register("alice");
  auto v = Create(alice);
  bj::object rooms{
      {"!a:test.local",
       {{"sessions", {{"s1", Key(0, 0, false, "a1")}, {"s2", Key(0, 0, false, "a2")}}}}},
      {"!b:test.local", {{"sessions", {{"s1", Key(0, 0, false, "b1")}}}}}};
  EXPECT_EQ(Put(alice, v, rooms).at("count"), 3);

  EXPECT_EQ(Get(alice, v).size(), 2u);
  auto room_a = Get(alice, v, {"!a:test.local", std::nullopt});
  EXPECT_EQ(room_a.size(), 1u);
  EXPECT_EQ(room_a.at("!a:test.local").at("sessions").as_object().size(), 2u);
  auto one = Get(alice, v, {"!a:test.local", "s2"});
  EXPECT_EQ(Ciphertext(one, "!a:test.local", "s2"), "a2");
  EXPECT_TRUE(Get(alice, v, {"!c:test.local", std::nullopt}).empty());

  const auto before = Info(alice).at("etag");
  auto after_one =
      hs_->RunSync(hs_->key_backup.DeleteKeys(alice, v, {"!a:test.local", std::string("s1")}));
  EXPECT_EQ(after_one.at("count"), 2);
  EXPECT_NE(after_one.at("etag"), before);
  auto after_room =
      hs_->RunSync(hs_->key_backup.DeleteKeys(alice, v, {"!b:test.local", std::nullopt}));
  EXPECT_EQ(after_room.at("count"), 1);
  auto after_all = hs_->RunSync(hs_->key_backup.DeleteKeys(alice, v, {}));
  EXPECT_EQ(after_all.at("count"), 0);
  // Deleting nothing changes nothing.
  auto again = hs_->RunSync(hs_->key_backup.DeleteKeys(alice, v, {}));
  EXPECT_EQ(again.at("etag"), after_all.at("etag"));

  // A deleted version's keys are gone with it.
  Put(alice, v, rooms);
  hs_->RunSync(hs_->key_backup.DeleteVersion(alice, v));
  EXPECT_EQ(CodeOf([&] { Get(alice, v); }), ErrorCode::kNotFound);
}

TEST_P(KeyBackupTest, BackupsArePrivateToTheirOwner) {
  auto alice = Register("alice");
  auto bob = Register("bob");
  auto v = Create(alice);
  Put(alice, v, Rooms("!r:test.local", "s", Key(0, 0, false, "secret")));
  EXPECT_EQ(CodeOf([&] { Info(bob); }), ErrorCode::kNotFound);
  EXPECT_EQ(CodeOf([&] { Info(bob, v); }), ErrorCode::kNotFound);
  EXPECT_EQ(CodeOf([&] { Get(bob, v); }), ErrorCode::kNotFound);
  EXPECT_EQ(CodeOf([&] { hs_->RunSync(hs_->key_backup.DeleteVersion(bob, v)); }),
            ErrorCode::kNotFound);
  EXPECT_EQ(Create(bob), "1");  // bob's own numbering
  EXPECT_EQ(Ciphertext(Get(alice, v), "!r:test.local", "s"), "secret");
}

TEST_P(KeyBackupTest, DeactivationDeletesTheBackup) {
  auto alice = Register("alice");
  auto v = Create(alice);
  Put(alice, v, Rooms("!r:test.local", "s", Key(0, 0, false, "secret")));
  hs_->RunSync(hs_->accounts.DeactivateUser(alice.user_id, false, alice.user_id));
  auto left = hs_->db().Read([&](sql::Tx& tx) {
    return tx.QueryOne("SELECT COUNT(*) FROM key_backup_keys WHERE user_id = $1", {alice.user_id})
        ->Int(0);
  });
  EXPECT_EQ(left, 0);
  EXPECT_EQ(CodeOf([&] { Info(alice); }), ErrorCode::kNotFound);
}

TEST_P(KeyBackupTest, MalformedKeysAreRefusedWhole) {
  auto alice = Register("alice");
  auto v = Create(alice);
  auto good = Key(0, 0, false, "c");
  auto without = [&](const char* field) {
    auto k = good;
    k.erase(field);
    return k;
  };
  auto with = [&](const char* field, bj::value value) {
    auto k = good;
    k[field] = std::move(value);
    return k;
  };
  for (const auto& bad :
       {without("is_verified"), without("session_data"), without("first_message_index"),
        with("first_message_index", -1), with("forwarded_count", 1.5), with("is_verified", "yes"),
        with("session_data", "text")}) {
    bj::object rooms{{"!r:test.local", {{"sessions", {{"ok", good}, {"bad", bad}}}}}};
    EXPECT_EQ(CodeOf([&] { Put(alice, v, rooms); }), ErrorCode::kBadJson) << bj::serialize(bad);
  }
  EXPECT_EQ(CodeOf([&] { Put(alice, v, Rooms("#alias:test.local", "s", good)); }),
            ErrorCode::kInvalidParam);
  EXPECT_EQ(CodeOf([&] { Put(alice, v, Rooms("!r:test.local", "", good)); }),
            ErrorCode::kInvalidParam);
  EXPECT_EQ(CodeOf([&] {
              Put(alice, v, bj::object{{"!r:test.local", "x"}});
            }),
            ErrorCode::kBadJson);
  EXPECT_EQ(Info(alice).at("count"), 0);
}

VIGIE_INSTANTIATE_ENGINE_TEST_SUITE(KeyBackupTest);

}  // namespace
}  // namespace vigie::service
