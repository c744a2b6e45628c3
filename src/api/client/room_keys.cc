// Server-side key backups: /room_keys/version and /room_keys/keys.
#include "api/api.h"
#include "common/error.h"

namespace vigie::api {
namespace {

using boost::asio::awaitable;
using http::Response;
using service::BackupKeyScope;

std::string VersionParam(const RequestContext& c) {
  auto v = c.req.Query("version");
  if (!v) throw MissingParam("version is required");
  return std::string(*v);
}

// The scope a /room_keys/keys[/{roomId}[/{sessionId}]] path names.
BackupKeyScope ScopeOf(const RequestContext& c) {
  BackupKeyScope s;
  if (c.params.size() > 0) s.room_id = c.params[0];
  if (c.params.size() > 1) s.session_id = c.params[1];
  return s;
}

// A request body at any of the three depths, as room id -> {"sessions": ...}.
boost::json::object RoomsOf(const RequestContext& c) {
  if (c.params.empty()) {
    auto* rooms = c.body.if_contains("rooms");
    if (!rooms || !rooms->is_object()) throw BadJson("rooms must be an object");
    return rooms->as_object();
  }
  if (c.params.size() == 1) return boost::json::object{{c.params[0], c.body}};
  return boost::json::object{
      {c.params[0], boost::json::object{{"sessions", boost::json::object{{c.params[1], c.body}}}}}};
}

// The answer to a GET at the path's depth.
Response KeysAtDepth(const RequestContext& c, boost::json::object rooms) {
  if (c.params.empty()) return Response::Json({{"rooms", std::move(rooms)}});
  auto* room = rooms.if_contains(c.params[0]);
  if (c.params.size() == 1) {
    if (!room) return Response::Json({{"sessions", boost::json::object{}}});
    return Response::Json(room->as_object());
  }
  if (!room) throw NotFound("Key not found");
  auto* key = room->as_object().at("sessions").as_object().if_contains(c.params[1]);
  if (!key) throw NotFound("Key not found");
  return Response::Json(key->as_object());
}

}  // namespace

void AddRoomKeysRoutes(Router& r, service::Homeserver& hs) {
  // POST /_matrix/client/v3/room_keys/version
  r.Add("POST", "/_matrix/client/v3/room_keys/version",
        [&hs](RequestContext& c) -> awaitable<Response> {
          auto version = co_await hs.key_backup.CreateVersion(c.requester(), c.body);
          co_return Response::Json({{"version", std::move(version)}});
        });

  // GET /_matrix/client/v3/room_keys/version
  r.Add("GET", "/_matrix/client/v3/room_keys/version",
        [&hs](RequestContext& c) -> awaitable<Response> {
          auto info = co_await hs.key_backup.GetVersion(c.requester(), std::nullopt);
          co_return Response::Json(std::move(info));
        });

  // GET /_matrix/client/v3/room_keys/version/{version}
  r.Add("GET", "/_matrix/client/v3/room_keys/version/{version}",
        [&hs](RequestContext& c) -> awaitable<Response> {
          std::optional<std::string> version = c.params[0];
          auto info = co_await hs.key_backup.GetVersion(c.requester(), version);
          co_return Response::Json(std::move(info));
        });

  // PUT /_matrix/client/v3/room_keys/version/{version}
  r.Add("PUT", "/_matrix/client/v3/room_keys/version/{version}",
        [&hs](RequestContext& c) -> awaitable<Response> {
          co_await hs.key_backup.UpdateVersion(c.requester(), c.params[0], c.body);
          co_return Response::Json(boost::json::object{});
        });

  // DELETE /_matrix/client/v3/room_keys/version/{version}
  r.Add("DELETE", "/_matrix/client/v3/room_keys/version/{version}",
        [&hs](RequestContext& c) -> awaitable<Response> {
          co_await hs.key_backup.DeleteVersion(c.requester(), c.params[0]);
          co_return Response::Json(boost::json::object{});
        });

  for (const char* path :
       {"/_matrix/client/v3/room_keys/keys", "/_matrix/client/v3/room_keys/keys/{roomId}",
        "/_matrix/client/v3/room_keys/keys/{roomId}/{sessionId}"}) {
    // PUT /_matrix/client/v3/room_keys/keys[/{roomId}[/{sessionId}]]
    r.Add("PUT", path, [&hs](RequestContext& c) -> awaitable<Response> {
      const std::string version = VersionParam(c);
      const auto rooms = RoomsOf(c);
      auto summary = co_await hs.key_backup.PutKeys(c.requester(), version, rooms);
      co_return Response::Json(std::move(summary));
    });
    // GET /_matrix/client/v3/room_keys/keys[/{roomId}[/{sessionId}]]
    r.Add("GET", path, [&hs](RequestContext& c) -> awaitable<Response> {
      const std::string version = VersionParam(c);
      const BackupKeyScope scope = ScopeOf(c);
      auto rooms = co_await hs.key_backup.GetKeys(c.requester(), version, scope);
      co_return KeysAtDepth(c, std::move(rooms));
    });
    // DELETE /_matrix/client/v3/room_keys/keys[/{roomId}[/{sessionId}]]
    r.Add("DELETE", path, [&hs](RequestContext& c) -> awaitable<Response> {
      const std::string version = VersionParam(c);
      const BackupKeyScope scope = ScopeOf(c);
      auto summary = co_await hs.key_backup.DeleteKeys(c.requester(), version, scope);
      co_return Response::Json(std::move(summary));
    });
  }
}

}  // namespace vigie::api
