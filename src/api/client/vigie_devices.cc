// X.1606 device controls (io.vigie namespace): the user's devices with
// their state and primary flag, approval of pending devices by the
// primary (X-IM-2), and forced logout, ban and remote wipe (X-IM-4).
// Documented in docs/admin-api.md, "Device controls". DeviceService holds
// the rules.
#include "api/api.h"
#include "common/error.h"
#include "common/json.h"

namespace vigie::api {
namespace {

constexpr const char* kPrefix = "/_matrix/client/v3/io.vigie/devices";

std::string Path(const char* rest) { return std::string(kPrefix) + rest; }

boost::json::object ControlledDeviceJson(const storage::DeviceRecord& d,
                                         const service::Requester& who) {
  boost::json::object o{{"device_id", d.device_id}};
  o["display_name"] = d.display_name ? boost::json::value(*d.display_name) : nullptr;
  o["state"] = storage::ToString(d.state);
  o["primary"] = d.is_primary;
  o["current"] = d.device_id == who.device_id;
  o["created_ts"] = d.created_ts;
  if (d.last_seen_ts) o["last_seen_ts"] = *d.last_seen_ts;
  if (d.last_seen_ip) o["last_seen_ip"] = *d.last_seen_ip;
  if (d.last_seen_user_agent) o["last_seen_user_agent"] = *d.last_seen_user_agent;
  if (d.wipe_requested_ts) o["wipe_requested_ts"] = *d.wipe_requested_ts;
  return o;
}

// A device waiting for approval (X-IM-2) is not trusted yet: it may learn
// its own state, not the user's other devices.
void RequireSelfIfPending(const service::Requester& who, const std::string& device_id) {
  if (who.device_pending && device_id != who.device_id) {
    throw Forbidden("This device is waiting for approval from your primary device")
        .with("io.vigie.requirement", "X-IM-2")
        .with("io.vigie.device_state", "pending");
  }
}

http::Response EmptyJson() { return http::Response::Json(boost::json::object{}); }

}  // namespace

void AddVigieDeviceRoutes(Router& r, service::Homeserver& hs) {
  // GET /_matrix/client/v3/io.vigie/devices
  r.Add("GET", kPrefix,
        [&hs](RequestContext& c) -> boost::asio::awaitable<http::Response> {
          const auto& who = c.requester();
          auto devices = co_await hs.devices.List(who.user_id, true);
          boost::json::array out;
          for (const auto& d : devices) {
            if (who.device_pending && d.device_id != who.device_id) continue;
            out.emplace_back(ControlledDeviceJson(d, who));
          }
          co_return http::Response::Json({{"devices", out}});
        },
        {.allow_pending = true});

  // GET /_matrix/client/v3/io.vigie/devices/{deviceId}
  r.Add("GET", Path("/{deviceId}"),
        [&hs](RequestContext& c) -> boost::asio::awaitable<http::Response> {
          const auto& who = c.requester();
          RequireSelfIfPending(who, c.params[0]);
          auto d = co_await hs.devices.Get(who.user_id, c.params[0], true);
          co_return http::Response::Json(ControlledDeviceJson(d, who));
        },
        {.allow_pending = true});

  // POST /_matrix/client/v3/io.vigie/devices/{deviceId}/approve
  r.Add("POST", Path("/{deviceId}/approve"),
        [&hs](RequestContext& c) -> boost::asio::awaitable<http::Response> {
          co_await hs.devices.Approve(c.requester(), c.params[0]);
          co_return EmptyJson();
        });

  // POST /_matrix/client/v3/io.vigie/devices/{deviceId}/deny
  r.Add("POST", Path("/{deviceId}/deny"),
        [&hs](RequestContext& c) -> boost::asio::awaitable<http::Response> {
          co_await hs.devices.Deny(c.requester(), c.params[0]);
          co_return EmptyJson();
        });

  // PUT /_matrix/client/v3/io.vigie/devices/{deviceId}/primary
  r.Add("PUT", Path("/{deviceId}/primary"),
        [&hs](RequestContext& c) -> boost::asio::awaitable<http::Response> {
          co_await hs.devices.SetPrimary(c.requester(), c.params[0]);
          co_return EmptyJson();
        });

  // POST /_matrix/client/v3/io.vigie/devices/{deviceId}/logout
  r.Add("POST", Path("/{deviceId}/logout"),
        [&hs](RequestContext& c) -> boost::asio::awaitable<http::Response> {
          co_await hs.devices.ForceLogout(c.requester(), c.params[0],
                                          json::GetObject(c.body, "auth"));
          co_return EmptyJson();
        });

  // POST /_matrix/client/v3/io.vigie/devices/{deviceId}/ban
  r.Add("POST", Path("/{deviceId}/ban"),
        [&hs](RequestContext& c) -> boost::asio::awaitable<http::Response> {
          co_await hs.devices.Ban(c.requester(), c.params[0], json::GetObject(c.body, "auth"));
          co_return EmptyJson();
        });

  // POST /_matrix/client/v3/io.vigie/devices/{deviceId}/wipe
  r.Add("POST", Path("/{deviceId}/wipe"),
        [&hs](RequestContext& c) -> boost::asio::awaitable<http::Response> {
          co_await hs.devices.Wipe(c.requester(), c.params[0], json::GetObject(c.body, "auth"));
          co_return EmptyJson();
        });
}

}  // namespace vigie::api
