#include "service/history_service.h"

#include <gtest/gtest.h>

#include <set>

#include "service/engine_test_util.h"

namespace vigie::service {
namespace {

using storage::Direction;
using storage::EventRecord;

class HistoryTest : public EngineHomeserverTest {
 protected:
  MessagesPage Messages(const Requester& who, const std::string& room, Direction dir,
                        std::optional<std::string> from = std::nullopt,
                        std::optional<std::int64_t> limit = std::nullopt,
                        RoomEventFilter filter = {}, std::optional<std::string> to = std::nullopt) {
    MessagesRequest req;
    req.dir = dir;
    req.from = std::move(from);
    req.to = std::move(to);
    req.limit = limit;
    req.filter = std::move(filter);
    return hs_->RunSync(hs_->history.Messages(who, room, std::move(req)));
  }

  // Follows `end` until it is absent; returns every event, and the pages
  // in *pages.
  std::vector<EventRecord> PaginateAll(const Requester& who, const std::string& room, Direction dir,
                                       std::int64_t limit,
                                       std::optional<std::string> from = std::nullopt,
                                       const RoomEventFilter& filter = {},
                                       std::optional<std::string> to = std::nullopt,
                                       std::vector<MessagesPage>* pages = nullptr) {
    std::vector<EventRecord> all;
    for (int guard = 0; guard < 1000; ++guard) {
      auto page = Messages(who, room, dir, from, limit, filter, to);
      EXPECT_LE(static_cast<std::int64_t>(page.chunk.size()), limit);
      for (auto& e : page.chunk) all.push_back(e);
      if (pages) pages->push_back(page);
      if (!page.end) return all;
      from = page.end;
    }
    ADD_FAILURE() << "pagination did not end";
    return all;
  }

  EventRecord Event(const std::string& event_id) {
    return *hs_->db().Read([&](sql::Tx& tx) { return storage::RoomStore::GetEvent(tx, event_id); });
  }
  // The token just after `event_id` ("s<its position>").
  std::string TokenAt(const std::string& event_id) {
    return "s" + std::to_string(Event(event_id).stream_pos) + "_0";
  }

  std::string Relate(const Requester& who, const std::string& room, const std::string& type,
                     const std::string& rel_type, const std::string& parent,
                     boost::json::object content = {}) {
    boost::json::object rel{{"rel_type", rel_type}, {"event_id", parent}};
    if (rel_type == "m.annotation") rel["key"] = "+1";
    content["m.relates_to"] = std::move(rel);
    return Send(who, room, type, std::move(content));
  }

  RelationsPage Relations(const Requester& who, const std::string& room, const std::string& parent,
                          RelationsRequest req = {}) {
    return hs_->RunSync(hs_->history.Relations(who, room, parent, std::move(req)));
  }
  ThreadsPage Threads(const Requester& who, const std::string& room, ThreadsRequest req = {}) {
    return hs_->RunSync(hs_->history.Threads(who, room, std::move(req)));
  }

  static std::vector<std::string> Ids(const std::vector<EventRecord>& events) {
    std::vector<std::string> out;
    for (const auto& e : events) out.push_back(e.event_id);
    return out;
  }
  static std::vector<std::string> Bodies(const std::vector<EventRecord>& events) {
    std::vector<std::string> out;
    for (const auto& e : events) out.push_back(Body(e));
    return out;
  }

