#include "service/directory_service.h"

#include <gtest/gtest.h>

#include "service/engine_test_util.h"
#include "storage/account_store.h"

namespace vigie::service {
namespace {

class DirectoryTest : public EngineHomeserverTest {
 protected:
  std::string Room(const Requester& who, const std::string& name, bool published,
                   std::optional<std::string> topic = std::nullopt,
                   std::optional<std::string> alias = std::nullopt) {
    CreateRoomOptions o;
    o.preset = "public_chat";
    o.visibility = published ? "public" : "private";
    o.name = name;
    o.topic = std::move(topic);
    o.room_alias_name = std::move(alias);
    return CreateRoom(who, std::move(o));
  }
  PublicRoomsPage List(PublicRoomsQuery q = {}) {
    return hs_->RunSync(hs_->directory.PublicRooms(std::nullopt, std::move(q)));
  }
  static std::vector<std::string> Names(const PublicRoomsPage& p) {
    std::vector<std::string> out;
    for (const auto& r : p.chunk) out.push_back(r.name.value_or(""));
    return out;
  }
  std::vector<std::string> Search(const Requester& who, const std::string& term,
                                  std::optional<std::int64_t> limit = std::nullopt,
                                  bool* limited = nullptr) {
    auto page = hs_->RunSync(hs_->directory.SearchUsers(who, term, limit));
    if (limited) *limited = page.limited;
    std::vector<std::string> out;
    for (const auto& u : page.results) out.push_back(u.user_id);
    return out;
  }
};

TEST_P(DirectoryTest, ListsPublishedRoomsWithTheirState) {
  auto alice = Register("alice");
  auto bob = Register("bob");
  auto alpha = Room(alice, "Alpha Chat", true, "All about CHEESE", "alpha");
  Room(alice, "Beta", true, "Tasty");
  auto gamma = Room(alice, "Gamma", true);
  Join(bob, gamma);
  Room(alice, "Secret", false);
  CreateRoomOptions space;
  space.visibility = "public";
  space.name = "Space";
  space.creation_content = {{"type", "m.space"}};
  CreateRoom(alice, space);

  auto all = List();
  EXPECT_EQ(all.total_room_count_estimate, 4);
  ASSERT_EQ(all.chunk.size(), 4u);
  EXPECT_EQ(all.chunk[0].name, "Gamma");  // most members first
  EXPECT_EQ(all.chunk[0].num_joined_members, 2);
  EXPECT_FALSE(all.next_batch);
  EXPECT_FALSE(all.prev_batch);
  for (const auto& r : all.chunk) {
    EXPECT_NE(r.name, "Secret");
    if (r.room_id != alpha) continue;
    EXPECT_EQ(r.topic, "All about CHEESE");
    EXPECT_EQ(r.canonical_alias, "#alpha:test.local");
    EXPECT_EQ(r.join_rule, "public");
    EXPECT_EQ(r.num_joined_members, 1);
    EXPECT_FALSE(r.world_readable);
    EXPECT_FALSE(r.guest_can_join);
    EXPECT_FALSE(r.room_type);
  }

  PublicRoomsQuery q;
  q.search_term = "cheese";
  EXPECT_EQ(Names(List(q)), std::vector<std::string>{"Alpha Chat"});
  q.search_term = "#ALPHA";
  EXPECT_EQ(Names(List(q)), std::vector<std::string>{"Alpha Chat"});
  q.search_term = "gam";
  EXPECT_EQ(Names(List(q)), std::vector<std::string>{"Gamma"});
  q.search_term = "nothing like this";
  EXPECT_TRUE(List(q).chunk.empty());

  q = {};
  q.room_types = std::vector<std::optional<std::string>>{"m.space"};
  auto spaces = List(q);
  ASSERT_EQ(spaces.chunk.size(), 1u);
  EXPECT_EQ(spaces.chunk[0].room_type, "m.space");
  q.room_types = std::vector<std::optional<std::string>>{std::nullopt};
  EXPECT_EQ(List(q).chunk.size(), 3u);
}

TEST_P(DirectoryTest, PaginatesBothWays) {
  auto alice = Register("alice");
  for (int i = 0; i < 7; ++i) Room(alice, "room" + std::to_string(i), true);
  Room(alice, "hidden", false);

  PublicRoomsQuery q;
  q.limit = 3;
  std::vector<PublicRoomsPage> pages;
  for (int guard = 0; guard < 10; ++guard) {
    pages.push_back(List(q));
    if (!pages.back().next_batch) break;
    q.since = pages.back().next_batch;
  }
  ASSERT_EQ(pages.size(), 3u);
  EXPECT_EQ(pages[0].chunk.size(), 3u);
  EXPECT_EQ(pages[2].chunk.size(), 1u);
  EXPECT_FALSE(pages[0].prev_batch);
  ASSERT_TRUE(pages[2].prev_batch);
  std::set<std::string> ids;
  for (const auto& p : pages) {
    for (const auto& r : p.chunk) ids.insert(r.room_id);
  }
  EXPECT_EQ(ids.size(), 7u);

  // Back from the last page gives the middle page again.
  q.since = pages[2].prev_batch;
  auto back = List(q);
  EXPECT_EQ(Names(back), Names(pages[1]));
  EXPECT_EQ(back.next_batch, pages[1].next_batch);
  ASSERT_TRUE(back.prev_batch);

  // With a search, pages hold only matches and tokens skip the rest.
  q = {};
  q.limit = 1;
  q.search_term = "ROOM";
  std::vector<std::string> found;
  for (int guard = 0; guard < 20; ++guard) {
    auto p = List(q);
    for (const auto& n : Names(p)) found.push_back(n);
    if (!p.next_batch) break;
    q.since = p.next_batch;
  }
  EXPECT_EQ(found.size(), 7u);

  q.since = "x1";
  EXPECT_EQ(CodeOf([&] { List(q); }), ErrorCode::kInvalidParam);
}

TEST_P(DirectoryTest, Visibility) {
  auto alice = Register("alice");
  auto bob = Register("bob");
  auto admin = Register("root", true);
  auto secret = Room(alice, "Secret", false);
  auto open = Room(alice, "Open", true);
  Join(bob, open);

  EXPECT_EQ(hs_->RunSync(hs_->directory.RoomVisibility(secret)), "private");
  EXPECT_EQ(hs_->RunSync(hs_->directory.RoomVisibility(open)), "public");
  EXPECT_EQ(CodeOf([&] { hs_->RunSync(hs_->directory.RoomVisibility("!no:test.local")); }),
            ErrorCode::kNotFound);

  // Bob is not in the secret room, and has no power in the open one.
  EXPECT_EQ(CodeOf([&] { hs_->RunSync(hs_->directory.SetRoomVisibility(bob, secret, "public")); }),
            ErrorCode::kForbidden);
  EXPECT_EQ(CodeOf([&] { hs_->RunSync(hs_->directory.SetRoomVisibility(bob, open, "private")); }),
            ErrorCode::kForbidden);
  EXPECT_EQ(CodeOf([&] { hs_->RunSync(hs_->directory.SetRoomVisibility(alice, open, "hidden")); }),
            ErrorCode::kInvalidParam);
  EXPECT_EQ(CodeOf([&] {
              hs_->RunSync(hs_->directory.SetRoomVisibility(alice, "!no:test.local", "public"));
            }),
            ErrorCode::kNotFound);

  hs_->RunSync(hs_->directory.SetRoomVisibility(alice, secret, "public"));
  EXPECT_EQ(hs_->RunSync(hs_->directory.RoomVisibility(secret)), "public");
  EXPECT_EQ(List().chunk.size(), 2u);
  // A server admin needs no membership.
  hs_->RunSync(hs_->directory.SetRoomVisibility(admin, open, "private"));
  EXPECT_EQ(Names(List()), std::vector<std::string>{"Secret"});
}

TEST_P(DirectoryTest, UserDirectoryShowsOnlyVisibleUsers) {
  auto alice = Register("alice");
  auto bob = Register("bob");
  auto carol = Register("carol");
  auto dave = Register("dave");
  auto erin = Register("erin");
  auto frank = Register("frank");
  hs_->RunSync(hs_->profiles.SetDisplayName(bob, bob.user_id, "Bobby Tables"));
  hs_->RunSync(hs_->profiles.SetDisplayName(carol, carol.user_id, "Caroline 100%"));

  CreateRoomOptions priv;
  priv.preset = "private_chat";
  auto shared = CreateRoom(alice, priv);
  hs_->RunSync(hs_->rooms.Membership(alice, shared, bob.user_id, "invite", std::nullopt));
  Join(bob, shared);
  CreateRoomOptions pub;
  pub.preset = "public_chat";
  CreateRoom(carol, pub);  // public join rule: carol is visible to all
  CreateRoom(dave, priv);  // dave is alone in a private room
  auto readable = CreateRoom(frank, priv);
  hs_->RunSync(hs_->rooms.SetState(frank, readable, "m.room.history_visibility", "",
                                   {{"history_visibility", "world_readable"}}));
  (void)erin;  // in no room at all

  EXPECT_EQ(Search(alice, "bob"), std::vector<std::string>{bob.user_id});
  EXPECT_EQ(Search(alice, "TABLES"), std::vector<std::string>{bob.user_id});
  EXPECT_EQ(Search(alice, "caro"), std::vector<std::string>{carol.user_id});
  EXPECT_EQ(Search(alice, "100%"), std::vector<std::string>{carol.user_id});
  EXPECT_TRUE(Search(alice, "0_").empty());  // LIKE wildcards are literal
  EXPECT_TRUE(Search(alice, "dave").empty());
  EXPECT_TRUE(Search(alice, "erin").empty());
  EXPECT_EQ(Search(alice, "frank"), std::vector<std::string>{frank.user_id});
  // Dave sees the public and world-readable rooms' members, and himself.
  EXPECT_EQ(Search(dave, "a"),
            (std::vector<std::string>{carol.user_id, dave.user_id, frank.user_id}));

  // Everyone alice can see has "test.local" in their id; prefix matches
  // ("@b...") rank first.
  bool limited = false;
  auto two = Search(alice, "test.local", 2, &limited);
  EXPECT_EQ(two.size(), 2u);
  EXPECT_TRUE(limited);
  Search(alice, "test.local", 10, &limited);
  EXPECT_FALSE(limited);
  EXPECT_EQ(Search(alice, "b").front(), bob.user_id);

  hs_->db().Write(
      [&](sql::Tx& tx) { storage::AccountStore::SetDeactivated(tx, bob.user_id, true); });
  EXPECT_TRUE(Search(alice, "bob").empty());
}

VIGIE_INSTANTIATE_ENGINE_TEST_SUITE(DirectoryTest);

}  // namespace
}  // namespace vigie::service
