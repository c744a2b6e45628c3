// Profiles.
#include "api/api.h"
#include "common/error.h"
#include "common/ids.h"
#include "common/json.h"

namespace vigie::api {
namespace {

void CheckUserId(const std::string& id) {
  if (!ids::ParseUserId(id)) throw InvalidParam("Invalid user id");
}

}  // namespace

void AddProfileRoutes(Router& r, service::Homeserver& hs) {
  // GET /_matrix/client/v3/profile/{userId}
  r.Add("GET", "/_matrix/client/v3/profile/{userId}",
        [&hs](RequestContext& c) -> boost::asio::awaitable<http::Response> {
          CheckUserId(c.params[0]);
          auto p = co_await hs.profiles.Get(c.who, c.params[0]);
          boost::json::object o;
          if (p.displayname) o["displayname"] = *p.displayname;
          if (p.avatar_url) o["avatar_url"] = *p.avatar_url;
          co_return http::Response::Json(o);
        },
        {.auth = AuthMode::kOptional});

  for (const char* field : {"displayname", "avatar_url"}) {
    const std::string f = field;
    // GET /_matrix/client/v3/profile/{userId}/displayname (and avatar_url)
    r.Add("GET", "/_matrix/client/v3/profile/{userId}/" + f,
          [&hs, f](RequestContext& c) -> boost::asio::awaitable<http::Response> {
            CheckUserId(c.params[0]);
            auto p = co_await hs.profiles.Get(c.who, c.params[0]);
            const auto& v = f == "displayname" ? p.displayname : p.avatar_url;
            if (!v) throw NotFound("No " + f + " set");
            co_return http::Response::Json({{f, *v}});
          },
          {.auth = AuthMode::kOptional});

    // PUT /_matrix/client/v3/profile/{userId}/displayname (and avatar_url)
    r.Add("PUT", "/_matrix/client/v3/profile/{userId}/" + f,
          [&hs, f](RequestContext& c) -> boost::asio::awaitable<http::Response> {
            CheckUserId(c.params[0]);
            auto v = json::GetString(c.body, f);
            if (f == "displayname") {
              co_await hs.profiles.SetDisplayName(c.requester(), c.params[0], v);
            } else {
              co_await hs.profiles.SetAvatarUrl(c.requester(), c.params[0], v);
            }
            co_return http::Response::Json(boost::json::object{});
          });
  }
}

}  // namespace vigie::api
