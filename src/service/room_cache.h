// The room writer's view of rooms, kept from one write to the next.
//
// Every event a writer appends reads the same few things: the room's head,
// the state events the auth rules cite (create, power levels, the sender's
// membership), and the member list to wake. RoomCache keeps what the last
// writer of a room knew, so the next one reads one row instead of a dozen.
//
// A snapshot is trusted only while the room's head in the database (its
// last event, depth and state group, read in the writer's transaction) is
// the one the snapshot was taken at: every change to a room's state
// appends an event, so a changed head means a stale snapshot, and a write
// that was rolled back leaves a head that no longer matches either.
// Used only from stream writes (one writer at a time); locked anyway. A
// snapshot is moved out and back, never copied.
#pragma once

#include <boost/json/object.hpp>
#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "storage/room_store.h"

namespace vigie::service {

struct RoomSnapshot {
  storage::RoomRecord room;
  std::string last_event_id;
  // Current state keys looked up so far (nullopt: known to be absent).
  std::map<storage::StateKeyPair, std::optional<std::int64_t>> state;
  // Parsed PDUs and ids of the events looked up so far, by event nid.
  std::map<std::int64_t, std::shared_ptr<const boost::json::object>> pdus;
  std::map<std::int64_t, std::string> ids;
  // Every membership of the room, ordered by user id; unset until needed.
  std::optional<std::vector<storage::MembershipRecord>> members;
};

class RoomCache {
 public:
  explicit RoomCache(std::size_t max_rooms = 4096, std::size_t max_members = 1000000)
      : max_rooms_(max_rooms), max_members_(max_members) {}

  // Takes the snapshot of `head.room_id` out (the writer puts it back when
  // done) if it was taken at `head`'s last event, depth and state group.
  std::optional<RoomSnapshot> Take(const storage::RoomRecord& head);
  // Keeps `s` (replacing the room's previous snapshot) with only the
  // events of its current state. Past the bounds the cache starts again
  // empty.
  void Put(RoomSnapshot s);
  std::size_t Size() const;

 private:
  static std::size_t MembersOf(const RoomSnapshot& s) { return s.members ? s.members->size() : 0; }
  const std::size_t max_rooms_;
  const std::size_t max_members_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, RoomSnapshot> rooms_;  // by room id; guarded by mu_
  std::size_t members_ = 0;                              // held in rooms_; guarded by mu_
};

}  // namespace vigie::service
