// Account: whoami, password, deactivation.
#include "api/api.h"
#include "common/error.h"
#include "common/json.h"

namespace vigie::api {

void AddAccountRoutes(Router& r, service::Homeserver& hs) {
  // GET /_matrix/client/v3/account/whoami
  r.Add("GET", "/_matrix/client/v3/account/whoami",
        [](RequestContext& c) -> boost::asio::awaitable<http::Response> {
          const auto& who = c.requester();
          co_return http::Response::Json(
              {{"user_id", who.user_id}, {"device_id", who.device_id}, {"is_guest", false}});
        },
        {.allow_pending = true});

  // POST /_matrix/client/v3/account/password
  r.Add("POST", "/_matrix/client/v3/account/password",
        [&hs](RequestContext& c) -> boost::asio::awaitable<http::Response> {
          std::string pw = json::RequireString(c.body, "new_password");
          bool logout = json::GetBool(c.body, "logout_devices").value_or(true);
          service::PasswordChangeResult result = co_await hs.accounts.ChangePassword(
              c.requester(), json::GetObject(c.body, "auth"), pw, logout);
          boost::json::object out;
          if (result.warning) {
            out["io.vigie.warning"] = boost::json::object{
                {"requirement", result.warning->requirement}, {"message", result.warning->message}};
          }
          co_return http::Response::Json(out);
        });

  // POST /_matrix/client/v3/account/deactivate
  r.Add("POST", "/_matrix/client/v3/account/deactivate",
        [&hs](RequestContext& c) -> boost::asio::awaitable<http::Response> {
          bool erase = json::GetBool(c.body, "erase").value_or(false);
          co_await hs.accounts.Deactivate(c.requester(), json::GetObject(c.body, "auth"), erase);
          co_return http::Response::Json({{"id_server_unbind_result", "no-support"}});
        });
}

}  // namespace vigie::api
