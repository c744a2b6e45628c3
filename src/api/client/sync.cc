// Sync and filters.
#include <boost/json/monotonic_resource.hpp>
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
                          const std::string& room_id, const ClientEventOptions& opts,
                          const boost::json::storage_ptr& sp) {
  boost::json::array out(sp);
  out.reserve(events.size());
  for (const auto& e : events) out.push_back(ClientEvent(e, room_id, opts, sp));
  return out;
}

// Builds the room's section in `sp`'s memory.
boost::json::object RoomJson(const service::RoomSync& r, const service::Requester& who, bool joined,
                             const boost::json::storage_ptr& sp) {
  ClientEventOptions opts{&who, false};
  boost::json::object o(sp);
  o["timeline"] = boost::json::object({{"events", Events(r.timeline, r.room_id, opts, sp)},
                                       {"limited", r.limited},
                                       {"prev_batch", r.prev_batch}},
                                      sp);
  o["state"] = boost::json::object({{"events", Events(r.state, r.room_id, opts, sp)}}, sp);
  o["account_data"] = boost::json::object({{"events", r.account_data}}, sp);
  if (joined) {
    o["ephemeral"] = boost::json::object({{"events", r.ephemeral}}, sp);
    o["unread_notifications"] = boost::json::object(
        {{"notification_count", r.notification_count}, {"highlight_count", r.highlight_count}}, sp);
    boost::json::object summary(sp);
    if (r.summary) {
      boost::json::array heroes(sp);
      for (const auto& h : r.summary->heroes) heroes.emplace_back(h);
      summary["m.heroes"] = std::move(heroes);
      summary["m.joined_member_count"] = r.summary->joined;
      summary["m.invited_member_count"] = r.summary->invited;
    }
    o["summary"] = std::move(summary);
  }
  return o;
}

// The /sync response body. Not a coroutine: what it builds lives on the
// stack, not in the frame a long-poll keeps for minutes.
Response SyncResponse(const service::SyncResult& res, const service::Requester& who) {
  // The response is built in one arena: a large initial sync is
  // hundreds of thousands of small values, freed here all at once.
  boost::json::storage_ptr sp =
      boost::json::make_shared_resource<boost::json::monotonic_resource>();
  boost::json::object join(sp), invite(sp), leave(sp), knock(sp);
  for (const auto& rs : res.join) join[rs.room_id] = RoomJson(rs, who, true, sp);
  for (const auto& rs : res.leave) leave[rs.room_id] = RoomJson(rs, who, false, sp);
  for (const auto& rs : res.invite) {
    invite[rs.room_id] = boost::json::object(
        {{"invite_state", boost::json::object({{"events", rs.stripped_state}}, sp)}}, sp);
  }
  for (const auto& rs : res.knock) {
    knock[rs.room_id] = boost::json::object(
        {{"knock_state", boost::json::object({{"events", rs.stripped_state}}, sp)}}, sp);
  }
  boost::json::object body(
      {
          {"next_batch", res.next_batch},
          {"rooms", boost::json::object({{"join", std::move(join)},
                                         {"invite", std::move(invite)},
                                         {"leave", std::move(leave)},
                                         {"knock", std::move(knock)}},
                                        sp)},
          {"presence", {{"events", res.presence}}},
          {"account_data", {{"events", res.account_data}}},
          {"to_device", {{"events", res.to_device}}},
          {"device_lists",
           {{"changed", res.device_lists_changed}, {"left", res.device_lists_left}}},
          {"device_one_time_keys_count", res.one_time_keys_count},
          {"device_unused_fallback_key_types", res.unused_fallback_key_types},
      },
      sp);
  return Response::Json(body);
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
    co_return SyncResponse(co_await hs.sync.Sync(c.requester(), std::move(req)), c.requester());
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
