#include "events/room_version.h"

#include <array>
#include <string>

#include "common/error.h"

namespace vigie::events {

namespace {

constexpr std::array<RoomVersion, 3> kVersions = {{
    {.id = "10",
     .redaction = RedactionRules::kV9,
     .room_id_from_create_event = false,
     .create_in_auth_events = true,
     .creator_in_content = true,
     .privileged_creators = false,
     .redacts_in_content = false,
     .knock = true,
     .restricted = true,
     .knock_restricted = true},
    {.id = "11",
     .redaction = RedactionRules::kV11,
     .room_id_from_create_event = false,
     .create_in_auth_events = true,
     .creator_in_content = false,
     .privileged_creators = false,
     .redacts_in_content = true,
     .knock = true,
     .restricted = true,
     .knock_restricted = true},
    {.id = "12",
     .redaction = RedactionRules::kV11,
     .room_id_from_create_event = true,
     .create_in_auth_events = false,
     .creator_in_content = false,
     .privileged_creators = true,
     .redacts_in_content = true,
     .knock = true,
     .restricted = true,
     .knock_restricted = true},
}};

}  // namespace

std::span<const RoomVersion> SupportedRoomVersions() { return kVersions; }

const RoomVersion* FindRoomVersion(std::string_view id) {
  for (const auto& v : kVersions) {
    if (v.id == id) return &v;
  }
  return nullptr;
}

const RoomVersion& RoomVersionOrThrow(std::string_view id) {
  const RoomVersion* v = FindRoomVersion(id);
  if (v == nullptr) {
    throw Error(ErrorCode::kUnsupportedRoomVersion,
                "Room version '" + std::string(id) + "' is not supported");
  }
  return *v;
}

}  // namespace vigie::events
