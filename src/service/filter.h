// Event filters (client-server API "Filtering"): parsed once, validated,
// then matched against events during /sync and /messages.
#pragma once

#include <boost/json/object.hpp>
#include <optional>
#include <string>
#include <vector>

namespace vigie::service {

struct EventFilter {
  std::optional<std::int64_t> limit;
  std::optional<std::vector<std::string>> types;  // '*' wildcards allowed
  std::optional<std::vector<std::string>> not_types;
  std::optional<std::vector<std::string>> senders;
  std::optional<std::vector<std::string>> not_senders;

  bool Matches(std::string_view type, std::string_view sender) const;
};

struct RoomEventFilter : EventFilter {
  std::optional<std::vector<std::string>> rooms;
  std::optional<std::vector<std::string>> not_rooms;
  std::optional<bool> contains_url;
  bool lazy_load_members = false;
  bool include_redundant_members = false;

  bool MatchesRoom(std::string_view room_id) const;
  // Matches an event: type, sender, and contains_url against its content.
  bool MatchesEvent(std::string_view type, std::string_view sender,
                    const boost::json::object& content) const;
  // The same for a whole event as JSON text, parsed only when contains_url
  // needs its content (a timeline of a sync or /messages is not parsed).
  bool MatchesEventJson(std::string_view type, std::string_view sender,
                        std::string_view event_json) const;
};

struct RoomFilter {
  std::optional<std::vector<std::string>> rooms;
  std::optional<std::vector<std::string>> not_rooms;
  bool include_leave = false;
  RoomEventFilter timeline;
  RoomEventFilter state;
  RoomEventFilter ephemeral;
  RoomEventFilter account_data;

  bool MatchesRoom(std::string_view room_id) const;
};

struct Filter {
  RoomFilter room;
  EventFilter presence;
  EventFilter account_data;
  std::optional<std::vector<std::string>> event_fields;
  std::string event_format = "client";

  // Validates and parses a filter definition. Throws M_BAD_JSON for wrong
  // types and M_INVALID_PARAM for out-of-range values.
  static Filter Parse(const boost::json::object& o);
  static RoomEventFilter ParseRoomEventFilter(const boost::json::object& o);
};

// Glob match with '*' as the only wildcard.
bool GlobMatch(std::string_view pattern, std::string_view s);

}  // namespace vigie::service
