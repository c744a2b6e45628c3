// PDU primitives for the supported room versions: content hash, redaction,
// reference hash and event id, signing, size limits and format validation
// (server-server API "Signing Events", "Checks performed on receipt of a
// PDU"; client-server API "Size limits"; rooms/v10..v12).
//
// All functions take events in the federation format (the PDU as signed).
// Room versions 10-12 have no `event_id` member in the PDU: an event object
// that carries one (e.g. as served to clients) hashes differently in v10,
// whose redaction algorithm keeps `event_id`.
#pragma once

#include <boost/json.hpp>
#include <cstddef>
#include <string>
#include <string_view>

#include "events/room_version.h"
#include "events/signing.h"

namespace vigie::events {

// Largest PDU, as canonical JSON including signatures.
inline constexpr std::size_t kMaxPduBytes = 65536;
// Most prev_events / auth_events a PDU may list.
inline constexpr std::size_t kMaxPrevEvents = 20;
inline constexpr std::size_t kMaxAuthEvents = 10;

// The `content` object of a stored PDU given as JSON text; empty when the
// text does not parse or has no content object. Never throws.
boost::json::object ContentOf(std::string_view pdu_json);

// The SHA-256 (32 raw bytes) of the canonical JSON of `event` without
// `unsigned`, `signatures` and `hashes`. Throws Error(kBadJson) if the event
// is not canonical-JSON encodable.
std::string ContentHash(const boost::json::object& event);

// Sets `hashes` to {"sha256": unpadded base64 of ContentHash(event)}.
// Throws like ContentHash.
void AddContentHash(boost::json::object& event);

// True if `hashes.sha256` decodes to ContentHash(event). False on any
// malformed or non-canonical input; never throws.
bool HasValidContentHash(const boost::json::object& event);

// The event as the version's redaction algorithm leaves it: top-level keys
// outside the protected list dropped, `content` reduced to the keys the event
// type keeps (a non-object `content` becomes {}). `unsigned` is dropped too.
// Never throws on any object.
boost::json::object Redact(const RoomVersion& version, const boost::json::object& event);

// The reference hash (32 raw bytes): SHA-256 of the canonical JSON of the
// redacted event without `signatures` and `unsigned`. Throws Error(kBadJson)
// if the event is not canonical-JSON encodable.
std::string ReferenceHash(const RoomVersion& version, const boost::json::object& event);

// "$" + URL-safe unpadded base64 of the reference hash. Throws like
// ReferenceHash.
std::string ComputeEventId(const RoomVersion& version, const boost::json::object& event);
// The event id of a reference hash (as ComputeEventId).
std::string EventIdFromHash(std::string_view reference_hash);

// The room id a room whose id derives from its m.room.create event
// (version.room_id_from_create_event) has: "!" + URL-safe unpadded base64 of
// the create event's reference hash. Throws Error(kInternal) for other
// versions and like ReferenceHash.
std::string RoomIdFromCreateEvent(const RoomVersion& version, const boost::json::object& create);

// Adds this server's signature over the redacted event to
// `signatures[server_name][key.key_id()]`, keeping other signatures. Does not
// touch `hashes`. Returns what was signed (SigningBytes of the redacted
// event, which is also what ReferenceHash hashes). Throws Error(kBadJson)
// on non-canonical input.
std::string SignEvent(const RoomVersion& version, boost::json::object& event,
                      std::string_view server_name, const SigningKey& key);

// AddContentHash then SignEvent: what the origin server does to an outgoing
// event. Returns the signed event's ReferenceHash.
std::string HashAndSignEvent(const RoomVersion& version, boost::json::object& event,
                             std::string_view server_name, const SigningKey& key);

// True if the redacted event is signed by `server_name` under IsSignedBy's
// rules. Never throws.
bool VerifyEventSignature(const RoomVersion& version, const boost::json::object& event,
                          std::string_view server_name, const PublicKeyLookup& keys);

// Size limits of the client-server API: the canonical JSON of the whole
// event at most kMaxPduBytes; `sender`, `room_id`, `state_key`, `type` and
// `event_id` at most 255 bytes each. Throws Error(kTooLarge), or
// Error(kBadJson) if the event is not canonical-JSON encodable. Returns the
// event's canonical JSON.
std::string CheckEventSize(const boost::json::object& event);

// The event format of the room version (check 1 on receipt of a PDU), plus
// the size limits. Requires: `type` (non-empty string), `sender` (valid user
// id), `origin_server_ts` and `depth` (non-negative canonical integers),
// `content` (object), `hashes` (object with string `sha256`), `signatures`
// (object of objects of strings), `prev_events` (<= 20) and `auth_events`
// (<= 10) as arrays of "$"-prefixed strings, `state_key` a string if
// present (a valid user id for m.room.member), `room_id` a "!"-prefixed
// string - except that a v12 m.room.create must have no `room_id`, and
// `unsigned` an object if present. Throws Error(kBadJson) naming the first
// problem, or Error(kTooLarge). Returns the event's canonical JSON (which
// the size limit is checked on).
std::string ValidateEventFormat(const RoomVersion& version, const boost::json::object& event);

}  // namespace vigie::events
