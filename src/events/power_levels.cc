#include "events/power_levels.h"

#include <algorithm>

#include "common/canonical_json.h"
#include "common/error.h"
#include "events/fields.h"
#include "events/identifiers.h"

namespace vigie::events {

namespace bj = boost::json;

std::vector<std::string> RoomCreators(const RoomVersion& version, const bj::object& create) {
  std::vector<std::string> creators;
  if (version.creator_in_content) {
    const bj::object* content = FindObject(create, "content");
    const bj::string* creator = content != nullptr ? FindString(*content, "creator") : nullptr;
    if (creator != nullptr) creators.emplace_back(*creator);
    return creators;
  }
  if (const bj::string* sender = FindString(create, "sender")) creators.emplace_back(*sender);
  if (!version.privileged_creators) return creators;
  const bj::object* content = FindObject(create, "content");
  const bj::array* extra =
      content != nullptr ? FindArray(*content, "additional_creators") : nullptr;
  if (extra != nullptr) {
    for (const auto& v : *extra) {
      if (v.is_string()) creators.emplace_back(v.get_string());
    }
  }
  return creators;
}

std::optional<std::string> PowerLevelsContentError(const bj::object& content) {
  for (std::string_view key :
       {"users_default", "events_default", "state_default", "ban", "redact", "kick", "invite"}) {
    const bj::value* v = content.if_contains(key);
    if (v != nullptr && !IsCanonicalInteger(*v))
      return "'" + std::string(key) + "' must be an integer";
  }
  for (std::string_view key : {"events", "notifications"}) {
    const bj::value* v = content.if_contains(key);
    if (v == nullptr) continue;
    if (!v->is_object()) return "'" + std::string(key) + "' must be an object";
    for (const auto& kv : v->get_object()) {
      if (!IsCanonicalInteger(kv.value())) {
        return "'" + std::string(key) + "' values must be integers";
      }
    }
  }
  if (const bj::value* users = content.if_contains("users")) {
    if (!users->is_object()) return std::string("'users' must be an object");
    for (const auto& kv : users->get_object()) {
      if (!IsValidUserId(kv.key()))
        return "'users' key '" + std::string(kv.key()) + "' is not a user id";
      if (!IsCanonicalInteger(kv.value())) return std::string("'users' values must be integers");
    }
  }
  return std::nullopt;
}

PowerLevels::PowerLevels(const RoomVersion& version, const bj::object& create,
                         const bj::object* power_levels)
    : privileged_creators_(version.privileged_creators), creators_(RoomCreators(version, create)) {
  if (power_levels == nullptr) return;
  content_ = FindObject(*power_levels, "content");
  if (content_ == nullptr) throw BadJson("m.room.power_levels has no content object");
  if (auto err = PowerLevelsContentError(*content_)) {
    throw BadJson("m.room.power_levels is malformed: " + *err);
  }
}

bool PowerLevels::IsCreator(std::string_view user_id) const {
  return std::find(creators_.begin(), creators_.end(), user_id) != creators_.end();
}

std::int64_t PowerLevels::UserLevel(std::string_view user_id) const {
  if (privileged_creators_ && IsCreator(user_id)) return kInfinitePowerLevel;
  if (content_ == nullptr) return IsCreator(user_id) && !privileged_creators_ ? 100 : 0;
  if (const bj::object* users = FindObject(*content_, "users")) {
    if (auto level = FindInt(*users, user_id)) return *level;
  }
  return FindInt(*content_, "users_default").value_or(0);
}

std::int64_t PowerLevels::EventLevel(std::string_view type, bool is_state_event) const {
  if (content_ != nullptr) {
    if (const bj::object* events = FindObject(*content_, "events")) {
      if (auto level = FindInt(*events, type)) return *level;
    }
  }
  return is_state_event ? Named("state_default", 50) : Named("events_default", 0);
}

std::int64_t PowerLevels::NotificationLevel(std::string_view key) const {
  if (content_ != nullptr) {
    if (const bj::object* n = FindObject(*content_, "notifications")) {
      if (auto level = FindInt(*n, key)) return *level;
    }
  }
  return 50;
}

std::int64_t PowerLevels::Named(std::string_view key, std::int64_t fallback) const {
  if (content_ == nullptr) return fallback;
  return FindInt(*content_, key).value_or(fallback);
}

}  // namespace vigie::events
