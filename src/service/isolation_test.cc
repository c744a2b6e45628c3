// C4 tenant isolation: every way one user reaches another user or a room
// or file of another tenant (user directory, profile, invites, joins and
// knocks, the room directory, presence, media) is refused until the two
// tenants are linked, and works once the link is approved (X.1606 7.3).
#include <gtest/gtest.h>

#include "service/engine_test_util.h"
#include "storage/account_store.h"

namespace vigie::service {
namespace {

using storage::AccountStore;

class IsolationTest : public EngineHomeserverTest {
 protected:
  void SetUp() override {
    EngineHomeserverTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    provider_ = Register("provider", /*admin=*/true);
    hs_->RunSync(hs_->policy.CreateTenant(provider_, "a", "A"));
    hs_->RunSync(hs_->policy.CreateTenant(provider_, "b", "B"));
    alice_ = InTenant("alice", "a");
    amy_ = InTenant("amy", "a");
    bob_ = InTenant("bob", "b");
    admin_a_ = InTenant("admin-a", "a", /*tenant_admin=*/true);
    admin_b_ = InTenant("admin-b", "b", /*tenant_admin=*/true);
  }

  // A user of `tenant`, moved there after creation and logged in afresh so
  // that the requester carries the tenant.
  Requester InTenant(const std::string& name, const std::string& tenant,
                     bool tenant_admin = false) {
    hs_->RunSync(hs_->accounts.CreateUser(name, "password1", false, "t"));
    const std::string id = "@" + name + ":test.local";
    hs_->db().Write([&](sql::Tx& tx) {
      AccountStore::SetTenant(tx, id, tenant);
      if (tenant_admin) AccountStore::SetTenantAdmin(tx, id, true);
    });
    hs_->auth.Forget(id);
    LoginRequest r;
    r.user = name;
    r.password = "password1";
    auto s = hs_->RunSync(hs_->accounts.Login(r));
    Requester who = hs_->RunSync(hs_->auth.Authenticate(*s.access_token, "127.0.0.1", "t"));
    EXPECT_EQ(who.tenant_id, tenant);
    EXPECT_EQ(who.tenant_admin, tenant_admin);
    return who;
  }

  // Links a and b: the provider proposes (approving as provider), each
  // tenant admin approves for its tenant.
  void Link() {
    auto proposed = hs_->RunSync(hs_->policy.ProposeLink(provider_, "a", "b", true));
    ASSERT_EQ(proposed.change.state, "pending");
    hs_->RunSync(hs_->policy.Approve(admin_a_, proposed.change.change_id));
    EXPECT_FALSE(hs_->policy.snapshot()->Linked("a", "b"));  // one party still missing
    auto done = hs_->RunSync(hs_->policy.Approve(admin_b_, proposed.change.change_id));
    ASSERT_EQ(done.change.state, "applied");
    ASSERT_TRUE(hs_->policy.snapshot()->Linked("a", "b"));
  }

  void Unlink() {
    auto out = hs_->RunSync(hs_->policy.ProposeLink(provider_, "a", "b", false));
    ASSERT_EQ(out.change.state, "applied");  // strengthens: applies at once
    ASSERT_FALSE(hs_->policy.snapshot()->Linked("a", "b"));
  }

  std::string PublicRoom(const Requester& who, const std::string& name) {
    CreateRoomOptions o;
    o.preset = "public_chat";
    o.visibility = "public";
    o.name = name;
    return CreateRoom(who, std::move(o));
  }

  std::vector<std::string> Search(const Requester& who, const std::string& term) {
    std::vector<std::string> out;
    for (auto& u : hs_->RunSync(hs_->directory.SearchUsers(who, term, 100)).results) {
      out.push_back(u.user_id);
    }
    return out;
  }

