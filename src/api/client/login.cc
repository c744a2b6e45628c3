// Login and logout.
#include "api/api.h"
#include "common/error.h"
#include "common/json.h"

namespace vigie::api {

void AddLoginRoutes(Router& r, service::Homeserver& hs) {
  // GET /_matrix/client/v3/login
  r.Add("GET", "/_matrix/client/v3/login",
        [](RequestContext&) -> boost::asio::awaitable<http::Response> {
          boost::json::array flows = {{{"type", "m.login.password"}}};
          co_return http::Response::Json({{"flows", flows}});
        },
        {.auth = AuthMode::kNone});

  // POST /_matrix/client/v3/login
  r.Add("POST", "/_matrix/client/v3/login",
        [&hs](RequestContext& c) -> boost::asio::awaitable<http::Response> {
          const auto& b = c.body;
          std::string type = json::RequireString(b, "type");
          if (type != "m.login.password") {
            throw Error(ErrorCode::kUnknown, "Unsupported login type " + type);
          }
          service::LoginRequest lr;
          if (const auto* ident = json::GetObject(b, "identifier")) {
            std::string itype = json::RequireString(*ident, "type");
            if (itype != "m.id.user") {
              throw Error(ErrorCode::kUnknown, "Unsupported identifier type " + itype);
            }
            lr.user = json::RequireString(*ident, "user");
          } else if (auto user = json::GetString(b, "user")) {
            lr.user = *user;  // deprecated top-level field
          } else {
            throw MissingParam("Missing 'identifier'");
          }
          if (lr.user.empty() || lr.user.size() > 255)
            throw Forbidden("Invalid username or password");
          lr.password = json::RequireString(b, "password");
          lr.device_id = json::GetString(b, "device_id");
          lr.initial_device_display_name = json::GetString(b, "initial_device_display_name");
          lr.ip = c.req.remote_ip;
          lr.user_agent = c.req.user_agent;
          lr.client = policy::ClientReport::Parse(c.req.client_location, c.req.network_type);
          auto s = co_await hs.accounts.Login(std::move(lr));
          co_return http::Response::Json(
              {{"user_id", s.user_id},
               {"access_token", *s.access_token},
               {"device_id", s.device_id},
               {"home_server", hs.config().server_name},
               {"well_known", {{"m.homeserver", {{"base_url", hs.public_baseurl()}}}}}});
        },
        {.auth = AuthMode::kNone, .login_rate = true});

  // POST /_matrix/client/v3/logout
  r.Add("POST", "/_matrix/client/v3/logout",
        [&hs](RequestContext& c) -> boost::asio::awaitable<http::Response> {
          co_await hs.accounts.Logout(c.requester());
          co_return http::Response::Json(boost::json::object{});
        },
        {.allow_pending = true});

  // POST /_matrix/client/v3/logout/all
  r.Add("POST", "/_matrix/client/v3/logout/all",
        [&hs](RequestContext& c) -> boost::asio::awaitable<http::Response> {
          co_await hs.accounts.LogoutAll(c.requester());
          co_return http::Response::Json(boost::json::object{});
        });
}

}  // namespace vigie::api
