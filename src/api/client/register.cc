// Registration.
#include "api/api.h"
#include "common/error.h"
#include "common/json.h"

namespace vigie::api {

void AddRegisterRoutes(Router& r, service::Homeserver& hs) {
  // POST /_matrix/client/v3/register
  r.Add("POST", "/_matrix/client/v3/register",
        [&hs](RequestContext& c) -> boost::asio::awaitable<http::Response> {
          auto kind = c.req.Query("kind");
          if (kind && *kind == "guest") {
            throw Error(ErrorCode::kGuestAccessForbidden, "Guest access is disabled");
          }
          if (kind && *kind != "user") throw InvalidParam("Unknown kind");
          const auto& b = c.body;
          service::RegisterRequest rr;
          rr.username = json::GetString(b, "username");
          rr.password = json::GetString(b, "password");
          rr.device_id = json::GetString(b, "device_id");
          rr.initial_device_display_name = json::GetString(b, "initial_device_display_name");
          rr.inhibit_login = json::GetBool(b, "inhibit_login").value_or(false);
          rr.auth = json::GetObject(b, "auth");
          rr.ip = c.req.remote_ip;
          auto s = co_await hs.accounts.Register(std::move(rr));
          boost::json::object out{{"user_id", s.user_id}, {"home_server", hs.config().server_name}};
          if (s.access_token) {
            out["access_token"] = *s.access_token;
            out["device_id"] = s.device_id;
          }
          co_return http::Response::Json(out);
        },
        {.auth = AuthMode::kNone, .login_rate = true});

  // GET /_matrix/client/v3/register/available
  r.Add("GET", "/_matrix/client/v3/register/available",
        [&hs](RequestContext& c) -> boost::asio::awaitable<http::Response> {
          auto username = c.req.Query("username");
          if (!username) throw MissingParam("Missing 'username'");
          co_await hs.accounts.CheckUsernameAvailable(std::string(*username));
          co_return http::Response::Json({{"available", true}});
        },
        {.auth = AuthMode::kNone, .login_rate = true});

  // GET /_matrix/client/v1/register/m.login.registration_token/validity
  r.Add("GET", "/_matrix/client/v1/register/m.login.registration_token/validity",
        [&hs](RequestContext& c) -> boost::asio::awaitable<http::Response> {
          auto token = c.req.Query("token");
          if (!token) throw MissingParam("Missing 'token'");
          bool valid = false;
          if (token->size() <= 64) {
            valid = co_await hs.accounts.RegistrationTokenValid(std::string(*token));
          }
          co_return http::Response::Json({{"valid", valid}});
        },
        {.auth = AuthMode::kNone, .login_rate = true});
}

}  // namespace vigie::api
