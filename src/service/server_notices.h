// Server notices (X-IM-3, X-OR-1): messages from the server to a user, in
// a per-user room that the server's own account (@vigie-notices) creates
// and the user is joined to, tagged m.server_notice so clients show it
// apart. Each notice is an m.notice whose content also carries a
// machine-readable "io.vigie.notice" object.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>
#include <string>

#include "service/account_data_service.h"
#include "service/context.h"
#include "service/room_service.h"

namespace vigie::service {

class ServerNoticeService {
 public:
  ServerNoticeService(ServiceContext& ctx, RoomService& rooms, AccountDataService& account_data);

  // The server's notices account, "@vigie-notices:<server_name>".
  const std::string& sender() const { return sender_; }
  // Creates the notices account if absent (blocking; at start-up), so no
  // user can register its name.
  void EnsureSender();

  // Sends `body` to the user (creating the room on first use). `kind`
  // names the event ("device.new", "policy.change", ...); `details` goes
  // into io.vigie.notice. Deactivated or unknown users are skipped.
  // Returns the event id ("" when skipped).
  boost::asio::awaitable<std::string> Send(const std::string& user_id, const std::string& kind,
                                           const std::string& body,
                                           boost::json::object details = {});

  // The user's notices room id, if one exists.
  boost::asio::awaitable<std::optional<std::string>> RoomOf(const std::string& user_id);

 private:
  ServiceContext& ctx_;
  RoomService& rooms_;
  AccountDataService& account_data_;
  std::string sender_;
};

}  // namespace vigie::service
