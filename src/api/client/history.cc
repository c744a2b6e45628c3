// Room history: messages, event context, relations, threads.
#include <charconv>

#include "api/api.h"
#include "api/client_event.h"
#include "common/error.h"
#include "common/json.h"

namespace vigie::api {
namespace {

using boost::asio::awaitable;
using http::Response;

std::optional<std::string> QueryString(const RequestContext& c, std::string_view key) {
  auto v = c.req.Query(key);
  if (!v) return std::nullopt;
  return std::string(*v);
}

std::optional<std::int64_t> QueryInt(const RequestContext& c, std::string_view key) {
  auto v = c.req.Query(key);
  if (!v) return std::nullopt;
  std::int64_t out = 0;
  auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), out);
  if (ec != std::errc() || p != v->data() + v->size() || v->empty()) {
    throw InvalidParam(std::string(key) + " must be an integer");
  }
  return out;
}

storage::Direction QueryDir(const RequestContext& c) {
  auto v = c.req.Query("dir");
  if (!v || *v == "b") return storage::Direction::kBackward;
  if (*v == "f") return storage::Direction::kForward;
  throw InvalidParam("dir must be 'b' or 'f'");
}

// The `filter` parameter: an inline RoomEventFilter, or the id of a stored
// filter (whose room.timeline part applies).
awaitable<service::RoomEventFilter> QueryFilter(const RequestContext& c, service::Homeserver& hs) {
  auto v = QueryString(c, "filter");
  if (!v || v->empty()) co_return service::RoomEventFilter{};
  if (v->front() == '{') {
    auto parsed = json::Parse(*v, hs.config().max_json_depth);
    if (!parsed.is_object()) throw BadJson("filter must be a JSON object");
    co_return service::Filter::ParseRoomEventFilter(parsed.as_object());
  }
  auto stored = co_await hs.sync.ResolveFilter(c.requester(), v);
  co_return stored->room.timeline;
}

// A client event with its bundled aggregations (unsigned.m.relations).
boost::json::object Render(const storage::EventRecord& e, const std::string& room_id,
                           const service::Requester& who, const service::Bundles& bundles,
                           int depth = 0) {
  ClientEventOptions opts;
  opts.viewer = &who;
  boost::json::object out = ClientEvent(e, room_id, opts);
  auto it = bundles.find(e.event_id);
  if (it == bundles.end() || it->second.Empty() || depth > 1) return out;
  const service::BundledRelations& b = it->second;
  boost::json::object rel;
  if (b.thread) {
    rel["m.thread"] = {{"latest_event", Render(b.thread->latest, room_id, who, bundles, depth + 1)},
                       {"count", b.thread->count},
                       {"current_user_participated", b.thread->current_user_participated}};
  }
  if (b.replace) rel["m.replace"] = ClientEvent(*b.replace, room_id, opts);
  if (!b.references.empty()) {
    boost::json::array chunk;
    for (const auto& id : b.references) chunk.push_back(boost::json::object{{"event_id", id}});
    rel["m.reference"] = {{"chunk", std::move(chunk)}};
  }
  out["unsigned"].as_object()["m.relations"] = std::move(rel);
  return out;
}

boost::json::array RenderAll(const std::vector<storage::EventRecord>& events,
                             const std::string& room_id, const service::Requester& who,
                             const service::Bundles& bundles) {
  boost::json::array out;
  for (const auto& e : events) out.push_back(Render(e, room_id, who, bundles));
  return out;
}

boost::json::array Plain(const std::vector<storage::EventRecord>& events,
                         const std::string& room_id) {
  boost::json::array out;
  for (const auto& e : events) out.push_back(ClientEvent(e, room_id));
  return out;
}

// GET .../relations/{eventId}[/{relType}[/{eventType}]]
awaitable<Response> GetRelations(service::Homeserver& hs, RequestContext& c) {
  service::RelationsRequest req;
  if (c.params.size() > 2) req.rel_type = c.params[2];
  if (c.params.size() > 3) req.event_type = c.params[3];
  req.from = QueryString(c, "from");
  req.to = QueryString(c, "to");
  req.limit = QueryInt(c, "limit");
  req.dir = QueryDir(c);
  if (auto r = c.req.Query("recurse")) {
    if (*r != "true" && *r != "false") throw InvalidParam("recurse must be true or false");
    req.recurse = *r == "true";
  }
  auto page = co_await hs.history.Relations(c.requester(), c.params[0], c.params[1], req);
  boost::json::object out{
      {"chunk", RenderAll(page.chunk, page.room_id, c.requester(), page.bundles)}};
  if (page.next_batch) out["next_batch"] = *page.next_batch;
  if (page.prev_batch) out["prev_batch"] = *page.prev_batch;
  if (page.recursion_depth) out["recursion_depth"] = *page.recursion_depth;
  co_return Response::Json(out);
}

}  // namespace

