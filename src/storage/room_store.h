// Rooms and their events. Rooms are linear (no federation yet): each new
// event's prev_event is the room's last event. Every event has a global
// stream position (`stream_pos`, allocated by the caller under the stream
// writer lock) that orders sync; its `state_group` is the room state after
// it. State groups are stored as deltas on a previous group, with a full
// snapshot every kSnapshotInterval groups, so state is never copied per
// event and loading one costs a bounded chain walk.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "storage/sql.h"

namespace vigie::storage {

struct RoomRecord {
  std::int64_t room_nid = 0;
  std::string room_id;
  std::string room_version;
  std::string creator;
  std::string tenant_id;
  std::int64_t created_ts = 0;
  bool published = false;
  std::optional<std::int64_t> last_event_nid;
  std::int64_t depth = 0;
  std::optional<std::int64_t> state_group;
};

struct EventRecord {
  std::int64_t event_nid = 0;
  std::string event_id;
  std::int64_t room_nid = 0;
  std::int64_t stream_pos = 0;
  std::int64_t depth = 0;
  std::string type;
  std::optional<std::string> state_key;
  std::string sender;
  std::int64_t origin_server_ts = 0;
  std::int64_t state_group = 0;
  std::optional<std::string> txn_id;
  std::optional<std::string> device_id;
  std::optional<std::string> redacted_by;
  std::string json;                             // the PDU (the redacted PDU once redacted)
  std::optional<std::string> redacted_because;  // the redaction's PDU
};

// An event held by more than one reader (the syncs of a room's members).
using SharedEventRecord = std::shared_ptr<const EventRecord>;

using StateKeyPair = std::pair<std::string, std::string>;  // (type, state_key)
using StateMap = std::map<StateKeyPair, std::int64_t>;     // -> event_nid

struct MembershipRecord {
  // Filled by RoomsWithHeads only: the stream position of the room's
  // latest event.
  std::int64_t head_pos = 0;
  std::int64_t room_nid = 0;
  std::string room_id;
  std::string user_id;
  std::string membership;
  std::int64_t event_nid = 0;
  std::int64_t stream_pos = 0;
  // Position of the user's latest join (kept across later leaves); unset
  // if they never joined. Read by GetMembership and RoomsWithHeads.
  std::optional<std::int64_t> joined_pos;
};

// A room's membership at a glance (the /sync summary).
struct MemberSummary {
  std::int64_t joined = 0;
  std::int64_t invited = 0;
  std::vector<std::string> heroes;  // joined or invited, by user id
};

enum class Direction { kForward, kBackward };

class RoomStore {
 public:
  static constexpr int kSnapshotInterval = 32;
  // Whether the next state group after a chain of `chain_len` deltas over
  // a full state of `base_size` entries is a snapshot: past 32 deltas, and
  // past a quarter of the base. A load then reads at most 1.25 times the
  // state (plus 32 groups), and a large room writes a few rows per state
  // event on average, not its whole state every 32nd.
  static constexpr bool SnapshotDue(std::int64_t chain_len, std::int64_t base_size) {
    return chain_len >= kSnapshotInterval && chain_len >= base_size / 4;
  }

  // Rooms. CreateRoom returns the new room_nid.
  static std::int64_t CreateRoom(sql::Tx& tx, const RoomRecord& r);
  static std::optional<RoomRecord> GetRoom(sql::Tx& tx, std::string_view room_id);
  static std::optional<RoomRecord> GetRoomByNid(sql::Tx& tx, std::int64_t room_nid);
  static void UpdateRoomHead(sql::Tx& tx, std::int64_t room_nid, std::int64_t last_event_nid,
                             std::int64_t depth, std::int64_t state_group);
  static void SetPublished(sql::Tx& tx, std::int64_t room_nid, bool published);
  static std::vector<RoomRecord> PublishedRooms(sql::Tx& tx);

  // Events. `e.event_nid` is given by the caller (above MaxEventNid); the
  // insert is deferred (sent with the transaction's next statement).
  static void InsertEvent(sql::Tx& tx, const EventRecord& e);
  static std::int64_t MaxEventNid(sql::Tx& tx);
  static std::optional<EventRecord> GetEvent(sql::Tx& tx, std::string_view event_id);
  static std::optional<EventRecord> GetEventByNid(sql::Tx& tx, std::int64_t event_nid);
  static std::vector<EventRecord> GetEventsByNid(sql::Tx& tx,
                                                 const std::vector<std::int64_t>& nids);
  static void SetEventStateGroup(sql::Tx& tx, std::int64_t event_nid, std::int64_t group);
  // Replaces an event's stored PDU with its redacted form and keeps the
  // redaction event's PDU beside it (clients see it as redacted_because).
  static void MarkRedacted(sql::Tx& tx, std::int64_t event_nid, std::string_view redacted_by,
                           std::string_view redacted_json, std::string_view redaction_pdu);
  // Events of a room with stream_pos in (from, to], in `dir` order
  // (kBackward: newest first), at most `limit`.
  static std::vector<EventRecord> RoomEvents(sql::Tx& tx, std::int64_t room_nid,
                                             std::int64_t from_exclusive, std::int64_t to_inclusive,
                                             std::int64_t limit, Direction dir);
  static std::int64_t MaxStreamPos(sql::Tx& tx);
  // Records `pos` as the stream's last committed position (MaxStreamPos
  // never answers below it).
  static void SetStreamHead(sql::Tx& tx, std::int64_t pos);

