#include "service/room_service.h"

#include <gtest/gtest.h>

#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json/parse.hpp>

#include "service/service_test_util.h"

namespace vigie::service {
namespace {

class RoomTest : public ::testing::Test {
 protected:
  void SetUp() override {
    crypto::Init();
    hs_ = std::make_unique<Homeserver>(TestConfig());
    alice_ = Register("alice");
    bob_ = Register("bob");
  }
  Requester Register(const std::string& name) { return RegisterAndLogin(*hs_, name); }
  std::string Create(CreateRoomOptions o = {}) {
    return hs_->RunSync(hs_->rooms.CreateRoom(alice_, std::move(o))).room_id;
  }
  std::string Say(const Requester& who, const std::string& room, const std::string& body,
                  std::string txn = "") {
    if (txn.empty()) txn = "t" + std::to_string(++txn_);
    return hs_->RunSync(
        hs_->rooms.Send(who, room, "m.room.message", {{"msgtype", "m.text"}, {"body", body}}, txn));
  }
  SyncResult Sync(const Requester& who, std::optional<std::string> since = std::nullopt,
                  std::int64_t limit = 10) {
    SyncRequest req;
    req.since = since;
    Filter f;
    f.room.timeline.limit = limit;
    req.filter = std::make_shared<const Filter>(f);
    return hs_->RunSync(hs_->sync.Sync(who, req));
  }
  static std::string Body(const storage::EventRecord& e) {
    auto v = boost::json::parse(e.json);
    auto* b = v.at("content").as_object().if_contains("body");
    return b ? std::string(b->as_string()) : "";
  }
  static std::string Body(const storage::SharedEventRecord& e) { return Body(*e); }

  ErrorCode CodeOf(const std::function<void()>& f) { return ErrorOf(f).code(); }

