#include "service/presence_service.h"

#include <gtest/gtest.h>

#include <thread>

#include "service/engine_test_util.h"

namespace vigie::service {
namespace {

class PresenceTest : public EngineHomeserverTest {
 protected:
  SyncResult Sync(const Requester& who, std::optional<std::string> since) {
    SyncRequest req;
    req.since = std::move(since);
    return hs_->RunSync(hs_->sync.Sync(who, req));
  }
  static std::vector<std::string> States(const SyncResult& r) {
    std::vector<std::string> out;
    for (const auto& p : r.presence) {
      out.push_back(std::string(p.at("sender").as_string()) + " " +
                    std::string(p.at("content").at("presence").as_string()));
    }
    return out;
  }
};

// A syncing client that stays online keeps its last-active time fresh
// without a stream write that every room-mate would wake for; a change of
// state still reaches them.
TEST_P(PresenceTest, StayingOnlineRefreshesLastActiveWithoutWakingAnyone) {
  auto alice = Register("alice");
  auto bob = Register("bob");
  CreateRoomOptions o;
  o.preset = "public_chat";
  const std::string room = CreateRoom(alice, o);
  Join(bob, room);
  hs_->RunSync(hs_->presence.Set(bob, bob.user_id, "online", std::string("on call")));
  const auto seen = Sync(alice, std::nullopt);
  EXPECT_EQ(States(seen), std::vector<std::string>{bob.user_id + " online"});
  const auto before = hs_->RunSync(hs_->presence.Get(alice, bob.user_id));

  // After a restart nothing is remembered in memory: the stored state
  // decides. Bob's next sync finds himself online already.
  RestartHomeserver();
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const std::int64_t pos = hs_->stream.Current();
  hs_->RunSync(hs_->presence.OnSync(bob, "online"));
  EXPECT_EQ(hs_->stream.Current(), pos);  // no position taken: nobody woken
  EXPECT_TRUE(Sync(alice, seen.next_batch).presence.empty());
  const auto after = hs_->RunSync(hs_->presence.Get(alice, bob.user_id));
  EXPECT_GT(after.last_active_ts, before.last_active_ts);
  EXPECT_EQ(after.stream_pos, before.stream_pos);
  EXPECT_EQ(after.status_msg, "on call");  // kept

  // A sync that sets another state is news.
  hs_->RunSync(hs_->presence.OnSync(bob, "unavailable"));
  EXPECT_GT(hs_->stream.Current(), pos);
  EXPECT_EQ(States(Sync(alice, seen.next_batch)),
            std::vector<std::string>{bob.user_id + " unavailable"});
}

VIGIE_INSTANTIATE_ENGINE_TEST_SUITE(PresenceTest);

}  // namespace
}  // namespace vigie::service