  // State groups. NewStateGroup stores `changes` on top of `prev` (a
  // delta) or, every kSnapshotInterval, the full state; returns its id.
  static std::int64_t NewStateGroup(sql::Tx& tx, std::int64_t room_nid,
                                    std::optional<std::int64_t> prev, const StateMap& changes);
  static StateMap LoadStateGroup(sql::Tx& tx, std::int64_t group);
  // The room state after its latest event at or before `upto` (empty if the
  // room has no event that early).
  static StateMap StateAt(sql::Tx& tx, std::int64_t room_nid, std::int64_t upto);

  // Current state (kept up to date by the writer for fast reads).
  static void SetCurrentState(sql::Tx& tx, std::int64_t room_nid, const StateKeyPair& key,
                              std::int64_t event_nid);
  static StateMap CurrentState(sql::Tx& tx, std::int64_t room_nid);
  static std::optional<std::int64_t> CurrentStateEvent(sql::Tx& tx, std::int64_t room_nid,
                                                       std::string_view type,
                                                       std::string_view state_key);

  // Memberships: one row per (room, user), the user's current membership.
  static void SetMembership(sql::Tx& tx, const MembershipRecord& m);
  static std::optional<MembershipRecord> GetMembership(sql::Tx& tx, std::int64_t room_nid,
                                                       std::string_view user_id);
  // The user's rooms with the given membership ("" for all), not forgotten.
  static std::vector<MembershipRecord> RoomsForUser(sql::Tx& tx, std::string_view user_id,
                                                    std::string_view membership);
  // Joined and invited counts of each room, and its first `max_heroes`
  // joined or invited members other than `viewer` by user id: two queries
  // per 500 rooms, whatever their size.
  static std::map<std::int64_t, MemberSummary> MemberSummaries(
      sql::Tx& tx, std::string_view viewer, const std::vector<std::int64_t>& room_nids,
      std::size_t max_heroes);
  // Like RoomsForUser(user, "") with head_pos set: one query for /sync.
  static std::vector<MembershipRecord> RoomsWithHeads(sql::Tx& tx, std::string_view user_id);
  // The latest state event per (type, state_key) among the room's events
  // with stream_pos in (from, to).
  static std::vector<EventRecord> StateEventsBetween(sql::Tx& tx, std::int64_t room_nid,
                                                     std::int64_t from_exclusive,
                                                     std::int64_t to_exclusive);
  // The user's membership rows changed in (since, upto].
  static std::vector<MembershipRecord> MembershipChanges(sql::Tx& tx, std::string_view user_id,
                                                         std::int64_t since, std::int64_t upto);
  static std::vector<MembershipRecord> RoomMembers(sql::Tx& tx, std::int64_t room_nid);
  static void Forget(sql::Tx& tx, std::int64_t room_nid, std::string_view user_id);
  // Users sharing at least one joined room with `user_id` (including itself).
  static std::vector<std::string> UsersSharingRooms(sql::Tx& tx, std::string_view user_id);

  // Relations (m.relates_to): `event_nid` relates to event id `relates_to`.
  static void AddRelation(sql::Tx& tx, std::int64_t event_nid, std::int64_t room_nid,
                          std::string_view relates_to, std::string_view rel_type,
                          std::int64_t stream_pos);

  // Transaction ids of redactions (idempotent /redact), scoped by the
  // caller ("redact:..."). Sends keep theirs in their event rows.
  static std::optional<std::string> FindTxn(sql::Tx& tx, std::string_view user_id,
                                            std::string_view device_id, std::string_view txn_id);
  static void InsertTxn(sql::Tx& tx, std::string_view user_id, std::string_view device_id,
                        std::string_view txn_id, std::string_view event_id, std::int64_t ts);
  // A send's transaction id, as its event row keeps it.
  struct SentTxn {
    std::int64_t event_nid = 0;
    std::int64_t ts = 0;  // origin_server_ts
    std::string sender, device_id, txn_id;
  };
  // The sends with a transaction id (events of any type but m.room.redaction
  // with a device and transaction id) at stream positions in (after, upto]
  // and since `since_ms`, in stream order: a range of the stream_pos index.
  static std::vector<SentTxn> SendsBetween(sql::Tx& tx, std::int64_t after, std::int64_t upto,
                                           std::int64_t since_ms);

  // Aliases. CreateAlias throws sql::UniqueViolation if taken.
  static void CreateAlias(sql::Tx& tx, std::string_view alias, std::int64_t room_nid,
                          std::string_view creator);
  static std::optional<std::pair<std::string, std::string>> GetAlias(sql::Tx& tx,
                                                                     std::string_view alias);
  static bool DeleteAlias(sql::Tx& tx, std::string_view alias);
  static std::vector<std::string> AliasesOf(sql::Tx& tx, std::int64_t room_nid);
};

}  // namespace vigie::storage
