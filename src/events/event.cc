#include "events/event.h"

#include <algorithm>
#include <span>

#include "common/canonical_json.h"
#include "common/crypto.h"
#include "common/error.h"
#include "common/json.h"
#include "events/fields.h"
#include "events/identifiers.h"

namespace vigie::events {

namespace bj = boost::json;

namespace {

using Keys = std::span<const std::string_view>;

bool Contains(Keys keys, std::string_view key) {
  return std::find(keys.begin(), keys.end(), key) != keys.end();
}

// Top-level keys the redaction algorithms keep (besides `content`).
constexpr std::string_view kV9TopLevel[] = {
    "event_id",         "type",      "room_id",     "sender",     "state_key",   "hashes",
    "signatures",       "depth",     "prev_events", "prev_state", "auth_events", "origin",
    "origin_server_ts", "membership"};
constexpr std::string_view kV11TopLevel[] = {
    "event_id",   "type",  "room_id",     "sender",      "state_key",       "hashes",
    "signatures", "depth", "prev_events", "auth_events", "origin_server_ts"};

// Content keys kept, by event type.
constexpr std::string_view kMemberKeys[] = {"membership", "join_authorised_via_users_server"};
constexpr std::string_view kV9CreateKeys[] = {"creator"};
constexpr std::string_view kJoinRulesKeys[] = {"join_rule", "allow"};
constexpr std::string_view kV9PowerLevelsKeys[] = {
    "ban", "events", "events_default", "kick", "redact", "state_default", "users", "users_default"};
constexpr std::string_view kV11PowerLevelsKeys[] = {"ban",           "events", "events_default",
                                                    "invite",        "kick",   "redact",
                                                    "state_default", "users",  "users_default"};
constexpr std::string_view kHistoryVisibilityKeys[] = {"history_visibility"};
constexpr std::string_view kV11RedactionKeys[] = {"redacts"};

bj::object RedactContent(const RoomVersion& version, std::string_view type,
                         const bj::object& content) {
  const bool v11 = version.redaction == RedactionRules::kV11;
  Keys keep;
  if (type == "m.room.member") {
    keep = kMemberKeys;
  } else if (type == "m.room.create") {
    if (v11) return content;
    keep = kV9CreateKeys;
  } else if (type == "m.room.join_rules") {
    keep = kJoinRulesKeys;
  } else if (type == "m.room.power_levels") {
    keep = v11 ? Keys(kV11PowerLevelsKeys) : Keys(kV9PowerLevelsKeys);
  } else if (type == "m.room.history_visibility") {
    keep = kHistoryVisibilityKeys;
  } else if (type == "m.room.redaction" && v11) {
    keep = kV11RedactionKeys;
  }
  bj::object out;
  for (const auto& kv : content) {
    if (Contains(keep, kv.key())) out.emplace(kv.key(), kv.value());
  }
  if (v11 && type == "m.room.member") {
    // v11 keeps only the `signed` member of `third_party_invite`.
    if (const bj::object* tpi = FindObject(content, "third_party_invite")) {
      if (const bj::value* sig = tpi->if_contains("signed")) {
        out.emplace("third_party_invite", bj::object{{"signed", *sig}});
      }
    }
  }
  return out;
}

[[noreturn]] void Malformed(std::string what) { throw BadJson("Invalid event: " + what); }

void CheckEventIdList(const bj::object& event, std::string_view key, std::size_t max) {
  const bj::array* list = FindArray(event, key);
  if (list == nullptr) Malformed("'" + std::string(key) + "' must be an array");
  if (list->size() > max) Malformed("too many " + std::string(key));
  for (const auto& id : *list) {
    if (!id.is_string() || !id.get_string().starts_with("$")) {
      Malformed("'" + std::string(key) + "' must hold event ids");
    }
  }
}

}  // namespace

std::string ContentHash(const bj::object& event) {
  return crypto::Sha256(CanonicalJsonWithout(event, {"unsigned", "signatures", "hashes"}));
}

void AddContentHash(bj::object& event) {
  event["hashes"] = bj::object{{"sha256", crypto::Base64(ContentHash(event))}};
}

bool HasValidContentHash(const bj::object& event) {
  const bj::object* hashes = FindObject(event, "hashes");
  const bj::string* sha256 = hashes != nullptr ? FindString(*hashes, "sha256") : nullptr;
  std::string expected;
  if (sha256 == nullptr || !crypto::Base64Decode(*sha256, &expected)) return false;
  try {
    return crypto::ConstantTimeEqual(expected, ContentHash(event));
  } catch (const Error&) {
    return false;
  }
}

bj::object ContentOf(std::string_view pdu_json) {
  boost::system::error_code ec;
  // Only the content is parsed, found in the text (hashes, signatures, auth
  // and prev events are most of a PDU).
  static constexpr std::string_view kKeys[] = {"content"};
  std::string_view found[1];
  if (json::ScanMembers(pdu_json, kKeys, found)) {
    if (!found[0].starts_with('{')) return {};
    bj::value c = json::ParseStored(found[0], ec);
    return !ec && c.is_object() ? std::move(c.get_object()) : bj::object();
  }
  bj::value v = json::ParseStored(pdu_json, ec);
  const bj::value* c = !ec && v.is_object() ? v.as_object().if_contains("content") : nullptr;
  return c && c->is_object() ? std::move(c->get_object()) : bj::object();
}

bj::object Redact(const RoomVersion& version, const bj::object& event) {
  Keys top = version.redaction == RedactionRules::kV11 ? Keys(kV11TopLevel) : Keys(kV9TopLevel);
  bj::object out;
  for (const auto& kv : event) {
    if (Contains(top, kv.key())) out.emplace(kv.key(), kv.value());
  }
  if (const bj::value* content = event.if_contains("content")) {
    const bj::string* type = FindString(event, "type");
    out.emplace("content", content->is_object() && type != nullptr
                               ? RedactContent(version, *type, content->get_object())
                               : bj::object());
  }
  return out;
}

std::string ReferenceHash(const RoomVersion& version, const bj::object& event) {
  return crypto::Sha256(CanonicalJsonWithout(Redact(version, event), {"signatures", "unsigned"}));
}

std::string EventIdFromHash(std::string_view reference_hash) {
  return "$" + crypto::Base64Url(reference_hash);
}

std::string ComputeEventId(const RoomVersion& version, const bj::object& event) {
  return EventIdFromHash(ReferenceHash(version, event));
}

std::string RoomIdFromCreateEvent(const RoomVersion& version, const bj::object& create) {
  if (!version.room_id_from_create_event) {
    throw Internal("Room version " + std::string(version.id) + " does not derive room ids");
  }
  return "!" + crypto::Base64Url(ReferenceHash(version, create));
}

std::string SignEvent(const RoomVersion& version, bj::object& event, std::string_view server_name,
                      const SigningKey& key) {
  // As the specification's hash_and_sign_event: sign the redacted copy (which
  // keeps the existing signatures) and copy its signatures back.
  bj::object redacted = Redact(version, event);
  std::string bytes = SigningBytes(redacted);
  SignJsonBytes(redacted, server_name, key, bytes);
  event["signatures"] = std::move(redacted["signatures"]);
  return bytes;
}

std::string HashAndSignEvent(const RoomVersion& version, bj::object& event,
                             std::string_view server_name, const SigningKey& key) {
  AddContentHash(event);
  // What was signed is what the reference hash covers: encoded once.
  return crypto::Sha256(SignEvent(version, event, server_name, key));
}

bool VerifyEventSignature(const RoomVersion& version, const bj::object& event,
                          std::string_view server_name, const PublicKeyLookup& keys) {
  return IsSignedBy(Redact(version, event), server_name, keys);
}

std::string CheckEventSize(const bj::object& event) {
  for (std::string_view key : {"sender", "room_id", "state_key", "type", "event_id"}) {
    const bj::string* s = FindString(event, key);
    if (s != nullptr && s->size() > kMaxIdentifierBytes) {
      throw Error(ErrorCode::kTooLarge, "'" + std::string(key) + "' is longer than 255 bytes");
    }
  }
  std::string encoded = CanonicalJson(event);
  if (encoded.size() > kMaxPduBytes) {
    throw Error(ErrorCode::kTooLarge, "Event is larger than 65536 bytes");
  }
  return encoded;
}

std::string ValidateEventFormat(const RoomVersion& version, const bj::object& event) {
  const bj::string* type = FindString(event, "type");
  if (type == nullptr || type->empty()) Malformed("'type' must be a non-empty string");
  const bj::string* sender = FindString(event, "sender");
  if (sender == nullptr || !IsValidUserId(*sender)) Malformed("'sender' must be a user id");
  for (std::string_view key : {"origin_server_ts", "depth"}) {
    std::optional<std::int64_t> n = FindInt(event, key);
    if (!n || *n < 0) Malformed("'" + std::string(key) + "' must be a non-negative integer");
  }
  const bj::object* content = FindObject(event, "content");
  if (content == nullptr) Malformed("'content' must be an object");
  const bj::object* hashes = FindObject(event, "hashes");
  if (hashes == nullptr || FindString(*hashes, "sha256") == nullptr) {
    Malformed("'hashes' must hold a sha256 string");
  }
  const bj::object* sigs = FindObject(event, "signatures");
  if (sigs == nullptr) Malformed("'signatures' must be an object");
  for (const auto& server : *sigs) {
    if (!server.value().is_object()) Malformed("'signatures' entries must be objects");
    for (const auto& sig : server.value().get_object()) {
      if (!sig.value().is_string()) Malformed("signatures must be strings");
    }
  }
  CheckEventIdList(event, "prev_events", kMaxPrevEvents);
  CheckEventIdList(event, "auth_events", kMaxAuthEvents);
  if (const bj::value* unsigned_data = event.if_contains("unsigned")) {
    if (!unsigned_data->is_object()) Malformed("'unsigned' must be an object");
  }
  const bj::value* state_key = event.if_contains("state_key");
  if (state_key != nullptr && !state_key->is_string()) Malformed("'state_key' must be a string");
  if (*type == "m.room.member" &&
      (state_key == nullptr || !IsValidUserId(state_key->get_string()))) {
    Malformed("m.room.member 'state_key' must be a user id");
  }
  const bool room_id_absent = version.room_id_from_create_event && *type == "m.room.create";
  const bj::value* room_id = event.if_contains("room_id");
  if (room_id_absent) {
    if (room_id != nullptr) Malformed("m.room.create must not have a 'room_id'");
  } else if (room_id == nullptr || !room_id->is_string() ||
             !room_id->get_string().starts_with("!")) {
    Malformed("'room_id' must be a room id");
  }
  if (*type == "m.room.redaction") {
    const bj::string* redacts =
        FindString(version.redacts_in_content ? *content : event, "redacts");
    if (redacts == nullptr || !redacts->starts_with("$")) {
      Malformed("m.room.redaction must name the event it redacts in 'redacts'");
    }
  }
  return CheckEventSize(event);
}

}  // namespace vigie::events