  std::vector<std::string> ListedRooms(const std::optional<Requester>& who) {
    std::vector<std::string> out;
    for (auto& r : hs_->RunSync(hs_->directory.PublicRooms(who, {})).chunk) {
      out.push_back(r.name.value_or(""));
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  // Runs `f`, expects M_FORBIDDEN decided by C4.
  void ExpectC4(const std::function<void()>& f) {
    Error e = ErrorOf(f);
    EXPECT_EQ(e.code(), ErrorCode::kForbidden) << e.message();
    const auto* req = e.extra().if_contains("io.vigie.requirement");
    ASSERT_TRUE(req) << e.message();
    EXPECT_EQ(*req, "C4");
  }

  std::string Upload(const Requester& who, const std::string& bytes) {
    std::string uri = hs_->RunSync(hs_->media.Upload(who, "text/plain", "f.txt", bytes));
    return uri.substr(uri.rfind('/') + 1);
  }
  std::string Download(const std::optional<Requester>& who, const std::string& id) {
    auto m = hs_->RunSync(hs_->media.Download(who, "test.local", id, 0));
    std::string out(m.file->size(), '\0');
    out.resize(m.file->ReadNow(0, out.data(), out.size()));
    return out;
  }

  Requester provider_, alice_, amy_, bob_, admin_a_, admin_b_;
};

TEST_P(IsolationTest, UserDirectoryListsOnlyContactableTenants) {
  PublicRoom(bob_, "Bob's public room");  // makes bob visible to searches
  PublicRoom(amy_, "Amy's public room");
  EXPECT_EQ(Search(alice_, "bob"), std::vector<std::string>{});
  EXPECT_EQ(Search(alice_, "amy"), std::vector<std::string>{"@amy:test.local"});
  EXPECT_EQ(Search(bob_, "amy"), std::vector<std::string>{});
  Link();
  EXPECT_EQ(Search(alice_, "bob"), std::vector<std::string>{"@bob:test.local"});
  EXPECT_EQ(Search(bob_, "amy"), std::vector<std::string>{"@amy:test.local"});
}

TEST_P(IsolationTest, ProfileOfAnotherTenantIsForbidden) {
  ExpectC4([&] { hs_->RunSync(hs_->profiles.Get(alice_, bob_.user_id)); });
  EXPECT_TRUE(hs_->RunSync(hs_->profiles.Get(alice_, amy_.user_id)).displayname);
  // Without an access token: the default tenant's users only.
  ExpectC4([&] { hs_->RunSync(hs_->profiles.Get(std::nullopt, bob_.user_id)); });
  EXPECT_TRUE(hs_->RunSync(hs_->profiles.Get(std::nullopt, provider_.user_id)).displayname);
  // Unknown users stay 404, whoever asks.
  EXPECT_EQ(CodeOf([&] { hs_->RunSync(hs_->profiles.Get(alice_, "@nobody:test.local")); }),
            ErrorCode::kNotFound);
  Link();
  EXPECT_EQ(hs_->RunSync(hs_->profiles.Get(alice_, bob_.user_id)).displayname, "bob");
  ExpectC4([&] { hs_->RunSync(hs_->profiles.Get(std::nullopt, bob_.user_id)); });
}

TEST_P(IsolationTest, InvitesAcrossTenantsAreRefused) {
  const std::string room = CreateRoom(alice_);
  ExpectC4([&] { hs_->RunSync(hs_->rooms.Membership(alice_, room, bob_.user_id, "invite", {})); });
  hs_->RunSync(hs_->rooms.Membership(alice_, room, amy_.user_id, "invite", std::nullopt));

  // createRoom's invite list: refused before anything is written.
  const auto rooms_before = hs_->RunSync(hs_->rooms.JoinedRooms(alice_)).size();
  CreateRoomOptions o;
  o.invite = {amy_.user_id, bob_.user_id};
  ExpectC4([&] { CreateRoom(alice_, o); });
  EXPECT_EQ(hs_->RunSync(hs_->rooms.JoinedRooms(alice_)).size(), rooms_before);

  Link();
  hs_->RunSync(hs_->rooms.Membership(alice_, room, bob_.user_id, "invite", std::nullopt));
  Join(bob_, room);
  const std::string dm = CreateRoom(alice_, o);
  Join(bob_, dm);
}

TEST_P(IsolationTest, NoJoinOrKnockIntoAnotherTenantsRoom) {
  const std::string room = PublicRoom(bob_, "Bee public");
  ExpectC4([&] { Join(alice_, room); });
  ExpectC4([&] { hs_->RunSync(hs_->rooms.Knock(alice_, room, std::nullopt)); });
  // The state endpoint is not a way around it.
  ExpectC4([&] {
    hs_->RunSync(hs_->rooms.SetState(alice_, room, "m.room.member", alice_.user_id,
                                     {{"membership", "join"}}));
  });
  Link();
  Join(alice_, room);
  Say(alice_, room, "hello from a");
}

TEST_P(IsolationTest, RoomDirectoryListsOnlyContactableTenants) {
  PublicRoom(alice_, "A room");
  PublicRoom(bob_, "B room");
  PublicRoom(provider_, "Default room");
  EXPECT_EQ(ListedRooms(alice_), (std::vector<std::string>{"A room"}));
  EXPECT_EQ(ListedRooms(bob_), (std::vector<std::string>{"B room"}));
  EXPECT_EQ(ListedRooms(provider_), (std::vector<std::string>{"Default room"}));
  // Without an access token: the default tenant's rooms only.
  EXPECT_EQ(ListedRooms(std::nullopt), (std::vector<std::string>{"Default room"}));
  EXPECT_EQ(hs_->RunSync(hs_->directory.PublicRooms(alice_, {})).total_room_count_estimate, 1);
  Link();
  EXPECT_EQ(ListedRooms(alice_), (std::vector<std::string>{"A room", "B room"}));
  EXPECT_EQ(ListedRooms(std::nullopt), (std::vector<std::string>{"Default room"}));
}

TEST_P(IsolationTest, PresenceOfAnotherTenantIsForbidden) {
  hs_->RunSync(hs_->presence.Set(bob_, bob_.user_id, "online", std::string("busy")));
  ExpectC4([&] { hs_->RunSync(hs_->presence.Get(alice_, bob_.user_id)); });
  Link();
  // Linked, they still need a shared room (C5), without C4 in the answer.
  Error e = ErrorOf([&] { hs_->RunSync(hs_->presence.Get(alice_, bob_.user_id)); });
  EXPECT_EQ(e.code(), ErrorCode::kForbidden);
  EXPECT_FALSE(e.extra().contains("io.vigie.requirement"));
  const std::string room = PublicRoom(bob_, "Shared");
  Join(alice_, room);
  EXPECT_EQ(hs_->RunSync(hs_->presence.Get(alice_, bob_.user_id)).status_msg, "busy");
}

TEST_P(IsolationTest, MediaOfAnotherTenantIsNotFound) {
  const std::string bobs = Upload(bob_, "b's file");
  const std::string provider_file = Upload(provider_, "default file");
  // 404, as for an id that does not exist: the answer must not confirm it.
  EXPECT_EQ(CodeOf([&] { Download(alice_, bobs); }), ErrorCode::kNotFound);
  EXPECT_EQ(CodeOf([&] {
              hs_->RunSync(hs_->media.Thumbnail(alice_, "test.local", bobs, 32, 32, "scale", 0));
            }),
            ErrorCode::kNotFound);
  EXPECT_EQ(Download(bob_, bobs), "b's file");
  EXPECT_EQ(Download(admin_b_, bobs), "b's file");
  // Without an access token (legacy download): the default tenant only.
  EXPECT_EQ(CodeOf([&] { Download(std::nullopt, bobs); }), ErrorCode::kNotFound);
  EXPECT_EQ(Download(std::nullopt, provider_file), "default file");
  Link();
  EXPECT_EQ(Download(alice_, bobs), "b's file");
  EXPECT_EQ(CodeOf([&] { Download(std::nullopt, bobs); }), ErrorCode::kNotFound);
}

TEST_P(IsolationTest, RemovingALinkKeepsExistingRoomsWorking) {
  Link();
  const std::string room = PublicRoom(bob_, "Joint");
  Join(alice_, room);
  Unlink();
  // Members stay and keep talking; membership gates sending.
  Say(alice_, room, "still here");
  Say(bob_, room, "me too");
  Join(alice_, room);  // a profile update of a member is not a new join
  // Nobody new crosses: not amy, and not alice once she has left.
  ExpectC4([&] { Join(amy_, room); });
  hs_->RunSync(hs_->rooms.Membership(alice_, room, alice_.user_id, "leave", std::nullopt));
  ExpectC4([&] { Join(alice_, room); });
  ExpectC4([&] { hs_->RunSync(hs_->profiles.Get(alice_, bob_.user_id)); });
}

TEST_P(IsolationTest, ServerNoticesReachUsersOfEveryTenant) {
  // The notices account lives in the default tenant but acts within the
  // user's: its rooms belong to the user's tenant.
  auto event = hs_->RunSync(hs_->notices.Send(alice_.user_id, "test", "hello"));
  EXPECT_FALSE(event.empty());
  auto room = hs_->RunSync(hs_->notices.RoomOf(alice_.user_id));
  ASSERT_TRUE(room);
  auto rec = hs_->db().Read([&](sql::Tx& tx) { return storage::RoomStore::GetRoom(tx, *room); });
  ASSERT_TRUE(rec);
  EXPECT_EQ(rec->tenant_id, "a");
}

VIGIE_INSTANTIATE_ENGINE_TEST_SUITE(IsolationTest);

}  // namespace
}  // namespace vigie::service
