#include "events/auth_events.h"

#include <algorithm>

#include "events/fields.h"

namespace vigie::events {

namespace bj = boost::json;

std::vector<StateKey> SelectAuthEvents(const RoomVersion& version, const bj::object& event) {
  std::vector<StateKey> keys;
  const bj::string* type = FindString(event, "type");
  if (type != nullptr && *type == "m.room.create") return keys;
  auto add = [&keys](std::string_view t, std::string_view sk) {
    StateKey key{std::string(t), std::string(sk)};
    if (std::find(keys.begin(), keys.end(), key) == keys.end()) keys.push_back(std::move(key));
  };
  if (version.create_in_auth_events) add("m.room.create", "");
  add("m.room.power_levels", "");
  if (const bj::string* sender = FindString(event, "sender")) add("m.room.member", *sender);
  if (type == nullptr || *type != "m.room.member") return keys;

  if (const bj::string* target = FindString(event, "state_key")) add("m.room.member", *target);
  const bj::object* content = FindObject(event, "content");
  const bj::string* membership = content != nullptr ? FindString(*content, "membership") : nullptr;
  if (membership == nullptr) return keys;
  if (*membership == "join" || *membership == "invite" || *membership == "knock") {
    add("m.room.join_rules", "");
  }
  if (*membership == "invite") {
    const bj::object* tpi = FindObject(*content, "third_party_invite");
    const bj::object* signed_obj = tpi != nullptr ? FindObject(*tpi, "signed") : nullptr;
    const bj::string* token = signed_obj != nullptr ? FindString(*signed_obj, "token") : nullptr;
    if (token != nullptr) add("m.room.third_party_invite", *token);
  }
  if (*membership == "join" && version.restricted) {
    if (const bj::string* via = FindString(*content, "join_authorised_via_users_server")) {
      add("m.room.member", *via);
    }
  }
  return keys;
}

}  // namespace vigie::events
