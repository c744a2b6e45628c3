#include "service/recent_push.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <limits>
#include <map>
#include <random>

#include "storage/migrations.h"
#include "storage/storage_test_util.h"

namespace vigie::service {
namespace {

using storage::UserDataStore;

class RecentPushTest : public sql::testutil::EngineTest {
 protected:
  void SetUp() override {
    sql::testutil::EngineTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    storage::Migrate(db());
  }
  // Random notifications at positions 1..n over `rooms` rooms: most events
  // summarised (some highlighting, some in threads), and some members with
  // actions of their own (notifying or not, highlighting or not).
  // (Positions from `first`, rooms from `first_room`.)
  void Fill(std::int64_t n, int rooms, std::uint32_t seed, std::int64_t first = 1,
            std::int64_t first_room = 1) {
    std::mt19937 rng(seed);
    db().Write([&](sql::Tx& tx) {
      for (std::int64_t pos = first; pos < first + n; ++pos) {
        const std::int64_t room = first_room + static_cast<std::int64_t>(rng() % rooms);
        const std::string thread =
            rng() % 4 == 0 ? "$root" : std::string(UserDataStore::kMainThread);
        if (rng() % 5 != 0) {
          UserDataStore::AddPushSummary(tx, room, pos, thread, kUsers[rng() % kUsers.size()],
                                        rng() % 5 == 0);
        }
        std::vector<UserDataStore::PushAction> actions;
        for (const auto& u : kUsers) {
          if (rng() % 4 == 0) actions.push_back({u, rng() % 2 == 0, rng() % 3 == 0});
        }
        if (!actions.empty()) UserDataStore::AddPushActions(tx, room, pos, thread, actions);
      }
    });
  }
  // What the database counts (UnreadAddedIn), for comparison.
  RecentPush::Parts Counted(std::int64_t room, const std::string& user, std::int64_t after,
                            std::int64_t upto) {
    return db().Read([&](sql::Tx& tx) {
      return UserDataStore::UnreadAddedIn(tx, user, {{room, after}}, upto).at(room);
    });
  }
  std::optional<RecentPush::Parts> Added(
      std::int64_t room, const std::string& user, std::int64_t after, std::int64_t upto,
      bool read = true, std::int64_t head = std::numeric_limits<std::int64_t>::max(),
      std::int64_t main_after = 0) {
    return db().Read([&](sql::Tx& tx) {
      return push_.Added(tx, room, user, after, upto, read, head, main_after);
    });
  }

