// Sync and filters.
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <string_view>

#include "api/api.h"
#include "api/client_event.h"
#include "common/error.h"
#include "common/json.h"

namespace vigie::api {
namespace {

using boost::asio::awaitable;
using http::Response;

// The /sync response is written as text: a room's events go to each of
// its members' syncs, and their shared part is serialised once per event
// (AppendClientEvent), not built and serialised again for every member.
// A value, array or object as it is (a value parameter would copy an array).
template <typename Json>
void AppendJson(std::string& out, const Json& v) {
  out += boost::json::serialize(v);
}

const storage::EventRecord& Record(const storage::EventRecord& e) { return e; }
const storage::EventRecord& Record(const storage::SharedEventRecord& e) { return *e; }

template <typename Events>
void AppendEvents(std::string& out, const Events& events, const std::string& room_id,
                  const ClientEventOptions& opts) {
  out += '[';
  for (std::size_t i = 0; i < events.size(); ++i) {
    if (i > 0) out += ',';
    AppendClientEvent(out, Record(events[i]), room_id, opts);
  }
  out += ']';
}

// `{"events":[...]}` around an array of client-format events.
void AppendEventList(std::string& out, const boost::json::array& events) {
  out += R"({"events":)";
  AppendJson(out, events);
  out += '}';
}

// A joined or left room's section.
void AppendRoom(std::string& out, const service::RoomSync& r, const service::Requester& who,
                bool joined) {
  const ClientEventOptions opts{&who, false};
  out += R"({"timeline":{"events":)";
  AppendEvents(out, r.timeline, r.room_id, opts);
  out += r.limited ? R"(,"limited":true,"prev_batch":)" : R"(,"limited":false,"prev_batch":)";
  json::AppendString(out, r.prev_batch);
  out += R"(},"state":{"events":)";
  AppendEvents(out, r.state, r.room_id, opts);
  out += R"(},"account_data":)";
  AppendEventList(out, r.account_data);
  if (joined) {
    out += R"(,"ephemeral":)";
    AppendEventList(out, r.ephemeral);
    out += R"(,"unread_notifications":{"notification_count":)";
    out += std::to_string(r.notification_count);
    out += R"(,"highlight_count":)";
    out += std::to_string(r.highlight_count);
    out += R"(},"summary":{)";
    if (r.summary) {
      out += R"("m.heroes":[)";
      for (std::size_t i = 0; i < r.summary->heroes.size(); ++i) {
        if (i > 0) out += ',';
        json::AppendString(out, r.summary->heroes[i]);
      }
      out += R"(],"m.joined_member_count":)";
      out += std::to_string(r.summary->joined);
      out += R"(,"m.invited_member_count":)";
      out += std::to_string(r.summary->invited);
    }
    out += '}';
  }
  out += '}';
}

// An invited or knocked room's section: `{"<key>":{"events":[...]}}`.
void AppendStripped(std::string& out, std::string_view key, const service::RoomSync& r) {
  out += '{';
  json::AppendString(out, key);
  out += ':';
  AppendEventList(out, r.stripped_state);
  out += '}';
}

// `{"!room":{...},...}` for one membership kind of rooms. SyncService
// lists each room once (one membership per room and user; a room's
// account data joins its existing section).
template <typename Section>
void AppendRooms(std::string& out, const std::vector<service::RoomSync>& rooms, Section section) {
  out += '{';
  for (std::size_t i = 0; i < rooms.size(); ++i) {
    if (i > 0) out += ',';
    json::AppendString(out, rooms[i].room_id);
    out += ':';
    section(rooms[i]);
  }
  out += '}';
}

// The /sync response body. Not a coroutine: what it builds lives on the
// stack, not in the frame a long-poll keeps for minutes.
Response SyncResponse(const service::SyncResult& res, const service::Requester& who) {
  std::string out;
  out.reserve(4096);
  out += R"({"next_batch":)";
  json::AppendString(out, res.next_batch);
  out += R"(,"rooms":{"join":)";
  AppendRooms(out, res.join, [&](const service::RoomSync& r) { AppendRoom(out, r, who, true); });
  out += R"(,"invite":)";
  AppendRooms(out, res.invite,
              [&](const service::RoomSync& r) { AppendStripped(out, "invite_state", r); });
  out += R"(,"leave":)";
  AppendRooms(out, res.leave, [&](const service::RoomSync& r) { AppendRoom(out, r, who, false); });
  out += R"(,"knock":)";
  AppendRooms(out, res.knock,
              [&](const service::RoomSync& r) { AppendStripped(out, "knock_state", r); });
  // The rest is small (empty, mostly), written from its parts as they
  // are: building one object of them copied each.
  out += R"(},"presence":)";
  AppendEventList(out, res.presence);
  out += R"(,"account_data":)";
  AppendEventList(out, res.account_data);
  out += R"(,"to_device":)";
  AppendEventList(out, res.to_device);
  out += R"(,"device_lists":{"changed":)";
  AppendJson(out, res.device_lists_changed);
  out += R"(,"left":)";
  AppendJson(out, res.device_lists_left);
  out += R"(},"device_one_time_keys_count":)";
  AppendJson(out, res.one_time_keys_count);
  out += R"(,"device_unused_fallback_key_types":)";
  AppendJson(out, res.unused_fallback_key_types);
  out += '}';
  Response r;
  r.body = std::move(out);
  return r;
}

Response SyncAnswer(service::Homeserver& hs, std::unique_ptr<service::SyncPoll> poll);

// A /sync long-poll parked at its wait: the connection holds this (and the
// poll), not the handler's coroutines, until the poll is notified or times
// out. Its answer may be pending again (woken by what showed it nothing).
class PendingSync : public http::Pending {
 public:
  PendingSync(service::Homeserver& hs, std::unique_ptr<service::SyncPoll> poll)
      : hs_(hs), poll_(std::move(poll)) {}
  awaitable<void> Wait() override { return service::SyncService::Wait(*poll_); }
  void Cancel() override { poll_->sub->Cancel(); }
  awaitable<Response> Finish() override {
    co_await hs_.sync.Resume(*poll_);
    co_return SyncAnswer(hs_, std::move(poll_));
  }

 private:
  service::Homeserver& hs_;
  std::unique_ptr<service::SyncPoll> poll_;
};

// The poll's answer, or a pending one while it waits.
Response SyncAnswer(service::Homeserver& hs, std::unique_ptr<service::SyncPoll> poll) {
  if (poll->result) return SyncResponse(*poll->result, poll->who);
  Response r;
  r.pending = std::make_shared<PendingSync>(hs, std::move(poll));
  return r;
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
    co_return SyncAnswer(hs, co_await hs.sync.Begin(c.requester(), std::move(req)));
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
