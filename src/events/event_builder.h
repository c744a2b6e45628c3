// Construction of new, signed PDUs by this server.
#pragma once

#include <boost/json.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "events/room_version.h"
#include "events/signing.h"

namespace vigie::events {

// The fields of a new event chosen by the caller.
struct EventDraft {
  // Empty for an m.room.create in versions with room_id_from_create_event,
  // whose room id is derived from the event itself.
  std::string room_id;
  std::string sender;
  std::string type;
  std::optional<std::string> state_key;  // set for state events
  boost::json::object content;
  std::vector<std::string> prev_events;
  std::vector<std::string> auth_events;
  std::int64_t depth = 0;
  std::int64_t origin_server_ts = 0;
  // m.room.redaction only: the redacted event, placed at top level (v10) or
  // in `content` (v11+).
  std::optional<std::string> redacts;
};

struct BuiltEvent {
  std::string event_id;
  // The room's id; for a v12 m.room.create, the id derived from it.
  std::string room_id;
  // The complete PDU (hashes and signature included; no event_id, which is
  // not part of the PDU in these room versions).
  boost::json::object pdu;
  // The PDU's canonical JSON, as stored.
  std::string json;
};

// Builds, hashes and signs the event described by `draft` as `server_name`
// with `key`. The sender must belong to `server_name`.
// Throws Error(kInvalidParam) for a draft that breaks the event format
// (ValidateEventFormat) or names a sender of another server,
// Error(kBadJson) for content that is not canonical JSON, and
// Error(kTooLarge) for an event over the size limits.
BuiltEvent BuildEvent(const RoomVersion& version, EventDraft draft, std::string_view server_name,
                      const SigningKey& key);

}  // namespace vigie::events
