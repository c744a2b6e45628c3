// The domain stores, on both engines.
#include <gtest/gtest.h>

#include "common/time.h"
#include "storage/account_store.h"
#include "storage/audit_store.h"
#include "storage/migrations.h"
#include "storage/room_store.h"
#include "storage/storage_test_util.h"
#include "storage/user_data_store.h"

namespace vigie::storage {
namespace {

using sql::Tx;

class StoresTest : public sql::testutil::EngineTest {
 protected:
  void SetUp() override {
    EngineTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    Migrate(db());
  }
  void AddUser(Tx& tx, const std::string& id) {
    AccountStore::CreateUser(tx, {id, "default", "hash", false, false, 1});
  }
};

TEST_P(StoresTest, MigrationsAreIdempotentAndVersioned) {
  EXPECT_EQ(Migrate(db()), LatestSchemaVersion());
  Restart();
  EXPECT_EQ(Migrate(db()), LatestSchemaVersion());
}

TEST_P(StoresTest, UsersDevicesTokens) {
  db().Write([&](Tx& tx) { AddUser(tx, "@a:x"); });
  // A failed statement ends its transaction (on PostgreSQL it must).
  EXPECT_THROW(db().Write([&](Tx& tx) { AddUser(tx, "@a:x"); }), sql::UniqueViolation);
  db().Write([&](Tx& tx) {
    AddUser(tx, "@a2:x");
    DeviceRecord d;
    d.user_id = "@a2:x";
    d.device_id = "D1";
    d.display_name = "phone";
    d.created_ts = 5;
    AccountStore::UpsertDevice(tx, d);
    d.display_name.reset();  // an upsert without a name keeps the old one
    d.last_seen_ip = "10.0.0.1";
    AccountStore::UpsertDevice(tx, d);
    AccountStore::InsertToken(tx, {"@a2:x", "D1", "h1"}, 1);
    AccountStore::InsertToken(tx, {"@a2:x", "D1", "h2"}, 1);
  });
  db().Read([&](Tx& tx) {
    auto dev = AccountStore::GetDevice(tx, "@a2:x", "D1");
    ASSERT_TRUE(dev);
    EXPECT_EQ(dev->display_name, "phone");
    EXPECT_EQ(dev->last_seen_ip, "10.0.0.1");
    EXPECT_EQ(dev->state, DeviceState::kActive);
    EXPECT_EQ(AccountStore::FindToken(tx, "h2")->device_id, "D1");
    EXPECT_EQ(AccountStore::ListUsers(tx, 0, 10).size(), 2u);
    EXPECT_EQ(AccountStore::ListUsers(tx, 1, 10).size(), 1u);
  });
  db().Write([&](Tx& tx) { EXPECT_TRUE(AccountStore::DeleteDevice(tx, "@a2:x", "D1")); });
  db().Read([&](Tx& tx) {
    EXPECT_FALSE(AccountStore::FindToken(tx, "h1"));
    EXPECT_FALSE(AccountStore::GetDevice(tx, "@a2:x", "D1"));
  });
}

TEST_P(StoresTest, RegistrationTokenUsesAreAtomic) {
  db().Write([&](Tx& tx) { AccountStore::CreateRegistrationToken(tx, {"t", 2, 0, 0, 100}, 1); });
  db().Write([&](Tx& tx) {
    EXPECT_TRUE(AccountStore::UseRegistrationToken(tx, "t", 50));
    EXPECT_TRUE(AccountStore::UseRegistrationToken(tx, "t", 50));
    EXPECT_FALSE(AccountStore::UseRegistrationToken(tx, "t", 50));
    EXPECT_FALSE(AccountStore::RegistrationTokenUsable(tx, "t", 50));
  });
  db().Write([&](Tx& tx) { AccountStore::CreateRegistrationToken(tx, {"old", {}, 0, 0, 10}, 1); });
  db().Read([&](Tx& tx) { EXPECT_FALSE(AccountStore::RegistrationTokenUsable(tx, "old", 11)); });
}

TEST_P(StoresTest, AuditChainDetectsTampering) {
  for (int i = 0; i < 5; ++i) {
    db().Write([&](Tx& tx) {
      AuditStore::Append(tx, {0, 100 + i, "cli", "default", "test.action", "@u:x",
                              "{\"i\":" + std::to_string(i) + "}", "", ""});
    });
  }
  auto ok = db().Read([](Tx& tx) { return AuditStore::Verify(tx); });
  EXPECT_TRUE(ok.ok);
  EXPECT_EQ(ok.entries, 5);
  // The table refuses changes...
  EXPECT_ANY_THROW(db().Write([](Tx& tx) { tx.Query("UPDATE audit_log SET actor = 'x'"); }));
  EXPECT_ANY_THROW(db().Write([](Tx& tx) { tx.Query("DELETE FROM audit_log"); }));
  // ...and one made behind its back (triggers dropped) is found.
  if (dialect() == sql::Dialect::kSqlite) {
    db().ExecScript("DROP TRIGGER audit_log_no_update");
  } else {
    db().ExecScript("DROP TRIGGER audit_log_no_change ON audit_log");
  }
  db().Write([](Tx& tx) { tx.Query("UPDATE audit_log SET details = '{\"i\":9}' WHERE seq = 3"); });
  auto bad = db().Read([](Tx& tx) { return AuditStore::Verify(tx); });
  EXPECT_FALSE(bad.ok);
  EXPECT_EQ(bad.first_bad_seq, 3);
}

TEST_P(StoresTest, StateGroupsAreDeltasWithSnapshots) {
  std::int64_t room = db().Write([](Tx& tx) {
    return RoomStore::CreateRoom(tx, {0, "!r:x", "12", "@a:x", "default", 1});
  });
  // 100 state changes on 10 keys: loads must see the latest of each.
  std::optional<std::int64_t> group;
  std::vector<std::int64_t> groups;
  db().Write([&](Tx& tx) {
    for (int i = 1; i <= 100; ++i) {
      StateMap delta{{{"k", std::to_string(i % 10)}, i}};
      group = RoomStore::NewStateGroup(tx, room, group, delta);
      groups.push_back(*group);
    }
  });
  db().Read([&](Tx& tx) {
    StateMap last = RoomStore::LoadStateGroup(tx, groups.back());
    ASSERT_EQ(last.size(), 10u);
    for (int k = 0; k < 10; ++k) {
      EXPECT_EQ(last.at({"k", std::to_string(k)}), 90 + (k == 0 ? 10 : k));
    }
    StateMap early = RoomStore::LoadStateGroup(tx, groups[4]);  // after events 1..5
    EXPECT_EQ(early.size(), 5u);
    EXPECT_EQ(early.at({"k", "3"}), 3);
    // Not a full copy per group: entries stay well below groups x keys.
    auto entries = tx.QueryOne("SELECT COUNT(*) FROM state_group_entries")->Int(0);
    EXPECT_LT(entries, 100 + 10 * (100 / RoomStore::kSnapshotInterval + 1));
  });
}

// A snapshot of a large state (many statements' worth of rows, written
// deferred) loads whole, and so do the deltas after it.
TEST_P(StoresTest, LargeStateSnapshotsLoadWhole) {
  std::int64_t room = db().Write([](Tx& tx) {
    return RoomStore::CreateRoom(tx, {0, "!big:x", "12", "@a:x", "default", 1});
  });
  constexpr int kMembers = 1234;
  StateMap all;
  for (int i = 0; i < kMembers; ++i) all[{"m.room.member", "@u" + std::to_string(i) + ":x"}] = i;
  std::vector<std::int64_t> groups;
  db().Write([&](Tx& tx) {
    std::optional<std::int64_t> group = RoomStore::NewStateGroup(tx, room, std::nullopt, all);
    groups.push_back(*group);
    // Single changes until the chain ends in a new snapshot: not after 32
    // of them for a state this large, but after a quarter of its size.
    for (int i = 0; !RoomStore::SnapshotDue(i, kMembers); ++i) {
      StateMap delta{{{"m.room.member", "@u" + std::to_string(i) + ":x"}, 10000 + i}};
      all[delta.begin()->first] = 10000 + i;
      group = RoomStore::NewStateGroup(tx, room, group, delta);
      groups.push_back(*group);
    }
    EXPECT_EQ(RoomStore::LoadStateGroup(tx, *group), all);  // in the writing transaction too
  });
  db().Read([&](Tx& tx) {
    EXPECT_EQ(RoomStore::LoadStateGroup(tx, groups.back()), all);
    EXPECT_EQ(RoomStore::LoadStateGroup(tx, groups.front()).size(),
              static_cast<std::size_t>(kMembers));
    // The 32nd delta is still a delta (the state is large), and the last
    // group is a snapshot: all of the state in rows of its own.
    EXPECT_EQ(tx.QueryOne("SELECT COUNT(*) FROM state_group_entries WHERE group_nid = $1",
                          {groups[RoomStore::kSnapshotInterval]})
                  ->Int(0),
              1);
    EXPECT_EQ(tx.QueryOne("SELECT COUNT(*) FROM state_group_entries WHERE group_nid = $1",
                          {groups.back()})
                  ->Int(0),
              kMembers);
  });
}

TEST_P(StoresTest, MemberSummariesOfManyRoomsAtOnce) {
  db().Write([](Tx& tx) {
    auto big = RoomStore::CreateRoom(tx, {0, "!big:x", "12", "@a:x", "default", 1});
    auto small = RoomStore::CreateRoom(tx, {0, "!small:x", "12", "@a:x", "default", 1});
    RoomStore::CreateRoom(tx, {0, "!empty:x", "12", "@a:x", "default", 1});
    const char* states[] = {"join", "invite", "leave", "ban"};
    for (int i = 0; i < 40; ++i) {
      // @u00 ... @u39: a quarter each joined, invited, left, banned.
      std::string user = "@u" + std::string(i < 10 ? "0" : "") + std::to_string(i) + ":x";
      RoomStore::SetMembership(tx, {0, big, "!big:x", user, states[i % 4], i + 1, i + 1});
    }
    RoomStore::SetMembership(tx, {0, big, "!big:x", "@a:x", "join", 100, 100});
    RoomStore::SetMembership(tx, {0, small, "!small:x", "@a:x", "join", 101, 101});
    RoomStore::SetMembership(tx, {0, small, "!small:x", "@b:x", "invite", 102, 102});
  });
  db().Read([](Tx& tx) {
    auto room = [&](const char* id) { return RoomStore::GetRoom(tx, id)->room_nid; };
    auto sums = RoomStore::MemberSummaries(tx, "@a:x",
                                           {room("!big:x"), room("!small:x"), room("!empty:x")}, 5);
    ASSERT_EQ(sums.size(), 3u);
    const auto& big = sums[room("!big:x")];
    EXPECT_EQ(big.joined, 11);  // ten and the viewer
    EXPECT_EQ(big.invited, 10);
    // The first five joined or invited by user id, not the viewer.
    EXPECT_EQ(big.heroes,
              (std::vector<std::string>{"@u00:x", "@u01:x", "@u04:x", "@u05:x", "@u08:x"}));
    const auto& small = sums[room("!small:x")];
    EXPECT_EQ(small.joined, 1);
    EXPECT_EQ(small.invited, 1);
    EXPECT_EQ(small.heroes, std::vector<std::string>{"@b:x"});
    const auto& empty = sums[room("!empty:x")];
    EXPECT_EQ(empty.joined + empty.invited, 0);
    EXPECT_TRUE(empty.heroes.empty());
  });
}

TEST_P(StoresTest, RoomEventsMembershipsAndHeads) {
  std::int64_t room = db().Write([](Tx& tx) {
    return RoomStore::CreateRoom(tx, {0, "!r:x", "12", "@a:x", "default", 1});
  });
  db().Write([&](Tx& tx) {
    for (int i = 1; i <= 30; ++i) {
      EventRecord e;
      e.event_id = "$e" + std::to_string(i);
      e.room_nid = room;
      e.stream_pos = i * 2;
      e.depth = i;
      e.type = i == 1 ? "m.room.member" : "m.room.message";
      if (i == 1) e.state_key = "@a:x";
      e.sender = "@a:x";
      e.json = "{}";
      const std::int64_t nid = RoomStore::MaxEventNid(tx) + 1;
      e.event_nid = nid;
      RoomStore::InsertEvent(tx, e);
      if (i == 1) RoomStore::SetMembership(tx, {0, room, "!r:x", "@a:x", "join", nid, 2});
      RoomStore::UpdateRoomHead(tx, room, nid, i, 0);
    }
  });
  db().Read([&](Tx& tx) {
    auto back = RoomStore::RoomEvents(tx, room, 0, 60, 5, Direction::kBackward);
    ASSERT_EQ(back.size(), 5u);
    EXPECT_EQ(back[0].event_id, "$e30");
    auto fwd = RoomStore::RoomEvents(tx, room, 10, 20, 100, Direction::kForward);
    ASSERT_EQ(fwd.size(), 5u);  // positions 12..20
    EXPECT_EQ(fwd.front().stream_pos, 12);
    auto heads = RoomStore::RoomsWithHeads(tx, "@a:x");
    ASSERT_EQ(heads.size(), 1u);
    EXPECT_EQ(heads[0].head_pos, 60);
    EXPECT_EQ(RoomStore::MaxStreamPos(tx), 60);
    EXPECT_EQ(RoomStore::MembershipChanges(tx, "@a:x", 1, 60).size(), 1u);
    EXPECT_TRUE(RoomStore::MembershipChanges(tx, "@a:x", 2, 60).empty());
  });
  Restart();
  db().Read([&](Tx& tx) { EXPECT_EQ(RoomStore::GetEvent(tx, "$e17")->stream_pos, 34); });
}

// Both ways of reading presence (by key, and a large set's range) give the
// set's users whose presence changed in the range, and no one else's.
TEST_P(StoresTest, PresenceSinceGivesTheSetsChangesOnly) {
  db().Write([&](Tx& tx) {
    for (int i = 0; i < 1200; ++i) {
      UserDataStore::SetPresence(
          tx, {"@u" + std::to_string(i) + ":x", "online", std::nullopt, 1, std::int64_t{i + 1}});
    }
  });
  std::set<std::string> small{"@u5:x", "@u700:x", "@nobody:x"};
  std::set<std::string> large;
  for (int i = 0; i < 1100; ++i) large.insert("@u" + std::to_string(i * 2) + ":x");
  auto users = [](const std::vector<PresenceRecord>& v) {
    std::set<std::string> out;
    for (const auto& p : v) out.insert(p.user_id);
    return out;
  };
  db().Read([&](Tx& tx) {
    EXPECT_EQ(users(UserDataStore::PresenceSince(tx, small, 0, 2000)),
              (std::set<std::string>{"@u5:x", "@u700:x"}));
    // Positions are i + 1: (600, 800] holds users 600..799.
    EXPECT_EQ(users(UserDataStore::PresenceSince(tx, small, 600, 800)),
              (std::set<std::string>{"@u700:x"}));
    EXPECT_EQ(UserDataStore::PresenceSince(tx, large, 0, 2000).size(), 600u);  // even ones
    auto ranged = users(UserDataStore::PresenceSince(tx, large, 600, 800));
    EXPECT_EQ(ranged.size(), 100u);
    EXPECT_TRUE(ranged.count("@u600:x"));
    EXPECT_FALSE(ranged.count("@u599:x"));
    EXPECT_FALSE(ranged.count("@u601:x"));
    EXPECT_TRUE(UserDataStore::PresenceSince(tx, {}, 0, 2000).empty());
  });
}

TEST_P(StoresTest, UserDataAndFilters) {
  db().Write([&](Tx& tx) {
    UserDataStore::SetAccountData(tx, "@a:x", {"", "m.direct", "{}", 3});
    UserDataStore::SetAccountData(tx, "@a:x", {"", "m.direct", "{\"x\":1}", 7});
    UserDataStore::SetPresence(tx, {"@a:x", "online", "busy", 5, 8});
  });
  db().Read([&](Tx& tx) {
    auto ad = UserDataStore::AccountDataSince(tx, "@a:x", 3, 10);
    ASSERT_EQ(ad.size(), 1u);
    EXPECT_EQ(ad[0].content, "{\"x\":1}");
    EXPECT_TRUE(UserDataStore::AccountDataSince(tx, "@a:x", 7, 10).empty());
    EXPECT_EQ(UserDataStore::GetPresence(tx, "@a:x")->status_msg, "busy");
    EXPECT_EQ(UserDataStore::PresenceSince(tx, {"@a:x", "@b:x"}, 0, 10).size(), 1u);
    EXPECT_TRUE(UserDataStore::PresenceSince(tx, {"@b:x"}, 0, 10).empty());
    EXPECT_TRUE(UserDataStore::PresenceSince(tx, {"@a:x"}, 8, 10).empty());
  });
  std::string id =
      db().Write([](Tx& tx) { return UserDataStore::CreateFilter(tx, "@a:x", "{\"room\":{}}"); });
  db().Read([&](Tx& tx) {
    EXPECT_EQ(UserDataStore::GetFilter(tx, "@a:x", id), "{\"room\":{}}");
    EXPECT_FALSE(UserDataStore::GetFilter(tx, "@b:x", id));  // another user's
    EXPECT_FALSE(UserDataStore::GetFilter(tx, "@a:x", "abc"));
    EXPECT_FALSE(UserDataStore::GetFilter(tx, "@a:x", "99999999999999999999999"));
  });
}

TEST_P(StoresTest, PushActionsAndBatchedAccountData) {
  db().Write([&](Tx& tx) {
    // More users than one IN list holds.
    for (int i = 0; i < 450; i += 3) {
      UserDataStore::SetAccountData(tx, "@u" + std::to_string(i) + ":x",
                                    {"", "m.push_rules", "{\"n\":" + std::to_string(i) + "}", i});
    }
    UserDataStore::SetAccountData(tx, "@u1:x", {"!r:x", "m.push_rules", "{}", 1});  // per room
    ASSERT_EQ(RoomStore::CreateRoom(tx, {0, "!r:x", "12", "@a:x", "default", 1}), 1);
    ASSERT_EQ(RoomStore::CreateRoom(tx, {0, "!r2:x", "12", "@a:x", "default", 1}), 2);
    UserDataStore::AddPushActions(tx, 2, 13, "main", {{"@a:x", true, true}});
    UserDataStore::AddPushActions(tx, 1, 10, "main", {{"@a:x", true, false}});
    UserDataStore::AddPushActions(tx, 1, 11, "$root", {{"@a:x", true, true}});
    UserDataStore::AddPushActions(tx, 1, 12, "main", {{"@a:x", true, true}});
    UserDataStore::AddPushActions(tx, 1, 12, "main", {{"@b:x", true, false}});
  });
  db().Read([&](Tx& tx) {
    std::vector<std::string> users;
    for (int i = 0; i < 450; ++i) users.push_back("@u" + std::to_string(i) + ":x");
    auto got = UserDataStore::GlobalAccountDataOf(tx, "m.push_rules", users);
    EXPECT_EQ(got.size(), 150u);
    EXPECT_TRUE(UserDataStore::GlobalAccountDataOf(tx, "m.push_rules", {}).empty());
    EXPECT_EQ(UserDataStore::UnreadCounts(tx, 1, "@a:x"),
              std::make_pair(std::int64_t{3}, std::int64_t{2}));
    // Many rooms at once: each room's own counts; rooms with none absent.
    auto many = UserDataStore::UnreadCountsIn(tx, "@a:x", {1, 2, 3});
    ASSERT_EQ(many.size(), 2u);
    EXPECT_EQ(many[1].Total(), std::make_pair(std::int64_t{3}, std::int64_t{2}));
    EXPECT_EQ(many[2].Total(), std::make_pair(std::int64_t{1}, std::int64_t{1}));
    // Apart: the main timeline's (10 and 12) and the thread's (11).
    EXPECT_EQ(many[1], (UserDataStore::UnreadParts{{2, 1}, {1, 1}}));
    EXPECT_EQ(many[2], (UserDataStore::UnreadParts{{1, 1}, {0, 0}}));
    // Up to a position only.
    auto early = UserDataStore::UnreadCountsIn(tx, "@a:x", {1, 2}, 11);
    ASSERT_EQ(early.size(), 1u);
    EXPECT_EQ(early[1], (UserDataStore::UnreadParts{{1, 0}, {1, 1}}));
    // What was added in (after, upto], per room; every room answers.
    auto added = UserDataStore::UnreadAddedIn(tx, "@a:x", {{1, 10}, {2, 13}, {3, 0}}, 12);
    ASSERT_EQ(added.size(), 3u);
    EXPECT_EQ(added[1], (UserDataStore::UnreadParts{{1, 1}, {1, 1}}));
    EXPECT_EQ(added[2], UserDataStore::UnreadParts{});
    EXPECT_EQ(added[3], UserDataStore::UnreadParts{});
    // More rooms than one statement holds.
    std::vector<std::pair<std::int64_t, std::int64_t>> rooms;
    for (std::int64_t r = 1; r <= 120; ++r) rooms.emplace_back(r, 0);
    auto wide = UserDataStore::UnreadAddedIn(tx, "@a:x", rooms, 100);
    ASSERT_EQ(wide.size(), 120u);
    EXPECT_EQ(wide[1].Total(), std::make_pair(std::int64_t{3}, std::int64_t{2}));
    EXPECT_EQ(wide[2].Total(), std::make_pair(std::int64_t{1}, std::int64_t{1}));
  });
  db().Write([&](Tx& tx) {
    UserDataStore::ClearPushActions(tx, 1, "@a:x", 12, "main");  // main only
  });
  db().Read([&](Tx& tx) {
    EXPECT_EQ(UserDataStore::UnreadCounts(tx, 1, "@a:x"),
              std::make_pair(std::int64_t{1}, std::int64_t{1}));
    EXPECT_EQ(UserDataStore::UnreadCounts(tx, 1, "@b:x").first, 1);
  });
  // Only what follows the user's own unthreaded m.read receipt counts.
  db().Write([&](Tx& tx) {
    UserDataStore::SetReceipt(tx, 1, {"@b:x", "m.read", "$root", "$e", 12, 1, 20});  // threaded
    UserDataStore::SetReceipt(tx, 1, {"@a:x", "m.read", "", "$e", 12, 1, 21});       // another user
  });
  db().Read([&](Tx& tx) { EXPECT_EQ(UserDataStore::UnreadCounts(tx, 1, "@b:x").first, 1); });
  db().Write([&](Tx& tx) {
    UserDataStore::SetReceipt(tx, 1, {"@b:x", "m.read", "", "$e", 12, 1, 22});
  });
  db().Read([&](Tx& tx) { EXPECT_EQ(UserDataStore::UnreadCounts(tx, 1, "@b:x").first, 0); });
  db().Write([&](Tx& tx) { UserDataStore::ClearPushActions(tx, 1, "@a:x", 11, ""); });
  db().Read([&](Tx& tx) { EXPECT_EQ(UserDataStore::UnreadCounts(tx, 1, "@a:x").first, 0); });
}

TEST_P(StoresTest, PushSummariesCountForMembersButTheirSender) {
  using Counts = std::pair<std::int64_t, std::int64_t>;
  db().Write([&](Tx& tx) {
    ASSERT_EQ(RoomStore::CreateRoom(tx, {0, "!r:x", "12", "@a:x", "default", 1}), 1);
    UserDataStore::AddPushSummary(tx, 1, 20, "main", "@s:x", false);
    UserDataStore::AddPushSummary(tx, 1, 21, "main", "@a:x", false);
    UserDataStore::AddPushSummary(tx, 1, 22, "$root", "@s:x", true);
    // Bob is not notified of 22; Carol is highlighted at 20.
    UserDataStore::AddPushActions(tx, 1, 22, "$root", {{"@b:x", false, false}});
    UserDataStore::AddPushActions(tx, 1, 20, "main", {{"@c:x", true, true}});
  });
  db().Read([&](Tx& tx) {
    EXPECT_EQ(UserDataStore::UnreadCounts(tx, 1, "@a:x"), (Counts{2, 1}));  // not its own
    EXPECT_EQ(UserDataStore::UnreadCounts(tx, 1, "@b:x"), (Counts{2, 0}));
    EXPECT_EQ(UserDataStore::UnreadCounts(tx, 1, "@c:x"), (Counts{3, 2}));
    EXPECT_EQ(UserDataStore::UnreadCountsIn(tx, "@c:x", {1}, 21)[1],
              (UserDataStore::UnreadParts{{2, 1}, {0, 0}}));
    auto added = UserDataStore::UnreadAddedIn(tx, "@c:x", {{1, 20}}, 22);
    EXPECT_EQ(added[1], (UserDataStore::UnreadParts{{1, 0}, {1, 1}}));  // 21, and 22 in the thread
  });
  db().Write([&](Tx& tx) {
    UserDataStore::ClearPushActions(tx, 1, "@a:x", 22, "$root");  // the thread only
    UserDataStore::ClearPushActions(tx, 1, "@b:x", 20, "");       // everything to 20
    UserDataStore::ClearPushActions(tx, 1, "@c:x", 21, "main");
    UserDataStore::ClearPushActions(tx, 1, "@c:x", 10, "main");  // marks only rise
  });
  db().Read([&](Tx& tx) {
    EXPECT_EQ(UserDataStore::UnreadCounts(tx, 1, "@a:x"), (Counts{1, 0}));
    EXPECT_EQ(UserDataStore::UnreadCounts(tx, 1, "@b:x"), (Counts{1, 0}));
    EXPECT_EQ(UserDataStore::UnreadCounts(tx, 1, "@c:x"), (Counts{1, 1}));
    EXPECT_EQ(tx.QueryOne("SELECT COUNT(*) FROM event_push_actions WHERE user_id = '@c:x'")->Int(0),
              0);
  });
}

VIGIE_INSTANTIATE_ENGINE_TEST_SUITE(StoresTest);

}  // namespace
}  // namespace vigie::storage
