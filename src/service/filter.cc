#include "service/filter.h"

#include <algorithm>

#include "common/error.h"
#include "common/json.h"
#include "events/event.h"

namespace vigie::service {
namespace {

constexpr std::size_t kMaxListLength = 1000;

std::optional<std::vector<std::string>> StringList(const boost::json::object& o,
                                                   std::string_view key) {
  return json::GetStringArray(o, key, kMaxListLength);
}

bool AnyGlob(const std::vector<std::string>& patterns, std::string_view s) {
  return std::any_of(patterns.begin(), patterns.end(),
                     [&](const std::string& p) { return GlobMatch(p, s); });
}

bool Contains(const std::vector<std::string>& v, std::string_view s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

void ParseEventFilter(const boost::json::object& o, EventFilter& f) {
  f.limit = json::GetInt(o, "limit");
  if (f.limit && (*f.limit < 0 || *f.limit > 100000)) {
    throw InvalidParam("filter limit out of range");
  }
  f.types = StringList(o, "types");
  f.not_types = StringList(o, "not_types");
  f.senders = StringList(o, "senders");
  f.not_senders = StringList(o, "not_senders");
}

}  // namespace

bool GlobMatch(std::string_view p, std::string_view s) {
  // Iterative glob with backtracking to the last '*': linear in practice.
  std::size_t pi = 0, si = 0, star = std::string_view::npos, mark = 0;
  while (si < s.size()) {
    if (pi < p.size() && p[pi] == '*') {
      star = pi++;
      mark = si;
    } else if (pi < p.size() && p[pi] == s[si]) {
      ++pi;
      ++si;
    } else if (star != std::string_view::npos) {
      pi = star + 1;
      si = ++mark;
    } else {
      return false;
    }
  }
  while (pi < p.size() && p[pi] == '*') ++pi;
  return pi == p.size();
}

bool EventFilter::Matches(std::string_view type, std::string_view sender) const {
  if (not_types && AnyGlob(*not_types, type)) return false;
  if (types && !AnyGlob(*types, type)) return false;
  if (not_senders && Contains(*not_senders, sender)) return false;
  if (senders && !Contains(*senders, sender)) return false;
  return true;
}

bool RoomEventFilter::MatchesRoom(std::string_view room_id) const {
  if (not_rooms && Contains(*not_rooms, room_id)) return false;
  if (rooms && !Contains(*rooms, room_id)) return false;
  return true;
}

bool RoomEventFilter::MatchesEvent(std::string_view type, std::string_view sender,
                                   const boost::json::object& content) const {
  if (!Matches(type, sender)) return false;
  if (contains_url) {
    const auto* url = content.if_contains("url");
    bool has = url && url->is_string();
    if (has != *contains_url) return false;
  }
  return true;
}

bool RoomEventFilter::MatchesEventJson(std::string_view type, std::string_view sender,
                                       std::string_view event_json) const {
  if (!contains_url) return Matches(type, sender);
  return MatchesEvent(type, sender, events::ContentOf(event_json));
}

bool RoomFilter::MatchesRoom(std::string_view room_id) const {
  if (not_rooms && Contains(*not_rooms, room_id)) return false;
  if (rooms && !Contains(*rooms, room_id)) return false;
  return true;
}

RoomEventFilter Filter::ParseRoomEventFilter(const boost::json::object& o) {
  RoomEventFilter f;
  ParseEventFilter(o, f);
  f.rooms = StringList(o, "rooms");
  f.not_rooms = StringList(o, "not_rooms");
  f.contains_url = json::GetBool(o, "contains_url");
  f.lazy_load_members = json::GetBool(o, "lazy_load_members").value_or(false);
  f.include_redundant_members = json::GetBool(o, "include_redundant_members").value_or(false);
  return f;
}

Filter Filter::Parse(const boost::json::object& o) {
  Filter f;
  if (const auto* room = json::GetObject(o, "room")) {
    f.room.rooms = StringList(*room, "rooms");
    f.room.not_rooms = StringList(*room, "not_rooms");
    f.room.include_leave = json::GetBool(*room, "include_leave").value_or(false);
    if (const auto* t = json::GetObject(*room, "timeline"))
      f.room.timeline = ParseRoomEventFilter(*t);
    if (const auto* s = json::GetObject(*room, "state")) f.room.state = ParseRoomEventFilter(*s);
    if (const auto* e = json::GetObject(*room, "ephemeral")) {
      f.room.ephemeral = ParseRoomEventFilter(*e);
    }
    if (const auto* a = json::GetObject(*room, "account_data")) {
      f.room.account_data = ParseRoomEventFilter(*a);
    }
  }
  if (const auto* p = json::GetObject(o, "presence")) ParseEventFilter(*p, f.presence);
  if (const auto* a = json::GetObject(o, "account_data")) ParseEventFilter(*a, f.account_data);
  f.event_fields = StringList(o, "event_fields");
  f.event_format = json::GetString(o, "event_format").value_or("client");
  if (f.event_format != "client" && f.event_format != "federation") {
    throw InvalidParam("event_format must be 'client' or 'federation'");
  }
  return f;
}

}  // namespace vigie::service
