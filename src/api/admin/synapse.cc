// The subset of Synapse's admin API that operators' tools (synadm and the
// like) use: server version, users, their devices and sessions, deleting
// media. The rules, including who may do what, are AdminService's (and
// MediaService's for media); this file is the wire format, plus vigie's
// own user fields under "io.vigie.*".
#include <charconv>

#include "api/api.h"
#include "common/error.h"
#include "common/json.h"

namespace vigie::api {
namespace {

namespace bj = boost::json;

bj::value OptJson(const std::optional<std::string>& v) {
  return v ? bj::value(*v) : bj::value(nullptr);
}
bj::value OptJson(const std::optional<std::int64_t>& v) {
  return v ? bj::value(*v) : bj::value(nullptr);
}

// One entry of GET /_synapse/admin/v2/users.
bj::object UserListJson(const service::AdminUserView& v) {
  return {{"name", v.user.user_id},
          {"is_guest", false},
          {"admin", v.user.is_admin},
          {"user_type", nullptr},
          {"deactivated", v.user.deactivated},
          {"shadow_banned", false},
          {"locked", false},
          {"displayname", OptJson(v.profile.displayname)},
          {"avatar_url", OptJson(v.profile.avatar_url)},
          {"creation_ts", v.user.created_ts},
          {"io.vigie.tenant", v.user.tenant_id},
          {"io.vigie.tenant_admin", v.user.tenant_admin}};
}

// GET /_synapse/admin/v2/users/{userId}, also the answer to PUT.
bj::object UserDetailsJson(const service::AdminUserView& v) {
  bj::object o = UserListJson(v);
  o["threepids"] = bj::array{};
  o["external_ids"] = bj::array{};
  o["appservice_id"] = nullptr;
  o["consent_server_notice_sent"] = nullptr;
  o["consent_version"] = nullptr;
  o["consent_ts"] = nullptr;
  o["io.vigie.person_id"] = OptJson(v.user.person_id);
  o["io.vigie.devices"] = v.device_count;
  return o;
}

bj::object AdminDeviceJson(const storage::DeviceRecord& d) {
  return {{"device_id", d.device_id},
          {"display_name", OptJson(d.display_name)},
          {"last_seen_ip", OptJson(d.last_seen_ip)},
          {"last_seen_ts", OptJson(d.last_seen_ts)},
          {"last_seen_user_agent", OptJson(d.last_seen_user_agent)},
          {"user_id", d.user_id},
          {"io.vigie.state", storage::ToString(d.state)},
          {"io.vigie.primary", d.is_primary}};
}

std::optional<std::int64_t> IntQuery(const http::Request& req, std::string_view key) {
  auto v = req.Query(key);
  if (!v) return std::nullopt;
  std::int64_t n = 0;
  auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
  if (ec != std::errc() || end != v->data() + v->size() || v->empty()) {
    throw InvalidParam("Query parameter '" + std::string(key) + "' must be an integer");
  }
  return n;
}

std::optional<bool> BoolQuery(const http::Request& req, std::string_view key) {
  auto v = req.Query(key);
  if (!v) return std::nullopt;
  if (*v == "true") return true;
  if (*v == "false") return false;
  throw InvalidParam("Query parameter '" + std::string(key) + "' must be 'true' or 'false'");
}

std::optional<std::string> StringQuery(const http::Request& req, std::string_view key) {
  auto v = req.Query(key);
  if (!v || v->empty()) return std::nullopt;
  if (v->size() > 255 || v->find('\0') != std::string_view::npos) {
    throw InvalidParam("Query parameter '" + std::string(key) + "' is not valid");
  }
  return std::string(*v);
}

// The body of PUT /_synapse/admin/v2/users/{userId}. Synapse fields vigie
// has no equivalent for are refused when they ask for something.
service::AdminUserChanges ParseUserChanges(const bj::object& body) {
  service::AdminUserChanges c;
  c.password = json::GetString(body, "password");
  c.logout_devices = json::GetBool(body, "logout_devices").value_or(true);
  c.displayname = json::GetString(body, "displayname");
  c.avatar_url = json::GetString(body, "avatar_url");
  c.admin = json::GetBool(body, "admin");
  c.deactivated = json::GetBool(body, "deactivated");
  c.tenant = json::GetString(body, "io.vigie.tenant");
  c.tenant_admin = json::GetBool(body, "io.vigie.tenant_admin");
  if (body.contains("io.vigie.person_id")) {
    c.person_id = json::GetString(body, "io.vigie.person_id");
  }
  for (const char* key : {"threepids", "external_ids"}) {
    const auto* a = json::GetArray(body, key);
    if (a && !a->empty()) throw InvalidParam(std::string(key) + " are not supported");
  }
  if (json::GetString(body, "user_type")) throw InvalidParam("user_type is not supported");
  if (json::GetBool(body, "locked").value_or(false)) {
    throw InvalidParam("Locking users is not supported");
  }
  return c;
}

}  // namespace

void AddSynapseAdminRoutes(Router& r, service::Homeserver& hs) {
  // GET /_synapse/admin/v1/server_version
  r.Add("GET", "/_synapse/admin/v1/server_version",
        [](RequestContext&) -> boost::asio::awaitable<http::Response> {
          co_return http::Response::Json({{"server_version", "vigie " VIGIE_VERSION}});
        },
        {.auth = AuthMode::kNone, .json_body = false});

  // GET /_synapse/admin/v2/users
  r.Add("GET", "/_synapse/admin/v2/users",
        [&hs](RequestContext& c) -> boost::asio::awaitable<http::Response> {
          service::AdminUserQuery q;
          q.from = IntQuery(c.req, "from").value_or(0);
          q.limit = IntQuery(c.req, "limit").value_or(100);
          q.name = StringQuery(c.req, "name");
          q.user_id = StringQuery(c.req, "user_id");
          q.include_deactivated = BoolQuery(c.req, "deactivated").value_or(false);
          BoolQuery(c.req, "guests");  // validated; vigie has no guests
          auto page = co_await hs.admin.ListUsers(c.requester(), q);
          bj::array users;
          for (const auto& u : page.users) users.emplace_back(UserListJson(u));
          bj::object out{{"users", std::move(users)}, {"total", page.total}};
          const std::int64_t next = q.from + static_cast<std::int64_t>(page.users.size());
          if (next < page.total) out["next_token"] = std::to_string(next);
          co_return http::Response::Json(out);
        });

  // GET /_synapse/admin/v2/users/{userId}
  r.Add("GET", "/_synapse/admin/v2/users/{userId}",
        [&hs](RequestContext& c) -> boost::asio::awaitable<http::Response> {
          auto user = co_await hs.admin.GetUser(c.requester(), c.params[0]);
          co_return http::Response::Json(UserDetailsJson(user));
        });

  // PUT /_synapse/admin/v2/users/{userId}
  r.Add("PUT", "/_synapse/admin/v2/users/{userId}",
        [&hs](RequestContext& c) -> boost::asio::awaitable<http::Response> {
          auto changes = ParseUserChanges(c.body);
          auto res = co_await hs.admin.PutUser(c.requester(), c.params[0], std::move(changes));
          auto body = UserDetailsJson(res.user);
          if (res.warning) {
            body["io.vigie.warning"] = {{"requirement", res.warning->requirement},
                                        {"message", res.warning->message}};
          }
          co_return http::Response::Json(res.created ? 201 : 200, body);
        });

  // POST /_synapse/admin/v1/deactivate/{userId}
  r.Add("POST", "/_synapse/admin/v1/deactivate/{userId}",
        [&hs](RequestContext& c) -> boost::asio::awaitable<http::Response> {
          const bool erase = json::GetBool(c.body, "erase").value_or(false);
          co_await hs.admin.DeactivateUser(c.requester(), c.params[0], erase);
          co_return http::Response::Json({{"id_server_unbind_result", "success"}});
        });

  // POST /_synapse/admin/v1/reset_password/{userId}
  r.Add("POST", "/_synapse/admin/v1/reset_password/{userId}",
        [&hs](RequestContext& c) -> boost::asio::awaitable<http::Response> {
          const std::string password = json::RequireString(c.body, "new_password");
          const bool logout = json::GetBool(c.body, "logout_devices").value_or(true);
          co_await hs.admin.ResetPassword(c.requester(), c.params[0], password, logout);
          co_return http::Response::Json(bj::object{});
        });

  // GET /_synapse/admin/v1/users/{userId}/joined_rooms
  r.Add("GET", "/_synapse/admin/v1/users/{userId}/joined_rooms",
        [&hs](RequestContext& c) -> boost::asio::awaitable<http::Response> {
          auto rooms = co_await hs.admin.JoinedRooms(c.requester(), c.params[0]);
          bj::array out;
          for (const auto& id : rooms) out.emplace_back(id);
          const auto total = static_cast<std::int64_t>(out.size());
          co_return http::Response::Json({{"joined_rooms", std::move(out)}, {"total", total}});
        });

  // GET /_synapse/admin/v2/users/{userId}/devices
  r.Add("GET", "/_synapse/admin/v2/users/{userId}/devices",
        [&hs](RequestContext& c) -> boost::asio::awaitable<http::Response> {
          auto devices = co_await hs.admin.ListDevices(c.requester(), c.params[0]);
          bj::array out;
          for (const auto& d : devices) out.emplace_back(AdminDeviceJson(d));
          const auto total = static_cast<std::int64_t>(out.size());
          co_return http::Response::Json({{"devices", std::move(out)}, {"total", total}});
        });

  // POST /_synapse/admin/v2/users/{userId}/delete_devices
  r.Add("POST", "/_synapse/admin/v2/users/{userId}/delete_devices",
        [&hs](RequestContext& c) -> boost::asio::awaitable<http::Response> {
          auto ids = json::GetStringArray(c.body, "devices", 1000);
          if (!ids) throw MissingParam("Missing 'devices'");
          co_await hs.admin.DeleteDevices(c.requester(), c.params[0], *ids);
          co_return http::Response::Json(bj::object{});
        });

  // GET /_synapse/admin/v2/users/{userId}/devices/{deviceId}
  r.Add("GET", "/_synapse/admin/v2/users/{userId}/devices/{deviceId}",
        [&hs](RequestContext& c) -> boost::asio::awaitable<http::Response> {
          auto d = co_await hs.admin.GetDevice(c.requester(), c.params[0], c.params[1]);
          co_return http::Response::Json(AdminDeviceJson(d));
        });

  // DELETE /_synapse/admin/v2/users/{userId}/devices/{deviceId}
  r.Add("DELETE", "/_synapse/admin/v2/users/{userId}/devices/{deviceId}",
        [&hs](RequestContext& c) -> boost::asio::awaitable<http::Response> {
          co_await hs.admin.DeleteDevice(c.requester(), c.params[0], c.params[1]);
          co_return http::Response::Json(bj::object{});
        });

  // GET /_synapse/admin/v1/whois/{userId}
  r.Add("GET", "/_synapse/admin/v1/whois/{userId}",
        [&hs](RequestContext& c) -> boost::asio::awaitable<http::Response> {
          auto devices = co_await hs.admin.Whois(c.requester(), c.params[0]);
          bj::object by_device;
          for (const auto& d : devices) {
            bj::array connections;
            if (d.last_seen_ip || d.last_seen_ts) {
              connections.emplace_back(bj::object{{"ip", OptJson(d.last_seen_ip)},
                                                  {"last_seen", OptJson(d.last_seen_ts)},
                                                  {"user_agent", OptJson(d.last_seen_user_agent)}});
            }
            bj::object session{{"connections", std::move(connections)}};
            by_device[d.device_id] = bj::object{{"sessions", bj::array{std::move(session)}}};
          }
          co_return http::Response::Json(
              {{"user_id", c.params[0]}, {"devices", std::move(by_device)}});
        });

  // DELETE /_synapse/admin/v1/media/{serverName}/{mediaId}
  r.Add("DELETE", "/_synapse/admin/v1/media/{serverName}/{mediaId}",
        [&hs](RequestContext& c) -> boost::asio::awaitable<http::Response> {
          co_await hs.media.Delete(c.requester(), c.params[0], c.params[1]);
          co_return http::Response::Json(
              {{"deleted_media", bj::array{bj::value(c.params[1])}}, {"total", 1}});
        });
}

}  // namespace vigie::api
