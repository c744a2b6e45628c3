// Typing notifications.
#include <chrono>

#include "api/api.h"
#include "common/error.h"
#include "common/json.h"

namespace vigie::api {

void AddTypingRoutes(Router& r, service::Homeserver& hs) {
  // PUT /_matrix/client/v3/rooms/{roomId}/typing/{userId}
  r.Add("PUT", "/_matrix/client/v3/rooms/{roomId}/typing/{userId}",
        [&hs](RequestContext& c) -> boost::asio::awaitable<http::Response> {
          const auto& who = c.requester();
          if (c.params[1] != who.user_id) throw Forbidden("Cannot set another user's typing");
          auto typing = json::GetBool(c.body, "typing");
          if (!typing) throw MissingParam("Missing 'typing'");
          const std::int64_t timeout = json::GetInt(c.body, "timeout").value_or(30000);
          auto members = co_await hs.rooms.JoinedMembers(who, c.params[0]);
          hs.typing.Set(c.params[0], who.user_id, *typing, std::chrono::milliseconds(timeout),
                        members);
          co_return http::Response::Json(boost::json::object{});
        });
}

}  // namespace vigie::api
