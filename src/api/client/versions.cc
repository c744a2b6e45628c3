// Discovery: versions, well-known, capabilities.
#include "api/api.h"

namespace vigie::api {

void AddVersionRoutes(Router& r, service::Homeserver& hs) {
  // GET /_matrix/client/versions
  r.Add("GET", "/_matrix/client/versions",
        [](RequestContext&) -> boost::asio::awaitable<http::Response> {
          boost::json::array versions = {"r0.5.0", "r0.6.0", "r0.6.1", "v1.1",
                                         "v1.2",   "v1.3",   "v1.4",   "v1.5"};
          co_return http::Response::Json(
              {{"versions", versions}, {"unstable_features", boost::json::object{}}});
        },
        {.auth = AuthMode::kNone});

  // GET /.well-known/matrix/client
  r.Add("GET", "/.well-known/matrix/client",
        [&hs](RequestContext&) -> boost::asio::awaitable<http::Response> {
          co_return http::Response::Json({{"m.homeserver", {{"base_url", hs.public_baseurl()}}}});
        },
        {.auth = AuthMode::kNone});

  // GET /_matrix/client/v3/capabilities
  r.Add(
      "GET", "/_matrix/client/v3/capabilities",
      [](RequestContext&) -> boost::asio::awaitable<http::Response> {
        boost::json::object caps{
            {"m.change_password", {{"enabled", true}}},  {"m.set_displayname", {{"enabled", true}}},
            {"m.set_avatar_url", {{"enabled", true}}},   {"m.3pid_changes", {{"enabled", false}}},
            {"m.get_login_token", {{"enabled", false}}},
        };
        co_return http::Response::Json({{"capabilities", caps}});
      });
}

}  // namespace vigie::api
