// Power levels of a room (m.room.power_levels with the defaults of the
// server-server API "Definitions"), and the room creators.
#pragma once

#include <boost/json.hpp>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "events/room_version.h"

namespace vigie::events {

// The level of a room creator in versions with privileged_creators: above
// any level a power levels event can hold (those are at most 2^53-1).
inline constexpr std::int64_t kInfinitePowerLevel = std::numeric_limits<std::int64_t>::max();

// The creators of the room whose m.room.create event is `create`:
// v10: `content.creator`; v11: `sender`; v12: `sender` followed by the
// strings of `content.additional_creators`. Values of the wrong type are
// skipped, so the result may be empty for a malformed event.
std::vector<std::string> RoomCreators(const RoomVersion& version,
                                      const boost::json::object& create);

// Checks `content` of an m.room.power_levels event against the format the
// auth rules require (v10 rules 9.1-9.3): `users_default`, `events_default`,
// `state_default`, `ban`, `redact`, `kick`, `invite` integers if present;
// `events` and `notifications` objects of integers if present; `users` an
// object mapping valid user ids to integers if present. Returns a
// description of the first problem, or nullopt if the content is valid.
std::optional<std::string> PowerLevelsContentError(const boost::json::object& content);

// Read-only view of the power levels in force, holding pointers into the
// events it was built from: they must outlive it.
class PowerLevels {
 public:
  // `create` is the room's m.room.create event; `power_levels` the current
  // m.room.power_levels event or nullptr if the room has none. Throws
  // Error(kBadJson) if `power_levels` has a content that
  // PowerLevelsContentError rejects.
  PowerLevels(const RoomVersion& version, const boost::json::object& create,
              const boost::json::object* power_levels);

  // kInfinitePowerLevel for creators in versions with privileged_creators;
  // else `users[user_id]`, else `users_default` (0). Without a power levels
  // event: 100 for the creator in v10/v11, 0 for everyone else.
  std::int64_t UserLevel(std::string_view user_id) const;
  // The required power level of an event type: `events[type]`, else
  // `state_default` (50) for state events / `events_default` (0) otherwise.
  std::int64_t EventLevel(std::string_view type, bool is_state_event) const;
  // `notifications[key]`, defaulting to 50.
  std::int64_t NotificationLevel(std::string_view key) const;
  std::int64_t invite() const { return Named("invite", 0); }
  std::int64_t kick() const { return Named("kick", 50); }
  std::int64_t ban() const { return Named("ban", 50); }
  std::int64_t redact() const { return Named("redact", 50); }

  bool IsCreator(std::string_view user_id) const;
  const std::vector<std::string>& creators() const { return creators_; }
  // The content of the power levels event, or nullptr if there is none.
  const boost::json::object* content() const { return content_; }

 private:
  std::int64_t Named(std::string_view key, std::int64_t fallback) const;

  bool privileged_creators_;
  std::vector<std::string> creators_;
  const boost::json::object* content_ = nullptr;
};

}  // namespace vigie::events