  static inline const std::vector<std::string> kUsers = {"@a:x", "@b:x", "@c:x", "@d:x", "@e:x"};
  RecentPush push_;
  std::map<std::pair<std::int64_t, std::string>, std::int64_t> marks_;  // (room, user): mark
};

// Whatever was kept before, every answer is the database's own count: for
// ranges that extend what is kept (as woken syncs ask), for older ones
// (a sync that fell behind), and for every member from the same rows.
TEST_P(RecentPushTest, CountsWhatTheDatabaseCounts) {
  constexpr std::int64_t kN = 400;
  Fill(kN, 3, 7);
  std::mt19937 rng(11);
  int answered = 0;
  // Moving forward, a few positions at a time, as a room's members do.
  std::int64_t upto = 0;
  while (upto < kN) {
    const std::int64_t next = std::min<std::int64_t>(kN, upto + 1 + rng() % 6);
    for (std::int64_t room = 1; room <= 3; ++room) {
      for (const auto& u : kUsers) {
        const std::int64_t after = std::max<std::int64_t>(0, upto - static_cast<int>(rng() % 3));
        auto got = Added(room, u, after, next);
        ASSERT_TRUE(got) << "a range of a few positions was not answered";
        ++answered;
        ASSERT_EQ(*got, Counted(room, u, after, next))
            << "room " << room << " " << u << " (" << after << ", " << next << "]";
      }
    }
    upto = next;
  }
  // Any range, in any order.
  for (int i = 0; i < 300; ++i) {
    const std::int64_t room = 1 + static_cast<std::int64_t>(rng() % 3);
    const std::string& u = kUsers[rng() % kUsers.size()];
    std::int64_t a = static_cast<std::int64_t>(rng() % (kN + 1));
    std::int64_t b = static_cast<std::int64_t>(rng() % (kN + 1));
    if (a > b) std::swap(a, b);
    auto got = Added(room, u, a, b);
    ASSERT_TRUE(got);
    ++answered;
    ASSERT_EQ(*got, Counted(room, u, a, b))
        << "room " << room << " " << u << " (" << a << ", " << b << "]";
  }
  EXPECT_GT(push_.Hits(), static_cast<std::uint64_t>(answered) / 2)
      << "the members of a room did not share its rows";
}

// After a member's own event in the main timeline (its read mark just
// before it), the main timeline's part counts only what follows the mark
// and the threads' part all of the range: the database's count once the
// mark is stored, for every member and mark, from the same kept rows.
TEST_P(RecentPushTest, AMainTimelineMarkLeavesOnlyWhatFollowsItInTheMainPart) {
  constexpr std::int64_t kN = 300;
  Fill(kN, 2, 23);
  std::mt19937 rng(29);
  for (int i = 0; i < 40; ++i) {
    const std::int64_t room = 1 + static_cast<std::int64_t>(rng() % 2);
    const std::string& u = kUsers[rng() % kUsers.size()];
    const std::int64_t after = static_cast<std::int64_t>(rng() % (kN - 40));
    const std::int64_t upto = after + 1 + static_cast<std::int64_t>(rng() % 40);
    // Marks only rise: each one above every earlier one of the user's.
    const std::int64_t mark = std::max<std::int64_t>(
        after + static_cast<std::int64_t>(rng() % (upto - after)), marks_[{room, u}]);
    if (mark > upto) continue;
    marks_[{room, u}] = mark;
    db().Write([&](sql::Tx& tx) {
      UserDataStore::ClearPushActions(tx, room, u, mark, UserDataStore::kMainThread);
    });
    auto got = Added(room, u, after, upto, true, std::numeric_limits<std::int64_t>::max(), mark);
    ASSERT_TRUE(got);
    const auto want = Counted(room, u, after, upto);
    ASSERT_EQ(*got, want) << "room " << room << " " << u << " (" << after << ", " << upto
                          << "] mark " << mark;
  }
  // Without the mark the main part would be larger somewhere: the test
  // looks at ranges where it matters.
  bool mattered = false;
  for (const auto& [key, mark] : marks_) {
    const auto& [room, u] = key;
    auto plain = Added(room, u, 0, kN);
    auto marked = Added(room, u, 0, kN, true, std::numeric_limits<std::int64_t>::max(), mark);
    ASSERT_TRUE(plain && marked);
    mattered |= plain->main != marked->main;
    EXPECT_EQ(plain->threads, marked->threads);
  }
  EXPECT_TRUE(mattered);
}

// Without reading, only what is kept answers; a range of more rows than a
// room keeps is left to the database, and what is kept after it still
// answers right.
TEST_P(RecentPushTest, AnswersOnlyWhatItKeeps) {
  const auto rows = static_cast<std::int64_t>(RecentPush::kPerRoom);
  Fill(rows + 192, 1, 3);  // (a multiple of 40)
  EXPECT_FALSE(Added(1, "@a:x", 10, 20, false)) << "nothing kept yet";
  EXPECT_FALSE(Added(1, "@a:x", 0, rows + 192)) << "more rows than a room keeps";
  auto got = Added(1, "@a:x", 10, 20);
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, Counted(1, "@a:x", 10, 20));
  const auto hits = push_.Hits();
  got = Added(1, "@b:x", 12, 18, false);
  ASSERT_TRUE(got) << "a range inside what is kept";
  EXPECT_EQ(*got, Counted(1, "@b:x", 12, 18));
  EXPECT_EQ(push_.Hits(), hits + 1);
  EXPECT_FALSE(Added(1, "@b:x", 5, 18, false)) << "older than what is kept";
  EXPECT_FALSE(Added(1, "@b:x", 12, 30, false)) << "newer than what is kept";
  // Extended past a room's worth, the oldest positions go.
  for (std::int64_t upto = 40; upto <= rows + 192; upto += 40) {
    got = Added(1, "@c:x", upto - 40, upto);
    ASSERT_TRUE(got);
    ASSERT_EQ(*got, Counted(1, "@c:x", upto - 40, upto));
  }
  EXPECT_FALSE(Added(1, "@c:x", 10, 20, false)) << "the oldest rows were kept beyond the bound";
  got = Added(1, "@d:x", rows, rows + 192, false);
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, Counted(1, "@d:x", rows, rows + 192));
  // What is kept costs the same, grown in steps and trimmed, as read at
  // once (the same positions: the first that still fits a room's worth).
  RecentPush fresh;
  const auto all = db().Read(
      [&](sql::Tx& tx) { return UserDataStore::PushRowsIn(tx, 1, 0, rows + 192, 1 << 20); });
  std::size_t first = all.size() - RecentPush::kPerRoom;
  while (all[first].stream_pos == all[first - 1].stream_pos) ++first;
  const std::int64_t from = all[first - 1].stream_pos;
  db().Read([&](sql::Tx& tx) { fresh.Added(tx, 1, "@d:x", from, rows + 192, true); });
  EXPECT_EQ(push_.Bytes(), fresh.Bytes());
}

