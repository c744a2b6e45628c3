// Presence.
#include "api/api.h"
#include "common/error.h"
#include "common/ids.h"
#include "common/json.h"
#include "common/time.h"

namespace vigie::api {

void AddPresenceRoutes(Router& r, service::Homeserver& hs) {
  // GET /_matrix/client/v3/presence/{userId}/status
  r.Add("GET", "/_matrix/client/v3/presence/{userId}/status",
        [&hs](RequestContext& c) -> boost::asio::awaitable<http::Response> {
          if (!ids::ParseUserId(c.params[0])) throw InvalidParam("Invalid user id");
          auto p = co_await hs.presence.Get(c.requester(), c.params[0]);
          boost::json::object o{
              {"presence", p.state},
              {"last_active_ago", std::max<std::int64_t>(0, NowMs() - p.last_active_ts)},
              {"currently_active", p.state == "online"}};
          if (p.status_msg) o["status_msg"] = *p.status_msg;
          co_return http::Response::Json(o);
        });

  // PUT /_matrix/client/v3/presence/{userId}/status
  r.Add("PUT", "/_matrix/client/v3/presence/{userId}/status",
        [&hs](RequestContext& c) -> boost::asio::awaitable<http::Response> {
          co_await hs.presence.Set(c.requester(), c.params[0],
                                   json::RequireString(c.body, "presence"),
                                   json::GetString(c.body, "status_msg"));
          co_return http::Response::Json(boost::json::object{});
        });
}

}  // namespace vigie::api
