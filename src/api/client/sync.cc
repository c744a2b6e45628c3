// Sync and filters.
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "api/api.h"
#include "api/client_event.h"
#include "common/error.h"
#include "common/json.h"

namespace vigie::api {
namespace {

using boost::asio::awaitable;
using http::Response;

boost::json::array Events(const std::vector<storage::EventRecord>& events,
                          const std::string& room_id, const ClientEventOptions& opts) {
  boost::json::array out;
  for (const auto& e : events) out.push_back(ClientEvent(e, room_id, opts));
  return out;
}

boost::json::object RoomJson(const service::RoomSync& r, const service::Requester& who,
                             bool joined) {
  ClientEventOptions opts{&who, false};
  boost::json::object o{
      {"timeline",
       {{"events", Events(r.timeline, r.room_id, opts)},
        {"limited", r.limited},
        {"prev_batch", r.prev_batch}}},
      {"state", {{"events", Events(r.state, r.room_id, opts)}}},
      {"account_data", {{"events", r.account_data}}},
  };
  if (joined) {
    o["ephemeral"] = {{"events", r.ephemeral}};
    o["unread_notifications"] = {{"notification_count", r.notification_count},
                                 {"highlight_count", r.highlight_count}};
    boost::json::object summary;
    if (r.summary) {
      boost::json::array heroes;
      for (const auto& h : r.summary->heroes) heroes.emplace_back(h);
      summary["m.heroes"] = std::move(heroes);
      summary["m.joined_member_count"] = r.summary->joined;
      summary["m.invited_member_count"] = r.summary->invited;
    }
    o["summary"] = std::move(summary);
  }
  return o;
}

}  // namespace

void AddSyncRoutes(Router& r, service::Homeserver& hs) {
  // GET /_matrix/client/v3/sync
  r.Add("GET", "/_matrix/client/v3/sync", [&hs](RequestContext& c) -> awaitable<Response> {
    service::SyncRequest req;
    if (auto s = c.req.Query("since")) req.since = std::string(*s);
    if (auto t = c.req.Query("timeout")) {
      std::int64_t ms = 0;
      try {
        ms = std::stoll(std::string(*t));
      } catch (const std::exception&) {
        throw InvalidParam("timeout must be an integer");
      }
      req.timeout = std::chrono::milliseconds(std::clamp<std::int64_t>(ms, 0, 300000));
    }
    if (auto fs = c.req.Query("full_state")) req.full_state = *fs == "true";
    if (auto p = c.req.Query("set_presence")) {
      if (*p != "online" && *p != "offline" && *p != "unavailable") {
        throw InvalidParam("set_presence must be online, offline or unavailable");
      }
      co_await hs.presence.OnSync(c.requester(), std::string(*p));
    } else {
      co_await hs.presence.OnSync(c.requester(), "online");
    }
    std::optional<std::string> filter;
    if (auto f = c.req.Query("filter")) filter = std::string(*f);
    req.filter = co_await hs.sync.ResolveFilter(c.requester(), filter);
    auto res = co_await hs.sync.Sync(c.requester(), std::move(req));

    const auto& who = c.requester();
    boost::json::object join, invite, leave, knock;
    for (const auto& rs : res.join) join[rs.room_id] = RoomJson(rs, who, true);
    for (const auto& rs : res.leave) leave[rs.room_id] = RoomJson(rs, who, false);
    for (const auto& rs : res.invite) {
      invite[rs.room_id] = {{"invite_state", {{"events", rs.stripped_state}}}};
    }
    for (const auto& rs : res.knock) {
      knock[rs.room_id] = {{"knock_state", {{"events", rs.stripped_state}}}};
    }
    boost::json::object body{
        {"next_batch", res.next_batch},
        {"rooms", {{"join", join}, {"invite", invite}, {"leave", leave}, {"knock", knock}}},
        {"presence", {{"events", res.presence}}},
        {"account_data", {{"events", res.account_data}}},
        {"to_device", {{"events", res.to_device}}},
        {"device_lists", {{"changed", res.device_lists_changed}, {"left", res.device_lists_left}}},
        {"device_one_time_keys_count", res.one_time_keys_count},
        {"device_unused_fallback_key_types", res.unused_fallback_key_types},
    };
    co_return Response::Json(body);
  });

  // POST /_matrix/client/v3/user/{userId}/filter
  r.Add("POST", "/_matrix/client/v3/user/{userId}/filter",
        [&hs](RequestContext& c) -> awaitable<Response> {
          if (c.params[0] != c.requester().user_id) {
            throw Forbidden("Cannot create filters for other users");
          }
          std::string id = co_await hs.sync.CreateFilter(c.requester(), c.body);
          co_return Response::Json({{"filter_id", id}});
        });

  // GET /_matrix/client/v3/user/{userId}/filter/{filterId}
  r.Add("GET", "/_matrix/client/v3/user/{userId}/filter/{filterId}",
        [&hs](RequestContext& c) -> awaitable<Response> {
          if (c.params[0] != c.requester().user_id) {
            throw Forbidden("Cannot read other users' filters");
          }
          co_return Response::Json(co_await hs.sync.GetFilter(c.requester(), c.params[1]));
        });
}

}  // namespace vigie::api
