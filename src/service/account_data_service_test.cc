#include "service/account_data_service.h"

#include <gtest/gtest.h>

#include "service/service_test_util.h"

namespace vigie::service {
namespace {

namespace bj = boost::json;

// Account data, tags, read markers, receipts' rules and typing.
class UserDataTest : public ::testing::Test {
 protected:
  void SetUp() override {
    crypto::Init();
    hs_ = std::make_unique<Homeserver>(TestConfig());
    alice_ = Register("alice");
    bob_ = Register("bob");
    CreateRoomOptions o;
    o.preset = "public_chat";
    room_ = hs_->RunSync(hs_->rooms.CreateRoom(alice_, o)).room_id;
  }
  Requester Register(const std::string& name) { return RegisterAndLogin(*hs_, name); }
  std::string Say(const Requester& who, const std::string& body) {
    return hs_->RunSync(hs_->rooms.Send(who, room_, "m.room.message",
                                        {{"msgtype", "m.text"}, {"body", body}},
                                        "t" + std::to_string(++txn_)));
  }
  SyncResult Sync(const Requester& who, std::optional<std::string> since = std::nullopt) {
    SyncRequest req;
    req.since = since;
    return hs_->RunSync(hs_->sync.Sync(who, req));
  }
  const RoomSync* JoinedRoom(const SyncResult& r) {
    for (const auto& j : r.join) {
      if (j.room_id == room_) return &j;
    }
    return nullptr;
  }
  static const bj::value* Find(const bj::array& events, std::string_view type) {
    for (const auto& e : events) {
      if (e.at("type").as_string() == type) return &e.at("content");
    }
    return nullptr;
  }
  ErrorCode CodeOf(const std::function<void()>& f) { return ErrorOf(f).code(); }

