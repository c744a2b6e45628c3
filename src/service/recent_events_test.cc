#include "service/recent_events.h"

#include <gtest/gtest.h>

#include <array>
#include <boost/json/parse.hpp>
#include <functional>
#include <random>

#include "service/service_test_util.h"

namespace vigie::service {
namespace {

using storage::Direction;
using storage::EventRecord;
using storage::RoomStore;

class RecentEventsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    crypto::Init();
    hs_ = std::make_unique<Homeserver>(TestConfig());
    alice_ = RegisterAndLogin(*hs_, "alice");
    bob_ = RegisterAndLogin(*hs_, "bob");
    carol_ = RegisterAndLogin(*hs_, "carol");
    CreateRoomOptions o;
    o.preset = "public_chat";
    room_ = hs_->RunSync(hs_->rooms.CreateRoom(alice_, o)).room_id;
    for (const auto* who : {&bob_, &carol_}) {
      hs_->RunSync(hs_->rooms.Join(*who, room_, std::nullopt));
    }
    room_nid_ =
        hs_->db().Read([&](sql::Tx& tx) { return RoomStore::GetRoom(tx, room_)->room_nid; });
  }
  std::string Say(const std::string& body) {
    return hs_->RunSync(hs_->rooms.Send(alice_, room_, "m.room.message",
                                        {{"msgtype", "m.text"}, {"body", body}},
                                        "t" + std::to_string(++txn_)));
  }
  // Every event's position, oldest first.
  std::vector<std::int64_t> Positions() {
    return hs_->db().Read([&](sql::Tx& tx) {
      std::vector<std::int64_t> out;
      for (const auto& e :
           RoomStore::RoomEvents(tx, room_nid_, 0, INT64_MAX, 100000, Direction::kForward)) {
        out.push_back(e.stream_pos);
      }
      return out;
    });
  }
  // The id, and which content: a stale copy differs from the stored one.
  static std::string Id(const EventRecord& e) {
    return e.event_id + "/" + std::to_string(std::hash<std::string>{}(e.json));
  }
  static std::vector<std::string> Ids(const std::vector<EventRecord>& events) {
    std::vector<std::string> out;
    for (const auto& e : events) out.push_back(Id(e));
    return out;
  }
  static std::vector<std::string> Ids(const std::vector<storage::SharedEventRecord>& events) {
    std::vector<std::string> out;
    for (const auto& e : events) out.push_back(Id(*e));
    return out;
  }
  SyncResult Sync(const Requester& who, std::optional<std::string> since = std::nullopt) {
    SyncRequest req;
    req.since = std::move(since);
    Filter f;
    f.room.timeline.limit = 50;
    req.filter = std::make_shared<const Filter>(f);
    return hs_->RunSync(hs_->sync.Sync(who, req));
  }
  const RoomSync* Joined(const SyncResult& r) {
    for (const auto& j : r.join) {
      if (j.room_id == room_) return &j;
    }
    return nullptr;
  }

  std::unique_ptr<Homeserver> hs_;
  Requester alice_, bob_, carol_;
  std::string room_;
  std::int64_t room_nid_ = 0;
  int txn_ = 0;
};

