// The authorisation rules of room versions 10, 11 and 12 (rooms/v10.md,
// v11.md, v12.md "Authorisation rules"), in one place, parametrised by
// RoomVersion. Pure functions of the event and the state handed in: no
// storage, no I/O beyond the optional key lookup.
//
// Not covered here, and left to the caller: the signature check of the
// sender's server and the hash check (done before authorisation), and rule
// 2.3 / 3.3 (auth events that were themselves rejected).
#pragma once

#include <boost/json.hpp>
#include <map>
#include <span>
#include <string>
#include <string_view>

#include "events/room_version.h"
#include "events/signing.h"

namespace vigie::events {

struct AuthResult {
  bool allowed = false;
  // Why the event was denied (or, when allowed, which rule allowed it), for
  // logs and error messages.
  std::string reason;

  explicit operator bool() const { return allowed; }
  static AuthResult Allow(std::string reason) { return {true, std::move(reason)}; }
  static AuthResult Deny(std::string reason) { return {false, std::move(reason)}; }
};

// The state an event is authorised against: the room state before the
// event, the current state, or the state formed by its auth events.
class StateLookup {
 public:
  virtual ~StateLookup() = default;

  // The state event (the PDU as signed) for (type, state_key), or nullptr.
  // Pointers must stay valid until Authorize returns.
  virtual const boost::json::object* Get(std::string_view type,
                                         std::string_view state_key) const = 0;

  // The id the m.room.create event was accepted under, when the lookup
  // knows it (events it holds were checked when they were stored): the
  // v12 room id rule then compares with it instead of hashing the event
  // again. Empty: not known.
  virtual std::string_view CreateEventId() const { return {}; }

  const boost::json::object* Create() const { return Get("m.room.create", ""); }
  const boost::json::object* PowerLevels() const { return Get("m.room.power_levels", ""); }
  const boost::json::object* JoinRules() const { return Get("m.room.join_rules", ""); }
  const boost::json::object* Member(std::string_view user_id) const {
    return Get("m.room.member", user_id);
  }
  const boost::json::object* ThirdPartyInvite(std::string_view token) const {
    return Get("m.room.third_party_invite", token);
  }
};

// A StateLookup over copies of the events added to it.
class AuthState final : public StateLookup {
 public:
  AuthState() = default;
  // Builds the state formed by `events`, e.g. an event's auth events (check 4
  // on receipt of a PDU). In versions without create_in_auth_events the
  // m.room.create event, named by the room id, must be added as well.
  explicit AuthState(std::span<const boost::json::object> events);

  // Stores `event` under its (type, state_key), replacing an earlier event
  // with the same key. Events without a string `type` and `state_key` are
  // ignored.
  void Add(boost::json::object event);
  void Remove(std::string_view type, std::string_view state_key);

  const boost::json::object* Get(std::string_view type, std::string_view state_key) const override;

 private:
  std::map<std::string, std::map<std::string, boost::json::object, std::less<>>, std::less<>>
      events_;
};

// Rule 2 (v10, v11) / rule 3 (v12), "considering the event's auth_events":
// `auth_events` are the events `event` cites. Denies duplicate
// (type, state_key) pairs, events SelectAuthEvents does not select for
// `event`, a missing m.room.create (v10, v11), and events whose `room_id`
// differs from the event's. Always allows m.room.create (rule 1 applies to
// it instead). Never throws.
AuthResult CheckAuthEvents(const RoomVersion& version, const boost::json::object& event,
                           std::span<const boost::json::object* const> auth_events);

// Whether `event` passes the authorisation rules against `state`, apart
// from the caller's checks listed at the top of this file. `keys` resolves
// the public keys of the server named by
// `content.join_authorised_via_users_server` (rule 4.2 / 5.2); without it,
// a membership event carrying that key is denied.
//
// In v10/v11 the create event's id is computed from state.Create(), which
// must therefore be the PDU exactly as signed. Malformed events and state
// (missing or wrongly typed fields, non-canonical JSON) are denied with a
// reason; this function does not throw vigie::Error.
AuthResult Authorize(const RoomVersion& version, const boost::json::object& event,
                     const StateLookup& state, const PublicKeyLookup& keys = nullptr);

}  // namespace vigie::events
