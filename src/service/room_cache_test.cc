#include "service/room_cache.h"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/json/parse.hpp>
#include <set>
#include <thread>

#include "service/engine_test_util.h"

namespace vigie::service {
namespace {

using storage::RoomStore;

storage::RoomRecord Head(const std::string& id, std::int64_t nid, std::int64_t last,
                         std::int64_t depth) {
  storage::RoomRecord r;
  r.room_id = id;
  r.room_nid = nid;
  r.last_event_nid = last;
  r.depth = depth;
  r.state_group = last;
  return r;
}

RoomSnapshot Snapshot(const storage::RoomRecord& head, std::size_t members) {
  RoomSnapshot s;
  s.room = head;
  s.members.emplace(members);
  return s;
}

// A snapshot is given back by its room's id, once until put back; it keeps
// only current state events; the bounds empty the cache rather than grow
// it; Clear forgets everything.
TEST(RoomCache, GivesASnapshotBackOnceAndForgetsWhenTold) {
  RoomCache cache(3, 100);
  auto a = Snapshot(Head("!a:x", 1, 10, 5), 10);
  a.state[{"m.room.create", ""}] = 1;
  a.state[{"m.room.topic", ""}] = std::nullopt;
  for (std::int64_t nid : {1, 2, 10}) {
    a.pdus[nid] = std::make_shared<boost::json::object>();
    a.ids[nid] = "$" + std::to_string(nid);
  }
  cache.Put(a);
  EXPECT_FALSE(cache.Take("!b:x"));
  auto taken = cache.Take("!a:x");
  ASSERT_TRUE(taken);
  EXPECT_EQ(taken->room.last_event_nid, 10);
  EXPECT_EQ(taken->pdus.size(), 1u);  // only the create event is current state
  EXPECT_EQ(taken->ids.size(), 1u);
  EXPECT_EQ(taken->state.size(), 2u);  // the known absence is kept
  EXPECT_FALSE(cache.Take("!a:x"));    // taken: not there twice
  cache.Put(std::move(*taken));

  cache.Put(Snapshot(Head("!b:x", 2, 20, 5), 10));
  cache.Put(Snapshot(Head("!c:x", 3, 30, 5), 10));
  EXPECT_EQ(cache.Size(), 3u);
  cache.Put(Snapshot(Head("!a:x", 1, 11, 6), 10));  // replaces: no growth
  EXPECT_EQ(cache.Size(), 3u);
  EXPECT_EQ(cache.Take("!a:x")->room.last_event_nid, 11);
  cache.Put(Snapshot(Head("!a:x", 1, 11, 6), 10));
  cache.Put(Snapshot(Head("!d:x", 4, 40, 5), 10));  // a fourth room: start again
  EXPECT_EQ(cache.Size(), 1u);
  cache.Put(Snapshot(Head("!e:x", 5, 50, 5), 95));  // too many members with !d
  EXPECT_EQ(cache.Size(), 1u);
  EXPECT_TRUE(cache.Take("!e:x"));
  cache.Put(Snapshot(Head("!f:x", 6, 60, 5), 10));
  cache.Clear();
  EXPECT_EQ(cache.Size(), 0u);
  EXPECT_FALSE(cache.Take("!f:x"));
}

// Recently committed transaction ids answer retries; the oldest are
// forgotten past the bound; keys made of different parts never meet.
TEST(SentTxns, KeysStayApartAndTheOldestAreForgottenByCountAndAge) {
  SentTxns sent(3, 1000);
  const auto a1 = sent.Hash("@a:x", "DEV", "t1");
  EXPECT_EQ(a1, sent.Hash("@a:x", "DEV", "t1"));
  EXPECT_NE(a1, sent.Hash("@a:x", "DEVt", "1"));  // length-prefixed
  EXPECT_NE(a1, sent.Hash("@a:x", "DEV", "t2"));
  EXPECT_NE(a1, sent.Hash("@b:x", "DEV", "t1"));
  EXPECT_NE(a1, SentTxns(3, 1000).Hash("@a:x", "DEV", "t1"));  // a key per instance
  sent.Add(a1, 11, 100);
  EXPECT_EQ(sent.Candidates(a1), std::vector<std::int64_t>{11});
  EXPECT_TRUE(sent.Candidates(sent.Hash("@a:x", "DEV", "t2")).empty());
  // An undone attempt and its retry: both are candidates, newest first.
  sent.Add(a1, 12, 200);
  EXPECT_EQ(sent.Candidates(a1), (std::vector<std::int64_t>{12, 11}));
  // By count: a fourth forgets the first.
  const auto b1 = sent.Hash("@b:x", "DEV", "t1");
  sent.Add(b1, 13, 300);
  sent.Add(b1, 14, 400);
  EXPECT_EQ(sent.Candidates(a1), std::vector<std::int64_t>{12});
  EXPECT_EQ(sent.Size(), 3u);
  // By age: past the window, the older ones go.
  sent.Add(sent.Hash("@c:x", "DEV", "t1"), 15, 1350);
  EXPECT_TRUE(sent.Candidates(a1).empty());
  EXPECT_EQ(sent.Candidates(b1), std::vector<std::int64_t>{14});
  EXPECT_EQ(sent.Size(), 2u);
}

class RoomWriterCacheTest : public EngineHomeserverTest {
 protected:
  // Starts a write that holds the stream until `waiting` more writes queue
  // behind it (or 10 s pass), so that they form one batch however slowly a
  // loaded machine starts them; returns once it holds the stream.
  std::thread HoldTheStreamUntilQueued(std::size_t waiting) {
    std::atomic<bool> holding{false};
    std::thread holder([this, waiting, &holding] {
      hs_->RunSync(hs_->stream.Submit([&](sql::Tx&, Stream::NextPos&, Stream::Effects&) {
        holding = true;  // the last use of `holding`
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (hs_->stream.Queued() < waiting && std::chrono::steady_clock::now() < deadline) {
          std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
      }));
    });
    while (!holding) std::this_thread::yield();
    return holder;
  }
  // The room's events in stream order.
  std::vector<storage::EventRecord> Events(const std::string& room_id) {
    return hs_->db().Read([&](sql::Tx& tx) {
      auto room = RoomStore::GetRoom(tx, room_id);
      return RoomStore::RoomEvents(tx, room->room_nid, 0, hs_->stream.Current(), 1000,
                                   storage::Direction::kForward);
    });
  }
  std::pair<std::int64_t, std::int64_t> Counts(const Requester& who, const std::string& room) {
    auto r = hs_->RunSync(hs_->sync.Sync(who, SyncRequest{}));
    for (const auto& j : r.join) {
      if (j.room_id == room) return {j.notification_count, j.highlight_count};
    }
    return {-1, -1};
  }
};

// Writes queued together run in one transaction, each seeing the ones
// before it through the cache: the room's events form one chain, with no
// fork and no repeated depth, also when a write in the batch fails.
TEST_P(RoomWriterCacheTest, ConcurrentSendsToOneRoomFormOneChain) {
  auto alice = Register("alice");
  auto bob = Register("bob");
  const std::string room = CreateRoom(alice);
  Say(alice, room, "warm the cache");

  constexpr std::size_t kSenders = 8;
  std::vector<std::thread> threads;
  threads.push_back(HoldTheStreamUntilQueued(kSenders + 1));
  std::atomic<int> refused{0};
  for (std::size_t i = 0; i < kSenders; ++i) {
    threads.emplace_back([&, i] {
      hs_->RunSync(hs_->rooms.Send(alice, room, "m.room.message",
                                   {{"msgtype", "m.text"}, {"body", "m" + std::to_string(i)}},
                                   "c" + std::to_string(i)));
    });
    if (i == kSenders / 2) {
      threads.emplace_back([&] {
        try {
          hs_->RunSync(
              hs_->rooms.Send(bob, room, "m.room.message", {{"body", "not a member"}}, "b"));
        } catch (const Error&) {
          ++refused;
        }
      });
    }
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(refused, 1);
  EXPECT_LT(hs_->stream.BatchesCommitted(), hs_->stream.WritesCommitted());

  auto events = Events(room);
  ASSERT_GE(events.size(), static_cast<std::size_t>(kSenders + 2));
  for (std::size_t i = 1; i < events.size(); ++i) {
    auto pdu = boost::json::parse(events[i].json).as_object();
    const auto& prev = pdu.at("prev_events").as_array();
    ASSERT_EQ(prev.size(), 1u);
    EXPECT_EQ(prev[0].as_string(), events[i - 1].event_id) << i;
    EXPECT_EQ(events[i].depth, events[i - 1].depth + 1) << i;
  }
  // Another write after the batch continues the same chain.
  const std::string last = Say(alice, room, "after");
  EXPECT_EQ(Events(room).back().event_id, last);
  EXPECT_EQ(Events(room).back().depth, events.back().depth + 1);
}

// A retried transaction id answers the first event, without a second one:
// whether the retry comes alone, in the same batch as the first send (it
// sees the first in the batch's transaction), or after a restart (the
// start-up reads the sends of the last day back from their event rows).
// The same id from another device is another send.
TEST_P(RoomWriterCacheTest, RetriedTransactionsAnswerTheFirstEventEvenWithinOneBatch) {
  auto alice = Register("alice");
  const std::string room = CreateRoom(alice);
  const auto Say = [&](const Requester& who, const std::string& in, const std::string& body,
                       const std::string& txn) {
    return hs_->RunSync(
        hs_->rooms.Send(who, in, "m.room.message", {{"msgtype", "m.text"}, {"body", body}}, txn));
  };
  const std::string first = Say(alice, room, "once", "alone");
  const auto position = hs_->stream.Current();
  EXPECT_EQ(Say(alice, room, "twice", "alone"), first);
  EXPECT_EQ(hs_->stream.Current(), position);  // answered without writing anything

  std::vector<std::thread> threads;
  threads.push_back(HoldTheStreamUntilQueued(4));
  std::vector<std::string> ids(4);
  for (std::size_t i = 0; i < ids.size(); ++i) {
    threads.emplace_back([&, i] {
      ids[i] = Say(alice, room, "b" + std::to_string(i), i == 3 ? "other" : "batched");
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ids[0], ids[1]);
  EXPECT_EQ(ids[0], ids[2]);
  EXPECT_NE(ids[0], ids[3]);
  std::set<std::string> seen;
  for (const auto& e : Events(room)) {
    if (e.type == "m.room.message") {
      EXPECT_TRUE(seen.insert(e.event_id).second);
    }
  }
  EXPECT_EQ(seen, (std::set<std::string>{first, ids[0], ids[3]}));
  RestartHomeserver();
  EXPECT_EQ(Say(alice, room, "thrice", "alone"), first);
  EXPECT_EQ(Say(alice, room, "again", "batched"), ids[0]);
  Requester other_device = alice;
  other_device.device_id = "OTHERDEVICE";
  const std::string elsewhere = Say(other_device, room, "from another device", "alone");
  EXPECT_NE(elsewhere, first);
  EXPECT_EQ(Say(other_device, room, "retried", "alone"), elsewhere);
  // The chain goes on from the last event that committed.
  const std::string after = Say(alice, room, "after", "after");
  auto events = Events(room);
  ASSERT_GE(events.size(), 2u);
  EXPECT_EQ(events.back().event_id, after);
  EXPECT_EQ(events.back().depth, events[events.size() - 2].depth + 1);
}

// Event nids are handed out by the writer, not the database: they rise
// with the stream, also across a restart, and never repeat.
TEST_P(RoomWriterCacheTest, EventNidsRiseWithTheStreamAcrossARestart) {
  auto alice = Register("alice");
  const std::string room = CreateRoom(alice);
  Say(alice, room, "before");
  RestartHomeserver();
  Say(alice, room, "after a restart");
  auto bob = Register("bob");
  CreateRoom(bob);  // another room, from the same counter
  Say(alice, room, "last");
  auto events = Events(room);
  ASSERT_GE(events.size(), 3u);
  for (std::size_t i = 1; i < events.size(); ++i) {
    EXPECT_GT(events[i].event_nid, events[i - 1].event_nid) << i;
  }
  EXPECT_EQ(Body(events.back()), "last");
}

// A batch that does not commit undoes writes whose functions had returned:
// the snapshot a send put back goes too, and the room's next event follows
// the last one that committed.
TEST_P(RoomWriterCacheTest, ASendUndoneWithItsBatchLeavesNoSnapshotBehind) {
  auto alice = Register("alice");
  const std::string room = CreateRoom(alice);
  const std::string one = Say(alice, room, "one");  // the cache holds the room at "one"
  // A row whose foreign key is checked only at COMMIT fails its whole batch.
  hs_->db().ExecScript(
      "CREATE TABLE undo_parent (id BIGINT PRIMARY KEY);"
      "CREATE TABLE undo_child (parent BIGINT REFERENCES undo_parent (id) DEFERRABLE INITIALLY "
      "DEFERRED)");
  std::thread holder = HoldTheStreamUntilQueued(2);
  std::atomic<int> failed{0};
  std::thread send([&] {
    try {
      Say(alice, room, "two");
    } catch (const std::exception&) {
      ++failed;
    }
  });
  std::thread orphan([&] {
    try {
      hs_->RunSync(hs_->stream.Submit([&](sql::Tx& tx, Stream::NextPos&, Stream::Effects&) {
        tx.Query("INSERT INTO undo_child (parent) VALUES (1)");
      }));
    } catch (const std::exception&) {
      ++failed;
    }
  });
  send.join();
  orphan.join();
  holder.join();
  EXPECT_EQ(failed, 2);

  const std::string three = Say(alice, room, "three");
  auto events = Events(room);
  ASSERT_GE(events.size(), 2u);
  EXPECT_EQ(events.back().event_id, three);
  EXPECT_EQ(events[events.size() - 2].event_id, one);
  auto pdu = boost::json::parse(events.back().json).as_object();
  EXPECT_EQ(pdu.at("prev_events").as_array().at(0).as_string(), one);
  EXPECT_EQ(events.back().depth, events[events.size() - 2].depth + 1);
}

// Memberships and power levels that one write changes are what the next
// write of the room sees: who is notified, who may send.
TEST_P(RoomWriterCacheTest, ChangesReachTheNextWriter) {
  auto alice = Register("alice");
  auto bob = Register("bob");
  CreateRoomOptions o;
  o.preset = "public_chat";
  const std::string room = CreateRoom(alice, o);
  Say(alice, room, "before bob");  // member list cached without bob
  Join(bob, room);
  Say(alice, room, "for bob");
  EXPECT_EQ(Counts(bob, room).first, 1);
  Say(bob, room, "from bob");

  hs_->RunSync(hs_->rooms.SetState(alice, room, "m.room.power_levels", "",
                                   {{"events_default", 50}, {"state_default", 50}}));
  EXPECT_EQ(CodeOf([&] { Say(bob, room, "muted"); }), ErrorCode::kForbidden);
  hs_->RunSync(hs_->rooms.Membership(bob, room, bob.user_id, "leave", std::nullopt));
  Say(alice, room, "bob has gone");
  bool found = false;
  for (const auto& e : Events(room)) found |= Body(e) == "bob has gone";
  EXPECT_TRUE(found);
  // Bob left: that message is not counted for him (his room is in "leave").
  auto r = hs_->RunSync(hs_->sync.Sync(bob, SyncRequest{}));
  for (const auto& j : r.join) EXPECT_NE(j.room_id, room);
}

// What a writer puts back holds current state only: not the messages it
// appended, nor the state events that were replaced.
TEST_P(RoomWriterCacheTest, WritersKeepOnlyCurrentStateBetweenWrites) {
  auto alice = Register("alice");
  const std::string room = CreateRoom(alice);
  for (const char* topic : {"one", "two", "three"}) {
    hs_->RunSync(hs_->rooms.SetState(alice, room, "m.room.topic", "", {{"topic", topic}}));
    Say(alice, room, std::string("after ") + topic);
  }
  auto& cache = hs_->rooms.writer_cache();
  auto snap = cache.Take(room);
  ASSERT_TRUE(snap);
  std::set<std::int64_t> current;
  for (const auto& [_, nid] : snap->state) {
    if (nid) current.insert(*nid);
  }
  ASSERT_FALSE(snap->pdus.empty());
  for (const auto& [nid, _] : snap->pdus) EXPECT_TRUE(current.count(nid)) << nid;
  for (const auto& [nid, _] : snap->ids) EXPECT_TRUE(current.count(nid)) << nid;
  const auto topic = snap->state.find({"m.room.topic", ""});
  ASSERT_NE(topic, snap->state.end());
  ASSERT_TRUE(topic->second);
  EXPECT_EQ((*snap->pdus.at(*topic->second)).at("content").at("topic").as_string(), "three");
  cache.Put(std::move(*snap));
  Say(alice, room, "the cache still serves");
}

VIGIE_INSTANTIATE_ENGINE_TEST_SUITE(RoomWriterCacheTest);

}  // namespace
}  // namespace vigie::service
