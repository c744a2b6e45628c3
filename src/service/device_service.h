// A user's devices: listing, renaming, deleting (with UIA).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>
#include <vector>

#include "service/auth_service.h"
#include "service/stream.h"
#include "service/uia_service.h"
#include "storage/account_store.h"

namespace vigie::service {

class DeviceService {
 public:
  DeviceService(ServiceContext& ctx, AuthService& auth, UiaService& uia, Stream& stream)
      : ctx_(ctx), auth_(auth), uia_(uia), stream_(stream) {}

  boost::asio::awaitable<std::vector<storage::DeviceRecord>> List(const std::string& user_id);
  // Throws M_NOT_FOUND if the user has no such device.
  boost::asio::awaitable<storage::DeviceRecord> Get(const std::string& user_id,
                                                    const std::string& device_id);
  boost::asio::awaitable<void> Rename(const Requester& who, const std::string& device_id,
                                      const std::optional<std::string>& name);
  // Deletes devices after UIA (m.login.password), with their end-to-end
  // keys and to-device inboxes; ids the user does not have are ignored, as
  // the spec asks. Renames and deletions are device-list changes.
  boost::asio::awaitable<void> Delete(const Requester& who, const std::vector<std::string>& ids,
                                      const boost::json::object* auth);

 private:
  ServiceContext& ctx_;
  AuthService& auth_;
  UiaService& uia_;
  Stream& stream_;
};

}  // namespace vigie::service
