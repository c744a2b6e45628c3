// Rooms: creation, membership, sending, state, members, redaction, aliases.
#include <boost/json/serialize.hpp>

#include "api/api.h"
#include "api/client_event.h"
#include "common/error.h"
#include "common/json.h"

namespace vigie::api {
namespace {

using boost::asio::awaitable;
using http::Response;

service::CreateRoomOptions ParseCreateRoom(const boost::json::object& b) {
  service::CreateRoomOptions o;
  o.preset = json::GetString(b, "preset");
  o.visibility = json::GetString(b, "visibility");
  if (o.visibility && *o.visibility != "public" && *o.visibility != "private") {
    throw InvalidParam("visibility must be public or private");
  }
  o.room_version = json::GetString(b, "room_version");
  o.name = json::GetString(b, "name");
  o.topic = json::GetString(b, "topic");
  o.room_alias_name = json::GetString(b, "room_alias_name");
  o.is_direct = json::GetBool(b, "is_direct").value_or(false);
  if (auto inv = json::GetStringArray(b, "invite", 1000)) o.invite = std::move(*inv);
  if (const auto* cc = json::GetObject(b, "creation_content")) o.creation_content = *cc;
  if (const auto* pl = json::GetObject(b, "power_level_content_override")) {
    o.power_level_content_override = *pl;
  }
  if (const auto* is = json::GetArray(b, "initial_state")) {
    if (is->size() > 100) throw InvalidParam("Too many initial_state events");
    for (const auto& v : *is) {
      if (!v.is_object()) throw BadJson("initial_state entries must be objects");
      const auto& e = v.as_object();
      o.initial_state.push_back({json::RequireString(e, "type"),
                                 json::GetString(e, "state_key").value_or(""),
                                 json::RequireObject(e, "content")});
    }
  }
  return o;
}

awaitable<Response> Empty() { co_return Response::Json(boost::json::object{}); }

}  // namespace

void AddRoomRoutes(Router& r, service::Homeserver& hs) {
  // POST /_matrix/client/v3/createRoom
  r.Add("POST", "/_matrix/client/v3/createRoom", [&hs](RequestContext& c) -> awaitable<Response> {
    auto created = co_await hs.rooms.CreateRoom(c.requester(), ParseCreateRoom(c.body));
    boost::json::object out{{"room_id", created.room_id}};
    if (created.room_alias) out["room_alias"] = *created.room_alias;
    co_return Response::Json(out);
  });

  // POST /_matrix/client/v3/join/{roomIdOrAlias}
  auto join = [&hs](RequestContext& c) -> awaitable<Response> {
    std::string room_id =
        co_await hs.rooms.Join(c.requester(), c.params[0], json::GetString(c.body, "reason"));
    co_return Response::Json({{"room_id", room_id}});
  };
  r.Add("POST", "/_matrix/client/v3/join/{roomIdOrAlias}", join);
  // POST /_matrix/client/v3/rooms/{roomId}/join
  r.Add("POST", "/_matrix/client/v3/rooms/{roomId}/join", join);

  // POST /_matrix/client/v3/knock/{roomIdOrAlias}
  r.Add("POST", "/_matrix/client/v3/knock/{roomIdOrAlias}",
        [&hs](RequestContext& c) -> awaitable<Response> {
          std::string room_id = co_await hs.rooms.Knock(c.requester(), c.params[0],
                                                        json::GetString(c.body, "reason"));
          co_return Response::Json({{"room_id", room_id}});
        });

  // POST /_matrix/client/v3/rooms/{roomId}/{invite,kick,ban,unban}
  for (const char* action : {"invite", "kick", "ban", "unban"}) {
    std::string name = action;
    r.Add("POST", "/_matrix/client/v3/rooms/{roomId}/" + name,
          [&hs, name](RequestContext& c) -> awaitable<Response> {
            co_await hs.rooms.Membership(c.requester(), c.params[0],
                                         json::RequireString(c.body, "user_id"), name,
                                         json::GetString(c.body, "reason"));
            co_return co_await Empty();
          });
  }

  // POST /_matrix/client/v3/rooms/{roomId}/leave
  r.Add("POST", "/_matrix/client/v3/rooms/{roomId}/leave",
        [&hs](RequestContext& c) -> awaitable<Response> {
          co_await hs.rooms.Membership(c.requester(), c.params[0], c.requester().user_id, "leave",
                                       json::GetString(c.body, "reason"));
          co_return co_await Empty();
        });

  // POST /_matrix/client/v3/rooms/{roomId}/forget
  r.Add("POST", "/_matrix/client/v3/rooms/{roomId}/forget",
        [&hs](RequestContext& c) -> awaitable<Response> {
          co_await hs.rooms.Forget(c.requester(), c.params[0]);
          co_return co_await Empty();
        });

  // PUT /_matrix/client/v3/rooms/{roomId}/send/{eventType}/{txnId}
  r.Add("PUT", "/_matrix/client/v3/rooms/{roomId}/send/{eventType}/{txnId}",
        [&hs](RequestContext& c) -> awaitable<Response> {
          std::string id = co_await hs.rooms.Send(c.requester(), c.params[0], c.params[1],
                                                  std::move(c.body), c.params[2]);
          co_return Response::Json({{"event_id", id}});
        });

  // PUT /_matrix/client/v3/rooms/{roomId}/state/{eventType}/{stateKey}
  auto put_state = [&hs](RequestContext& c) -> awaitable<Response> {
    std::string sk = c.params.size() > 2 ? c.params[2] : "";
    std::string id =
        co_await hs.rooms.SetState(c.requester(), c.params[0], c.params[1], sk, std::move(c.body));
    co_return Response::Json({{"event_id", id}});
  };
  r.Add("PUT", "/_matrix/client/v3/rooms/{roomId}/state/{eventType}/{stateKey*}", put_state);
  // PUT /_matrix/client/v3/rooms/{roomId}/state/{eventType} (empty state key)
  r.Add("PUT", "/_matrix/client/v3/rooms/{roomId}/state/{eventType}", put_state);

  // GET /_matrix/client/v3/rooms/{roomId}/state/{eventType}/{stateKey}
  auto get_state = [&hs](RequestContext& c) -> awaitable<Response> {
    std::string sk = c.params.size() > 2 ? c.params[2] : "";
    auto ev = co_await hs.rooms.GetStateEvent(c.requester(), c.params[0], c.params[1], sk);
    auto client = ClientEvent(ev.record, ev.room_id);
    if (c.req.Query("format") == std::optional<std::string_view>("event")) {
      co_return Response::Json(client);
    }
    co_return Response::Json(client["content"]);
  };
  r.Add("GET", "/_matrix/client/v3/rooms/{roomId}/state/{eventType}/{stateKey*}", get_state);
  r.Add("GET", "/_matrix/client/v3/rooms/{roomId}/state/{eventType}", get_state);

  // GET /_matrix/client/v3/rooms/{roomId}/state
  r.Add("GET", "/_matrix/client/v3/rooms/{roomId}/state",
        [&hs](RequestContext& c) -> awaitable<Response> {
          boost::json::array out;
          auto state = co_await hs.rooms.GetState(c.requester(), c.params[0]);
          for (const auto& e : state) {
            out.push_back(ClientEvent(e.record, e.room_id));
          }
          co_return Response::Json(out);
        });

  // GET /_matrix/client/v3/rooms/{roomId}/members
  r.Add("GET", "/_matrix/client/v3/rooms/{roomId}/members",
        [&hs](RequestContext& c) -> awaitable<Response> {
          service::MembersQuery q;
          if (auto v = c.req.Query("at")) q.at = std::string(*v);
          if (auto v = c.req.Query("membership")) q.membership = std::string(*v);
          if (auto v = c.req.Query("not_membership")) q.not_membership = std::string(*v);
          boost::json::array chunk;
          auto members = co_await hs.rooms.Members(c.requester(), c.params[0], q);
          for (const auto& e : members) {
            chunk.push_back(ClientEvent(e.record, e.room_id));
          }
          co_return Response::Json({{"chunk", chunk}});
        });

  // GET /_matrix/client/v3/rooms/{roomId}/joined_members
  r.Add("GET", "/_matrix/client/v3/rooms/{roomId}/joined_members",
        [&hs](RequestContext& c) -> awaitable<Response> {
          service::MembersQuery q;
          q.membership = "join";
          boost::json::object joined;
          auto joined_members = co_await hs.rooms.Members(c.requester(), c.params[0], q);
          for (const auto& e : joined_members) {
            auto content = ClientEvent(e.record, e.room_id)["content"].as_object();
            boost::json::object m;
            m["display_name"] = content.contains("displayname") ? content["displayname"] : nullptr;
            m["avatar_url"] = content.contains("avatar_url") ? content["avatar_url"] : nullptr;
            joined[*e.record.state_key] = std::move(m);
          }
          co_return Response::Json({{"joined", joined}});
        });

  // GET /_matrix/client/v3/joined_rooms
  r.Add("GET", "/_matrix/client/v3/joined_rooms", [&hs](RequestContext& c) -> awaitable<Response> {
    boost::json::array out;
    auto rooms = co_await hs.rooms.JoinedRooms(c.requester());
    for (const auto& id : rooms) out.emplace_back(id);
    co_return Response::Json({{"joined_rooms", out}});
  });

  // GET /_matrix/client/v3/rooms/{roomId}/event/{eventId}
  r.Add("GET", "/_matrix/client/v3/rooms/{roomId}/event/{eventId}",
        [&hs](RequestContext& c) -> awaitable<Response> {
          auto e = co_await hs.rooms.GetEvent(c.requester(), c.params[0], c.params[1]);
          ClientEventOptions opts;
          opts.viewer = &c.requester();
          co_return Response::Json(ClientEvent(e.record, e.room_id, opts));
        });

  // PUT /_matrix/client/v3/rooms/{roomId}/redact/{eventId}/{txnId}
  r.Add("PUT", "/_matrix/client/v3/rooms/{roomId}/redact/{eventId}/{txnId}",
        [&hs](RequestContext& c) -> awaitable<Response> {
          std::string id = co_await hs.rooms.Redact(c.requester(), c.params[0], c.params[1],
                                                    json::GetString(c.body, "reason"), c.params[2]);
          co_return Response::Json({{"event_id", id}});
        });

  // PUT /_matrix/client/v3/directory/room/{roomAlias}
  r.Add("PUT", "/_matrix/client/v3/directory/room/{roomAlias}",
        [&hs](RequestContext& c) -> awaitable<Response> {
          co_await hs.rooms.CreateAlias(c.requester(), c.params[0],
                                        json::RequireString(c.body, "room_id"));
          co_return co_await Empty();
        });

  // GET /_matrix/client/v3/directory/room/{roomAlias}
  r.Add("GET", "/_matrix/client/v3/directory/room/{roomAlias}",
        [&hs](RequestContext& c) -> awaitable<Response> {
          std::string room_id = co_await hs.rooms.ResolveAlias(c.params[0]);
          boost::json::array servers = {hs.config().server_name};
          co_return Response::Json({{"room_id", room_id}, {"servers", servers}});
        },
        {.auth = AuthMode::kOptional});

  // DELETE /_matrix/client/v3/directory/room/{roomAlias}
  r.Add("DELETE", "/_matrix/client/v3/directory/room/{roomAlias}",
        [&hs](RequestContext& c) -> awaitable<Response> {
          co_await hs.rooms.DeleteAlias(c.requester(), c.params[0]);
          co_return co_await Empty();
        });

  // GET /_matrix/client/v3/rooms/{roomId}/aliases
  r.Add("GET", "/_matrix/client/v3/rooms/{roomId}/aliases",
        [&hs](RequestContext& c) -> awaitable<Response> {
          boost::json::array out;
          auto aliases = co_await hs.rooms.Aliases(c.requester(), c.params[0]);
          for (const auto& a : aliases) {
            out.emplace_back(a);
          }
          co_return Response::Json({{"aliases", out}});
        });
}

}  // namespace vigie::api
