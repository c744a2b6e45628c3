#include "service/receipt_service.h"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "common/error.h"
#include "common/json.h"
#include "common/time.h"
#include "service/push_rule_service.h"
#include "storage/room_store.h"
#include "storage/user_data_store.h"

namespace vigie::service {

using storage::RoomStore;
using storage::UserDataStore;

namespace {

struct Marker {
  std::string type;
  std::string event_id;
  std::string thread_id;  // "" unthreaded
};

// Applies markers for a joined user, in the caller's stream write.
void Apply(sql::Tx& tx, Stream::NextPos& next, Stream::Effects& fx, const std::string& user_id,
           const std::string& room_id, const std::vector<Marker>& markers) {
  auto room = RoomStore::GetRoom(tx, room_id);
  if (!room) throw Forbidden("You are not in this room");
  auto m = RoomStore::GetMembership(tx, room->room_nid, user_id);
  if (!m || m->membership != "join") throw Forbidden("You are not in this room");
  for (const auto& mk : markers) {
    auto ev = RoomStore::GetEvent(tx, mk.event_id);
    if (!ev || ev->room_nid != room->room_nid) throw NotFound("Unknown event " + mk.event_id);

    if (mk.type == "m.fully_read") {
      if (auto prior = UserDataStore::GetAccountData(tx, user_id, room_id, "m.fully_read")) {
        auto content = json::ParseStored(prior->content);
        const auto* id =
            content.is_object() ? content.get_object().if_contains("event_id") : nullptr;
        if (id && id->is_string()) {
          auto old = RoomStore::GetEvent(tx, id->get_string());
          if (old && old->room_nid == room->room_nid && old->stream_pos >= ev->stream_pos) continue;
        }
      }
      boost::json::object content{{"event_id", mk.event_id}};
      UserDataStore::SetAccountData(
          tx, user_id, {room_id, "m.fully_read", boost::json::serialize(content), next()});
      fx.Changed(Change::kAccountData, user_id);
      fx.wake.insert(user_id);
      continue;
    }

    if (!mk.thread_id.empty()) {
      const std::string thread =
          PushRuleService::ThreadOf(tx, json::ParseStored(ev->json).as_object());
      const bool in_thread =
          thread == mk.thread_id ||
          (mk.thread_id != UserDataStore::kMainThread && mk.event_id == mk.thread_id);
      if (!in_thread) throw InvalidParam("The event is not in thread " + mk.thread_id);
    }
    auto prior = UserDataStore::GetReceipt(tx, room->room_nid, user_id, mk.type, mk.thread_id);
    if (prior && prior->event_stream_pos >= ev->stream_pos) continue;  // only forward
    UserDataStore::SetReceipt(
        tx, room->room_nid,
        {user_id, mk.type, mk.thread_id, mk.event_id, ev->stream_pos, NowMs(), next()});
    fx.Changed(Change::kReceipt);
    UserDataStore::ClearPushActions(tx, room->room_nid, user_id, ev->stream_pos, mk.thread_id);
    fx.Changed(Change::kUnread, user_id);
    fx.wake.insert(user_id);
    if (mk.type == "m.read") {
      for (const auto& member : RoomStore::RoomMembers(tx, room->room_nid)) {
        if (member.membership == "join") fx.wake.insert(member.user_id);
      }
    }
  }
}

void CheckEventId(const std::string& id) {
  if (id.size() < 2 || id.size() > 255 || id.front() != '$') throw InvalidParam("Invalid event id");
}

}  // namespace

boost::asio::awaitable<void> ReceiptService::Send(const Requester& who, const std::string& room_id,
                                                  const std::string& type,
                                                  const std::string& event_id,
                                                  const std::optional<std::string>& thread_id) {
  if (type != "m.read" && type != "m.read.private" && type != "m.fully_read") {
    throw InvalidParam("Receipt type must be m.read, m.read.private or m.fully_read");
  }
  CheckEventId(event_id);
  if (thread_id) {
    if (type == "m.fully_read") throw InvalidParam("m.fully_read takes no thread_id");
    if (thread_id->empty() || thread_id->size() > 255 ||
        (*thread_id != UserDataStore::kMainThread && thread_id->front() != '$')) {
      throw InvalidParam("thread_id must be \"main\" or a thread root's event id");
    }
  }
  std::vector<Marker> markers{{type, event_id, thread_id.value_or("")}};
  co_await stream_.Submit([&](sql::Tx& tx, Stream::NextPos& next, Stream::Effects& fx) {
    Apply(tx, next, fx, who.user_id, room_id, markers);
  });
}

boost::asio::awaitable<void> ReceiptService::SetReadMarkers(const Requester& who,
                                                            const std::string& room_id,
                                                            const ReadMarkers& markers) {
  std::vector<Marker> list;
  if (markers.fully_read) list.push_back({"m.fully_read", *markers.fully_read, ""});
  if (markers.read) list.push_back({"m.read", *markers.read, ""});
  if (markers.read_private) list.push_back({"m.read.private", *markers.read_private, ""});
  for (const auto& m : list) CheckEventId(m.event_id);
  if (list.empty()) co_return;
  co_await stream_.Submit([&](sql::Tx& tx, Stream::NextPos& next, Stream::Effects& fx) {
    Apply(tx, next, fx, who.user_id, room_id, list);
  });
}

}  // namespace vigie::service
