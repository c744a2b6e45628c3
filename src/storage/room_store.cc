#include "storage/room_store.h"

#include <algorithm>
#include <set>

namespace vigie::storage {
namespace {

using sql::Opt;
using sql::Str;

constexpr const char* kRoomCols =
    "room_nid, room_id, room_version, creator, tenant_id, created_ts, published, "
    "last_event_nid, depth, state_group";

RoomRecord ReadRoom(const sql::Row& r) {
  return {r.Int(0), r.Text(1), r.Text(2),   r.Text(3), r.Text(4),
          r.Int(5), r.Bool(6), r.OptInt(7), r.Int(8),  r.OptInt(9)};
}

constexpr const char* kEventCols =
    "event_nid, event_id, room_nid, stream_pos, depth, type, state_key, sender, "
    "origin_server_ts, state_group, txn_id, device_id, redacted_by, json, redacted_because";

EventRecord ReadEvent(const sql::Row& r) {
  return {r.Int(0),      r.Text(1),     r.Int(2),      r.Int(3),   r.Int(4),
          r.Text(5),     r.OptText(6),  r.Text(7),     r.Int(8),   r.Int(9),
          r.OptText(10), r.OptText(11), r.OptText(12), r.Text(13), r.OptText(14)};
}

constexpr const char* kMemberCols =
    "m.room_nid, r.room_id, m.user_id, m.membership, m.event_nid, m.stream_pos";

MembershipRecord ReadMember(const sql::Row& r) {
  return {0, r.Int(0), r.Text(1), r.Text(2), r.Text(3), r.Int(4), r.Int(5)};
}

std::vector<MembershipRecord> Members(sql::Result res) {
  std::vector<MembershipRecord> out;
  out.reserve(res.rows.size());
  for (const auto& r : res.rows) out.push_back(ReadMember(r));
  return out;
}

}  // namespace

std::int64_t RoomStore::CreateRoom(sql::Tx& tx, const RoomRecord& r) {
  return tx
      .QueryOne(
          "INSERT INTO rooms (room_id, room_version, creator, tenant_id, created_ts, published, "
          "depth) VALUES ($1, $2, $3, $4, $5, $6, 0) RETURNING room_nid",
          {r.room_id, r.room_version, r.creator, r.tenant_id, r.created_ts,
           std::int64_t{r.published}})
      ->Int(0);
}

std::optional<RoomRecord> RoomStore::GetRoom(sql::Tx& tx, std::string_view room_id) {
  auto row = tx.QueryOne(std::string("SELECT ") + kRoomCols + " FROM rooms WHERE room_id = $1",
                         {Str(room_id)});
  if (!row) return std::nullopt;
  return ReadRoom(*row);
}

std::optional<RoomRecord> RoomStore::GetRoomByNid(sql::Tx& tx, std::int64_t room_nid) {
  auto row = tx.QueryOne(std::string("SELECT ") + kRoomCols + " FROM rooms WHERE room_nid = $1",
                         {room_nid});
  if (!row) return std::nullopt;
  return ReadRoom(*row);
}

void RoomStore::UpdateRoomHead(sql::Tx& tx, std::int64_t room_nid, std::int64_t last_event_nid,
                               std::int64_t depth, std::int64_t state_group) {
  tx.Defer("UPDATE rooms SET last_event_nid = $1, depth = $2, state_group = $3 WHERE room_nid = $4",
           {last_event_nid, depth, state_group, room_nid});
}

void RoomStore::SetPublished(sql::Tx& tx, std::int64_t room_nid, bool published) {
  tx.Query("UPDATE rooms SET published = $1 WHERE room_nid = $2",
           {std::int64_t{published}, room_nid});
}

std::vector<RoomRecord> RoomStore::PublishedRooms(sql::Tx& tx) {
  auto res = tx.Query(std::string("SELECT ") + kRoomCols +
                      " FROM rooms WHERE published = 1 ORDER BY room_nid");
  std::vector<RoomRecord> out;
  for (const auto& r : res.rows) out.push_back(ReadRoom(r));
  return out;
}

void RoomStore::InsertEvent(sql::Tx& tx, const EventRecord& e) {
  tx.Defer(
      "INSERT INTO events (event_nid, event_id, room_nid, stream_pos, depth, type, state_key, "
      "sender, origin_server_ts, state_group, txn_id, device_id, json) VALUES ($1, $2, $3, $4, "
      "$5, $6, $7, $8, $9, $10, $11, $12, $13)",
      {e.event_nid, e.event_id, e.room_nid, e.stream_pos, e.depth, e.type, Opt(e.state_key),
       e.sender, e.origin_server_ts, e.state_group, Opt(e.txn_id), Opt(e.device_id), e.json});
}

std::int64_t RoomStore::MaxEventNid(sql::Tx& tx) {
  return tx.QueryOne("SELECT COALESCE(MAX(event_nid), 0) FROM events")->Int(0);
}

std::optional<EventRecord> RoomStore::GetEvent(sql::Tx& tx, std::string_view event_id) {
  auto row = tx.QueryOne(std::string("SELECT ") + kEventCols + " FROM events WHERE event_id = $1",
                         {Str(event_id)});
  if (!row) return std::nullopt;
  return ReadEvent(*row);
}

std::optional<EventRecord> RoomStore::GetEventByNid(sql::Tx& tx, std::int64_t event_nid) {
  auto row = tx.QueryOne(std::string("SELECT ") + kEventCols + " FROM events WHERE event_nid = $1",
                         {event_nid});
  if (!row) return std::nullopt;
  return ReadEvent(*row);
}

std::vector<EventRecord> RoomStore::GetEventsByNid(sql::Tx& tx,
                                                   const std::vector<std::int64_t>& nids) {
  std::vector<EventRecord> out;
  out.reserve(nids.size());
  sql::ForEachChunk(nids, 100, [&](auto first, auto last) {
    std::string sql = std::string("SELECT ") + kEventCols + " FROM events WHERE event_nid IN (";
    std::vector<sql::Value> params;
    sql::AppendList(sql, params, first, last);
    sql += ") ORDER BY stream_pos";
    for (const auto& r : tx.Query(sql, params).rows) out.push_back(ReadEvent(r));
  });
  return out;
}

void RoomStore::SetEventStateGroup(sql::Tx& tx, std::int64_t event_nid, std::int64_t group) {
  tx.Defer("UPDATE events SET state_group = $1 WHERE event_nid = $2", {group, event_nid});
}

void RoomStore::MarkRedacted(sql::Tx& tx, std::int64_t event_nid, std::string_view redacted_by,
                             std::string_view redacted_json, std::string_view redaction_pdu) {
  tx.Query(
      "UPDATE events SET redacted_by = $1, json = $2, redacted_because = $3 WHERE event_nid = $4",
      {Str(redacted_by), Str(redacted_json), Str(redaction_pdu), event_nid});
}

std::vector<EventRecord> RoomStore::RoomEvents(sql::Tx& tx, std::int64_t room_nid,
                                               std::int64_t from_exclusive,
                                               std::int64_t to_inclusive, std::int64_t limit,
                                               Direction dir) {
  std::string sql = std::string("SELECT ") + kEventCols +
                    " FROM events WHERE room_nid = $1 AND stream_pos > $2 AND stream_pos <= $3 "
                    "ORDER BY stream_pos " +
                    (dir == Direction::kForward ? "ASC" : "DESC") + " LIMIT $4";
  auto res = tx.Query(sql, {room_nid, from_exclusive, to_inclusive, limit});
  std::vector<EventRecord> out;
  out.reserve(res.rows.size());
  for (const auto& r : res.rows) out.push_back(ReadEvent(r));
  return out;
}

std::int64_t RoomStore::MaxStreamPos(sql::Tx& tx) {
  return tx
      .QueryOne(
          "SELECT MAX(p) FROM ("
          "SELECT COALESCE(MAX(stream_pos), 0) AS p FROM events "
          "UNION ALL SELECT COALESCE(MAX(stream_pos), 0) FROM account_data "
          "UNION ALL SELECT COALESCE(MAX(stream_pos), 0) FROM receipts "
          "UNION ALL SELECT COALESCE(MAX(stream_pos), 0) FROM presence "
          "UNION ALL SELECT COALESCE(MAX(stream_pos), 0) FROM memberships "
          "UNION ALL SELECT COALESCE(MAX(pos), 0) FROM stream_head) s")
      ->Int(0);
}

void RoomStore::SetStreamHead(sql::Tx& tx, std::int64_t pos) {
  tx.Defer("UPDATE stream_head SET pos = $1 WHERE id = 1", {pos});
}

std::int64_t RoomStore::NewStateGroup(sql::Tx& tx, std::int64_t room_nid,
                                      std::optional<std::int64_t> prev, const StateMap& changes) {
  std::int64_t chain_len = 0;
  // The size of the full state the chain starts from (a group without a
  // previous one is its own base).
  auto base_size = static_cast<std::int64_t>(changes.size());
  if (prev) {
    auto row =
        tx.QueryOne("SELECT chain_len, base_size FROM state_groups WHERE group_nid = $1", {*prev});
    chain_len = row->Int(0) + 1;
    base_size = row->Int(1);
  }
  StateMap entries = changes;
  if (prev && SnapshotDue(chain_len, base_size)) {
    // A snapshot: the full state, so that loads never walk further.
    StateMap full = LoadStateGroup(tx, *prev);
    for (const auto& [k, v] : changes) full[k] = v;
    entries = std::move(full);
    prev.reset();
    chain_len = 0;
    base_size = static_cast<std::int64_t>(entries.size());
  }
  std::int64_t group =
      tx.QueryOne(
            "INSERT INTO state_groups (room_nid, prev_group, chain_len, base_size) VALUES ($1, $2, "
            "$3, $4) RETURNING group_nid",
            {room_nid, Opt(prev), chain_len, base_size})
          ->Int(0);
  // Deferred, many rows per statement: a snapshot of a large room's state
  // is thousands of rows, which one statement each would make thousands
  // of round trips on PostgreSQL.
  sql::ForEachChunk(entries, 200, [&](auto first, auto last) {
    std::string sql =
        "INSERT INTO state_group_entries (group_nid, type, state_key, event_nid) VALUES ";
    std::vector<sql::Value> params;
    params.emplace_back(group);
    for (auto it = first; it != last; ++it) {
      const sql::Value row[] = {it->first.first, it->first.second, it->second};
      sql += it == first ? "($1, " : ", ($1, ";
      sql::AppendList(sql, params, std::begin(row), std::end(row));
      sql += ")";
    }
    tx.Defer(sql, params);
  });
  return group;
}

StateMap RoomStore::LoadStateGroup(sql::Tx& tx, std::int64_t group) {
  // PostgreSQL cannot estimate the chain (at most kSnapshotInterval groups)
  // and would hash-join it against a scan of every state entry of every
  // room; handing it the chain's groups as an array makes it an index scan.
  const char* of_chain = tx.dialect() == sql::Dialect::kPostgres
                             ? " WHERE e.group_nid = ANY(ARRAY(SELECT g FROM chain))"
                             : "";
  auto res = tx.Query(
      std::string("WITH RECURSIVE chain(g, prev, n) AS (SELECT group_nid, prev_group, 0 FROM "
                  "state_groups WHERE group_nid = $1 UNION ALL SELECT s.group_nid, s.prev_group, "
                  "c.n + 1 FROM state_groups s JOIN chain c ON s.group_nid = c.prev) SELECT c.n, "
                  "e.type, e.state_key, e.event_nid FROM chain c JOIN state_group_entries e ON "
                  "e.group_nid = c.g") +
          of_chain + " ORDER BY c.n",
      {group});
  StateMap out;
  for (const auto& r : res.rows) out.try_emplace({r.Text(1), r.Text(2)}, r.Int(3));
  return out;
}

StateMap RoomStore::StateAt(sql::Tx& tx, std::int64_t room_nid, std::int64_t upto) {
  auto last = RoomEvents(tx, room_nid, 0, upto, 1, Direction::kBackward);
  if (last.empty()) return {};
  return LoadStateGroup(tx, last[0].state_group);
}

void RoomStore::SetCurrentState(sql::Tx& tx, std::int64_t room_nid, const StateKeyPair& key,
                                std::int64_t event_nid) {
  tx.Defer(
      "INSERT INTO current_state (room_nid, type, state_key, event_nid) VALUES ($1, $2, $3, $4) "
      "ON CONFLICT (room_nid, type, state_key) DO UPDATE SET event_nid = excluded.event_nid",
      {room_nid, key.first, key.second, event_nid});
}

StateMap RoomStore::CurrentState(sql::Tx& tx, std::int64_t room_nid) {
  auto res = tx.Query("SELECT type, state_key, event_nid FROM current_state WHERE room_nid = $1",
                      {room_nid});
  StateMap out;
  for (const auto& r : res.rows) out[{r.Text(0), r.Text(1)}] = r.Int(2);
  return out;
}

std::optional<std::int64_t> RoomStore::CurrentStateEvent(sql::Tx& tx, std::int64_t room_nid,
                                                         std::string_view type,
                                                         std::string_view state_key) {
  auto row = tx.QueryOne(
      "SELECT event_nid FROM current_state WHERE room_nid = $1 AND type = $2 AND state_key = $3",
      {room_nid, Str(type), Str(state_key)});
  if (!row) return std::nullopt;
  return row->Int(0);
}

void RoomStore::SetMembership(sql::Tx& tx, const MembershipRecord& m) {
  tx.Query(
      "INSERT INTO memberships (room_nid, user_id, membership, event_nid, stream_pos, "
      "joined_pos, forgotten) VALUES ($1, $2, $3, $4, $5, $6, 0) ON CONFLICT (room_nid, user_id) "
      "DO UPDATE SET membership = excluded.membership, event_nid = excluded.event_nid, "
      "stream_pos = excluded.stream_pos, joined_pos = COALESCE(excluded.joined_pos, "
      "memberships.joined_pos), forgotten = 0",
      {m.room_nid, m.user_id, m.membership, m.event_nid, m.stream_pos,
       m.membership == "join" ? sql::Value(m.stream_pos) : sql::kNull});
}

std::optional<MembershipRecord> RoomStore::GetMembership(sql::Tx& tx, std::int64_t room_nid,
                                                         std::string_view user_id) {
  auto row = tx.QueryOne(std::string("SELECT ") + kMemberCols +
                             ", m.joined_pos FROM memberships m JOIN rooms r ON r.room_nid = "
                             "m.room_nid WHERE m.room_nid = $1 AND m.user_id = $2",
                         {room_nid, Str(user_id)});
  if (!row) return std::nullopt;
  MembershipRecord m = ReadMember(*row);
  m.joined_pos = row->OptInt(6);
  return m;
}

std::vector<MembershipRecord> RoomStore::RoomsForUser(sql::Tx& tx, std::string_view user_id,
                                                      std::string_view membership) {
  if (membership.empty()) {
    return Members(tx.Query(std::string("SELECT ") + kMemberCols +
                                " FROM memberships m JOIN rooms r ON r.room_nid = m.room_nid "
                                "WHERE m.user_id = $1 AND m.forgotten = 0",
                            {Str(user_id)}));
  }
  return Members(tx.Query(std::string("SELECT ") + kMemberCols +
                              " FROM memberships m JOIN rooms r ON r.room_nid = m.room_nid "
                              "WHERE m.user_id = $1 AND m.membership = $2 AND m.forgotten = 0",
                          {Str(user_id), Str(membership)}));
}

std::vector<MembershipRecord> RoomStore::RoomsWithHeads(sql::Tx& tx, std::string_view user_id) {
  auto res =
      tx.Query(std::string("SELECT ") + kMemberCols +
                   ", COALESCE(e.stream_pos, 0), m.joined_pos FROM memberships m JOIN rooms r ON "
                   "r.room_nid = m.room_nid LEFT JOIN events e ON e.event_nid = "
                   "r.last_event_nid WHERE m.user_id = $1 AND m.forgotten = 0",
               {Str(user_id)});
  std::vector<MembershipRecord> out;
  out.reserve(res.rows.size());
  for (const auto& r : res.rows) {
    out.push_back(ReadMember(r));
    out.back().head_pos = r.Int(6);
    out.back().joined_pos = r.OptInt(7);
  }
  return out;
}

std::vector<EventRecord> RoomStore::StateEventsBetween(sql::Tx& tx, std::int64_t room_nid,
                                                       std::int64_t from_exclusive,
                                                       std::int64_t to_exclusive) {
  auto res = tx.Query(std::string("SELECT ") + kEventCols +
                          " FROM events WHERE room_nid = $1 AND stream_pos > $2 AND stream_pos < "
                          "$3 AND state_key IS NOT NULL ORDER BY stream_pos DESC",
                      {room_nid, from_exclusive, to_exclusive});
  std::vector<EventRecord> out;
  std::set<StateKeyPair> seen;
  for (const auto& r : res.rows) {
    EventRecord e = ReadEvent(r);
    if (seen.insert({e.type, *e.state_key}).second) out.push_back(std::move(e));
  }
  std::reverse(out.begin(), out.end());
  return out;
}

std::vector<MembershipRecord> RoomStore::MembershipChanges(sql::Tx& tx, std::string_view user_id,
                                                           std::int64_t since, std::int64_t upto) {
  return Members(tx.Query(std::string("SELECT ") + kMemberCols +
                              " FROM memberships m JOIN rooms r ON r.room_nid = m.room_nid "
                              "WHERE m.user_id = $1 AND m.stream_pos > $2 AND m.stream_pos <= $3",
                          {Str(user_id), since, upto}));
}

std::map<std::int64_t, MemberSummary> RoomStore::MemberSummaries(
    sql::Tx& tx, std::string_view viewer, const std::vector<std::int64_t>& room_nids,
    std::size_t max_heroes) {
  std::map<std::int64_t, MemberSummary> out;
  for (auto nid : room_nids) out[nid];
  sql::ForEachChunk(room_nids, 500, [&](auto first, auto last) {
    std::vector<sql::Value> params;
    std::string sql = "SELECT room_nid, membership, COUNT(*) FROM memberships WHERE room_nid IN (";
    sql::AppendList(sql, params, first, last);
    sql += ") AND membership IN ('join', 'invite') GROUP BY room_nid, membership";
    for (const auto& r : tx.Query(sql, params).rows) {
      auto& s = out[r.Int(0)];
      (r.Text(1) == "join" ? s.joined : s.invited) = r.Int(2);
    }
    params.clear();
    params.emplace_back(Str(viewer));
    params.emplace_back(static_cast<std::int64_t>(max_heroes));
    sql =
        "SELECT room_nid, user_id FROM (SELECT room_nid, user_id, ROW_NUMBER() OVER (PARTITION BY "
        "room_nid ORDER BY user_id) AS n FROM memberships WHERE room_nid IN (";
    sql::AppendList(sql, params, first, last);
    sql +=
        ") AND membership IN ('join', 'invite') AND user_id <> $1) h WHERE n <= $2 ORDER BY "
        "room_nid, n";
    for (const auto& r : tx.Query(sql, params).rows) out[r.Int(0)].heroes.push_back(r.Text(1));
  });
  return out;
}

std::vector<MembershipRecord> RoomStore::RoomMembers(sql::Tx& tx, std::int64_t room_nid) {
  return Members(tx.Query(std::string("SELECT ") + kMemberCols +
                              " FROM memberships m JOIN rooms r ON r.room_nid = m.room_nid "
                              "WHERE m.room_nid = $1 ORDER BY m.user_id",
                          {room_nid}));
}

void RoomStore::Forget(sql::Tx& tx, std::int64_t room_nid, std::string_view user_id) {
  tx.Query("UPDATE memberships SET forgotten = 1 WHERE room_nid = $1 AND user_id = $2",
           {room_nid, Str(user_id)});
}

std::vector<std::string> RoomStore::UsersSharingRooms(sql::Tx& tx, std::string_view user_id) {
  auto res = tx.Query(
      "SELECT DISTINCT o.user_id FROM memberships m JOIN memberships o ON o.room_nid = "
      "m.room_nid WHERE m.user_id = $1 AND m.membership = 'join' AND o.membership = 'join'",
      {Str(user_id)});
  std::vector<std::string> out;
  for (const auto& r : res.rows) out.push_back(r.Text(0));
  return out;
}

void RoomStore::AddRelation(sql::Tx& tx, std::int64_t event_nid, std::int64_t room_nid,
                            std::string_view relates_to, std::string_view rel_type,
                            std::int64_t stream_pos) {
  tx.Defer(
      "INSERT INTO event_relations (event_nid, room_nid, relates_to, rel_type, stream_pos) VALUES "
      "($1, $2, $3, $4, $5)",
      {event_nid, room_nid, Str(relates_to), Str(rel_type), stream_pos});
}

std::optional<std::string> RoomStore::FindTxn(sql::Tx& tx, std::string_view user_id,
                                              std::string_view device_id, std::string_view txn_id) {
  auto row = tx.QueryOne(
      "SELECT event_id FROM event_txns WHERE user_id = $1 AND device_id = $2 AND txn_id = $3",
      {Str(user_id), Str(device_id), Str(txn_id)});
  if (!row) return std::nullopt;
  return row->Text(0);
}

void RoomStore::InsertTxn(sql::Tx& tx, std::string_view user_id, std::string_view device_id,
                          std::string_view txn_id, std::string_view event_id, std::int64_t ts) {
  tx.Defer(
      "INSERT INTO event_txns (user_id, device_id, txn_id, event_id, ts) VALUES ($1, $2, $3, $4, "
      "$5)",
      {Str(user_id), Str(device_id), Str(txn_id), Str(event_id), ts});
}

std::vector<RoomStore::SentTxn> RoomStore::SendsBetween(sql::Tx& tx, std::int64_t after,
                                                        std::int64_t upto, std::int64_t since_ms) {
  auto rows = tx.Query(
      "SELECT event_nid, origin_server_ts, sender, device_id, txn_id FROM events "
      "WHERE stream_pos > $1 AND stream_pos <= $2 AND txn_id IS NOT NULL "
      "AND device_id IS NOT NULL AND type <> 'm.room.redaction' AND origin_server_ts >= $3 "
      "ORDER BY stream_pos",
      {after, upto, since_ms});
  std::vector<SentTxn> out;
  out.reserve(rows.rows.size());
  for (const auto& r : rows.rows) {
    out.push_back({r.Int(0), r.Int(1), r.Text(2), r.Text(3), r.Text(4)});
  }
  return out;
}

void RoomStore::CreateAlias(sql::Tx& tx, std::string_view alias, std::int64_t room_nid,
                            std::string_view creator) {
  tx.Query("INSERT INTO room_aliases (alias, room_nid, creator) VALUES ($1, $2, $3)",
           {Str(alias), room_nid, Str(creator)});
}

std::optional<std::pair<std::string, std::string>> RoomStore::GetAlias(sql::Tx& tx,
                                                                       std::string_view alias) {
  auto row = tx.QueryOne(
      "SELECT r.room_id, a.creator FROM room_aliases a JOIN rooms r ON r.room_nid = a.room_nid "
      "WHERE a.alias = $1",
      {Str(alias)});
  if (!row) return std::nullopt;
  return std::make_pair(row->Text(0), row->Text(1));
}

bool RoomStore::DeleteAlias(sql::Tx& tx, std::string_view alias) {
  return tx.Query("DELETE FROM room_aliases WHERE alias = $1", {Str(alias)}).affected > 0;
}

std::vector<std::string> RoomStore::AliasesOf(sql::Tx& tx, std::int64_t room_nid) {
  auto res =
      tx.Query("SELECT alias FROM room_aliases WHERE room_nid = $1 ORDER BY alias", {room_nid});
  std::vector<std::string> out;
  for (const auto& r : res.rows) out.push_back(r.Text(0));
  return out;
}

}  // namespace vigie::storage
