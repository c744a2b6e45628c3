#include "service/push_rule_service.h"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include "service/service_test_util.h"
#include "storage/user_data_store.h"

namespace vigie::service {
namespace {

namespace bj = boost::json;

// Notifications end to end: events evaluated in RoomWriter, counts in
// /sync, receipts clearing them, and the rules API.
class PushTest : public ::testing::Test {
 protected:
  void SetUp() override {
    crypto::Init();
    hs_ = std::make_unique<Homeserver>(TestConfig());
    alice_ = Register("alice");
    bob_ = Register("bob");
    carol_ = Register("carol");
  }
  Requester Register(const std::string& name) { return RegisterAndLogin(*hs_, name); }
  // A room of Alice's that the others have joined.
  std::string Room(const std::vector<const Requester*>& others) {
    CreateRoomOptions o;
    o.preset = "public_chat";
    std::string room = hs_->RunSync(hs_->rooms.CreateRoom(alice_, o)).room_id;
    for (const auto* who : others) hs_->RunSync(hs_->rooms.Join(*who, room, std::nullopt));
    return room;
  }
  std::string Send(const Requester& who, const std::string& room, bj::object content,
                   const std::string& type = "m.room.message") {
    return hs_->RunSync(
        hs_->rooms.Send(who, room, type, std::move(content), "t" + std::to_string(++txn_)));
  }
  std::string Say(const Requester& who, const std::string& room, const std::string& body,
                  bj::object extra = {}) {
    bj::object c{{"msgtype", "m.text"}, {"body", body}};
    for (auto& [k, v] : extra) c[k] = v;
    return Send(who, room, std::move(c));
  }
  // (notification_count, highlight_count) of `room` in an initial sync.
  std::pair<std::int64_t, std::int64_t> Counts(const Requester& who, const std::string& room) {
    auto r = hs_->RunSync(hs_->sync.Sync(who, SyncRequest{}));
    for (const auto& j : r.join) {
      if (j.room_id == room) return {j.notification_count, j.highlight_count};
    }
    ADD_FAILURE() << "room not in sync";
    return {-1, -1};
  }
  void Receipt(const Requester& who, const std::string& room, const std::string& type,
               const std::string& event, std::optional<std::string> thread = std::nullopt) {
    hs_->RunSync(hs_->receipts.Send(who, room, type, event, thread));
  }
  ErrorCode CodeOf(const std::function<void()>& f) { return ErrorOf(f).code(); }
  bj::object Mention(const Requester& who) {
    return {{"m.mentions", {{"user_ids", bj::array{bj::value(who.user_id)}}}}};
  }

