// Client config (account data, global and per room) and room tags, which
// are the room account data `m.tag` ({"tags": {name: {"order": 0..1}}}).
// Users read and write only their own. Every write takes a stream
// position, so /sync delivers it to the user's other devices.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>
#include <string>

#include "service/auth_service.h"
#include "service/context.h"
#include "service/stream.h"

namespace vigie::service {

class AccountDataService {
 public:
  AccountDataService(ServiceContext& ctx, Stream& stream) : ctx_(ctx), stream_(stream) {}

  // `room_id` "" means global. Get throws M_NOT_FOUND when unset; Set
  // refuses the server-managed types (m.fully_read, m.push_rules) with 405
  // M_BAD_JSON. Both throw M_FORBIDDEN for another user and
  // M_INVALID_PARAM for a malformed room id.
  boost::asio::awaitable<boost::json::object> Get(const Requester& who, const std::string& user_id,
                                                  const std::string& room_id,
                                                  const std::string& type);
  boost::asio::awaitable<void> Set(const Requester& who, const std::string& user_id,
                                   const std::string& room_id, const std::string& type,
                                   boost::json::object content);

  // The room's tags ({} when none).
  boost::asio::awaitable<boost::json::object> Tags(const Requester& who, const std::string& user_id,
                                                   const std::string& room_id);
  // `body` may hold "order", a number in [0, 1].
  boost::asio::awaitable<void> SetTag(const Requester& who, const std::string& user_id,
                                      const std::string& room_id, const std::string& tag,
                                      boost::json::object body);
  // Removing an absent tag succeeds.
  boost::asio::awaitable<void> DeleteTag(const Requester& who, const std::string& user_id,
                                         const std::string& room_id, const std::string& tag);

 private:
  boost::asio::awaitable<void> UpdateTags(const Requester& who, const std::string& room_id,
                                          const std::string& tag,
                                          const std::optional<boost::json::object>& value);
  ServiceContext& ctx_;
  Stream& stream_;
};

}  // namespace vigie::service