// Whatever earlier answers left kept (cut by a limit, trimmed, extended
// as the room grows), each answer is the database's.
TEST_F(RecentEventsTest, AnswersAsTheDatabaseWould) {
  RecentEvents recent;
  std::mt19937 rng(7);
  // More events in all than a room keeps, so that trimming is exercised.
  const std::size_t per_round = RecentEvents::kPerRoom / 2 + 10;
  for (int round = 0; round < 4; ++round) {
    for (std::size_t i = 0; i < per_round; ++i) {
      Say("m" + std::to_string(round) + "." + std::to_string(i));
    }
    const auto pos = Positions();
    std::uniform_int_distribution<std::size_t> pick(0, pos.size() - 1);
    for (int q = 0; q < 300; ++q) {
      std::int64_t upto = pos[pick(rng)];
      // Mostly recent ranges, as syncs ask, some from the start.
      std::int64_t after = q % 6 == 0 ? 0 : std::max<std::int64_t>(0, upto - 1 - q % 300);
      if (q % 7 == 0) upto = pos.back();
      const std::int64_t limit = std::array<std::int64_t, 5>{1, 3, 11, 101, 301}[q % 5];
      hs_->db().Read([&](sql::Tx& tx) {
        auto want = RoomStore::RoomEvents(tx, room_nid_, after, upto, limit, Direction::kBackward);
        EXPECT_EQ(Ids(recent.Newest(tx, room_nid_, after, upto, limit)), Ids(want))
            << "after " << after << " upto " << upto << " limit " << limit;
      });
    }
  }
  EXPECT_GT(recent.Hits(), 100u);

  // What is kept costs the same, grown in steps and trimmed, as read at once.
  const auto pos = Positions();
  ASSERT_GT(pos.size(), RecentEvents::kPerRoom + 40);
  RecentEvents grown, fresh;
  hs_->db().Read([&](sql::Tx& tx) {
    for (std::size_t i = 39; i < pos.size(); i += 40) {
      grown.Newest(tx, room_nid_, i < 40 ? 0 : pos[i - 40], pos[i], 1);
    }
    const std::size_t last = (pos.size() - 40) / 40 * 40 + 39;
    const auto limit = static_cast<std::int64_t>(RecentEvents::kPerRoom);
    fresh.Newest(tx, room_nid_, 0, pos[last], limit);
  });
  EXPECT_EQ(grown.Bytes(), fresh.Bytes());
}

// Another room's events move the stream on: with this room's head at or
// below what is kept, the later range is served from memory, rightly.
TEST_F(RecentEventsTest, TheRoomsHeadSparesAReadWhenOnlyOtherRoomsMovedOn) {
  Say("one");
  Say("two");
  const std::int64_t head = Positions().back();
  CreateRoomOptions o;
  o.preset = "public_chat";
  const std::string other = hs_->RunSync(hs_->rooms.CreateRoom(bob_, o)).room_id;
  hs_->RunSync(hs_->rooms.Send(bob_, other, "m.room.message", {{"body", "elsewhere"}}, "o1"));
  const std::int64_t now = hs_->stream.Current();
  ASSERT_GT(now, head);
  RecentEvents recent;
  hs_->db().Read([&](sql::Tx& tx) {
    recent.Newest(tx, room_nid_, 0, head, 5);
    const auto hits = recent.Hits();
    auto want = RoomStore::RoomEvents(tx, room_nid_, 0, now, 5, Direction::kBackward);
    EXPECT_EQ(Ids(recent.Newest(tx, room_nid_, 0, now, 5, head)), Ids(want));
    EXPECT_EQ(recent.Hits(), hits + 1) << "read again for positions the room has nothing at";
  });
}

TEST_F(RecentEventsTest, MembersWokenByOneMessageShareOneRead) {
  auto b = Sync(bob_);
  auto c = Sync(carol_);
  Say("for everyone");
  const auto before = hs_->sync.SharedTimelines();
  auto b2 = Sync(bob_, b.next_batch);
  auto c2 = Sync(carol_, c.next_batch);
  ASSERT_TRUE(Joined(b2) && Joined(c2));
  ASSERT_EQ(Joined(c2)->timeline.size(), 1u);
  // One record, not two copies of it.
  EXPECT_EQ(Joined(b2)->timeline.front(), Joined(c2)->timeline.front());
  EXPECT_GE(hs_->sync.SharedTimelines(), before + 1);
}

// Every field, as a sync would use it.
std::string Fields(const EventRecord& e) {
  return std::to_string(e.event_nid) + "|" + e.event_id + "|" + std::to_string(e.room_nid) + "|" +
         std::to_string(e.stream_pos) + "|" + std::to_string(e.depth) + "|" + e.type + "|" +
         e.state_key.value_or("(none)") + "|" + e.sender + "|" +
         std::to_string(e.origin_server_ts) + "|" + std::to_string(e.state_group) + "|" +
         e.txn_id.value_or("(none)") + "|" + e.device_id.value_or("(none)") + "|" +
         e.redacted_by.value_or("(none)") + "|" + e.json + "|" +
         e.redacted_because.value_or("(none)");
}

