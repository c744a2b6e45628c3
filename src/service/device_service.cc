#include "service/device_service.h"

#include <spdlog/spdlog.h>

#include <boost/json/parse.hpp>

#include "common/error.h"
#include "common/json.h"
#include "common/offload.h"
#include "common/time.h"
#include "service/account_service.h"
#include "service/keys_service.h"
#include "service/server_notices.h"
#include "storage/e2e_store.h"

namespace vigie::service {

using storage::AccountStore;
using storage::DeviceState;
using storage::E2eStore;

std::optional<std::string> PromotePrimaryIfGone(sql::Tx& tx, const std::string& user_id,
                                                const std::optional<std::string>& tenant_id,
                                                std::string_view actor) {
  std::optional<std::string> oldest;
  bool stale_flag = false;
  // ListDevices is ordered by created_ts: the first active device is the
  // oldest. A primary that is pending again (X-AC-1 step-up) keeps its role.
  for (const auto& d : AccountStore::ListDevices(tx, user_id)) {
    const bool going = d.state == DeviceState::kBanned || d.wipe_requested_ts;
    if (d.is_primary && !going) return std::nullopt;
    stale_flag |= d.is_primary;
    if (d.state == DeviceState::kActive && !going && !oldest) oldest = d.device_id;
  }
  if (!oldest) {
    if (stale_flag) AccountStore::SetPrimaryDevice(tx, user_id, std::nullopt);
    return std::nullopt;
  }
  AccountStore::SetPrimaryDevice(tx, user_id, *oldest);
  Audit(tx, actor, tenant_id, "device.primary.promote", user_id,
        {{"requirement", "X-IM-2"}, {"device_id", *oldest}});
  return oldest;
}

boost::asio::awaitable<void> NoticeDeviceChange(ServerNoticeService& notices,
                                                const std::string& user_id, const std::string& kind,
                                                const std::string& body,
                                                boost::json::object details) {
  try {
    co_await notices.Send(user_id, kind, body, std::move(details));
  } catch (const std::exception& e) {
    spdlog::warn("server notice {} to {} failed: {}", kind, user_id, e.what());
  }
}

std::string DeviceLabel(const std::string& device_id, const std::optional<std::string>& name) {
  if (!name || name->empty()) return device_id;
  return *name + " (" + device_id + ")";
}

boost::asio::awaitable<std::vector<storage::DeviceRecord>> DeviceService::List(
    const std::string& user_id, bool include_banned) {
  auto devices = co_await Offload(ctx_.db_pool, [&] {
    return ctx_.db.Read([&](sql::Tx& tx) { return AccountStore::ListDevices(tx, user_id); });
  });
  if (!include_banned) {
    std::erase_if(devices, [](const auto& d) { return d.state == DeviceState::kBanned; });
  }
  co_return devices;
}

boost::asio::awaitable<storage::DeviceRecord> DeviceService::Get(const std::string& user_id,
                                                                 const std::string& device_id,
                                                                 bool include_banned) {
  auto d = co_await Offload(ctx_.db_pool, [&] {
    return ctx_.db.Read(
        [&](sql::Tx& tx) { return AccountStore::GetDevice(tx, user_id, device_id); });
  });
  if (!d || (!include_banned && d->state == DeviceState::kBanned)) {
    throw NotFound("Unknown device");
  }
  co_return *d;
}

boost::asio::awaitable<void> DeviceService::Rename(const Requester& who,
                                                   const std::string& device_id,
                                                   const std::optional<std::string>& name) {
  if (name && name->size() > 256) throw InvalidParam("display_name is too long");
  bool found =
      co_await stream_.Submit([&](sql::Tx& tx, const Stream::NextPos& next, Stream::Effects& fx) {
        if (!AccountStore::GetDevice(tx, who.user_id, device_id)) return false;
        AccountStore::SetDeviceDisplayName(tx, who.user_id, device_id, name);
        NoteDeviceListChange(tx, who.user_id, next, fx);
        return true;
      });
  if (!found) throw NotFound("Unknown device");
}

boost::asio::awaitable<void> DeviceService::Delete(const Requester& who,
                                                   const std::vector<std::string>& ids,
                                                   const boost::json::object* auth) {
  if (ids.size() > 1000) throw InvalidParam("Too many devices in one request");
  UiaSpec spec{"POST /delete_devices", {{kStagePassword}}, who.user_id};
  co_await uia_.Require(spec, auth);
  struct Out {
    std::vector<std::string> deleted;
    std::optional<std::string> promoted;
  };
  Out out =
      co_await stream_.Submit([&](sql::Tx& tx, const Stream::NextPos& next, Stream::Effects& fx) {
        Out o;
        for (const auto& id : ids) {
          auto d = AccountStore::GetDevice(tx, who.user_id, id);
          // A banned device's record is its ban (X-IM-4): it stays.
          if (!d || d->state == DeviceState::kBanned) continue;
          AccountStore::DeleteDevice(tx, who.user_id, id);
          Audit(tx, who.user_id, who.tenant_id, "device.delete", who.user_id, {{"device_id", id}});
          o.deleted.push_back(DeviceLabel(id, d->display_name));
        }
        if (!o.deleted.empty()) {
          NoteDeviceListChange(tx, who.user_id, next, fx);
          o.promoted = PromotePrimaryIfGone(tx, who.user_id, who.tenant_id, who.user_id);
        }
        return o;
      });
  for (const auto& id : ids) auth_.Forget(who.user_id, id);
  if (out.promoted) auth_.Forget(who.user_id);
  for (const auto& label : out.deleted) {
    boost::json::object details;
    co_await NoticeDeviceChange(notices_, who.user_id, "device.removed",
                                "Your device " + label + " was signed out.", std::move(details));
  }
}

void DeviceService::RequirePrimary(sql::Tx& tx, const Requester& who) const {
  auto me = AccountStore::GetDevice(tx, who.user_id, who.device_id);
  if (!me || me->state != DeviceState::kActive || !me->is_primary || me->wipe_requested_ts) {
    throw Forbidden("Only your primary device can do this, and this device is not it")
        .with("io.vigie.requirement", "X-IM-2");
  }
}

boost::asio::awaitable<std::string> DeviceService::RequireControl(const Requester& who,
                                                                  const std::string& operation,
                                                                  const boost::json::object* auth) {
  auto me = co_await Offload(ctx_.db_pool, [&] {
    return ctx_.db.Read(
        [&](sql::Tx& tx) { return AccountStore::GetDevice(tx, who.user_id, who.device_id); });
  });
  if (!me || me->state != DeviceState::kActive) {
    throw Forbidden("Only an approved device can control your other devices")
        .with("io.vigie.requirement", "X-IM-4");
  }
  if (me->is_primary) co_return std::string("primary");
  // Any other device must prove the password again (the stronger
  // re-authentication of X-IM-4).
  UiaSpec spec{operation, {{kStagePassword}}, who.user_id};
  co_await uia_.Require(spec, auth);
  co_return std::string("reauth");
}

boost::asio::awaitable<void> DeviceService::Approve(const Requester& who,
                                                    const std::string& device_id) {
  co_await DecidePending(who, device_id, true);
}

boost::asio::awaitable<void> DeviceService::Deny(const Requester& who,
                                                 const std::string& device_id) {
  co_await DecidePending(who, device_id, false);
}

boost::asio::awaitable<void> DeviceService::DecidePending(const Requester& who,
                                                          const std::string& device_id,
                                                          bool approve) {
  std::string label = co_await stream_.Submit([&](sql::Tx& tx, const Stream::NextPos& next,
                                                  Stream::Effects& fx) {
    RequirePrimary(tx, who);
    auto d = AccountStore::GetDevice(tx, who.user_id, device_id);
    if (!d) throw NotFound("Unknown device");
    if (d->state != DeviceState::kPending) {
      throw InvalidParam("This device is not waiting for approval");
    }
    if (approve) {
      AccountStore::SetDeviceState(tx, who.user_id, device_id, DeviceState::kActive);
    } else {
      AccountStore::DeleteDevice(tx, who.user_id, device_id);  // its token dies with it
    }
    NoteDeviceListChange(tx, who.user_id, next, fx);
    Audit(tx, who.user_id, who.tenant_id, approve ? "device.approve" : "device.deny", who.user_id,
          {{"requirement", "X-IM-2"}, {"device_id", device_id}, {"by_device", who.device_id}});
    return DeviceLabel(device_id, d->display_name);
  });
  auth_.Forget(who.user_id, device_id);
  boost::json::object details{{"device_id", device_id}, {"requirement", "X-IM-2"}};
  const std::string kind = approve ? "device.approved" : "device.denied";
  const std::string body =
      approve ? "Your new device " + label + " was approved from your primary device."
              : "The sign-in of " + label +
                    " was refused from your primary device; it has been signed out.";
  co_await NoticeDeviceChange(notices_, who.user_id, kind, body, std::move(details));
}

boost::asio::awaitable<void> DeviceService::SetPrimary(const Requester& who,
                                                       const std::string& device_id) {
  std::optional<std::string> label =
      co_await stream_.Submit([&](sql::Tx& tx, const Stream::NextPos& next,
                                  Stream::Effects& fx) -> std::optional<std::string> {
        RequirePrimary(tx, who);
        auto d = AccountStore::GetDevice(tx, who.user_id, device_id);
        if (!d) throw NotFound("Unknown device");
        if (d->state != DeviceState::kActive || d->wipe_requested_ts) {
          throw InvalidParam("Only an active device can become the primary device");
        }
        if (d->is_primary) return std::nullopt;
        AccountStore::SetPrimaryDevice(tx, who.user_id, device_id);
        NoteDeviceListChange(tx, who.user_id, next, fx);
        Audit(tx, who.user_id, who.tenant_id, "device.primary", who.user_id,
              {{"requirement", "X-IM-2"}, {"device_id", device_id}, {"by_device", who.device_id}});
        return DeviceLabel(device_id, d->display_name);
      });
  if (!label) co_return;
  auth_.Forget(who.user_id);
  boost::json::object details{{"device_id", device_id}, {"requirement", "X-IM-2"}};
  co_await NoticeDeviceChange(notices_, who.user_id, "device.primary",
                              "Your device " + *label + " is now your primary device.",
                              std::move(details));
}

namespace {

// What an X-IM-4 action changed, for the caller's notice.
struct ControlOutcome {
  std::string label;
  std::optional<std::string> promoted;
};

}  // namespace

boost::asio::awaitable<void> DeviceService::ForceLogout(const Requester& who,
                                                        const std::string& device_id,
                                                        const boost::json::object* auth) {
  const std::string via =
      co_await RequireControl(who, "POST /io.vigie/devices/" + device_id + "/logout", auth);
  ControlOutcome out =
      co_await stream_.Submit([&](sql::Tx& tx, const Stream::NextPos& next, Stream::Effects& fx) {
        if (via == "primary") RequirePrimary(tx, who);
        auto d = AccountStore::GetDevice(tx, who.user_id, device_id);
        if (!d) throw NotFound("Unknown device");
        if (d->state == DeviceState::kBanned) throw InvalidParam("This device is banned");
        AccountStore::DeleteDevice(tx, who.user_id, device_id);
        NoteDeviceListChange(tx, who.user_id, next, fx);
        Audit(tx, who.user_id, who.tenant_id, "device.logout", who.user_id,
              {{"requirement", "X-IM-4"},
               {"device_id", device_id},
               {"by_device", who.device_id},
               {"via", via}});
        ControlOutcome o{DeviceLabel(device_id, d->display_name), std::nullopt};
        o.promoted = PromotePrimaryIfGone(tx, who.user_id, who.tenant_id, who.user_id);
        return o;
      });
  auth_.Forget(who.user_id, device_id);
  if (out.promoted) auth_.Forget(who.user_id);
  boost::json::object details{{"device_id", device_id}, {"requirement", "X-IM-4"}};
  co_await NoticeDeviceChange(notices_, who.user_id, "device.logout",
                              "Your device " + out.label + " was signed out from another device.",
                              std::move(details));
}

boost::asio::awaitable<void> DeviceService::Ban(const Requester& who, const std::string& device_id,
                                                const boost::json::object* auth) {
  if (device_id == who.device_id) throw InvalidParam("A device cannot ban itself");
  const std::string via =
      co_await RequireControl(who, "POST /io.vigie/devices/" + device_id + "/ban", auth);
  const std::int64_t now = NowMs();
  ControlOutcome out =
      co_await stream_.Submit([&](sql::Tx& tx, const Stream::NextPos& next, Stream::Effects& fx) {
        if (via == "primary") RequirePrimary(tx, who);
        auto d = AccountStore::GetDevice(tx, who.user_id, device_id);
        if (!d) throw NotFound("Unknown device");
        ControlOutcome o{DeviceLabel(device_id, d->display_name), std::nullopt};
        if (d->state == DeviceState::kBanned) return o;
        // The device's identity keys, so that no device of the user can
        // bring them back.
        boost::json::array banned;
        if (auto json = E2eStore::GetDeviceKeys(tx, who.user_id, device_id)) {
          boost::system::error_code ec;
          auto v = json::ParseStored(*json, ec);
          const auto* keys = !ec && v.is_object() ? v.as_object().if_contains("keys") : nullptr;
          if (keys && keys->is_object()) {
            for (const auto& [key_id, key] : keys->as_object()) {
              if (!key.is_string()) continue;
              if (!key_id.starts_with("ed25519:") && !key_id.starts_with("curve25519:")) continue;
              E2eStore::BanKey(tx, who.user_id, key_id, key.as_string(), now);
              banned.emplace_back(key_id);
            }
          }
        }
        AccountStore::DeleteTokensOfDevice(tx, who.user_id, device_id);
        E2eStore::DeleteDevice(tx, who.user_id, device_id);
        AccountStore::SetDeviceState(tx, who.user_id, device_id, DeviceState::kBanned);
        NoteDeviceListChange(tx, who.user_id, next, fx);
        Audit(tx, who.user_id, who.tenant_id, "device.ban", who.user_id,
              {{"requirement", "X-IM-4"},
               {"device_id", device_id},
               {"by_device", who.device_id},
               {"via", via},
               {"keys", std::move(banned)}});
        o.promoted = PromotePrimaryIfGone(tx, who.user_id, who.tenant_id, who.user_id);
        return o;
      });
  auth_.Forget(who.user_id, device_id);
  if (out.promoted) auth_.Forget(who.user_id);
  boost::json::object details{{"device_id", device_id}, {"requirement", "X-IM-4"}};
  co_await NoticeDeviceChange(
      notices_, who.user_id, "device.banned",
      "Your device " + out.label + " was banned: it has been signed out and cannot sign in again.",
      std::move(details));
}

boost::asio::awaitable<void> DeviceService::Wipe(const Requester& who, const std::string& device_id,
                                                 const boost::json::object* auth) {
  if (device_id == who.device_id) {
    throw InvalidParam("A device cannot order its own wipe; log out instead");
  }
  const std::string via =
      co_await RequireControl(who, "POST /io.vigie/devices/" + device_id + "/wipe", auth);
  const std::int64_t now = NowMs();
  ControlOutcome out =
      co_await stream_.Submit([&](sql::Tx& tx, const Stream::NextPos& next, Stream::Effects& fx) {
        if (via == "primary") RequirePrimary(tx, who);
        auto d = AccountStore::GetDevice(tx, who.user_id, device_id);
        if (!d) throw NotFound("Unknown device");
        if (d->state == DeviceState::kBanned) throw InvalidParam("This device is banned");
        ControlOutcome o{DeviceLabel(device_id, d->display_name), std::nullopt};
        // Its keys and inbox go now; its token stays so that the device
        // learns of the wipe at its next request.
        AccountStore::SetWipeRequested(tx, who.user_id, device_id, now);
        E2eStore::DeleteDevice(tx, who.user_id, device_id);
        NoteDeviceListChange(tx, who.user_id, next, fx);
        Audit(tx, who.user_id, who.tenant_id, "device.wipe", who.user_id,
              {{"requirement", "X-IM-4"},
               {"device_id", device_id},
               {"by_device", who.device_id},
               {"via", via}});
        o.promoted = PromotePrimaryIfGone(tx, who.user_id, who.tenant_id, who.user_id);
        return o;
      });
  auth_.Forget(who.user_id, device_id);
  if (out.promoted) auth_.Forget(who.user_id);
  boost::json::object details{{"device_id", device_id}, {"requirement", "X-IM-4"}};
  co_await NoticeDeviceChange(notices_, who.user_id, "device.wipe",
                              "Your device " + out.label +
                                  " was ordered to erase its data; its keys were deleted and it "
                                  "will be signed out at its next connection.",
                              std::move(details));
}

}  // namespace vigie::service
