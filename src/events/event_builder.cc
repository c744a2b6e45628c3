#include "events/event_builder.h"

#include "common/error.h"
#include "events/event.h"
#include "events/identifiers.h"

namespace vigie::events {

namespace bj = boost::json;

namespace {

bj::array ToArray(std::vector<std::string>&& ids) {
  bj::array out;
  out.reserve(ids.size());
  for (auto& id : ids) out.emplace_back(std::move(id));
  return out;
}

}  // namespace

BuiltEvent BuildEvent(const RoomVersion& version, EventDraft draft, std::string_view server_name,
                      const SigningKey& key) {
  if (DomainOf(draft.sender) != server_name) {
    throw InvalidParam("Sender " + draft.sender + " does not belong to " +
                       std::string(server_name));
  }
  const bool derived_room_id = version.room_id_from_create_event && draft.type == "m.room.create";
  if (derived_room_id && !draft.room_id.empty()) {
    throw InvalidParam("m.room.create in room version " + std::string(version.id) +
                       " takes no room_id");
  }
  if (draft.type == "m.room.redaction" && draft.redacts) {
    if (version.redacts_in_content) {
      draft.content["redacts"] = *draft.redacts;
    }
  } else if (draft.redacts) {
    throw InvalidParam("'redacts' is only for m.room.redaction");
  }

  bj::object pdu;
  if (!derived_room_id) pdu["room_id"] = draft.room_id;
  pdu["sender"] = draft.sender;
  pdu["type"] = draft.type;
  if (draft.state_key) pdu["state_key"] = *draft.state_key;
  pdu["content"] = std::move(draft.content);
  pdu["prev_events"] = ToArray(std::move(draft.prev_events));
  pdu["auth_events"] = ToArray(std::move(draft.auth_events));
  pdu["depth"] = draft.depth;
  pdu["origin_server_ts"] = draft.origin_server_ts;
  if (draft.redacts && !version.redacts_in_content) pdu["redacts"] = *draft.redacts;

  const std::string reference_hash = HashAndSignEvent(version, pdu, server_name, key);
  BuiltEvent built;
  try {
    built.json = ValidateEventFormat(version, pdu);
  } catch (const Error& e) {
    if (e.code() == ErrorCode::kBadJson) throw InvalidParam(e.message());
    throw;
  }

  built.event_id = EventIdFromHash(reference_hash);
  built.room_id = derived_room_id ? RoomIdFromCreateEvent(version, pdu) : draft.room_id;
  built.pdu = std::move(pdu);
  return built;
}

}  // namespace vigie::events
