#include "service/auth_service.h"

#include <mutex>

#include "common/crypto.h"
#include "common/error.h"
#include "common/offload.h"
#include "common/time.h"
#include "service/account_service.h"
#include "service/device_service.h"
#include "service/keys_service.h"
#include "storage/account_store.h"

namespace vigie::service {
namespace {
constexpr std::size_t kMaxCached = 200000;
constexpr std::int64_t kTouchIntervalMs = 60000;
}  // namespace

std::string AuthService::NewToken() { return "vg_" + crypto::Base64Url(crypto::RandomBytes(32)); }

std::string AuthService::HashToken(std::string_view token) { return crypto::Sha256Hex(token); }

std::string AuthService::IssueToken(sql::Tx& tx, std::string_view user_id,
                                    std::string_view device_id) {
  std::string token = NewToken();
  storage::AccountStore::InsertToken(
      tx, {std::string(user_id), std::string(device_id), HashToken(token)}, NowMs());
  return token;
}

boost::asio::awaitable<Requester> AuthService::Authenticate(std::string_view token, std::string ip,
                                                            std::string user_agent) {
  const std::string hash = HashToken(token);
  const std::int64_t now = NowMs();
  std::uint64_t generation;
  {
    std::shared_lock lock(mu_);
    generation = generation_;
    auto it = cache_.find(hash);
    if (it != cache_.end() && crypto::ConstantTimeEqual(it->first, hash)) {
      if (now - it->second.last_touch_ms < kTouchIntervalMs) co_return it->second.who;
    }
  }
  bool wipe = false;
  auto who = co_await Offload(ctx_.db_pool, [&]() -> std::optional<Requester> {
    return ctx_.db.Write([&](sql::Tx& tx) -> std::optional<Requester> {
      auto tok = storage::AccountStore::FindToken(tx, hash);
      if (!tok || !crypto::ConstantTimeEqual(tok->token_hash, hash)) return std::nullopt;
      auto user = storage::AccountStore::GetUser(tx, tok->user_id);
      if (!user || user->deactivated) return std::nullopt;
      auto device = storage::AccountStore::GetDevice(tx, tok->user_id, tok->device_id);
      if (!device) return std::nullopt;
      Requester r{tok->user_id, tok->device_id, user->tenant_id, user->is_admin, hash};
      if (device->wipe_requested_ts) {
        wipe = true;
        return r;
      }
      storage::AccountStore::TouchDevice(tx, tok->user_id, tok->device_id, now, ip, user_agent);
      r.tenant_admin = user->tenant_admin;
      r.device_pending = device->state == storage::DeviceState::kPending;
      r.device_primary = device->is_primary;
      return r;
    });
  });
  if (!who) {
    throw Error(ErrorCode::kUnknownToken, "Unknown access token").with("soft_logout", false);
  }
  if (wipe) {
    // X-IM-4: its keys and inbox went when the wipe was ordered; the
    // device and its tokens go now, under the stream lock since the
    // device list changes.
    co_await stream_.Submit([&](sql::Tx& tx, const Stream::NextPos& next, Stream::Effects& fx) {
      auto device = storage::AccountStore::GetDevice(tx, who->user_id, who->device_id);
      if (!device || !device->wipe_requested_ts) return;
      storage::AccountStore::DeleteDevice(tx, who->user_id, who->device_id);
      NoteDeviceListChange(tx, who->user_id, next, fx);
      Audit(tx, who->user_id, who->tenant_id, "device.wiped", who->user_id,
            {{"requirement", "X-IM-4"}, {"device_id", who->device_id}, {"ip", ip}});
      PromotePrimaryIfGone(tx, who->user_id, who->tenant_id, who->user_id);
    });
    Forget(who->user_id);
    throw Error(ErrorCode::kUnknownToken,
                "This device was ordered to erase its data: sign out and delete local data")
        .with("soft_logout", false)
        .with("io.vigie.wipe", true);
  }
  {
    std::unique_lock lock(mu_);
    if (generation == generation_) {
      if (cache_.size() >= kMaxCached) cache_.clear();
      cache_[hash] = Cached{*who, now};
    }
  }
  co_return *who;
}

void AuthService::Forget(std::string_view user_id, std::optional<std::string_view> device_id) {
  std::unique_lock lock(mu_);
  ++generation_;
  std::erase_if(cache_, [&](const auto& kv) {
    return kv.second.who.user_id == user_id &&
           (!device_id || kv.second.who.device_id == *device_id);
  });
}

}  // namespace vigie::service