  std::unique_ptr<Homeserver> hs_;
  Requester alice_, bob_;
  std::string room_;
  int txn_ = 0;
};

TEST_F(UserDataTest, AccountDataGlobalAndPerRoom) {
  auto& ad = hs_->account_data;
  const std::string me = alice_.user_id;
  EXPECT_EQ(CodeOf([&] { hs_->RunSync(ad.Get(alice_, me, "", "org.example.x")); }),
            ErrorCode::kNotFound);
  auto initial = Sync(alice_);
  hs_->RunSync(ad.Set(alice_, me, "", "org.example.x", {{"a", 1}}));
  hs_->RunSync(ad.Set(alice_, me, room_, "org.example.x", {{"b", 2}}));
  EXPECT_EQ(hs_->RunSync(ad.Get(alice_, me, "", "org.example.x")).at("a"), 1);
  EXPECT_EQ(hs_->RunSync(ad.Get(alice_, me, room_, "org.example.x")).at("b"), 2);
  // No fallback from room to global.
  EXPECT_EQ(CodeOf([&] { hs_->RunSync(ad.Get(alice_, me, "!other:test.local", "org.example.x")); }),
            ErrorCode::kNotFound);

  auto inc = Sync(alice_, initial.next_batch);
  const auto* global = Find(inc.account_data, "org.example.x");
  ASSERT_NE(global, nullptr);
  EXPECT_EQ(global->at("a"), 1);
  const RoomSync* rs = JoinedRoom(inc);
  ASSERT_NE(rs, nullptr);
  ASSERT_NE(Find(rs->account_data, "org.example.x"), nullptr);

  // Only one's own; server-managed types refused; room ids checked.
  EXPECT_EQ(CodeOf([&] { hs_->RunSync(ad.Get(bob_, me, "", "org.example.x")); }),
            ErrorCode::kForbidden);
  EXPECT_EQ(CodeOf([&] { hs_->RunSync(ad.Set(bob_, me, "", "org.example.x", {})); }),
            ErrorCode::kForbidden);
  auto e = ErrorOf([&] { hs_->RunSync(ad.Set(alice_, me, room_, "m.fully_read", {})); });
  EXPECT_EQ(e.code(), ErrorCode::kBadJson);
  EXPECT_EQ(e.status_override(), 405);
  EXPECT_EQ(CodeOf([&] { hs_->RunSync(ad.Set(alice_, me, "@notaroom:x", "t", {})); }),
            ErrorCode::kInvalidParam);
}

TEST_F(UserDataTest, Tags) {
  auto& ad = hs_->account_data;
  const std::string me = alice_.user_id;
  EXPECT_TRUE(hs_->RunSync(ad.Tags(alice_, me, room_)).empty());
  auto initial = Sync(alice_);
  hs_->RunSync(ad.SetTag(alice_, me, room_, "m.favourite", {{"order", 0.25}}));
  hs_->RunSync(ad.SetTag(alice_, me, room_, "u.work", {}));
  hs_->RunSync(ad.SetTag(alice_, me, room_, "u.one", {{"order", 1}}));
  auto tags = hs_->RunSync(ad.Tags(alice_, me, room_));
  EXPECT_EQ(tags.size(), 3u);
  EXPECT_EQ(tags.at("m.favourite").at("order").as_double(), 0.25);
  EXPECT_EQ(CodeOf([&] {
              hs_->RunSync(ad.SetTag(alice_, me, room_, "x", {{"order", 1.5}}));
            }),
            ErrorCode::kInvalidParam);
  EXPECT_EQ(CodeOf([&] {
              hs_->RunSync(ad.SetTag(alice_, me, room_, "x", {{"order", "0.5"}}));
            }),
            ErrorCode::kInvalidParam);
  EXPECT_EQ(CodeOf([&] { hs_->RunSync(ad.SetTag(alice_, me, room_, std::string(256, 't'), {})); }),
            ErrorCode::kInvalidParam);
  EXPECT_EQ(CodeOf([&] { hs_->RunSync(ad.Tags(bob_, me, room_)); }), ErrorCode::kForbidden);
  hs_->RunSync(ad.DeleteTag(alice_, me, room_, "u.work"));
  hs_->RunSync(ad.DeleteTag(alice_, me, room_, "u.absent"));
  tags = hs_->RunSync(ad.Tags(alice_, me, room_));
  EXPECT_FALSE(tags.contains("u.work"));

  // Delivered as the room's m.tag account data, with the unread counts.
  auto inc = Sync(alice_, initial.next_batch);
  const RoomSync* rs = JoinedRoom(inc);
  ASSERT_NE(rs, nullptr);
  const auto* m_tag = Find(rs->account_data, "m.tag");
  ASSERT_NE(m_tag, nullptr);
  EXPECT_EQ(m_tag->at("tags").as_object().size(), 2u);
}

TEST_F(UserDataTest, ReceiptRules) {
  std::string ev = Say(alice_, "hello");
  auto& r = hs_->receipts;
  // Not joined.
  EXPECT_EQ(CodeOf([&] { hs_->RunSync(r.Send(bob_, room_, "m.read", ev, std::nullopt)); }),
            ErrorCode::kForbidden);
  hs_->RunSync(hs_->rooms.Join(bob_, room_, std::nullopt));
  auto bob_initial = Sync(bob_);
  auto alice_initial = Sync(alice_);
  EXPECT_EQ(CodeOf([&] { hs_->RunSync(r.Send(bob_, room_, "m.seen", ev, std::nullopt)); }),
            ErrorCode::kInvalidParam);
  EXPECT_EQ(CodeOf([&] {
              hs_->RunSync(r.Send(bob_, room_, "m.read", "$nope:test.local", std::nullopt));
            }),
            ErrorCode::kNotFound);
  EXPECT_EQ(
      CodeOf([&] { hs_->RunSync(r.Send(bob_, room_, "m.fully_read", ev, std::string("main"))); }),
      ErrorCode::kInvalidParam);

  // A public receipt reaches Alice; a private one only Bob.
  hs_->RunSync(r.Send(bob_, room_, "m.read", ev, std::nullopt));
  auto seen = Sync(alice_, alice_initial.next_batch);
  const RoomSync* rs = JoinedRoom(seen);
  ASSERT_NE(rs, nullptr);
  const auto* receipt = Find(rs->ephemeral, "m.receipt");
  ASSERT_NE(receipt, nullptr);
  EXPECT_TRUE(receipt->at(ev).at("m.read").as_object().contains(bob_.user_id));
  std::string ev2 = Say(alice_, "again");
  hs_->RunSync(r.Send(bob_, room_, "m.read.private", ev2, std::nullopt));
  auto alice_after = Sync(alice_, seen.next_batch);
  rs = JoinedRoom(alice_after);
  if (rs) {
    const auto* more = Find(rs->ephemeral, "m.receipt");
    EXPECT_TRUE(!more || !more->as_object().contains(ev2));
  }
  auto bob_after = Sync(bob_, bob_initial.next_batch);
  rs = JoinedRoom(bob_after);
  ASSERT_NE(rs, nullptr);
  const auto* own = Find(rs->ephemeral, "m.receipt");
  ASSERT_NE(own, nullptr);
  EXPECT_TRUE(own->at(ev2).as_object().contains("m.read.private"));
}

TEST_F(UserDataTest, ReadMarkersMoveForward) {
  std::string first = Say(alice_, "one");
  std::string second = Say(alice_, "two");
  auto marker = [&] {
    return hs_->RunSync(hs_->account_data.Get(alice_, alice_.user_id, room_, "m.fully_read"))
        .at("event_id")
        .as_string();
  };
  ReadMarkers m;
  m.fully_read = second;
  m.read = second;
  hs_->RunSync(hs_->receipts.SetReadMarkers(alice_, room_, m));
  EXPECT_EQ(marker(), second);
  hs_->RunSync(hs_->receipts.Send(alice_, room_, "m.fully_read", first, std::nullopt));
  EXPECT_EQ(marker(), second);  // not back
  std::string third = Say(alice_, "three");
  hs_->RunSync(hs_->receipts.Send(alice_, room_, "m.fully_read", third, std::nullopt));
  EXPECT_EQ(marker(), third);
  ReadMarkers bad;
  bad.read = "$unknown:test.local";
  EXPECT_EQ(CodeOf([&] { hs_->RunSync(hs_->receipts.SetReadMarkers(alice_, room_, bad)); }),
            ErrorCode::kNotFound);
}

TEST_F(UserDataTest, TypingOnlyForMembers) {
  EXPECT_EQ(CodeOf([&] { hs_->RunSync(hs_->rooms.JoinedMembers(bob_, room_)); }),
            ErrorCode::kForbidden);
  auto members = hs_->RunSync(hs_->rooms.JoinedMembers(alice_, room_));
  EXPECT_EQ(members, std::vector<std::string>{alice_.user_id});
  auto initial = Sync(alice_);
  hs_->typing.Set(room_, alice_.user_id, true, std::chrono::seconds(30), members);
  auto typing = Sync(alice_, initial.next_batch);
  const RoomSync* rs = JoinedRoom(typing);
  ASSERT_NE(rs, nullptr);
  const auto* t = Find(rs->ephemeral, "m.typing");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->at("user_ids").as_array().size(), 1u);
}

}  // namespace
}  // namespace vigie::service