  CreateRoomOptions Public() {
    CreateRoomOptions o;
    o.preset = "public_chat";
    return o;
  }
};

// createRoom sends create, member, power levels, join rules, history
// visibility and guest access.
constexpr std::size_t kRoomSetupEvents = 6;

TEST_P(HistoryTest, BackwardPaginationReachesTheCreateEvent) {
  auto alice = Register("alice");
  auto room = CreateRoom(alice);
  for (int i = 0; i < 120; ++i) Say(alice, room, "m" + std::to_string(i));

  std::vector<MessagesPage> pages;
  auto all =
      PaginateAll(alice, room, Direction::kBackward, 25, std::nullopt, {}, std::nullopt, &pages);
  ASSERT_EQ(all.size(), 120 + kRoomSetupEvents);
  EXPECT_EQ(Body(all.front()), "m119");
  EXPECT_EQ(all.back().type, "m.room.create");
  for (std::size_t i = 1; i < all.size(); ++i) {
    EXPECT_LT(all[i].stream_pos, all[i - 1].stream_pos);
  }
  // 126 = 5 * 25 + 1: the sixth page has the create event and no `end`.
  ASSERT_EQ(pages.size(), 6u);
  EXPECT_EQ(pages.back().chunk.size(), 1u);
  // Each page starts where the previous one ended.
  for (std::size_t i = 1; i < pages.size(); ++i) EXPECT_EQ(pages[i].start, *pages[i - 1].end);
}

TEST_P(HistoryTest, ForwardPaginationFromTheStartAndAtTheLiveEnd) {
  auto alice = Register("alice");
  auto room = CreateRoom(alice);
  for (int i = 0; i < 120; ++i) Say(alice, room, "m" + std::to_string(i));

  std::vector<MessagesPage> pages;
  auto all =
      PaginateAll(alice, room, Direction::kForward, 30, std::nullopt, {}, std::nullopt, &pages);
  ASSERT_EQ(all.size(), 120 + kRoomSetupEvents);
  EXPECT_EQ(all.front().type, "m.room.create");
  EXPECT_EQ(Body(all.back()), "m119");
  for (std::size_t i = 1; i < all.size(); ++i) {
    EXPECT_GT(all[i].stream_pos, all[i - 1].stream_pos);
  }
  // At the live end the last non-empty page still has an `end`, so that a
  // client can continue once more arrives; the empty page after has none.
  ASSERT_EQ(pages.size(), 6u);
  EXPECT_EQ(pages[4].chunk.size(), 6u);
  ASSERT_TRUE(pages[4].end);
  EXPECT_TRUE(pages[5].chunk.empty());
  Say(alice, room, "later");
  auto more = Messages(alice, room, Direction::kForward, pages[4].end, 10);
  EXPECT_EQ(Bodies(more.chunk), std::vector<std::string>{"later"});
}

TEST_P(HistoryTest, SyncPrevBatchContinuesIntoMessages) {
  auto alice = Register("alice");
  auto room = CreateRoom(alice);
  for (int i = 0; i < 20; ++i) Say(alice, room, "m" + std::to_string(i));
  SyncRequest sreq;
  Filter f;
  f.room.timeline.limit = 5;
  sreq.filter = std::make_shared<const Filter>(f);
  auto sync = hs_->RunSync(hs_->sync.Sync(alice, sreq));
  ASSERT_EQ(sync.join.size(), 1u);
  EXPECT_EQ(Body(*sync.join[0].timeline.front()), "m15");
  auto page = Messages(alice, room, Direction::kBackward, sync.join[0].prev_batch, 3);
  EXPECT_EQ(Bodies(page.chunk), (std::vector<std::string>{"m14", "m13", "m12"}));
  // A sync token (next_batch) is a valid starting point too.
  auto latest = Messages(alice, room, Direction::kBackward, sync.next_batch, 1);
  EXPECT_EQ(Bodies(latest.chunk), std::vector<std::string>{"m19"});
  EXPECT_EQ(latest.start, sync.next_batch);
}

TEST_P(HistoryTest, ToBoundsTheWalk) {
  auto alice = Register("alice");
  auto room = CreateRoom(alice);
  std::vector<std::string> ids;
  for (int i = 0; i < 120; ++i) ids.push_back(Say(alice, room, "m" + std::to_string(i)));

  // Backward from the latest down to (not including) m49.
  auto back =
      PaginateAll(alice, room, Direction::kBackward, 16, std::nullopt, {}, TokenAt(ids[49]));
  ASSERT_EQ(back.size(), 70u);
  EXPECT_EQ(Body(back.front()), "m119");
  EXPECT_EQ(Body(back.back()), "m50");

  // Forward from just after m9 up to and including m19.
  auto fwd =
      PaginateAll(alice, room, Direction::kForward, 4, TokenAt(ids[9]), {}, TokenAt(ids[19]));
  ASSERT_EQ(fwd.size(), 10u);
  EXPECT_EQ(Body(fwd.front()), "m10");
  EXPECT_EQ(Body(fwd.back()), "m19");

  // A `to` on the wrong side gives nothing.
  auto none =
      Messages(alice, room, Direction::kBackward, TokenAt(ids[5]), 10, {}, TokenAt(ids[50]));
  EXPECT_TRUE(none.chunk.empty());
  EXPECT_FALSE(none.end);
  EXPECT_EQ(CodeOf([&] { Messages(alice, room, Direction::kBackward, "bogus"); }),
            ErrorCode::kInvalidParam);
}

TEST_P(HistoryTest, Filters) {
  auto alice = Register("alice");
  auto bob = Register("bob");
  auto room = CreateRoom(alice, Public());
  Join(bob, room);
  Say(alice, room, "a1");
  Send(bob, room, "org.example.custom", {{"n", 1}});
  Say(bob, room, "b1");
  Send(alice, room, "m.room.message",
       {{"msgtype", "m.image"}, {"body", "pic"}, {"url", "mxc://test.local/x"}});
  Say(alice, room, "a2");

  RoomEventFilter types;
  types.types = std::vector<std::string>{"m.room.message"};
  EXPECT_EQ(Bodies(PaginateAll(alice, room, Direction::kBackward, 2, std::nullopt, types)),
            (std::vector<std::string>{"a2", "pic", "b1", "a1"}));

  RoomEventFilter not_types;
  not_types.not_types = std::vector<std::string>{"m.room.*"};
  auto customs = PaginateAll(alice, room, Direction::kBackward, 10, std::nullopt, not_types);
  ASSERT_EQ(customs.size(), 1u);
  EXPECT_EQ(customs[0].type, "org.example.custom");

  RoomEventFilter senders;
  senders.senders = std::vector<std::string>{bob.user_id};
  auto by_bob = PaginateAll(alice, room, Direction::kForward, 10, std::nullopt, senders);
  ASSERT_EQ(by_bob.size(), 3u);  // his join, the custom event, b1
  EXPECT_EQ(by_bob[0].type, "m.room.member");

  RoomEventFilter urls;
  urls.contains_url = true;
  EXPECT_EQ(Bodies(PaginateAll(alice, room, Direction::kBackward, 10, std::nullopt, urls)),
            std::vector<std::string>{"pic"});

  RoomEventFilter other_room;
  other_room.rooms = std::vector<std::string>{"!elsewhere:test.local"};
  auto none = Messages(alice, room, Direction::kBackward, std::nullopt, 10, other_room);
  EXPECT_TRUE(none.chunk.empty());
  EXPECT_FALSE(none.end);

  // Lazy loading: the membership events of the chunk's senders only.
  RoomEventFilter lazy;
  lazy.lazy_load_members = true;
  auto page = Messages(alice, room, Direction::kBackward, std::nullopt, 2, lazy);
  ASSERT_EQ(page.state.size(), 1u);
  EXPECT_EQ(page.state[0].state_key, alice.user_id);
  page = Messages(alice, room, Direction::kBackward, std::nullopt, 4, lazy);
  std::set<std::string> members;
  for (const auto& e : page.state) {
    EXPECT_EQ(e.type, "m.room.member");
    members.insert(*e.state_key);
  }
  EXPECT_EQ(members, (std::set<std::string>{alice.user_id, bob.user_id}));
  EXPECT_TRUE(Messages(alice, room, Direction::kBackward, std::nullopt, 4).state.empty());
}

TEST_P(HistoryTest, FilterThatMatchesLittleStillReachesTheStart) {
  auto alice = Register("alice");
  auto room = CreateRoom(alice);
  Send(alice, room, "org.example.rare", {{"n", 1}});
  for (int i = 0; i < 150; ++i) Say(alice, room, "m" + std::to_string(i));
  RoomEventFilter rare;
  rare.types = std::vector<std::string>{"org.example.rare"};
  auto found = PaginateAll(alice, room, Direction::kBackward, 10, std::nullopt, rare);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].type, "org.example.rare");
}

