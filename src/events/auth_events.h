// Auth events selection (server-server API "Auth events selection"): which
// state events an event must cite in its `auth_events`.
#pragma once

#include <boost/json.hpp>
#include <compare>
#include <string>
#include <vector>

#include "events/room_version.h"

namespace vigie::events {

// The (type, state_key) key of a state event.
struct StateKey {
  std::string type;
  std::string state_key;
  auto operator<=>(const StateKey&) const = default;
};

// The state keys whose current events `event` must cite, without duplicates:
// the m.room.create (v10/v11 only), m.room.power_levels, the sender's
// m.room.member and, for m.room.member events, the target's membership, the
// m.room.join_rules (join, invite, knock), the m.room.third_party_invite of
// `content.third_party_invite.signed.token` (invite) and the membership of
// `content.join_authorised_via_users_server` (join). Empty for
// m.room.create. The caller cites the events of the keys present in the
// room state. Reads `type`, `sender`, `state_key` and `content`; fields
// missing or of the wrong type select nothing. Never throws.
std::vector<StateKey> SelectAuthEvents(const RoomVersion& version,
                                       const boost::json::object& event);

}  // namespace vigie::events
