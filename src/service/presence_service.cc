#include "service/presence_service.h"

#include "common/error.h"
#include "common/offload.h"
#include "common/time.h"
#include "storage/room_store.h"

namespace vigie::service {

using storage::UserDataStore;

namespace {
constexpr std::int64_t kRefreshMs = 60000;

void CheckState(const std::string& s) {
  if (s != "online" && s != "offline" && s != "unavailable") {
    throw InvalidParam("presence must be online, offline or unavailable");
  }
}
}  // namespace

boost::asio::awaitable<void> PresenceService::Write(const std::string& user_id,
                                                    const std::string& state,
                                                    std::optional<std::string> status_msg,
                                                    bool from_sync) {
  const std::int64_t now = NowMs();
  co_await stream_.Submit([&](sql::Tx& tx, Stream::NextPos& next, Stream::Effects& fx) {
    std::optional<storage::PresenceRecord> prior;
    if (from_sync) {
      prior = UserDataStore::GetPresence(tx, user_id);
      if (prior) status_msg = prior->status_msg;
    }
    // A sync that finds the state as stored only keeps last_active fresh:
    // nobody is told, so a room full of syncing members does not wake
    // every member each minute for every other one.
    if (from_sync && prior && prior->state == state) {
      UserDataStore::TouchPresence(tx, user_id, now);
      return;
    }
    UserDataStore::SetPresence(tx, {user_id, state, status_msg, now, next()});
    fx.Changed(Change::kPresence);
    for (auto& u : storage::RoomStore::UsersSharingRooms(tx, user_id)) fx.wake.insert(u);
    fx.wake.insert(user_id);
  });
  std::lock_guard lock(mu_);
  last_[user_id] = {state, now};
}

boost::asio::awaitable<void> PresenceService::Set(const Requester& who, const std::string& user_id,
                                                  const std::string& state,
                                                  const std::optional<std::string>& status_msg) {
  if (who.user_id != user_id) throw Forbidden("Cannot set another user's presence");
  CheckState(state);
  if (status_msg && status_msg->size() > 1024) throw InvalidParam("status_msg too long");
  co_await Write(user_id, state, status_msg, false);
}

boost::asio::awaitable<void> PresenceService::OnSync(const Requester& who,
                                                     const std::string& state) {
  CheckState(state);
  {
    std::lock_guard lock(mu_);
    auto it = last_.find(who.user_id);
    if (it != last_.end() && it->second.state == state &&
        NowMs() - it->second.written_ms < kRefreshMs) {
      co_return;
    }
  }
  co_await Write(who.user_id, state, std::nullopt, true);
}

boost::asio::awaitable<storage::PresenceRecord> PresenceService::Get(const Requester& who,
                                                                     const std::string& user_id) {
  auto p = co_await Offload(ctx_.db_pool, [&] {
    return ctx_.db.Read([&](sql::Tx& tx) -> std::optional<storage::PresenceRecord> {
      if (who.user_id != user_id) {
        policy_.RequireContactWithUser(tx, who.tenant_id, user_id);  // C4
        auto sharing = storage::RoomStore::UsersSharingRooms(tx, who.user_id);
        if (std::find(sharing.begin(), sharing.end(), user_id) == sharing.end()) {
          throw Forbidden("You do not share a room with this user");
        }
      }
      return UserDataStore::GetPresence(tx, user_id);
    });
  });
  if (!p) throw NotFound("No presence known for this user");
  co_return *p;
}

}  // namespace vigie::service
