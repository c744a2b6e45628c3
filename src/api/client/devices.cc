// Devices.
#include "api/api.h"
#include "common/error.h"
#include "common/json.h"

namespace vigie::api {
namespace {

boost::json::object ClientDeviceJson(const storage::DeviceRecord& d) {
  boost::json::object o{{"device_id", d.device_id}};
  o["display_name"] = d.display_name ? boost::json::value(*d.display_name) : nullptr;
  if (d.last_seen_ip) o["last_seen_ip"] = *d.last_seen_ip;
  if (d.last_seen_ts) o["last_seen_ts"] = *d.last_seen_ts;
  return o;
}

}  // namespace

void AddDeviceRoutes(Router& r, service::Homeserver& hs) {
  // GET /_matrix/client/v3/devices
  r.Add("GET", "/_matrix/client/v3/devices",
        [&hs](RequestContext& c) -> boost::asio::awaitable<http::Response> {
          boost::json::array out;
          auto devices = co_await hs.devices.List(c.requester().user_id);
          for (const auto& d : devices) {
            out.emplace_back(ClientDeviceJson(d));
          }
          co_return http::Response::Json({{"devices", out}});
        });

  // GET /_matrix/client/v3/devices/{deviceId}
  r.Add("GET", "/_matrix/client/v3/devices/{deviceId}",
        [&hs](RequestContext& c) -> boost::asio::awaitable<http::Response> {
          auto d = co_await hs.devices.Get(c.requester().user_id, c.params[0]);
          co_return http::Response::Json(ClientDeviceJson(d));
        });

  // PUT /_matrix/client/v3/devices/{deviceId}
  r.Add("PUT", "/_matrix/client/v3/devices/{deviceId}",
        [&hs](RequestContext& c) -> boost::asio::awaitable<http::Response> {
          co_await hs.devices.Rename(c.requester(), c.params[0],
                                     json::GetString(c.body, "display_name"));
          co_return http::Response::Json(boost::json::object{});
        });

  // DELETE /_matrix/client/v3/devices/{deviceId}
  r.Add("DELETE", "/_matrix/client/v3/devices/{deviceId}",
        [&hs](RequestContext& c) -> boost::asio::awaitable<http::Response> {
          std::vector<std::string> ids{c.params[0]};
          co_await hs.devices.Delete(c.requester(), ids, json::GetObject(c.body, "auth"));
          co_return http::Response::Json(boost::json::object{});
        });

  // POST /_matrix/client/v3/delete_devices
  r.Add("POST", "/_matrix/client/v3/delete_devices",
        [&hs](RequestContext& c) -> boost::asio::awaitable<http::Response> {
          auto ids = json::GetStringArray(c.body, "devices", 1000);
          if (!ids) throw MissingParam("Missing 'devices'");
          co_await hs.devices.Delete(c.requester(), *ids, json::GetObject(c.body, "auth"));
          co_return http::Response::Json(boost::json::object{});
        });
}

}  // namespace vigie::api
