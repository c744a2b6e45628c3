// The room writer's view of rooms, kept from one write to the next.
//
// Every event a writer appends reads the same few things: the room's head,
// the state events the auth rules cite (create, power levels, the sender's
// membership), and the member list to wake. RoomCache keeps what the last
// writer of a room knew, so the next one reads nothing it already knows,
// not even the room's row.
//
// A snapshot is the truth about its room: only a room writer changes a
// room's head and state, writers run one at a time (stream writes), and
// each takes the snapshot out and puts it back when done. What could make
// one stale is a write that is undone, and both ways are covered: a
// writer whose function throws does not put its snapshot back (the room
// is read afresh next time), and a write undone after its function
// returned (its statements failed when sent, or its batch did not commit)
// empties the cache through Stream::OnUndo. Locked anyway. A snapshot is
// moved out and back, never copied.
#pragma once

#include <boost/json/object.hpp>
#include <cstddef>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "storage/room_store.h"

namespace vigie::service {

struct RoomSnapshot {
  // Head, version, tenant: current. (`published` is as it was when read;
  // writers do not use it.)
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

  // Takes the snapshot of `room_id` out (the writer puts it back when done).
  std::optional<RoomSnapshot> Take(const std::string& room_id);
  // Keeps `s` (replacing the room's previous snapshot) with no more
  // events than it has state keys (beyond that, those not current state
  // are dropped; writers leave none). Past the bounds the cache starts
  // again empty.
  void Put(RoomSnapshot s);
  // Forgets every snapshot (a write that had put one back was undone).
  void Clear();
  std::size_t Size() const;

  // The nid of a new event, in order: the first after the highest in the
  // database, then counted here (stream writers run one at a time). A
  // write undone leaves a gap; no nid is handed out twice.
  std::int64_t NextEventNid(sql::Tx& tx);

 private:
  static std::size_t MembersOf(const RoomSnapshot& s) { return s.members ? s.members->size() : 0; }
  const std::size_t max_rooms_;
  const std::size_t max_members_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, RoomSnapshot> rooms_;  // by room id; guarded by mu_
  std::size_t members_ = 0;                              // held in rooms_; guarded by mu_
  std::int64_t last_event_nid_ = -1;                     // unknown yet; guarded by mu_
};

// Transaction ids of sends that committed recently, with the event each
// made: a client's retry is answered without a write (which, finding the
// id taken, would be undone, and empty the room cache with it). Bounded:
// the oldest are forgotten, and the database still answers for them.
class RecentTxns {
 public:
  explicit RecentTxns(std::size_t max_entries = 4096) : max_(max_entries) {}
  static std::string Key(std::string_view user_id, std::string_view device_id,
                         std::string_view txn_id);
  std::optional<std::string> Find(const std::string& key) const;
  // Only for sends that committed.
  void Add(const std::string& key, const std::string& event_id);

 private:
  const std::size_t max_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, std::string> ids_;  // guarded by mu_
  std::deque<std::string> order_;                     // oldest first; guarded by mu_
};

}  // namespace vigie::service
