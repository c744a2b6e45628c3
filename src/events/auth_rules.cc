#include "events/auth_rules.h"

#include <algorithm>
#include <optional>
#include <vector>

#include "common/crypto.h"
#include "common/error.h"
#include "events/auth_events.h"
#include "events/event.h"
#include "events/fields.h"
#include "events/identifiers.h"
#include "events/power_levels.h"

namespace vigie::events {

namespace bj = boost::json;

// ---------------------------------------------------------------------------
// AuthState

AuthState::AuthState(std::span<const bj::object> events) {
  for (const auto& e : events) Add(e);
}

void AuthState::Add(bj::object event) {
  const bj::string* type = FindString(event, "type");
  const bj::string* state_key = FindString(event, "state_key");
  if (type == nullptr || state_key == nullptr) return;
  std::string t(*type);
  std::string sk(*state_key);
  events_[std::move(t)].insert_or_assign(std::move(sk), std::move(event));
}

void AuthState::Remove(std::string_view type, std::string_view state_key) {
  auto it = events_.find(type);
  if (it == events_.end()) return;
  auto inner = it->second.find(state_key);
  if (inner != it->second.end()) it->second.erase(inner);
}

const bj::object* AuthState::Get(std::string_view type, std::string_view state_key) const {
  auto it = events_.find(type);
  if (it == events_.end()) return nullptr;
  auto inner = it->second.find(state_key);
  return inner == it->second.end() ? nullptr : &inner->second;
}

namespace {

AuthResult Deny(std::string reason) { return AuthResult::Deny(std::move(reason)); }
AuthResult Allow(std::string reason) { return AuthResult::Allow(std::move(reason)); }

// The membership of `user_id` in `state`: "join", "invite", "leave", "ban",
// "knock", or "" if there is no (well-formed) member event.
std::string_view MembershipOf(const StateLookup& state, std::string_view user_id) {
  const bj::object* event = state.Member(user_id);
  const bj::object* content = event != nullptr ? FindObject(*event, "content") : nullptr;
  const bj::string* membership = content != nullptr ? FindString(*content, "membership") : nullptr;
  return membership != nullptr ? std::string_view(*membership) : std::string_view();
}

// The room's join rule: "invite" without an m.room.join_rules event or
// `join_rule` key, "" if `join_rule` is not a string.
std::string_view JoinRuleOf(const StateLookup& state) {
  const bj::object* event = state.JoinRules();
  const bj::object* content = event != nullptr ? FindObject(*event, "content") : nullptr;
  if (content == nullptr || !content->contains("join_rule")) return "invite";
  const bj::string* rule = FindString(*content, "join_rule");
  return rule != nullptr ? std::string_view(*rule) : std::string_view();
}

// The user whose first join directly after m.room.create is allowed (rule
// 4.3.1 / 5.3.1): `content.creator` in v10, the create `sender` after.
std::optional<std::string_view> FirstJoiner(const RoomVersion& version, const bj::object& create) {
  const bj::string* who = nullptr;
  if (version.creator_in_content) {
    const bj::object* content = FindObject(create, "content");
    who = content != nullptr ? FindString(*content, "creator") : nullptr;
  } else {
    who = FindString(create, "sender");
  }
  if (who == nullptr) return std::nullopt;
  return std::string_view(*who);
}

bool OnlyPrevEventIsCreate(const RoomVersion& version, const bj::object& event,
                           std::string_view room_id, const bj::object& create) {
  const bj::array* prev = FindArray(event, "prev_events");
  if (prev == nullptr || prev->size() != 1 || !(*prev)[0].is_string()) return false;
  std::string create_id = version.room_id_from_create_event ? "$" + std::string(room_id.substr(1))
                                                            : ComputeEventId(version, create);
  return (*prev)[0].get_string() == create_id;
}

// Rule 4.4.1.7: any signature in `signed_obj` by any of the public keys of
// the m.room.third_party_invite event.
bool ThirdPartyInviteSigned(const bj::object& signed_obj, const bj::object& invite_event) {
  const bj::object* content = FindObject(invite_event, "content");
  if (content == nullptr) return false;
  std::vector<std::string> keys;
  auto add_key = [&keys](const bj::string* b64) {
    std::string raw;
    if (b64 != nullptr && crypto::Base64Decode(*b64, &raw) &&
        raw.size() == SigningKey::kPublicKeyBytes) {
      keys.push_back(std::move(raw));
    }
  };
  add_key(FindString(*content, "public_key"));
  if (const bj::array* list = FindArray(*content, "public_keys")) {
    for (const auto& entry : *list) {
      if (entry.is_object()) add_key(FindString(entry.get_object(), "public_key"));
    }
  }
  const bj::object* signatures = FindObject(signed_obj, "signatures");
  if (signatures == nullptr) return false;
  for (const auto& entity : *signatures) {
    if (!entity.value().is_object()) continue;
    for (const auto& sig : entity.value().get_object()) {
      if (!sig.key().starts_with("ed25519:")) continue;
      for (const auto& key : keys) {
        if (VerifyJsonSignature(signed_obj, entity.key(), sig.key(), key)) return true;
      }
    }
  }
  return false;
}

AuthResult AuthorizeCreate(const RoomVersion& version, const bj::object& event,
                           std::string_view sender, const bj::object& content) {
  const bj::value* prev = event.if_contains("prev_events");
  if (prev != nullptr && !(prev->is_array() && prev->get_array().empty())) {
    return Deny("m.room.create must not have prev_events");
  }
  if (version.room_id_from_create_event) {
    if (event.contains("room_id")) return Deny("m.room.create must not have a room_id");
  } else {
    const bj::string* room_id = FindString(event, "room_id");
    if (room_id == nullptr || DomainOf(*room_id).empty() ||
        DomainOf(*room_id) != DomainOf(sender)) {
      return Deny("m.room.create room_id domain does not match the sender's");
    }
  }
  if (const bj::value* rv = content.if_contains("room_version")) {
    if (!rv->is_string() || FindRoomVersion(rv->get_string()) == nullptr) {
      return Deny("m.room.create has an unknown room_version");
    }
  }
  if (version.creator_in_content && !content.contains("creator")) {
    return Deny("m.room.create has no creator");
  }
  if (version.privileged_creators) {
    if (const bj::value* extra = content.if_contains("additional_creators")) {
      if (!extra->is_array()) return Deny("additional_creators must be an array");
      for (const auto& user : extra->get_array()) {
        if (!user.is_string() || !IsValidUserId(user.get_string())) {
          return Deny("additional_creators must hold user ids");
        }
      }
    }
  }
  return Allow("valid m.room.create");
}

AuthResult AuthorizeMember(const RoomVersion& version, const bj::object& event,
                           std::string_view sender, std::optional<std::string_view> state_key,
                           const bj::object& content, std::string_view room_id,
                           const StateLookup& state, const bj::object& create,
                           const PowerLevels& pl, const PublicKeyLookup& keys) {
  const bj::string* membership_str = FindString(content, "membership");
  if (!state_key || membership_str == nullptr) {
    return Deny("m.room.member needs a state_key and a string content.membership");
  }
  const std::string_view membership = *membership_str;
  const std::string_view target = *state_key;

  if (const bj::value* via = content.if_contains("join_authorised_via_users_server")) {
    if (!via->is_string() || !IsValidUserId(via->get_string())) {
      return Deny("join_authorised_via_users_server is not a user id");
    }
    if (!VerifyEventSignature(version, event, DomainOf(via->get_string()), keys)) {
      return Deny("event is not signed by the server of join_authorised_via_users_server");
    }
  }

  const std::string_view sender_membership = MembershipOf(state, sender);
  const std::string_view target_membership = MembershipOf(state, target);

  if (membership == "join") {
    if (std::optional<std::string_view> first = FirstJoiner(version, create);
        first && *first == target && OnlyPrevEventIsCreate(version, event, room_id, create)) {
      return Allow("creator's first join");
    }
    if (sender != target) return Deny("cannot join on behalf of another user");
    if (sender_membership == "ban") return Deny("sender is banned");
    const std::string_view rule = JoinRuleOf(state);
    if (rule == "invite" || (version.knock && rule == "knock")) {
      if (target_membership == "invite" || target_membership == "join") {
        return Allow("join of an invited or joined user");
      }
      return Deny("join rule requires an invite");
    }
    if ((version.restricted && rule == "restricted") ||
        (version.knock_restricted && rule == "knock_restricted")) {
      if (target_membership == "join" || target_membership == "invite") {
        return Allow("join of an invited or joined user");
      }
      const bj::string* via = FindString(content, "join_authorised_via_users_server");
      if (via == nullptr) return Deny("restricted join without join_authorised_via_users_server");
      if (MembershipOf(state, *via) != "join") return Deny("authorising user is not joined");
      if (pl.UserLevel(*via) < pl.invite()) return Deny("authorising user cannot invite");
      return Allow("restricted join authorised by a member");
    }
    if (rule == "public") return Allow("join of a public room");
    return Deny("join rule does not allow joining");
  }

  if (membership == "invite") {
    if (const bj::value* tpi_value = content.if_contains("third_party_invite")) {
      if (target_membership == "ban") return Deny("target is banned");
      const bj::object* tpi = tpi_value->if_object();
      const bj::object* signed_obj = tpi != nullptr ? FindObject(*tpi, "signed") : nullptr;
      if (signed_obj == nullptr) return Deny("third_party_invite has no signed object");
      const bj::string* mxid = FindString(*signed_obj, "mxid");
      const bj::string* token = FindString(*signed_obj, "token");
      if (mxid == nullptr || token == nullptr) return Deny("signed needs mxid and token");
      if (*mxid != target) return Deny("signed mxid is not the target");
      const bj::object* invite_event = state.ThirdPartyInvite(*token);
      if (invite_event == nullptr) return Deny("no m.room.third_party_invite for the token");
      const bj::string* invite_sender = FindString(*invite_event, "sender");
      if (invite_sender == nullptr || *invite_sender != sender) {
        return Deny("sender did not send the m.room.third_party_invite");
      }
      if (ThirdPartyInviteSigned(*signed_obj, *invite_event)) {
        return Allow("valid third-party invite");
      }
      return Deny("third-party invite signature does not match");
    }
    if (sender_membership != "join") return Deny("sender is not joined");
    if (target_membership == "join" || target_membership == "ban") {
      return Deny("target is joined or banned");
    }
    if (pl.UserLevel(sender) >= pl.invite()) return Allow("invite");
    return Deny("sender's power level is below the invite level");
  }

  if (membership == "leave") {
    if (sender == target) {
      if (target_membership == "invite" || target_membership == "join" ||
          target_membership == "knock") {
        return Allow("leave");
      }
      return Deny("cannot leave: not invited, joined or knocking");
    }
    if (sender_membership != "join") return Deny("sender is not joined");
    const std::int64_t sender_level = pl.UserLevel(sender);
    if (target_membership == "ban" && sender_level < pl.ban()) {
      return Deny("sender's power level is below the ban level");
    }
    if (sender_level >= pl.kick() && pl.UserLevel(target) < sender_level) {
      return Allow(target_membership == "ban" ? "unban" : "kick");
    }
    return Deny("sender cannot kick the target");
  }

  if (membership == "ban") {
    if (sender_membership != "join") return Deny("sender is not joined");
    const std::int64_t sender_level = pl.UserLevel(sender);
    if (sender_level >= pl.ban() && pl.UserLevel(target) < sender_level) return Allow("ban");
    return Deny("sender cannot ban the target");
  }

  if (membership == "knock") {
    const std::string_view rule = JoinRuleOf(state);
    if (!((version.knock && rule == "knock") ||
          (version.knock_restricted && rule == "knock_restricted"))) {
      return Deny("join rule does not allow knocking");
    }
    if (sender != target) return Deny("cannot knock on behalf of another user");
    if (sender_membership != "ban" && sender_membership != "invite" &&
        sender_membership != "join") {
      return Allow("knock");
    }
    return Deny("banned, invited or joined users cannot knock");
  }

  return Deny("unknown membership");
}

AuthResult AuthorizePowerLevels(const RoomVersion& version, std::string_view sender,
                                const bj::object& content, const PowerLevels& current) {
  if (std::optional<std::string> err = PowerLevelsContentError(content)) {
    return Deny("malformed m.room.power_levels: " + *err);
  }
  const bj::object* users = FindObject(content, "users");
  if (version.privileged_creators && users != nullptr) {
    for (const auto& creator : current.creators()) {
      if (users->contains(creator)) return Deny("room creators cannot be listed in users");
    }
  }
  const bj::object* old = current.content();
  if (old == nullptr) return Allow("first m.room.power_levels");
  const std::int64_t level = current.UserLevel(sender);

  for (std::string_view key :
       {"users_default", "events_default", "state_default", "ban", "redact", "kick", "invite"}) {
    std::optional<std::int64_t> before = FindInt(*old, key);
    std::optional<std::int64_t> after = FindInt(content, key);
    if (before == after) continue;
    if ((before && *before > level) || (after && *after > level)) {
      return Deny("cannot change '" + std::string(key) + "' beyond own power level");
    }
  }

  // Compares the maps `key` of the old and new content. `is_users` applies
  // the users rules (8/9), otherwise the events/notifications rules (6/7).
  auto check_map = [&](std::string_view key, bool is_users) -> std::optional<std::string> {
    static const bj::object kEmpty;
    const bj::object* before_map = FindObject(*old, key);
    const bj::object* after_map = FindObject(content, key);
    if (before_map == nullptr) before_map = &kEmpty;
    if (after_map == nullptr) after_map = &kEmpty;
    auto check = [&](std::string_view entry) -> std::optional<std::string> {
      std::optional<std::int64_t> before = FindInt(*before_map, entry);
      std::optional<std::int64_t> after = FindInt(*after_map, entry);
      if (before == after) return std::nullopt;
      if (before) {
        bool too_high = is_users ? entry != sender && *before >= level : *before > level;
        if (too_high) {
          return "cannot change " + std::string(key) + " entry '" + std::string(entry) +
                 "' at or above own power level";
        }
      }
      if (after && *after > level) {
        return "cannot set " + std::string(key) + " entry '" + std::string(entry) +
               "' above own power level";
      }
      return std::nullopt;
    };
    for (const auto& kv : *before_map) {
      if (auto err = check(kv.key())) return err;
    }
    for (const auto& kv : *after_map) {
      if (before_map->contains(kv.key())) continue;
      if (auto err = check(kv.key())) return err;
    }
    return std::nullopt;
  };
  for (std::string_view key : {"events", "notifications"}) {
    if (auto err = check_map(key, false)) return Deny(*err);
  }
  if (auto err = check_map("users", true)) return Deny(*err);
  return Allow("m.room.power_levels change within own power level");
}

AuthResult AuthorizeUnchecked(const RoomVersion& version, const bj::object& event,
                              const StateLookup& state, const PublicKeyLookup& keys) {
  const bj::string* type = FindString(event, "type");
  if (type == nullptr) return Deny("event has no string type");
  const bj::string* sender = FindString(event, "sender");
  if (sender == nullptr || !IsValidUserId(*sender)) return Deny("sender is not a user id");
  const bj::object* content = FindObject(event, "content");
  if (content == nullptr) return Deny("content is not an object");
  std::optional<std::string_view> state_key;
  if (const bj::value* sk = event.if_contains("state_key")) {
    if (!sk->is_string()) return Deny("state_key is not a string");
    state_key = sk->get_string();
  }

  // Rule 1.
  if (*type == "m.room.create") return AuthorizeCreate(version, event, *sender, *content);

  const bj::object* create = state.Create();
  if (create == nullptr) return Deny("room has no m.room.create event");
  const bj::string* room_id = FindString(event, "room_id");
  if (room_id == nullptr) return Deny("event has no room_id");
  if (version.room_id_from_create_event) {
    // v12 rule 2.
    // "!" and the create event's id without its "$".
    const std::string_view known = state.CreateEventId();
    const std::string_view rid(*room_id);
    const bool matches = known.starts_with('$')
                             ? rid.starts_with('!') && rid.substr(1) == known.substr(1)
                             : rid == RoomIdFromCreateEvent(version, *create);
    if (!matches) {
      return Deny("room_id is not the m.room.create event's id");
    }
  } else {
    const bj::string* create_room = FindString(*create, "room_id");
    if (create_room == nullptr || *create_room != *room_id) {
      return Deny("m.room.create belongs to another room");
    }
  }

  // Rule 3 (v12: 4).
  const bj::object* create_content = FindObject(*create, "content");
  const bj::value* federate =
      create_content != nullptr ? create_content->if_contains("m.federate") : nullptr;
  if (federate != nullptr && federate->is_bool() && !federate->get_bool()) {
    const bj::string* create_sender = FindString(*create, "sender");
    if (create_sender == nullptr || DomainOf(*create_sender) != DomainOf(*sender)) {
      return Deny("room is not federated and sender is on another server");
    }
  }

  const PowerLevels pl(version, *create, state.PowerLevels());

  // Rule 4 (v12: 5).
  if (*type == "m.room.member") {
    return AuthorizeMember(version, event, *sender, state_key, *content, *room_id, state, *create,
                           pl, keys);
  }
  // Rule 5.
  if (MembershipOf(state, *sender) != "join") return Deny("sender is not joined");
  const std::int64_t sender_level = pl.UserLevel(*sender);
  // Rule 6.
  if (*type == "m.room.third_party_invite") {
    if (sender_level >= pl.invite()) return Allow("third-party invite");
    return Deny("sender's power level is below the invite level");
  }
  // Rule 7.
  if (pl.EventLevel(*type, state_key.has_value()) > sender_level) {
    return Deny("sender's power level is below the level required for " + std::string(*type));
  }
  // Rule 8.
  if (state_key && state_key->starts_with('@') && *state_key != *sender) {
    return Deny("state_key starting with '@' must be the sender");
  }
  // Rule 9.
  if (*type == "m.room.power_levels") {
    return AuthorizePowerLevels(version, *sender, *content, pl);
  }
  return Allow("sender has the required power level");
}

}  // namespace

AuthResult CheckAuthEvents(const RoomVersion& version, const bj::object& event,
                           std::span<const bj::object* const> auth_events) {
  const bj::string* type = FindString(event, "type");
  if (type != nullptr && *type == "m.room.create") return Allow("m.room.create");
  const bj::string* room_id = FindString(event, "room_id");
  if (room_id == nullptr) return Deny("event has no room_id");
  const std::vector<StateKey> expected = SelectAuthEvents(version, event);
  std::vector<StateKey> seen;
  bool has_create = false;
  for (const bj::object* auth : auth_events) {
    if (auth == nullptr) return Deny("missing auth event");
    const bj::string* t = FindString(*auth, "type");
    const bj::string* sk = FindString(*auth, "state_key");
    if (t == nullptr || sk == nullptr) return Deny("auth event is not a state event");
    StateKey key{std::string(*t), std::string(*sk)};
    if (std::find(seen.begin(), seen.end(), key) != seen.end()) {
      return Deny("duplicate auth event " + key.type + "/" + key.state_key);
    }
    if (std::find(expected.begin(), expected.end(), key) == expected.end()) {
      return Deny("auth event " + key.type + "/" + key.state_key + " is not needed");
    }
    has_create = has_create || key.type == "m.room.create";
    const bj::string* auth_room = FindString(*auth, "room_id");
    if (auth_room == nullptr || *auth_room != *room_id) {
      return Deny("auth event from another room");
    }
    seen.push_back(std::move(key));
  }
  if (version.create_in_auth_events && !has_create) return Deny("no m.room.create auth event");
  return Allow("auth events match the selection");
}

AuthResult Authorize(const RoomVersion& version, const bj::object& event, const StateLookup& state,
                     const PublicKeyLookup& keys) {
  try {
    return AuthorizeUnchecked(version, event, state, keys);
  } catch (const Error& e) {
    return Deny(e.message());
  }
}

}  // namespace vigie::events