// A new event goes into what is kept as it commits: the members it wakes
// read nothing, and get the event exactly as stored, state events too.
TEST_F(RecentEventsTest, NewEventsAreKeptAsTheyCommit) {
  auto b = Sync(bob_);
  CreateRoomOptions o;
  o.preset = "public_chat";
  const std::string other = hs_->RunSync(hs_->rooms.CreateRoom(carol_, o)).room_id;
  for (int round = 0; round < 3; ++round) {
    Say("hello " + std::to_string(round));
    // Another room's event moves the stream on in between.
    hs_->RunSync(hs_->rooms.Send(carol_, other, "m.room.message", {{"body", "elsewhere"}},
                                 "o" + std::to_string(round)));
    hs_->RunSync(hs_->rooms.SetState(alice_, room_, "m.room.topic", "",
                                     {{"topic", "t" + std::to_string(round)}}));
    const auto before = hs_->sync.SharedTimelines();
    auto b2 = Sync(bob_, b.next_batch);
    EXPECT_EQ(hs_->sync.SharedTimelines(), before + 1) << "round " << round;
    const RoomSync* j = Joined(b2);
    ASSERT_TRUE(j);
    ASSERT_EQ(j->timeline.size(), 2u);
    hs_->db().Read([&](sql::Tx& tx) {
      for (const auto& e : j->timeline) {
        auto stored = RoomStore::GetEvent(tx, e->event_id);
        ASSERT_TRUE(stored);
        EXPECT_EQ(Fields(*e), Fields(*stored));
      }
    });
    b = std::move(b2);
  }
}

// What is kept is extended only when it reaches the room's head before
// the new events; otherwise what lies between is read.
TEST_F(RecentEventsTest, NewEventsExtendOnlyASpanThatReachesTheRoomsHead) {
  Say("one");
  Say("two");
  Say("three");
  const auto pos = Positions();
  const std::int64_t p1 = pos[pos.size() - 3], p2 = pos[pos.size() - 2], p3 = pos.back();
  auto three = hs_->db().Read([&](sql::Tx& tx) {
    auto rows = RoomStore::RoomEvents(tx, room_nid_, p2, p3, 1, Direction::kForward);
    return std::make_shared<const EventRecord>(rows.at(0));
  });
  auto head = [&](std::int64_t h) {
    return std::unordered_map<std::int64_t, std::int64_t>{{room_nid_, h}};
  };
  auto want = hs_->db().Read([&](sql::Tx& tx) {
    return Ids(RoomStore::RoomEvents(tx, room_nid_, 0, p3, 10, Direction::kBackward));
  });
  {
    RecentEvents recent;
    hs_->db().Read([&](sql::Tx& tx) { recent.Newest(tx, room_nid_, 0, p1, 10); });
    recent.Appended(p2, p3, {three}, head(p2));  // "two" is not kept
    hs_->db().Read([&](sql::Tx& tx) {
      const auto hits = recent.Hits();
      EXPECT_EQ(Ids(recent.Newest(tx, room_nid_, 0, p3, 10)), want);
      EXPECT_EQ(recent.Hits(), hits);
    });
  }
  {
    RecentEvents recent;
    hs_->db().Read([&](sql::Tx& tx) { recent.Newest(tx, room_nid_, 0, p2, 10); });
    recent.Appended(p2, p3, {three}, head(p2));
    hs_->db().Read([&](sql::Tx& tx) {
      const auto hits = recent.Hits();
      EXPECT_EQ(Ids(recent.Newest(tx, room_nid_, 0, p3, 10)), want);
      EXPECT_EQ(recent.Hits(), hits + 1);
    });
  }
}

TEST_F(RecentEventsTest, ARedactedEventIsNotServedAsItWas) {
  const std::string secret = Say("secret");
  Say("other");
  Sync(bob_);  // keeps both
  hs_->RunSync(hs_->rooms.Redact(alice_, room_, secret, std::nullopt, "r1"));
  for (const auto& r : {Sync(bob_), Sync(carol_)}) {
    const RoomSync* j = Joined(r);
    ASSERT_TRUE(j);
    bool seen = false;
    for (const auto& e : j->timeline) {
      if (e->event_id != secret) continue;
      seen = true;
      auto content = boost::json::parse(e->json).at("content").as_object();
      EXPECT_FALSE(content.contains("body"));
    }
    EXPECT_TRUE(seen);
  }
}

}  // namespace
}  // namespace vigie::service