void AddHistoryRoutes(Router& r, service::Homeserver& hs) {
  // GET /_matrix/client/v3/rooms/{roomId}/messages
  r.Add("GET", "/_matrix/client/v3/rooms/{roomId}/messages",
        [&hs](RequestContext& c) -> awaitable<Response> {
          service::MessagesRequest req;
          req.from = QueryString(c, "from");
          req.to = QueryString(c, "to");
          req.dir = QueryDir(c);
          req.limit = QueryInt(c, "limit");
          req.filter = co_await QueryFilter(c, hs);
          auto page = co_await hs.history.Messages(c.requester(), c.params[0], std::move(req));
          boost::json::object out{
              {"chunk", RenderAll(page.chunk, page.room_id, c.requester(), page.bundles)},
              {"start", page.start}};
          if (page.end) out["end"] = *page.end;
          if (!page.state.empty()) out["state"] = Plain(page.state, page.room_id);
          co_return Response::Json(out);
        });

  // GET /_matrix/client/v3/rooms/{roomId}/context/{eventId}
  r.Add("GET", "/_matrix/client/v3/rooms/{roomId}/context/{eventId}",
        [&hs](RequestContext& c) -> awaitable<Response> {
          service::ContextRequest req;
          req.limit = QueryInt(c, "limit").value_or(10);
          req.filter = co_await QueryFilter(c, hs);
          auto page =
              co_await hs.history.Context(c.requester(), c.params[0], c.params[1], std::move(req));
          const auto& who = c.requester();
          co_return Response::Json(
              {{"event", Render(page.event, page.room_id, who, page.bundles)},
               {"events_before", RenderAll(page.before, page.room_id, who, page.bundles)},
               {"events_after", RenderAll(page.after, page.room_id, who, page.bundles)},
               {"start", page.start},
               {"end", page.end},
               {"state", Plain(page.state, page.room_id)}});
        });

  // GET /_matrix/client/v1/rooms/{roomId}/relations/{eventId}
  r.Add("GET", "/_matrix/client/v1/rooms/{roomId}/relations/{eventId}",
        [&hs](RequestContext& c) { return GetRelations(hs, c); });
  // GET /_matrix/client/v1/rooms/{roomId}/relations/{eventId}/{relType}
  r.Add("GET", "/_matrix/client/v1/rooms/{roomId}/relations/{eventId}/{relType}",
        [&hs](RequestContext& c) { return GetRelations(hs, c); });
  // GET /_matrix/client/v1/rooms/{roomId}/relations/{eventId}/{relType}/{eventType}
  r.Add("GET", "/_matrix/client/v1/rooms/{roomId}/relations/{eventId}/{relType}/{eventType}",
        [&hs](RequestContext& c) { return GetRelations(hs, c); });

  // GET /_matrix/client/v1/rooms/{roomId}/threads
  r.Add("GET", "/_matrix/client/v1/rooms/{roomId}/threads",
        [&hs](RequestContext& c) -> awaitable<Response> {
          service::ThreadsRequest req;
          auto include = c.req.Query("include");
          if (include && *include != "all" && *include != "participated") {
            throw InvalidParam("include must be 'all' or 'participated'");
          }
          req.only_participated = include == std::optional<std::string_view>("participated");
          req.from = QueryString(c, "from");
          req.limit = QueryInt(c, "limit");
          auto page = co_await hs.history.Threads(c.requester(), c.params[0], std::move(req));
          boost::json::object out{
              {"chunk", RenderAll(page.chunk, page.room_id, c.requester(), page.bundles)}};
          if (page.next_batch) out["next_batch"] = *page.next_batch;
          co_return Response::Json(out);
        });
}

}  // namespace vigie::api