TEST_P(HistoryTest, FormerMemberSeesUpToTheirLeave) {
  auto alice = Register("alice");
  auto bob = Register("bob");
  auto carol = Register("carol");
  auto dave = Register("dave");
  auto room = CreateRoom(alice, Public());
  Join(bob, room);
  Say(alice, room, "before1");
  auto before = Say(alice, room, "before2");
  hs_->RunSync(hs_->rooms.Membership(bob, room, bob.user_id, "leave", std::nullopt));
  auto secret = Say(alice, room, "secret");
  Relate(alice, room, "m.room.message", "m.thread", before, {{"body", "late reply"}});

  auto back = PaginateAll(bob, room, Direction::kBackward, 3);
  ASSERT_FALSE(back.empty());
  EXPECT_EQ(back.front().type, "m.room.member");
  EXPECT_EQ(back.front().state_key, bob.user_id);
  EXPECT_EQ(back.back().type, "m.room.create");
  for (const auto& e : back) EXPECT_NE(Body(e), "secret");

  // A token beyond the leave is clamped to it.
  auto clamped = Messages(bob, room, Direction::kBackward, TokenAt(secret), 1);
  EXPECT_EQ(clamped.chunk.at(0).state_key, bob.user_id);

  // Forward, the walk ends at the leave: no `end` once there.
  auto fwd = PaginateAll(bob, room, Direction::kForward, 4);
  EXPECT_EQ(fwd.size(), back.size());
  EXPECT_EQ(fwd.back().state_key, bob.user_id);

  // Context and relations beyond the leave do not exist for bob.
  EXPECT_EQ(CodeOf([&] { hs_->RunSync(hs_->history.Context(bob, room, secret, {})); }),
            ErrorCode::kNotFound);
  EXPECT_EQ(CodeOf([&] { Relations(bob, room, secret); }), ErrorCode::kNotFound);
  EXPECT_TRUE(Relations(bob, room, before).chunk.empty());
  EXPECT_TRUE(Threads(bob, room).chunk.empty());
  EXPECT_EQ(Relations(alice, room, before).chunk.size(), 1u);

  // Never a member, or only invited: forbidden.
  EXPECT_EQ(CodeOf([&] { Messages(carol, room, Direction::kBackward); }), ErrorCode::kForbidden);
  hs_->RunSync(hs_->rooms.Membership(alice, room, dave.user_id, "invite", std::nullopt));
  EXPECT_EQ(CodeOf([&] { Messages(dave, room, Direction::kBackward); }), ErrorCode::kForbidden);
  EXPECT_EQ(CodeOf([&] { Messages(alice, "!nowhere:test.local", Direction::kBackward); }),
            ErrorCode::kForbidden);
}