  std::unique_ptr<Homeserver> hs_;
  Requester alice_, bob_;
  int txn_ = 0;
};

TEST_F(RoomTest, CreateRoomInEveryVersion) {
  for (const char* v : {"10", "11", "12"}) {
    CreateRoomOptions o;
    o.room_version = v;
    o.name = std::string("room v") + v;
    std::string id = Create(o);
    EXPECT_EQ(id.front(), '!');
    auto state = hs_->RunSync(hs_->rooms.GetState(alice_, id));
    std::set<std::string> types;
    for (const auto& e : state) types.insert(e.record.type);
    for (const char* t : {"m.room.create", "m.room.member", "m.room.power_levels",
                          "m.room.join_rules", "m.room.history_visibility", "m.room.name"}) {
      EXPECT_TRUE(types.count(t)) << v << " lacks " << t;
    }
  }
  CreateRoomOptions bad;
  bad.room_version = "9";
  EXPECT_EQ(CodeOf([&] { Create(bad); }), ErrorCode::kUnsupportedRoomVersion);
}

TEST_F(RoomTest, IdenticalRoomsCreatedAtOnceGetDistinctIds) {
  std::set<std::string> ids;
  for (int i = 0; i < 20; ++i) ids.insert(Create());
  EXPECT_EQ(ids.size(), 20u);
}

TEST_F(RoomTest, MembershipRulesAndIdempotentSends) {
  std::string room = Create();
  EXPECT_EQ(CodeOf([&] { Say(bob_, room, "not a member"); }), ErrorCode::kForbidden);
  // Private rooms need an invite.
  EXPECT_EQ(CodeOf([&] { hs_->RunSync(hs_->rooms.Join(bob_, room, std::nullopt)); }),
            ErrorCode::kForbidden);
  hs_->RunSync(hs_->rooms.Membership(alice_, room, bob_.user_id, "invite", std::nullopt));
  hs_->RunSync(hs_->rooms.Join(bob_, room, std::nullopt));
  std::string first = Say(bob_, room, "hi", "same");
  EXPECT_EQ(Say(bob_, room, "hi again", "same"), first);
  // Bob (level 0) may not kick or ban Alice, nor raise himself.
  EXPECT_EQ(CodeOf([&] {
              hs_->RunSync(hs_->rooms.Membership(bob_, room, alice_.user_id, "kick", std::nullopt));
            }),
            ErrorCode::kForbidden);
  EXPECT_EQ(CodeOf([&] {
              hs_->RunSync(
                  hs_->rooms.SetState(bob_, room, "m.room.power_levels", "",
                                      {{"users", {{bob_.user_id, 100}, {alice_.user_id, 100}}}}));
            }),
            ErrorCode::kForbidden);
  EXPECT_EQ(CodeOf([&] {
              hs_->RunSync(hs_->rooms.SetState(bob_, room, "m.room.member", alice_.user_id,
                                               {{"membership", "join"}}));
            }),
            ErrorCode::kForbidden);
  // Alice bans Bob; unbanning twice fails the second time.
  hs_->RunSync(hs_->rooms.Membership(alice_, room, bob_.user_id, "ban", std::nullopt));
  EXPECT_EQ(CodeOf([&] { Say(bob_, room, "banned"); }), ErrorCode::kForbidden);
  hs_->RunSync(hs_->rooms.Membership(alice_, room, bob_.user_id, "unban", std::nullopt));
  EXPECT_EQ(
      CodeOf([&] {
        hs_->RunSync(hs_->rooms.Membership(alice_, room, bob_.user_id, "unban", std::nullopt));
      }),
      ErrorCode::kForbidden);
}

TEST_F(RoomTest, RedactionRules) {
  CreateRoomOptions o;
  o.preset = "public_chat";
  std::string room = Create(o);
  hs_->RunSync(hs_->rooms.Join(bob_, room, std::nullopt));
  std::string alices = Say(alice_, room, "secret indicator");
  std::string bobs = Say(bob_, room, "oops");
  EXPECT_EQ(CodeOf([&] { hs_->RunSync(hs_->rooms.Redact(bob_, room, alices, "no", "r1")); }),
            ErrorCode::kForbidden);
  hs_->RunSync(hs_->rooms.Redact(bob_, room, bobs, std::nullopt, "r2"));
  hs_->RunSync(hs_->rooms.Redact(alice_, room, alices, std::string("leak"), "r3"));
  auto e = hs_->RunSync(hs_->rooms.GetEvent(bob_, room, alices));
  EXPECT_TRUE(e.record.redacted_by);
  EXPECT_EQ(Body(e.record), "");
}

TEST_F(RoomTest, OversizedEventIsRefusedAndNothingStored) {
  std::string room = Create();
  std::string big(70 * 1024, 'x');
  auto before = Sync(alice_);
  EXPECT_EQ(CodeOf([&] { Say(alice_, room, big); }), ErrorCode::kTooLarge);
  auto after = Sync(alice_, before.next_batch);
  EXPECT_TRUE(after.join.empty());
}

TEST_F(RoomTest, SyncInitialIncrementalAndLimited) {
  std::string room = Create();
  auto initial = Sync(alice_);
  ASSERT_EQ(initial.join.size(), 1u);
  EXPECT_FALSE(initial.join[0].timeline.empty());
  // Nothing new: an incremental sync without timeout is empty.
  auto none = Sync(alice_, initial.next_batch);
  EXPECT_TRUE(none.Empty());
  EXPECT_EQ(none.next_batch, initial.next_batch);
  for (int i = 0; i < 15; ++i) Say(alice_, room, "m" + std::to_string(i));
  auto inc = Sync(alice_, initial.next_batch, 5);
  ASSERT_EQ(inc.join.size(), 1u);
  const auto& tl = inc.join[0].timeline;
  ASSERT_EQ(tl.size(), 5u);
  EXPECT_TRUE(inc.join[0].limited);
  EXPECT_EQ(Body(tl.back()), "m14");
  EXPECT_EQ(Body(tl.front()), "m10");
  auto small = Sync(alice_, inc.next_batch);
  EXPECT_TRUE(small.Empty());
}

TEST_F(RoomTest, InvitesAndLeavesAppearInSync) {
  auto bob_initial = Sync(bob_);
  CreateRoomOptions o;
  o.invite = {bob_.user_id};
  o.name = "ops";
  std::string room = Create(o);
  auto invited = Sync(bob_, bob_initial.next_batch);
  ASSERT_EQ(invited.invite.size(), 1u);
  EXPECT_EQ(invited.invite[0].room_id, room);
  bool has_name = false;
  for (const auto& e : invited.invite[0].stripped_state) {
    has_name |= e.as_object().at("type").as_string() == "m.room.name";
  }
  EXPECT_TRUE(has_name);
  hs_->RunSync(hs_->rooms.Join(bob_, room, std::nullopt));
  auto joined = Sync(bob_, invited.next_batch);
  ASSERT_EQ(joined.join.size(), 1u);
  ASSERT_TRUE(joined.join[0].summary);
  EXPECT_EQ(joined.join[0].summary->joined, 2);
  hs_->RunSync(hs_->rooms.Membership(alice_, room, bob_.user_id, "kick", std::nullopt));
  auto left = Sync(bob_, joined.next_batch);
  ASSERT_EQ(left.leave.size(), 1u);
  // After leaving, Bob reads up to his departure but not beyond.
  Say(alice_, room, "after bob left");
  auto later = Sync(bob_, left.next_batch);
  EXPECT_TRUE(later.leave.empty());
  EXPECT_TRUE(later.join.empty());
}

TEST_F(RoomTest, RejectedInviteRevealsNoHistory) {
  CreateRoomOptions o;
  o.invite = {bob_.user_id};
  std::string room = Create(o);
  auto before = Sync(bob_);
  Say(alice_, room, "only for members");
  hs_->RunSync(hs_->rooms.Membership(bob_, room, bob_.user_id, "leave", std::nullopt));
  auto after = Sync(bob_, before.next_batch);
  ASSERT_EQ(after.leave.size(), 1u);
  ASSERT_EQ(after.leave[0].timeline.size(), 1u);
  EXPECT_EQ(after.leave[0].timeline[0]->type, "m.room.member");
  EXPECT_TRUE(after.leave[0].state.empty());
  EXPECT_EQ(ErrorOf([&] { hs_->RunSync(hs_->rooms.GetState(bob_, room)); }).code(),
            ErrorCode::kForbidden);
}

TEST_F(RoomTest, LongPollWakesOnNewEvent) {
  std::string room = Create();
  auto initial = Sync(alice_);
  boost::asio::io_context ioc;
  SyncResult got;
  auto start = std::chrono::steady_clock::now();
  std::chrono::steady_clock::duration woke{};
  boost::asio::co_spawn(
      ioc,
      [&]() -> boost::asio::awaitable<void> {
        SyncRequest req;
        req.since = initial.next_batch;
        req.timeout = std::chrono::seconds(20);
        got = co_await hs_->sync.Sync(alice_, req);
        woke = std::chrono::steady_clock::now() - start;
      },
      boost::asio::detached);
  boost::asio::co_spawn(
      ioc,
      [&]() -> boost::asio::awaitable<void> {
        boost::asio::steady_timer t(ioc, std::chrono::milliseconds(200));
        co_await t.async_wait(boost::asio::use_awaitable);
        boost::json::object content{{"body", "wake"}};
        co_await hs_->rooms.Send(alice_, room, "m.room.message", content, "w1");
      },
      boost::asio::detached);
  ioc.run();
  ASSERT_EQ(got.join.size(), 1u);
  EXPECT_EQ(Body(got.join[0].timeline.back()), "wake");
  EXPECT_LT(woke, std::chrono::seconds(10));  // woken, not timed out
}

// A long-poll whose user no write has woken since its token sleeps
// without looking in the database, however far other rooms' traffic has
// moved the stream; one whose user was woken in the meantime looks and
// answers at once.
TEST_F(RoomTest, ALongPollSleepsThroughOtherRoomsTrafficWithoutLooking) {
  std::string alices = Create();
  std::string bobs = hs_->RunSync(hs_->rooms.CreateRoom(bob_, {})).room_id;
  auto initial = Sync(alice_);
  Say(bob_, bobs, "not for alice");  // the stream moves past alice's token
  auto long_poll = [&](std::chrono::milliseconds timeout) {
    SyncRequest req;
    req.since = initial.next_batch;
    req.timeout = timeout;
    return hs_->RunSync(hs_->sync.Sync(alice_, req));
  };
  const auto looks = hs_->sync.Looks();
  auto quiet = long_poll(std::chrono::milliseconds(300));
  EXPECT_TRUE(quiet.Empty());
  EXPECT_EQ(hs_->sync.Looks() - looks, 1u);  // only at the timeout, to answer

  // An event in her room wakes her: the next poll from the same token looks
  // and answers at once.
  Say(bob_, bobs, "still not for alice");
  Say(alice_, alices, "for alice");
  const auto start = std::chrono::steady_clock::now();
  auto news = long_poll(std::chrono::seconds(20));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  ASSERT_EQ(news.join.size(), 1u);
  EXPECT_EQ(Body(news.join[0].timeline.back()), "for alice");

  // So does an invitation into someone else's room.
  initial = news;
  hs_->RunSync(hs_->rooms.Membership(bob_, bobs, alice_.user_id, "invite", std::nullopt));
  auto invited = long_poll(std::chrono::seconds(20));
  ASSERT_EQ(invited.invite.size(), 1u);
  EXPECT_EQ(invited.invite[0].room_id, bobs);
}

// A sync carries the presence of those who share a room with the user, and
// their own, in a first sync and after a token; never a stranger's.
// A timeline filter's contains_url keeps, or drops, the events whose
// content has a url; the other filters do not look at content at all.
TEST_F(RoomTest, TimelineContainsUrlFiltersBySyncContent) {
  std::string room = Create();
  Say(alice_, room, "plain");
  hs_->RunSync(hs_->rooms.Send(alice_, room, "m.room.message",
                               {{"msgtype", "m.image"}, {"body", "pic"}, {"url", "mxc://x/y"}},
                               "img"));
  auto bodies = [&](std::optional<bool> contains_url) {
    SyncRequest req;
    Filter f;
    f.room.timeline.types = std::vector<std::string>{"m.room.message"};
    f.room.timeline.contains_url = contains_url;
    req.filter = std::make_shared<const Filter>(f);
    std::vector<std::string> out;
    for (const auto& r : hs_->RunSync(hs_->sync.Sync(alice_, req)).join) {
      for (const auto& e : r.timeline) out.push_back(Body(e));
    }
    return out;
  };
  EXPECT_EQ(bodies(true), (std::vector<std::string>{"pic"}));
  EXPECT_EQ(bodies(false), (std::vector<std::string>{"plain"}));
  EXPECT_EQ(bodies(std::nullopt), (std::vector<std::string>{"plain", "pic"}));
}

// An incremental sync reuses the list of rooms it read before while the
// user's own memberships stay as they were (woken by messages, it reads no
// membership table), and sees each change of them at once: invited,
// joined, left, forgotten.
TEST_F(RoomTest, IncrementalSyncsKeepTheRoomListUntilTheUsersMembershipsChange) {
  auto has = [](const std::vector<RoomSync>& rooms, const std::string& id) {
    return std::any_of(rooms.begin(), rooms.end(),
                       [&](const RoomSync& r) { return r.room_id == id; });
  };
  auto bodies = [&](const SyncResult& r, const std::string& id) {
    std::vector<std::string> out;
    for (const auto& rs : r.join) {
      if (rs.room_id != id) continue;
      for (const auto& e : rs.timeline) {
        if (e->type == "m.room.message") out.push_back(Body(e));
      }
    }
    return out;
  };
  const std::string a = Create();
  hs_->RunSync(hs_->rooms.Membership(alice_, a, bob_.user_id, "invite", std::nullopt));
  auto r = Sync(bob_);
  EXPECT_TRUE(has(r.invite, a));
  hs_->RunSync(hs_->rooms.Join(bob_, a, std::nullopt));
  r = Sync(bob_, r.next_batch);
  EXPECT_TRUE(has(r.join, a));
  Say(alice_, a, "one");
  r = Sync(bob_, r.next_batch);
  EXPECT_EQ(bodies(r, a), std::vector<std::string>{"one"});

  const auto reads = hs_->sync.RoomListReads();
  Say(alice_, a, "two");
  r = Sync(bob_, r.next_batch);
  EXPECT_EQ(bodies(r, a), std::vector<std::string>{"two"});
  Say(alice_, a, "three");
  r = Sync(bob_, r.next_batch);
  EXPECT_EQ(bodies(r, a), std::vector<std::string>{"three"});
  EXPECT_EQ(hs_->sync.RoomListReads(), reads) << "messages alone re-read the list";

  const std::string b = Create();
  hs_->RunSync(hs_->rooms.Membership(alice_, b, bob_.user_id, "invite", std::nullopt));
  r = Sync(bob_, r.next_batch);
  EXPECT_TRUE(has(r.invite, b));
  hs_->RunSync(hs_->rooms.Membership(bob_, a, bob_.user_id, "leave", std::nullopt));
  r = Sync(bob_, r.next_batch);
  EXPECT_TRUE(has(r.leave, a));
  Say(alice_, a, "after");
  r = Sync(bob_, r.next_batch);
  EXPECT_FALSE(has(r.join, a));
  EXPECT_FALSE(has(r.leave, a));

  const auto before_forget = hs_->sync.RoomListReads();
  hs_->RunSync(hs_->rooms.Forget(bob_, a));
  Sync(bob_, r.next_batch);
  EXPECT_GT(hs_->sync.RoomListReads(), before_forget) << "a forget must drop the cached list";
}

TEST_F(RoomTest, PresenceGoesToThoseWhoShareARoom) {
  CreateRoomOptions o;
  o.preset = "public_chat";
  std::string room = Create(o);
  hs_->RunSync(hs_->rooms.Join(bob_, room, std::nullopt));
  Requester carol = Register("carol");
  auto senders = [](const SyncResult& r) {
    std::set<std::string> out;
    for (const auto& p : r.presence) out.insert(std::string(p.at("sender").as_string()));
    return out;
  };
  auto alice0 = Sync(alice_);
  auto carol0 = Sync(carol);
  hs_->RunSync(hs_->presence.Set(bob_, bob_.user_id, "online", std::string("on call")));
  hs_->RunSync(hs_->presence.Set(carol, carol.user_id, "unavailable", std::nullopt));

  auto alice1 = Sync(alice_, alice0.next_batch);
  EXPECT_EQ(senders(alice1), (std::set<std::string>{bob_.user_id}));
  ASSERT_EQ(alice1.presence.size(), 1u);
  EXPECT_EQ(alice1.presence[0].at("content").at("status_msg"), "on call");
  EXPECT_EQ(senders(Sync(carol, carol0.next_batch)), (std::set<std::string>{carol.user_id}));
  EXPECT_EQ(senders(Sync(alice_)), (std::set<std::string>{bob_.user_id}));
  EXPECT_EQ(senders(Sync(carol)), (std::set<std::string>{carol.user_id}));
  // Nothing new after the token: no presence again.
  EXPECT_TRUE(Sync(alice_, alice1.next_batch).presence.empty());
}

TEST_F(RoomTest, AliasesResolveAndAreUnique) {
  CreateRoomOptions o;
  o.room_alias_name = "cirt-ops";
  std::string room = Create(o);
  EXPECT_EQ(hs_->RunSync(hs_->rooms.ResolveAlias("#cirt-ops:test.local")), room);
  EXPECT_EQ(CodeOf([&] { Create(o); }), ErrorCode::kRoomInUse);
  EXPECT_EQ(CodeOf([&] { hs_->RunSync(hs_->rooms.ResolveAlias("#nope:test.local")); }),
            ErrorCode::kNotFound);
}

}  // namespace
}  // namespace vigie::service
