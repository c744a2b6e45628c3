#include "service/device_service.h"

#include "common/error.h"
#include "common/offload.h"
#include "service/account_service.h"
#include "service/keys_service.h"

namespace vigie::service {

using storage::AccountStore;

boost::asio::awaitable<std::vector<storage::DeviceRecord>> DeviceService::List(
    const std::string& user_id) {
  co_return co_await Offload(ctx_.db_pool, [&] {
    return ctx_.db.Read([&](sql::Tx& tx) { return AccountStore::ListDevices(tx, user_id); });
  });
}

boost::asio::awaitable<storage::DeviceRecord> DeviceService::Get(const std::string& user_id,
                                                                 const std::string& device_id) {
  auto d = co_await Offload(ctx_.db_pool, [&] {
    return ctx_.db.Read(
        [&](sql::Tx& tx) { return AccountStore::GetDevice(tx, user_id, device_id); });
  });
  if (!d) throw NotFound("Unknown device");
  co_return *d;
}

boost::asio::awaitable<void> DeviceService::Rename(const Requester& who,
                                                   const std::string& device_id,
                                                   const std::optional<std::string>& name) {
  if (name && name->size() > 256) throw InvalidParam("display_name is too long");
  bool found = co_await Offload(ctx_.db_pool, [&] {
    return stream_.Write([&](sql::Tx& tx, const Stream::NextPos& next, Stream::Effects& fx) {
      if (!AccountStore::GetDevice(tx, who.user_id, device_id)) return false;
      AccountStore::SetDeviceDisplayName(tx, who.user_id, device_id, name);
      NoteDeviceListChange(tx, who.user_id, next, fx);
      return true;
    });
  });
  if (!found) throw NotFound("Unknown device");
}

boost::asio::awaitable<void> DeviceService::Delete(const Requester& who,
                                                   const std::vector<std::string>& ids,
                                                   const boost::json::object* auth) {
  if (ids.size() > 1000) throw InvalidParam("Too many devices in one request");
  UiaSpec spec{"POST /delete_devices", {{kStagePassword}}, who.user_id};
  co_await uia_.Require(spec, auth);
  co_await Offload(ctx_.db_pool, [&] {
    stream_.Write([&](sql::Tx& tx, const Stream::NextPos& next, Stream::Effects& fx) {
      bool any = false;
      for (const auto& id : ids) {
        if (AccountStore::DeleteDevice(tx, who.user_id, id)) {
          Audit(tx, who.user_id, who.tenant_id, "device.delete", who.user_id, {{"device_id", id}});
          any = true;
        }
      }
      if (any) NoteDeviceListChange(tx, who.user_id, next, fx);
    });
  });
  for (const auto& id : ids) auth_.Forget(who.user_id, id);
}

}  // namespace vigie::service