TEST_P(HistoryTest, Context) {
  auto alice = Register("alice");
  auto bob = Register("bob");
  auto room = CreateRoom(alice, Public());
  Join(bob, room);
  std::vector<std::string> ids;
  for (int i = 0; i < 20; ++i)
    ids.push_back(Say(i % 2 ? bob : alice, room, "m" + std::to_string(i)));

  ContextRequest req;
  req.limit = 4;
  auto ctx = hs_->RunSync(hs_->history.Context(alice, room, ids[10], req));
  EXPECT_EQ(Body(ctx.event), "m10");
  EXPECT_EQ(Bodies(ctx.before), (std::vector<std::string>{"m9", "m8"}));
  EXPECT_EQ(Bodies(ctx.after), (std::vector<std::string>{"m11", "m12"}));
  // The tokens continue with /messages in each direction.
  EXPECT_EQ(Bodies(Messages(alice, room, Direction::kBackward, ctx.start, 1).chunk),
            std::vector<std::string>{"m7"});
  EXPECT_EQ(Bodies(Messages(alice, room, Direction::kForward, ctx.end, 1).chunk),
            std::vector<std::string>{"m13"});
  // The state at the last event returned.
  std::set<std::string> types;
  for (const auto& e : ctx.state) types.insert(e.type);
  EXPECT_TRUE(types.count("m.room.create"));
  EXPECT_TRUE(types.count("m.room.member"));

  // Limit 0: just the event. Filtered, lazily loaded: alice's messages and
  // her membership only.
  req.limit = 0;
  ctx = hs_->RunSync(hs_->history.Context(alice, room, ids[10], req));
  EXPECT_TRUE(ctx.before.empty());
  EXPECT_TRUE(ctx.after.empty());
  req.limit = 4;
  req.filter.senders = std::vector<std::string>{alice.user_id};
  req.filter.lazy_load_members = true;
  ctx = hs_->RunSync(hs_->history.Context(alice, room, ids[10], req));
  EXPECT_EQ(Bodies(ctx.before), (std::vector<std::string>{"m8", "m6"}));
  EXPECT_EQ(Bodies(ctx.after), (std::vector<std::string>{"m12", "m14"}));
  ASSERT_EQ(ctx.state.size(), 1u);
  EXPECT_EQ(ctx.state[0].state_key, alice.user_id);

  EXPECT_EQ(CodeOf([&] { hs_->RunSync(hs_->history.Context(alice, room, "$nope", req)); }),
            ErrorCode::kNotFound);
}

