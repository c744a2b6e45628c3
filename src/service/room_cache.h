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

// The transaction ids of recent sends (PUT /rooms/{roomId}/send/...): what
// turns a client's retry (the same id from the same device) into the event
// its first attempt made. Each send's event row keeps its sender, device
// and transaction id; this keeps, in memory, which event each one made, for
// `window_ms` and up to `max_entries` sends, the oldest forgotten first.
// Start-up fills it from the events of that window, so a retry across a
// restart is still one event; an older one makes a new event (Synapse too
// forgets after a day). The database keeps no index of its own for them: on
// the serial writer that index cost a randomly placed page per send.
//
// Keys are keyed 64-bit hashes (SipHash, a key per process), so a match is
// only a candidate, which the caller confirms against the event row.
// Thread-safe.
class SentTxns {
 public:
  SentTxns(std::size_t max_entries, std::int64_t window_ms);
  std::uint64_t Hash(std::string_view user_id, std::string_view device_id,
                     std::string_view txn_id) const;
  // The events that may have been made by the send with this hash, newest
  // first.
  std::vector<std::int64_t> Candidates(std::uint64_t hash) const;
  // Records that the send with this hash made event `event_nid` at `ts_ms`;
  // in time order. The event may yet be undone: Candidates are confirmed.
  void Add(std::uint64_t hash, std::int64_t event_nid, std::int64_t ts_ms);
  std::size_t Size() const;

 private:
  struct Sent {
    std::int64_t ts_ms;
    std::uint64_t hash;
    std::int64_t event_nid;
  };
  const std::size_t max_;
  const std::int64_t window_ms_;
  unsigned char key_[16];
  mutable std::mutex mu_;
  std::unordered_multimap<std::uint64_t, std::int64_t> nids_;  // hash -> nid; guarded by mu_
  std::deque<Sent> order_;                                     // oldest first; guarded by mu_
};

}  // namespace vigie::service