// Other rooms' events move the stream on: with the room's head at or below
// what is kept, a later range is answered without a read, and rightly; a
// head above it still needs one.
TEST_P(RecentPushTest, TheRoomsHeadSparesAReadWhenOnlyOtherRoomsMovedOn) {
  Fill(200, 1, 5);          // room 1 at 1..200
  Fill(100, 1, 6, 201, 2);  // then room 2 only, at 201..300
  Fill(50, 2, 7, 301);      // then both
  const auto rows =
      db().Read([&](sql::Tx& tx) { return UserDataStore::PushRowsIn(tx, 1, 0, 200, 1 << 20); });
  ASSERT_FALSE(rows.empty());
  const std::int64_t head = rows.back().stream_pos;  // room 1's newest up to 300
  ASSERT_TRUE(Added(1, "@a:x", 100, 200));
  // Room 1's head says nothing came since: no read for (200, 300].
  EXPECT_FALSE(Added(1, "@b:x", 150, 300, false)) << "answered without knowing the head";
  auto got = Added(1, "@b:x", 150, 300, false, head);
  ASSERT_TRUE(got) << "read again for positions the room has nothing at";
  EXPECT_EQ(*got, Counted(1, "@b:x", 150, 300));
  // A head above what is kept needs the read.
  EXPECT_FALSE(Added(1, "@c:x", 150, 350, false, 350));
  got = Added(1, "@c:x", 150, 350, true, 350);
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, Counted(1, "@c:x", 150, 350));
}

// Rows handed over as their write commits extend a span that reaches the
// room's head before them (a room with an event but no rows too), and
// the counts from them are the database's; a span short of the head is
// left to be read.
TEST_P(RecentPushTest, CommittedRowsExtendASpanThatReachesTheRoomsHead) {
  Fill(100, 2, 5);         // rooms 1 and 2 at 1..100
  Fill(10, 1, 9, 101, 1);  // then room 1 alone, at 101..110
  ASSERT_TRUE(Added(1, "@a:x", 50, 100));
  ASSERT_TRUE(Added(2, "@a:x", 50, 100));
  auto rows =
      db().Read([&](sql::Tx& tx) { return UserDataStore::PushRowsIn(tx, 1, 100, 110, 1 << 20); });
  ASSERT_FALSE(rows.empty());
  std::vector<std::pair<std::int64_t, UserDataStore::PushRow>> batch;
  for (auto& r : rows) batch.emplace_back(1, r);
  RecentPush short_of_head;  // keeps room 1 up to 90 only
  db().Read([&](sql::Tx& tx) { short_of_head.Added(tx, 1, "@a:x", 50, 90, true); });
  push_.Appended(100, 110, batch, {{1, 100}, {2, 100}});
  short_of_head.Appended(100, 110, batch, {{1, 100}});
  for (const auto& u : kUsers) {
    auto got = Added(1, u, 90, 110, false);
    ASSERT_TRUE(got) << u;
    EXPECT_EQ(*got, Counted(1, u, 90, 110)) << u;
    got = Added(2, u, 60, 110, false);
    ASSERT_TRUE(got) << u;
    EXPECT_EQ(*got, Counted(2, u, 60, 110)) << u;
  }
  EXPECT_FALSE(db().Read([&](sql::Tx& tx) {
    return short_of_head.Added(tx, 1, "@a:x", 60, 110, false);
  })) << "extended past rows it does not have";
}

VIGIE_INSTANTIATE_ENGINE_TEST_SUITE(RecentPushTest);

}  // namespace
}  // namespace vigie::service