TEST_P(HistoryTest, RelationsAndBundledAggregations) {
  auto alice = Register("alice");
  auto bob = Register("bob");
  auto carol = Register("carol");
  auto room = CreateRoom(alice, Public());
  Join(bob, room);
  Join(carol, room);
  auto root = Say(alice, room, "root");
  auto r1 = Relate(bob, room, "m.reaction", "m.annotation", root);
  auto r2 = Relate(alice, room, "m.reaction", "m.annotation", root);
  auto edit = Relate(alice, room, "m.room.message", "m.replace", root,
                     {{"body", "* root!"}, {"m.new_content", {{"body", "root!"}}}});
  auto foreign_edit = Relate(bob, room, "m.room.message", "m.replace", root,
                             {{"body", "* hijack"}, {"m.new_content", {{"body", "hijack"}}}});
  auto t1 = Relate(bob, room, "m.room.message", "m.thread", root, {{"body", "reply1"}});
  auto t2 = Relate(alice, room, "m.room.message", "m.thread", root, {{"body", "reply2"}});
  auto ref = Relate(bob, room, "m.room.message", "m.reference", root, {{"body", "see above"}});
  auto nested = Relate(carol, room, "m.reaction", "m.annotation", t1);

  auto all = Relations(alice, room, root);
  EXPECT_EQ(Ids(all.chunk), (std::vector<std::string>{ref, t2, t1, foreign_edit, edit, r2, r1}));
  EXPECT_FALSE(all.next_batch);
  EXPECT_FALSE(all.recursion_depth);

  RelationsRequest by_type;
  by_type.rel_type = "m.annotation";
  EXPECT_EQ(Ids(Relations(alice, room, root, by_type).chunk), (std::vector<std::string>{r2, r1}));
  by_type.event_type = "m.reaction";
  EXPECT_EQ(Relations(alice, room, root, by_type).chunk.size(), 2u);
  by_type.rel_type = "m.thread";
  EXPECT_TRUE(Relations(alice, room, root, by_type).chunk.empty());

  // Pages of 3 backward, then forward.
  RelationsRequest paged;
  paged.limit = 3;
  std::vector<std::string> seen;
  for (int guard = 0; guard < 10; ++guard) {
    auto page = Relations(alice, room, root, paged);
    for (const auto& e : page.chunk) seen.push_back(e.event_id);
    EXPECT_EQ(page.prev_batch, paged.from);
    if (!page.next_batch) break;
    paged.from = page.next_batch;
  }
  EXPECT_EQ(seen, Ids(all.chunk));
  RelationsRequest fwd;
  fwd.dir = Direction::kForward;
  fwd.limit = 2;
  auto first = Relations(alice, room, root, fwd);
  EXPECT_EQ(Ids(first.chunk), (std::vector<std::string>{r1, r2}));
  ASSERT_TRUE(first.next_batch);
  fwd.from = first.next_batch;
  EXPECT_EQ(Ids(Relations(alice, room, root, fwd).chunk),
            (std::vector<std::string>{edit, foreign_edit}));

  // Recursion reaches the reaction to a thread reply.
  RelationsRequest deep;
  deep.recurse = true;
  auto rec = Relations(alice, room, root, deep);
  EXPECT_EQ(rec.chunk.size(), 8u);
  EXPECT_EQ(rec.chunk.front().event_id, nested);
  EXPECT_EQ(rec.recursion_depth, HistoryService::kRecursionDepth);
  deep.recurse = false;
  rec = Relations(alice, room, root, deep);
  EXPECT_EQ(rec.chunk.size(), 7u);
  EXPECT_EQ(rec.recursion_depth, 1);

  // Bundled aggregations on the root, as /messages returns it.
  auto page = Messages(carol, room, Direction::kBackward, std::nullopt, 50);
  ASSERT_TRUE(page.bundles.count(root));
  const auto& b = page.bundles.at(root);
  ASSERT_TRUE(b.thread);
  EXPECT_EQ(b.thread->count, 2);
  EXPECT_EQ(b.thread->latest.event_id, t2);
  EXPECT_FALSE(b.thread->current_user_participated);  // carol neither sent the root nor replied
  ASSERT_TRUE(b.replace);
  EXPECT_EQ(b.replace->event_id, edit);  // bob's edit of alice's event is not valid
  EXPECT_EQ(b.references, std::vector<std::string>{ref});
  // The reply carol reacted to has no aggregation (annotations are not bundled).
  EXPECT_FALSE(page.bundles.count(t1));
  auto as_bob = Messages(bob, room, Direction::kBackward, std::nullopt, 50);
  EXPECT_TRUE(as_bob.bundles.at(root).thread->current_user_participated);
  auto as_alice = Relations(alice, room, root);
  EXPECT_TRUE(as_alice.bundles.empty());  // children only here

  // A redacted child no longer relates.
  hs_->RunSync(hs_->rooms.Redact(bob, room, r1, std::nullopt, "redact1"));
  by_type = {};
  by_type.rel_type = "m.annotation";
  EXPECT_EQ(Ids(Relations(alice, room, root, by_type).chunk), std::vector<std::string>{r2});
  hs_->RunSync(hs_->rooms.Redact(alice, room, t2, std::nullopt, "redact2"));
  page = Messages(alice, room, Direction::kBackward, std::nullopt, 50);
  EXPECT_EQ(page.bundles.at(root).thread->count, 1);
  EXPECT_EQ(page.bundles.at(root).thread->latest.event_id, t1);

  EXPECT_EQ(CodeOf([&] { Relations(alice, room, "$unknown"); }), ErrorCode::kNotFound);
}

