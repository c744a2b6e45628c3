// Directories: the published room directory and the user directory.
#include <charconv>

#include "api/api.h"
#include "common/error.h"
#include "common/json.h"

namespace vigie::api {
namespace {

using boost::asio::awaitable;
using http::Response;

// Only this server's directory is served (no federation).
void CheckServer(const RequestContext& c, const service::Homeserver& hs) {
  auto server = c.req.Query("server");
  if (server && *server != hs.config().server_name) {
    throw InvalidParam("Only this server's room directory can be queried");
  }
}

boost::json::object RoomJson(const service::PublicRoom& r) {
  boost::json::object o{{"room_id", r.room_id},
                        {"num_joined_members", r.num_joined_members},
                        {"world_readable", r.world_readable},
                        {"guest_can_join", r.guest_can_join}};
  auto put = [&o](const char* key, const std::optional<std::string>& v) {
    if (v) o[key] = *v;
  };
  put("name", r.name);
  put("topic", r.topic);
  put("canonical_alias", r.canonical_alias);
  put("join_rule", r.join_rule);
  put("avatar_url", r.avatar_url);
  put("room_type", r.room_type);
  return o;
}

boost::json::object PageJson(const service::PublicRoomsPage& page) {
  boost::json::array chunk;
  for (const auto& r : page.chunk) chunk.push_back(RoomJson(r));
  boost::json::object out{{"chunk", std::move(chunk)},
                          {"total_room_count_estimate", page.total_room_count_estimate}};
  if (page.next_batch) out["next_batch"] = *page.next_batch;
  if (page.prev_batch) out["prev_batch"] = *page.prev_batch;
  return out;
}

}  // namespace

void AddDirectoryRoutes(Router& r, service::Homeserver& hs) {
  // GET /_matrix/client/v3/publicRooms
  r.Add("GET", "/_matrix/client/v3/publicRooms",
        [&hs](RequestContext& c) -> awaitable<Response> {
          CheckServer(c, hs);
          service::PublicRoomsQuery q;
          if (auto v = c.req.Query("limit")) {
            std::int64_t n = 0;
            auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
            if (ec != std::errc() || p != v->data() + v->size()) {
              throw InvalidParam("limit must be an integer");
            }
            q.limit = n;
          }
          if (auto v = c.req.Query("since")) q.since = std::string(*v);
          auto page = co_await hs.directory.PublicRooms(c.who, std::move(q));
          co_return Response::Json(PageJson(page));
        },
        {.auth = AuthMode::kOptional});

  // POST /_matrix/client/v3/publicRooms
  r.Add("POST", "/_matrix/client/v3/publicRooms", [&hs](RequestContext& c) -> awaitable<Response> {
    CheckServer(c, hs);
    service::PublicRoomsQuery q;
    q.limit = json::GetInt(c.body, "limit");
    q.since = json::GetString(c.body, "since");
    if (const auto* f = json::GetObject(c.body, "filter")) {
      q.search_term = json::GetString(*f, "generic_search_term");
      if (const auto* types = json::GetArray(*f, "room_types")) {
        std::vector<std::optional<std::string>> list;
        for (const auto& t : *types) {
          if (t.is_null()) {
            list.emplace_back(std::nullopt);
          } else if (t.is_string() && t.as_string().find('\0') == std::string_view::npos) {
            list.emplace_back(std::string(t.as_string()));
          } else {
            throw BadJson("room_types must be an array of strings (without NUL) or nulls");
          }
        }
        q.room_types = std::move(list);
      }
    }
    auto page = co_await hs.directory.PublicRooms(c.who, std::move(q));
    co_return Response::Json(PageJson(page));
  });

  // GET /_matrix/client/v3/directory/list/room/{roomId}
  r.Add("GET", "/_matrix/client/v3/directory/list/room/{roomId}",
        [&hs](RequestContext& c) -> awaitable<Response> {
          std::string visibility = co_await hs.directory.RoomVisibility(c.params[0]);
          co_return Response::Json({{"visibility", visibility}});
        },
        {.auth = AuthMode::kNone});

  // PUT /_matrix/client/v3/directory/list/room/{roomId}
  r.Add("PUT", "/_matrix/client/v3/directory/list/room/{roomId}",
        [&hs](RequestContext& c) -> awaitable<Response> {
          std::string visibility = json::GetString(c.body, "visibility").value_or("public");
          co_await hs.directory.SetRoomVisibility(c.requester(), c.params[0], visibility);
          co_return Response::Json(boost::json::object{});
        });

  // POST /_matrix/client/v3/user_directory/search
  r.Add("POST", "/_matrix/client/v3/user_directory/search",
        [&hs](RequestContext& c) -> awaitable<Response> {
          std::string term = json::RequireString(c.body, "search_term");
          auto page =
              co_await hs.directory.SearchUsers(c.requester(), term, json::GetInt(c.body, "limit"));
          boost::json::array results;
          for (const auto& u : page.results) {
            boost::json::object o{{"user_id", u.user_id}};
            if (u.display_name) o["display_name"] = *u.display_name;
            if (u.avatar_url) o["avatar_url"] = *u.avatar_url;
            results.push_back(std::move(o));
          }
          co_return Response::Json({{"results", std::move(results)}, {"limited", page.limited}});
        });
}

}  // namespace vigie::api