  std::unique_ptr<Homeserver> hs_;
  Requester alice_, bob_, carol_;
  int txn_ = 0;
};

TEST_F(PushTest, MentionCountsUntilReceipt) {
  std::string room = Room({&bob_, &carol_});
  std::string first = Say(alice_, room, "hey bob", Mention(bob_));
  EXPECT_EQ(Counts(bob_, room), std::make_pair(std::int64_t{1}, std::int64_t{1}));
  EXPECT_EQ(Counts(carol_, room), std::make_pair(std::int64_t{1}, std::int64_t{0}));
  EXPECT_EQ(Counts(alice_, room), std::make_pair(std::int64_t{0}, std::int64_t{0}));
  std::string second = Say(alice_, room, "and another thing");
  EXPECT_EQ(Counts(bob_, room), std::make_pair(std::int64_t{2}, std::int64_t{1}));

  Receipt(bob_, room, "m.read", first);
  EXPECT_EQ(Counts(bob_, room), std::make_pair(std::int64_t{1}, std::int64_t{0}));
  Receipt(bob_, room, "m.read", second);
  EXPECT_EQ(Counts(bob_, room), std::make_pair(std::int64_t{0}, std::int64_t{0}));
  // Going back is accepted and changes nothing.
  Receipt(bob_, room, "m.read", first);
  auto kept = hs_->db().Read([&](sql::Tx& tx) {
    auto r = storage::RoomStore::GetRoom(tx, room);
    return storage::UserDataStore::GetReceipt(tx, r->room_nid, bob_.user_id, "m.read", "");
  });
  ASSERT_TRUE(kept);
  EXPECT_EQ(kept->event_id, second);
  EXPECT_EQ(Counts(bob_, room), std::make_pair(std::int64_t{0}, std::int64_t{0}));

  // A private receipt clears as well.
  std::string third = Say(alice_, room, "more");
  EXPECT_EQ(Counts(carol_, room).first, 3);
  Receipt(carol_, room, "m.read.private", third);
  EXPECT_EQ(Counts(carol_, room).first, 0);
}

TEST_F(PushTest, StateAndOwnEventsDoNotCount) {
  std::string room = Room({&bob_, &carol_});
  hs_->RunSync(hs_->rooms.SetState(alice_, room, "m.room.topic", "", {{"topic", "x"}}));
  Send(alice_, room, {{"m.relates_to", {{"rel_type", "m.annotation"}}}}, "m.reaction");
  Say(alice_, room, "bot", {{"msgtype", "m.notice"}});
  EXPECT_EQ(Counts(bob_, room).first, 0);
  Say(alice_, room, "one");
  Say(alice_, room, "two");
  EXPECT_EQ(Counts(bob_, room).first, 2);
  // Bob's reply marks what came before as read.
  Say(bob_, room, "replying");
  EXPECT_EQ(Counts(bob_, room).first, 0);
  EXPECT_EQ(Counts(alice_, room).first, 1);
}

TEST_F(PushTest, RoomMentionNeedsPower) {
  std::string room = Room({&bob_, &carol_});
  bj::object at_room{{"m.mentions", {{"room", true}}}};
  Say(bob_, room, "@room listen", at_room);  // Bob has level 0
  EXPECT_EQ(Counts(carol_, room), std::make_pair(std::int64_t{1}, std::int64_t{0}));
  Say(alice_, room, "@room listen", at_room);  // Alice has 100
  EXPECT_EQ(Counts(carol_, room), std::make_pair(std::int64_t{2}, std::int64_t{1}));
}

TEST_F(PushTest, ThreadedReceipts) {
  std::string room = Room({&bob_});
  std::string root = Say(alice_, room, "root");
  std::string reply = Say(alice_, room, "in thread",
                          {{"m.relates_to", {{"rel_type", "m.thread"}, {"event_id", root}}}});
  std::string main2 = Say(alice_, room, "main again");
  EXPECT_EQ(Counts(bob_, room).first, 3);
  // The thread's receipt clears only the thread; main's only main.
  Receipt(bob_, room, "m.read", reply, root);
  EXPECT_EQ(Counts(bob_, room).first, 2);
  Receipt(bob_, room, "m.read", root, "main");
  EXPECT_EQ(Counts(bob_, room).first, 1);
  // The reply is not in the main timeline; the root is not in another thread.
  EXPECT_EQ(CodeOf([&] { Receipt(bob_, room, "m.read", reply, "main"); }),
            ErrorCode::kInvalidParam);
  EXPECT_EQ(CodeOf([&] { Receipt(bob_, room, "m.read", main2, root); }), ErrorCode::kInvalidParam);
  // An unthreaded receipt clears everything before it.
  Receipt(bob_, room, "m.read", main2);
  EXPECT_EQ(Counts(bob_, room).first, 0);
}

TEST_F(PushTest, CountsStartAfterEachJoin) {
  std::string room = Room({&bob_, &carol_});
  std::string root = Say(alice_, room, "before bob leaves");
  EXPECT_EQ(Counts(bob_, room).first, 1);
  hs_->RunSync(hs_->rooms.Membership(bob_, room, bob_.user_id, "leave", std::nullopt));
  Say(alice_, room, "while bob is away");
  hs_->RunSync(hs_->rooms.Join(bob_, room, std::nullopt));
  // Nothing from before the join counts, read or not.
  EXPECT_EQ(Counts(bob_, room).first, 0);
  EXPECT_EQ(Counts(carol_, room).first, 2);
  Say(alice_, room, "in thread",
      {{"m.relates_to", {{"rel_type", "m.thread"}, {"event_id", root}}}});
  Say(alice_, room, "main");
  EXPECT_EQ(Counts(bob_, room).first, 2);
  // A profile change is no join: like any event of Bob's it marks the
  // main timeline read, not the thread.
  hs_->RunSync(hs_->rooms.SetState(bob_, room, "m.room.member", bob_.user_id,
                                   {{"membership", "join"}, {"displayname", "Bob"}}));
  EXPECT_EQ(Counts(bob_, room).first, 1);
  EXPECT_EQ(Counts(carol_, room).first, 4);
}

// A notification every member shares is one record for the room; only the
// members whose outcome differs have records of their own.
TEST_F(PushTest, SharedOutcomesAreRecordedOncePerEvent) {
  Requester dave = Register("dave");
  Requester erin = Register("erin");
  std::string room = Room({&bob_, &carol_, &dave, &erin});
  hs_->RunSync(hs_->push_rules.Put(carol_, "room", room, {{"actions", bj::array{}}}, {}, {}));
  auto rows = [&] {
    return hs_->db().Read([&](sql::Tx& tx) {
      return std::make_pair(tx.QueryOne("SELECT COUNT(*) FROM event_push_summary")->Int(0),
                            tx.QueryOne("SELECT COUNT(*) FROM event_push_actions")->Int(0));
    });
  };
  auto before = rows();
  Say(alice_, room, "hey bob", Mention(bob_));
  EXPECT_EQ(rows(), std::make_pair(before.first + 1, before.second + 2));  // Bob's, Carol's
  Say(alice_, room, "everyone");
  EXPECT_EQ(rows(), std::make_pair(before.first + 2, before.second + 3));  // Carol's
  EXPECT_EQ(Counts(bob_, room), std::make_pair(std::int64_t{2}, std::int64_t{1}));
  EXPECT_EQ(Counts(carol_, room), std::make_pair(std::int64_t{0}, std::int64_t{0}));
  EXPECT_EQ(Counts(dave, room), std::make_pair(std::int64_t{2}, std::int64_t{0}));
  EXPECT_EQ(Counts(alice_, room), std::make_pair(std::int64_t{0}, std::int64_t{0}));
  // Where most are not notified (all but Dave muted the room), only
  // Dave's notification is recorded.
  hs_->RunSync(hs_->push_rules.Put(bob_, "room", room, {{"actions", bj::array{}}}, {}, {}));
  hs_->RunSync(hs_->push_rules.Put(erin, "room", room, {{"actions", bj::array{}}}, {}, {}));
  before = rows();
  Say(alice_, room, "for dave");
  EXPECT_EQ(rows(), std::make_pair(before.first, before.second + 1));
  EXPECT_EQ(Counts(dave, room).first, 3);
  EXPECT_EQ(Counts(bob_, room).first, 2);
}

// Members woken by the same messages count them from the room's push rows
// read once (RecentPush): each still gets their own counts, their own
// mention, and nothing for their own messages or what they have read.
TEST_F(PushTest, WokenMembersCountFromTheRoomsSharedRows) {
  std::string room = Room({&bob_, &carol_});
  auto sync = [&](const Requester& who, const std::string& since) {
    SyncRequest req;
    req.since = since;
    auto r = hs_->RunSync(hs_->sync.Sync(who, req));
    std::pair<std::int64_t, std::int64_t> counts{-1, -1};
    for (const auto& j : r.join) {
      if (j.room_id == room) counts = {j.notification_count, j.highlight_count};
    }
    return std::make_pair(r.next_batch, counts);
  };
  std::string tb = hs_->RunSync(hs_->sync.Sync(bob_, SyncRequest{})).next_batch;
  std::string tc = hs_->RunSync(hs_->sync.Sync(carol_, SyncRequest{})).next_batch;
  using P = std::pair<std::int64_t, std::int64_t>;
  const auto shared = hs_->sync.SharedPushRows();
  std::string last;
  const std::vector<std::pair<P, P>> expected = {
      // (Carol's own message clears hers: it reads as everything before it read.)
      {{1, 0}, {1, 0}},
      {{2, 1}, {2, 0}},
      {{3, 1}, {3, 0}},
      {{4, 1}, {0, 0}}};
  for (std::size_t i = 0; i < expected.size(); ++i) {
    if (i == 1) {
      last = Say(alice_, room, "bob, look", Mention(bob_));
    } else if (i == 3) {
      last = Say(carol_, room, "carol's own");
    } else {
      last = Say(alice_, room, "news " + std::to_string(i));
    }
    auto [nb, cb] = sync(bob_, tb);
    auto [nc, cc] = sync(carol_, tc);
    tb = nb;
    tc = nc;
    EXPECT_EQ(cb, expected[i].first) << "bob after message " << i;
    EXPECT_EQ(cc, expected[i].second) << "carol after message " << i;
  }
  // Every woken count but the first (which keeps the room's rows) is from
  // the shared rows, Carol's after her own message too: new rows join them
  // as they commit.
  EXPECT_EQ(hs_->sync.SharedPushRows(), shared + 7) << "members read the rows themselves";
  Receipt(bob_, room, "m.read", last);
  Say(alice_, room, "after the receipt");
  EXPECT_EQ(sync(bob_, tb).second, (P{1, 0}));  // (alice's, after the receipt)
  EXPECT_EQ(sync(carol_, tc).second, (P{1, 0}));
}

// A sender's own message in the main timeline marks only the main
// timeline read for them: their woken sync counts it from the shared rows
// (what they had in threads stays), where an own message in a thread
// makes their counts start afresh from the database. Every count is the
// database's.
TEST_F(PushTest, ASendersOwnMainTimelineMessageIsCountedFromTheSharedRows) {
  const std::string room = Room({&bob_, &carol_});
  using P = std::pair<std::int64_t, std::int64_t>;
  std::string tc = hs_->RunSync(hs_->sync.Sync(carol_, SyncRequest{})).next_batch;
  auto woken = [&] {
    SyncRequest req;
    req.since = tc;
    auto r = hs_->RunSync(hs_->sync.Sync(carol_, req));
    tc = r.next_batch;
    for (const auto& j : r.join) {
      if (j.room_id == room) return P{j.notification_count, j.highlight_count};
    }
    ADD_FAILURE() << "room not in sync";
    return P{-1, -1};
  };
  auto stored = [&] {
    return hs_->db().Read([&](sql::Tx& tx) {
      return storage::UserDataStore::UnreadCounts(
          tx, storage::RoomStore::GetRoom(tx, room)->room_nid, carol_.user_id);
    });
  };
  auto in_thread = [](const std::string& root) {
    return bj::object{{"m.relates_to", {{"rel_type", "m.thread"}, {"event_id", root}}}};
  };
  const std::string root = Say(alice_, room, "root");
  Say(alice_, room, "in the thread", in_thread(root));
  Say(alice_, room, "carol, look", Mention(carol_));
  EXPECT_EQ(woken(), (P{3, 1}));
  EXPECT_EQ(stored(), (P{3, 1}));

  auto shared = hs_->sync.SharedPushRows();
  Say(carol_, room, "mine");
  EXPECT_EQ(woken(), (P{1, 0})) << "the thread's reply is still unread";
  EXPECT_EQ(stored(), (P{1, 0}));
  EXPECT_EQ(hs_->sync.SharedPushRows(), shared + 1) << "counted afresh in the database";

  Say(alice_, room, "main again");
  Say(alice_, room, "thread again", in_thread(root));
  Say(carol_, room, "mine again");
  Say(alice_, room, "after mine", Mention(carol_));
  EXPECT_EQ(woken(), (P{3, 1}));  // both replies, and the mention after hers
  EXPECT_EQ(stored(), (P{3, 1}));

  shared = hs_->sync.SharedPushRows();
  Say(carol_, room, "my reply", in_thread(root));
  EXPECT_EQ(woken(), (P{1, 1})) << "her reply marks the thread read, not the main timeline";
  EXPECT_EQ(stored(), (P{1, 1}));
  EXPECT_EQ(hs_->sync.SharedPushRows(), shared) << "a thread's mark is counted in the database";
}

TEST_F(PushTest, RulesApiOrderingAndErrors) {
  auto rules = hs_->RunSync(hs_->push_rules.GetAll(bob_));
  const auto& global = rules.at("global").as_object();
  EXPECT_EQ(global.at("override").as_array().size(), 10u);
  EXPECT_EQ(global.at("underride").as_array().size(), 5u);

  bj::object body{{"actions", {"notify"}},
                  {"conditions", {{{"kind", "event_match"}, {"key", "type"}, {"pattern", "x"}}}}};
  auto put = [&](const std::string& id, std::optional<std::string> before = std::nullopt,
                 std::optional<std::string> after = std::nullopt) {
    hs_->RunSync(hs_->push_rules.Put(bob_, "override", id, body, before, after));
  };
  put("a");
  put("b");                     // new rules go first: b a
  put("c", std::nullopt, "b");  // b c a
  put("d", "b");                // d b c a
  put("a", "d");                // a d b c
  auto ids = [&] {
    std::vector<std::string> out;
    auto all = hs_->RunSync(hs_->push_rules.GetAll(bob_));
    for (const auto& r : all.at("global").at("override").as_array()) {
      out.emplace_back(r.at("rule_id").as_string());
    }
    return out;
  };
  auto got = ids();
  ASSERT_GE(got.size(), 5u);
  EXPECT_EQ(std::vector<std::string>(got.begin(), got.begin() + 5),
            (std::vector<std::string>{".m.rule.master", "a", "d", "b", "c"}));

  EXPECT_EQ(CodeOf([&] { put("e", "nope"); }), ErrorCode::kUnknown);
  EXPECT_EQ(CodeOf([&] { put("e", ".m.rule.master"); }), ErrorCode::kUnknown);
  EXPECT_EQ(CodeOf([&] { put(".m.rule.mine"); }), ErrorCode::kInvalidParam);
  EXPECT_EQ(CodeOf([&] { hs_->RunSync(hs_->push_rules.Put(bob_, "bogus", "x", body, {}, {})); }),
            ErrorCode::kInvalidParam);
  EXPECT_EQ(
      CodeOf([&] { hs_->RunSync(hs_->push_rules.Delete(bob_, "override", ".m.rule.master")); }),
      ErrorCode::kInvalidParam);
  EXPECT_EQ(CodeOf([&] { hs_->RunSync(hs_->push_rules.Delete(bob_, "override", "zz")); }),
            ErrorCode::kNotFound);
  EXPECT_EQ(CodeOf([&] { hs_->RunSync(hs_->push_rules.Get(bob_, "content", "a")); }),
            ErrorCode::kNotFound);
  hs_->RunSync(hs_->push_rules.Delete(bob_, "override", "d"));
  got = ids();
  EXPECT_EQ(got[2], "b");

  // Enabled and actions, on user and default rules.
  hs_->RunSync(hs_->push_rules.SetEnabled(bob_, "override", "a", false));
  EXPECT_FALSE(hs_->RunSync(hs_->push_rules.Get(bob_, "override", "a")).at("enabled").as_bool());
  put("a");  // an update keeps the flag
  EXPECT_FALSE(hs_->RunSync(hs_->push_rules.Get(bob_, "override", "a")).at("enabled").as_bool());
  hs_->RunSync(
      hs_->push_rules.SetActions(bob_, "underride", ".m.rule.message", bj::array{"dont_notify"}));
  auto msg = hs_->RunSync(hs_->push_rules.Get(bob_, "underride", ".m.rule.message"));
  EXPECT_TRUE(msg.at("actions").as_array().empty());
  EXPECT_TRUE(msg.at("default").as_bool());
  // Other users are untouched.
  EXPECT_EQ(hs_->RunSync(hs_->push_rules.Get(carol_, "underride", ".m.rule.message"))
                .at("actions")
                .as_array()
                .size(),
            1u);
}

TEST_F(PushTest, RuleChangesApplyToTheNextEvent) {
  std::string room = Room({&bob_, &carol_});
  Say(alice_, room, "warms the cache");
  EXPECT_EQ(Counts(bob_, room).first, 1);
  hs_->RunSync(hs_->push_rules.SetEnabled(bob_, "underride", ".m.rule.message", false));
  Say(alice_, room, "muted for bob");
  EXPECT_EQ(Counts(bob_, room).first, 1);
  EXPECT_EQ(Counts(carol_, room).first, 2);
  // A room rule silences the room; a sender rule with highlight wins for
  // its sender only where no room rule matched first.
  hs_->RunSync(hs_->push_rules.SetEnabled(bob_, "underride", ".m.rule.message", true));
  hs_->RunSync(hs_->push_rules.Put(bob_, "sender", alice_.user_id,
                                   {{"actions", {"notify", {{"set_tweak", "highlight"}}}}}, {},
                                   {}));
  Say(alice_, room, "boss speaks");
  EXPECT_EQ(Counts(bob_, room), std::make_pair(std::int64_t{2}, std::int64_t{1}));
  hs_->RunSync(hs_->push_rules.Put(bob_, "room", room, {{"actions", bj::array{}}}, {}, {}));
  Say(alice_, room, "quiet");
  EXPECT_EQ(Counts(bob_, room), std::make_pair(std::int64_t{2}, std::int64_t{1}));
  EXPECT_EQ(CodeOf([&] {
              hs_->RunSync(hs_->push_rules.Put(bob_, "room", "not-a-room",
                                               {{"actions", bj::array{}}}, {}, {}));
            }),
            ErrorCode::kInvalidParam);
}

TEST_F(PushTest, SyncDeliversPushRules) {
  auto has_rules = [](const SyncResult& r) -> const bj::object* {
    for (const auto& e : r.account_data) {
      if (e.at("type").as_string() == "m.push_rules") return &e.at("content").as_object();
    }
    return nullptr;
  };
  auto initial = hs_->RunSync(hs_->sync.Sync(bob_, SyncRequest{}));
  const bj::object* defaults = has_rules(initial);
  ASSERT_NE(defaults, nullptr);
  EXPECT_EQ(defaults->at("global").at("override").as_array().size(), 10u);
  SyncRequest inc;
  inc.since = initial.next_batch;
  auto none = hs_->RunSync(hs_->sync.Sync(bob_, inc));
  EXPECT_EQ(has_rules(none), nullptr);

  hs_->RunSync(hs_->push_rules.Put(bob_, "content", "cake",
                                   {{"pattern", "cake"}, {"actions", {"notify"}}}, {}, {}));
  auto changed = hs_->RunSync(hs_->sync.Sync(bob_, inc));
  const bj::object* now = has_rules(changed);
  ASSERT_NE(now, nullptr);
  const auto& content = now->at("global").at("content").as_array();
  ASSERT_EQ(content.size(), 1u);
  EXPECT_EQ(content[0].at("rule_id").as_string(), "cake");
  EXPECT_EQ(content[0].at("pattern").as_string(), "cake");
  // Clients cannot write it as account data.
  auto e = ErrorOf(
      [&] { hs_->RunSync(hs_->account_data.Set(bob_, bob_.user_id, "", "m.push_rules", {})); });
  EXPECT_EQ(e.code(), ErrorCode::kBadJson);
  EXPECT_EQ(e.status_override(), 405);
}

}  // namespace
}  // namespace vigie::service