TEST_P(HistoryTest, ThreadList) {
  auto alice = Register("alice");
  auto bob = Register("bob");
  auto carol = Register("carol");
  auto dan = Register("dan");
  auto room = CreateRoom(alice, Public());
  Join(bob, room);
  Join(carol, room);
  Join(dan, room);
  auto a = Say(alice, room, "A");
  auto b = Say(alice, room, "B");
  auto c = Say(bob, room, "C");
  auto a1 = Relate(bob, room, "m.room.message", "m.thread", a, {{"body", "a1"}});
  hs_->RunSync(hs_->rooms.Membership(dan, room, dan.user_id, "leave", std::nullopt));
  Relate(bob, room, "m.room.message", "m.thread", b, {{"body", "b1"}});
  Relate(bob, room, "m.room.message", "m.thread", c, {{"body", "c1"}});
  auto a2 = Relate(bob, room, "m.room.message", "m.thread", a, {{"body", "a2"}});
  Say(alice, room, "not a thread");

  auto all = Threads(alice, room);
  EXPECT_EQ(Ids(all.chunk), (std::vector<std::string>{a, c, b}));
  EXPECT_FALSE(all.next_batch);
  const auto& sum = all.bundles.at(a).thread;
  ASSERT_TRUE(sum);
  EXPECT_EQ(sum->count, 2);
  EXPECT_EQ(sum->latest.event_id, a2);
  EXPECT_TRUE(sum->current_user_participated);  // alice sent the root
  EXPECT_FALSE(all.bundles.at(c).thread->current_user_participated);

  // One by one.
  ThreadsRequest req;
  req.limit = 1;
  std::vector<std::string> seen;
  for (int guard = 0; guard < 10; ++guard) {
    auto page = Threads(alice, room, req);
    ASSERT_LE(page.chunk.size(), 1u);
    for (const auto& e : page.chunk) seen.push_back(e.event_id);
    if (!page.next_batch) break;
    req.from = page.next_batch;
  }
  EXPECT_EQ(seen, Ids(all.chunk));

  ThreadsRequest mine;
  mine.only_participated = true;
  EXPECT_EQ(Ids(Threads(alice, room, mine).chunk), (std::vector<std::string>{a, b}));
  EXPECT_EQ(Ids(Threads(bob, room, mine).chunk), (std::vector<std::string>{a, c, b}));
  EXPECT_TRUE(Threads(carol, room, mine).chunk.empty());

  // Dan left after a1: he sees thread A with what he could see.
  auto dans = Threads(dan, room);
  EXPECT_EQ(Ids(dans.chunk), std::vector<std::string>{a});
  EXPECT_EQ(dans.bundles.at(a).thread->count, 1);
  EXPECT_EQ(dans.bundles.at(a).thread->latest.event_id, a1);

  req = {};
  req.limit = 0;
  EXPECT_EQ(CodeOf([&] { Threads(alice, room, req); }), ErrorCode::kInvalidParam);
}

VIGIE_INSTANTIATE_ENGINE_TEST_SUITE(HistoryTest);

}  // namespace
}  // namespace vigie::service
