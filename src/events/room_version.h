// Room versions vigie supports, as descriptors of the behaviours that differ
// between them. Code that depends on the room version reads these flags, never
// the version string.
#pragma once

#include <span>
#include <string_view>

namespace vigie::events {

// Which redaction algorithm applies (rooms/v9 "Redactions" or rooms/v11).
enum class RedactionRules {
  kV9,   // used by v9 and v10
  kV11,  // used by v11 and v12
};

struct RoomVersion {
  std::string_view id;
  RedactionRules redaction;
  // v12: the room id is "!" + the create event's reference hash, and the
  // m.room.create event has no `room_id`.
  bool room_id_from_create_event;
  // v10, v11: auth_events include the m.room.create event. v12: they must not.
  bool create_in_auth_events;
  // v10: the creator is `content.creator` of m.room.create, which is
  // required. v11+: the creator is the create event's `sender`.
  bool creator_in_content;
  // v12: creators (create sender + `content.additional_creators`) have an
  // infinite power level and may not appear in the power levels' `users`.
  bool privileged_creators;
  // v11+: `redacts` of m.room.redaction lives in `content`, not top level.
  bool redacts_in_content;
  bool knock;             // `knock` join rule and membership
  bool restricted;        // `restricted` join rule
  bool knock_restricted;  // `knock_restricted` join rule
  // Every supported version (v10+) requires power level values to be JSON
  // integers, so there is no flag for the older string-tolerant behaviour.
};

inline constexpr std::string_view kDefaultRoomVersion = "12";

// The supported versions, oldest first.
std::span<const RoomVersion> SupportedRoomVersions();

// Returns the descriptor for `id`, or nullptr if vigie does not support it.
const RoomVersion* FindRoomVersion(std::string_view id);

// Like FindRoomVersion but throws Error(kUnsupportedRoomVersion).
const RoomVersion& RoomVersionOrThrow(std::string_view id);

}  // namespace vigie::events
