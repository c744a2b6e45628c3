#include "storage/user_data_store.h"

#include <algorithm>

namespace vigie::storage {
namespace {

using sql::Str;

ReceiptRecord ReadReceipt(const sql::Row& r) {
  return {r.Text(0), r.Text(1), r.Text(2), r.Text(3), r.Int(4), r.Int(5), r.Int(6)};
}
constexpr const char* kReceiptCols =
    "user_id, receipt_type, thread_id, event_id, event_stream_pos, ts, stream_pos";

PresenceRecord ReadPresence(const sql::Row& r) {
  return {r.Text(0), r.Text(1), r.OptText(2), r.Int(3), r.Int(4)};
}
constexpr const char* kPresenceCols = "user_id, state, status_msg, last_active_ts, stream_pos";
}  // namespace

std::string UserDataStore::CreateFilter(sql::Tx& tx, std::string_view user_id,
                                        std::string_view json) {
  return std::to_string(
      tx.QueryOne("INSERT INTO filters (user_id, json) VALUES ($1, $2) RETURNING filter_nid",
                  {Str(user_id), Str(json)})
          ->Int(0));
}

std::optional<std::string> UserDataStore::GetFilter(sql::Tx& tx, std::string_view user_id,
                                                    std::string_view filter_id) {
  std::int64_t nid = 0;
  for (char c : filter_id) {
    if (c < '0' || c > '9' || nid > (INT64_MAX - 9) / 10) return std::nullopt;
    nid = nid * 10 + (c - '0');
  }
  if (filter_id.empty()) return std::nullopt;
  auto row = tx.QueryOne("SELECT json FROM filters WHERE filter_nid = $1 AND user_id = $2",
                         {nid, Str(user_id)});
  if (!row) return std::nullopt;
  return row->Text(0);
}

void UserDataStore::SetAccountData(sql::Tx& tx, std::string_view user_id,
                                   const AccountDataRecord& r) {
  tx.Query(
      "INSERT INTO account_data (user_id, room_id, type, content, stream_pos) VALUES ($1, $2, "
      "$3, $4, $5) ON CONFLICT (user_id, room_id, type) DO UPDATE SET content = "
      "excluded.content, stream_pos = excluded.stream_pos",
      {Str(user_id), r.room_id, r.type, r.content, r.stream_pos});
}

std::optional<AccountDataRecord> UserDataStore::GetAccountData(sql::Tx& tx,
                                                               std::string_view user_id,
                                                               std::string_view room_id,
                                                               std::string_view type) {
  auto row = tx.QueryOne(
      "SELECT room_id, type, content, stream_pos FROM account_data WHERE user_id = $1 AND "
      "room_id = $2 AND type = $3",
      {Str(user_id), Str(room_id), Str(type)});
  if (!row) return std::nullopt;
  return AccountDataRecord{row->Text(0), row->Text(1), row->Text(2), row->Int(3)};
}

std::vector<std::pair<std::string, std::string>> UserDataStore::GlobalAccountDataOf(
    sql::Tx& tx, std::string_view type, const std::vector<std::string>& user_ids) {
  std::vector<std::pair<std::string, std::string>> out;
  sql::ForEachChunk(user_ids, 200, [&](auto first, auto last) {
    std::string sql =
        "SELECT user_id, content FROM account_data WHERE room_id = '' AND type = $1 AND "
        "user_id IN (";
    std::vector<sql::Value> params{Str(type)};
    sql::AppendList(sql, params, first, last);
    sql += ")";
    for (const auto& r : tx.Query(sql, params).rows) out.emplace_back(r.Text(0), r.Text(1));
  });
  return out;
}

std::vector<AccountDataRecord> UserDataStore::AccountDataSince(sql::Tx& tx,
                                                               std::string_view user_id,
                                                               std::int64_t since,
                                                               std::int64_t upto) {
  auto res = tx.Query(
      "SELECT room_id, type, content, stream_pos FROM account_data WHERE user_id = $1 AND "
      "stream_pos > $2 AND stream_pos <= $3 ORDER BY stream_pos",
      {Str(user_id), since, upto});
  std::vector<AccountDataRecord> out;
  for (const auto& r : res.rows) out.push_back({r.Text(0), r.Text(1), r.Text(2), r.Int(3)});
  return out;
}

void UserDataStore::SetReceipt(sql::Tx& tx, std::int64_t room_nid, const ReceiptRecord& r) {
  tx.Query(
      "INSERT INTO receipts (room_nid, user_id, receipt_type, thread_id, event_id, "
      "event_stream_pos, ts, stream_pos) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT "
      "(room_nid, user_id, receipt_type, thread_id) DO UPDATE SET event_id = excluded.event_id, "
      "event_stream_pos = excluded.event_stream_pos, ts = excluded.ts, stream_pos = "
      "excluded.stream_pos",
      {room_nid, r.user_id, r.receipt_type, r.thread_id, r.event_id, r.event_stream_pos, r.ts,
       r.stream_pos});
}

std::optional<ReceiptRecord> UserDataStore::GetReceipt(sql::Tx& tx, std::int64_t room_nid,
                                                       std::string_view user_id,
                                                       std::string_view receipt_type,
                                                       std::string_view thread_id) {
  auto row = tx.QueryOne(std::string("SELECT ") + kReceiptCols +
                             " FROM receipts WHERE room_nid = $1 AND user_id = $2 AND "
                             "receipt_type = $3 AND thread_id = $4",
                         {room_nid, Str(user_id), Str(receipt_type), Str(thread_id)});
  if (!row) return std::nullopt;
  return ReadReceipt(*row);
}

std::vector<ReceiptRecord> UserDataStore::ReceiptsSince(sql::Tx& tx, std::int64_t room_nid,
                                                        std::string_view viewer, std::int64_t since,
                                                        std::int64_t upto) {
  auto res = tx.Query(std::string("SELECT ") + kReceiptCols +
                          " FROM receipts WHERE room_nid = $1 AND stream_pos > $2 AND stream_pos "
                          "<= $3 AND receipt_type <> 'm.fully_read' AND (receipt_type <> "
                          "'m.read.private' OR user_id = $4) ORDER BY stream_pos",
                      {room_nid, since, upto, Str(viewer)});
  std::vector<ReceiptRecord> out;
  for (const auto& r : res.rows) out.push_back(ReadReceipt(r));
  return out;
}

std::vector<std::pair<std::int64_t, ReceiptRecord>> UserDataStore::ReceiptsInUserRooms(
    sql::Tx& tx, std::string_view user_id, std::int64_t since, std::int64_t upto) {
  auto res = tx.Query(
      "SELECT r.room_nid, r.user_id, r.receipt_type, r.thread_id, r.event_id, "
      "r.event_stream_pos, r.ts, r.stream_pos FROM receipts r JOIN memberships m ON m.room_nid = "
      "r.room_nid AND m.user_id = $1 AND m.membership = 'join' WHERE r.stream_pos > $2 AND "
      "r.stream_pos <= $3 AND r.receipt_type <> 'm.fully_read' AND (r.receipt_type <> "
      "'m.read.private' OR r.user_id = $1) ORDER BY r.stream_pos",
      {Str(user_id), since, upto});
  std::vector<std::pair<std::int64_t, ReceiptRecord>> out;
  for (const auto& r : res.rows) {
    out.emplace_back(r.Int(0), ReceiptRecord{r.Text(1), r.Text(2), r.Text(3), r.Text(4), r.Int(5),
                                             r.Int(6), r.Int(7)});
  }
  return out;
}

void UserDataStore::SetPresence(sql::Tx& tx, const PresenceRecord& r) {
  tx.Query(
      "INSERT INTO presence (user_id, state, status_msg, last_active_ts, stream_pos) VALUES ($1, "
      "$2, $3, $4, $5) ON CONFLICT (user_id) DO UPDATE SET state = excluded.state, status_msg = "
      "excluded.status_msg, last_active_ts = excluded.last_active_ts, stream_pos = "
      "excluded.stream_pos",
      {r.user_id, r.state, r.status_msg ? sql::Value(*r.status_msg) : sql::kNull, r.last_active_ts,
       r.stream_pos});
}

void UserDataStore::TouchPresence(sql::Tx& tx, std::string_view user_id,
                                  std::int64_t last_active_ts) {
  tx.Defer("UPDATE presence SET last_active_ts = $1 WHERE user_id = $2",
           {last_active_ts, Str(user_id)});
}

std::optional<PresenceRecord> UserDataStore::GetPresence(sql::Tx& tx, std::string_view user_id) {
  auto row = tx.QueryOne(
      std::string("SELECT ") + kPresenceCols + " FROM presence WHERE user_id = $1", {Str(user_id)});
  if (!row) return std::nullopt;
  return ReadPresence(*row);
}

std::vector<PresenceRecord> UserDataStore::PresenceSince(sql::Tx& tx,
                                                         const std::set<std::string>& users,
                                                         std::int64_t since, std::int64_t upto) {
  std::vector<PresenceRecord> out;
  // Past this many users, an incremental sync's range is the cheaper read.
  constexpr std::size_t kByKeyMax = 1000;
  if (since > 0 && users.size() > kByKeyMax) {
    auto res = tx.Query(std::string("SELECT ") + kPresenceCols +
                            " FROM presence WHERE stream_pos > $1 AND stream_pos <= $2",
                        {since, upto});
    for (const auto& r : res.rows) {
      if (users.count(r.Text(0))) out.push_back(ReadPresence(r));
    }
    return out;
  }
  sql::ForEachChunk(users, 500, [&](auto first, auto last) {
    std::vector<sql::Value> params{since, upto};
    std::string in;
    sql::AppendList(in, params, first, last);
    auto res =
        tx.Query(std::string("SELECT ") + kPresenceCols + " FROM presence WHERE user_id IN (" + in +
                     ") AND stream_pos > $1 AND stream_pos <= $2",
                 params);
    for (const auto& r : res.rows) out.push_back(ReadPresence(r));
  });
  return out;
}

void UserDataStore::AddPushSummary(sql::Tx& tx, std::int64_t room_nid, std::int64_t stream_pos,
                                   std::string_view thread_id, std::string_view sender,
                                   bool highlight) {
  tx.Defer(
      "INSERT INTO event_push_summary (room_nid, in_thread, stream_pos, thread_id, sender, "
      "highlight) VALUES ($1, $2, $3, $4, $5, $6)",
      {room_nid, std::int64_t{thread_id != kMainThread}, stream_pos, Str(thread_id), Str(sender),
       std::int64_t{highlight}});
}

void UserDataStore::AddPushActions(sql::Tx& tx, std::int64_t room_nid, std::int64_t stream_pos,
                                   std::string_view thread_id,
                                   const std::vector<PushAction>& actions) {
  sql::ForEachChunk(actions, 200, [&](auto first, auto last) {
    std::string sql =
        "INSERT INTO event_push_actions (room_nid, stream_pos, thread_id, user_id, notify, "
        "highlight) VALUES ";
    // (emplace_back rather than an initializer list: GCC 12 -O2 reports a
    // false maybe-uninitialized on variant<..., string> temporaries.)
    std::vector<sql::Value> params;
    params.reserve(3 + 3 * static_cast<std::size_t>(last - first));
    params.emplace_back(room_nid);
    params.emplace_back(stream_pos);
    params.emplace_back(std::string(thread_id));
    for (auto it = first; it != last; ++it) {
      const sql::Value row[] = {it->user_id, std::int64_t{it->notify}, std::int64_t{it->highlight}};
      sql += it == first ? "($1, $2, $3, " : ", ($1, $2, $3, ";
      sql::AppendList(sql, params, std::begin(row), std::end(row));
      sql += ")";
    }
    tx.Defer(sql, params);
  });
}

void UserDataStore::ClearPushActions(sql::Tx& tx, std::int64_t room_nid, std::string_view user_id,
                                     std::int64_t upto_pos, std::string_view thread_id) {
  tx.Defer(
      "INSERT INTO push_read_marks (room_nid, user_id, thread_id, stream_pos) VALUES ($1, $2, $3, "
      "$4) ON CONFLICT (room_nid, user_id, thread_id) DO UPDATE SET stream_pos = CASE WHEN "
      "excluded.stream_pos > push_read_marks.stream_pos THEN excluded.stream_pos ELSE "
      "push_read_marks.stream_pos END",
      {room_nid, Str(user_id), Str(thread_id), upto_pos});
  if (thread_id.empty()) {
    tx.Defer(
        "DELETE FROM event_push_actions WHERE room_nid = $1 AND user_id = $2 AND stream_pos <= $3",
        {room_nid, Str(user_id), upto_pos});
    return;
  }
  tx.Defer(
      "DELETE FROM event_push_actions WHERE room_nid = $1 AND user_id = $2 AND stream_pos <= $3 "
      "AND thread_id = $4",
      {room_nid, Str(user_id), upto_pos, Str(thread_id)});
}

namespace {

// 1 if the push action aliased `a` is in a thread, else 0: what a
// summary stores as in_thread, which an action has only as its thread id.
std::string ActionInThread(std::string_view a) {
  return "CASE WHEN " + std::string(a) + ".thread_id = '" +
         std::string(UserDataStore::kMainThread) + "' THEN 0 ELSE 1 END";
}

// The parts of counts of (notifications, highlights) in all, and in threads.
UserDataStore::UnreadParts PartsOf(std::int64_t n, std::int64_t h, std::int64_t thread_n,
                                   std::int64_t thread_h) {
  return {{n - thread_n, h - thread_h}, {thread_n, thread_h}};
}

// PostgreSQL's CountUnread: each room's bounds once in a materialised
// CTE (cheap there, and one plan for 250 rooms where a block per room
// would be planned 250 times), then the same three ranges joined to it.
std::map<std::int64_t, UserDataStore::UnreadParts> CountUnreadJoined(
    sql::Tx& tx, std::string_view user_id,
    const std::vector<std::pair<std::int64_t, std::int64_t>>& room_after, std::int64_t upto) {
  std::map<std::int64_t, UserDataStore::UnreadParts> out;
  sql::ForEachChunk(room_after, 250, [&](auto first, auto last) {
    std::vector<sql::Value> params;
    params.emplace_back(Str(user_id));
    params.emplace_back(upto);
    params.emplace_back(std::string(UserDataStore::kMainThread));
    std::string sql = "WITH given(room_nid, since_pos) AS (VALUES ";
    for (auto it = first; it != last; ++it) {
      const sql::Value row[] = {it->first, it->second};
      sql += it == first ? "(" : ", (";
      sql::AppendList(sql, params, std::begin(row), std::end(row));
      sql += ")";
    }
    // (Parameters alone in VALUES are typed as text.)
    sql += R"sql(), v AS (SELECT CAST(room_nid AS BIGINT) AS room_nid,
        CAST(since_pos AS BIGINT) AS since_pos FROM given),
      b AS MATERIALIZED (SELECT v.room_nid AS room_nid, GREATEST(v.since_pos,
        COALESCE((SELECT r.event_stream_pos FROM receipts r WHERE r.room_nid = v.room_nid
                  AND r.user_id = $1 AND r.receipt_type = 'm.read' AND r.thread_id = ''), 0),
        COALESCE((SELECT k.stream_pos FROM push_read_marks k WHERE k.room_nid = v.room_nid
                  AND k.user_id = $1 AND k.thread_id = ''), 0)) AS pos FROM v),
      q AS MATERIALIZED (SELECT b.room_nid AS room_nid, b.pos AS pos, GREATEST(b.pos,
        COALESCE((SELECT k.stream_pos FROM push_read_marks k WHERE k.room_nid = b.room_nid
                  AND k.user_id = $1 AND k.thread_id = $3), 0)) AS main_pos FROM b)
      SELECT n.room_nid, COUNT(*), COALESCE(SUM(n.highlight), 0), COALESCE(SUM(n.t), 0),
             COALESCE(SUM(n.t * n.highlight), 0) FROM (
        SELECT s.room_nid AS room_nid, s.highlight AS highlight, 0 AS t
          FROM q JOIN event_push_summary s ON s.room_nid = q.room_nid AND s.in_thread = 0
           AND s.stream_pos > q.main_pos AND s.stream_pos <= $2
         WHERE s.sender <> $1 AND NOT EXISTS (
               SELECT 1 FROM event_push_actions a WHERE a.room_nid = s.room_nid
                  AND a.user_id = $1 AND a.stream_pos = s.stream_pos)
        UNION ALL
        SELECT s.room_nid, s.highlight, 1
          FROM q JOIN event_push_summary s ON s.room_nid = q.room_nid AND s.in_thread = 1
           AND s.stream_pos > q.pos AND s.stream_pos <= $2
         WHERE s.sender <> $1 AND NOT EXISTS (
               SELECT 1 FROM event_push_actions a WHERE a.room_nid = s.room_nid
                  AND a.user_id = $1 AND a.stream_pos = s.stream_pos)
           AND s.stream_pos > COALESCE((SELECT k.stream_pos FROM push_read_marks k
                 WHERE k.room_nid = s.room_nid AND k.user_id = $1
                   AND k.thread_id = s.thread_id), 0)
        UNION ALL
        SELECT a.room_nid, a.highlight, )sql" +
           ActionInThread("a") + R"sql(
          FROM q JOIN event_push_actions a ON a.room_nid = q.room_nid AND a.user_id = $1
           AND a.stream_pos > q.pos AND a.stream_pos <= $2
         WHERE a.notify = 1 AND a.stream_pos > COALESCE((SELECT k.stream_pos FROM push_read_marks k
                 WHERE k.room_nid = a.room_nid AND k.user_id = $1
                   AND k.thread_id = a.thread_id), 0)) n
       GROUP BY n.room_nid)sql";
    for (const auto& r : tx.Query(sql, params).rows) {
      out[r.Int(0)] = PartsOf(r.Int(1), r.Int(2), r.Int(3), r.Int(4));
    }
  });
  return out;
}

// (notifications, highlights) per room of `room_after` at positions in
// (after, upto] and above the user's unthreaded m.read receipt and read
// marks; rooms with none are absent. On SQLite, one statement per room,
// the same text for every room (prepared once per connection: a statement
// of 50 rooms' blocks took milliseconds to prepare), of plain index ranges
// (no temporary tables: a materialised table costs SQLite an allocation of
// its own per statement, which took half the CPU at 750 sends/s over 20
// rooms): the room's
// main-timeline summaries above its main-timeline bound, its threads'
// summaries above the all-threads bound and their thread's mark, both
// less those the user has an action for; and the user's notifying
// actions. Each bound is computed once per statement.
std::map<std::int64_t, UserDataStore::UnreadParts> CountUnread(
    sql::Tx& tx, std::string_view user_id,
    const std::vector<std::pair<std::int64_t, std::int64_t>>& room_after, std::int64_t upto) {
  if (tx.dialect() == sql::Dialect::kPostgres)
    return CountUnreadJoined(tx, user_id, room_after, upto);
  // $1 user, $2 upto, $3 the main thread's id, $4 room, $5 after.
  static const std::string kSql = [] {
    auto mark = [](const std::string& thread) {
      return "COALESCE((SELECT k.stream_pos FROM push_read_marks k WHERE k.room_nid = $4 AND "
             "k.user_id = $1 AND k.thread_id = " +
             thread + "), 0)";
    };
    const std::string all_bound =
        "MAX($5, COALESCE((SELECT r.event_stream_pos FROM receipts r WHERE r.room_nid = $4 AND "
        "r.user_id = $1 AND r.receipt_type = 'm.read' AND r.thread_id = ''), 0), " +
        mark("''") + ")";
    const std::string main_bound = "MAX(" + all_bound + ", " + mark("$3") + ")";
    auto summaries = [](int in_thread, const std::string& bound) {
      return "SELECT s.highlight AS h, " + std::to_string(in_thread) +
             " AS t FROM event_push_summary s WHERE s.room_nid = $4 AND "
             "s.in_thread = " +
             std::to_string(in_thread) + " AND s.stream_pos > " + bound +
             " AND s.stream_pos <= $2 AND s.sender <> $1 AND NOT EXISTS (SELECT 1 FROM "
             "event_push_actions a WHERE a.room_nid = s.room_nid AND a.user_id = $1 AND "
             "a.stream_pos = s.stream_pos)";
    };
    return "SELECT COUNT(*), COALESCE(SUM(n.h), 0), COALESCE(SUM(n.t), 0), COALESCE(SUM(n.t * "
           "n.h), 0) FROM (" +
           summaries(0, main_bound) + " UNION ALL " + summaries(1, all_bound) +
           " AND s.stream_pos > COALESCE((SELECT k.stream_pos FROM push_read_marks k WHERE "
           "k.room_nid = s.room_nid AND k.user_id = $1 AND k.thread_id = s.thread_id), 0)"
           " UNION ALL SELECT a.highlight, " +
           ActionInThread("a") +
           " FROM event_push_actions a WHERE a.room_nid = $4 AND "
           "a.user_id = $1 AND a.stream_pos > " +
           all_bound +
           " AND a.stream_pos <= $2 AND a.notify = 1 AND a.stream_pos > COALESCE((SELECT "
           "k.stream_pos FROM push_read_marks k WHERE k.room_nid = a.room_nid AND k.user_id = "
           "$1 AND k.thread_id = a.thread_id), 0)) n";
  }();
  std::map<std::int64_t, UserDataStore::UnreadParts> out;
  for (const auto& [room_nid, after] : room_after) {
    auto r =
        tx.QueryOne(kSql, {Str(user_id), upto, Str(UserDataStore::kMainThread), room_nid, after});
    if (r && r->Int(0) > 0) out[room_nid] = PartsOf(r->Int(0), r->Int(1), r->Int(2), r->Int(3));
  }
  return out;
}

}  // namespace

std::pair<std::int64_t, std::int64_t> UserDataStore::UnreadCounts(sql::Tx& tx,
                                                                  std::int64_t room_nid,
                                                                  std::string_view user_id) {
  auto counts = UnreadCountsIn(tx, user_id, {room_nid});
  auto it = counts.find(room_nid);
  return it == counts.end() ? Counts{0, 0} : it->second.Total();
}

std::map<std::int64_t, UserDataStore::UnreadParts> UserDataStore::UnreadCountsIn(
    sql::Tx& tx, std::string_view user_id, const std::vector<std::int64_t>& room_nids,
    std::int64_t upto) {
  std::vector<std::pair<std::int64_t, std::int64_t>> from_start;
  from_start.reserve(room_nids.size());
  for (std::int64_t nid : room_nids) from_start.emplace_back(nid, 0);
  return CountUnread(tx, user_id, from_start, upto);
}

std::map<std::int64_t, UserDataStore::UnreadParts> UserDataStore::UnreadAddedIn(
    sql::Tx& tx, std::string_view user_id,
    const std::vector<std::pair<std::int64_t, std::int64_t>>& room_after, std::int64_t upto) {
  auto out = CountUnread(tx, user_id, room_after, upto);
  for (const auto& [nid, _] : room_after) out.try_emplace(nid);
  return out;
}

std::vector<UserDataStore::PushRow> UserDataStore::PushRowsIn(sql::Tx& tx, std::int64_t room_nid,
                                                              std::int64_t after, std::int64_t upto,
                                                              std::int64_t limit) {
  // (One branch per in_thread value, so that each is a range of the
  // summaries' key.)
  static const std::string kSql =
      "SELECT stream_pos, 0, sender, 1, highlight, 0 FROM event_push_summary WHERE room_nid = $1 "
      "AND in_thread = 0 AND stream_pos > $2 AND stream_pos <= $3 "
      "UNION ALL SELECT stream_pos, 0, sender, 1, highlight, 1 FROM event_push_summary WHERE "
      "room_nid = $1 AND in_thread = 1 AND stream_pos > $2 AND stream_pos <= $3 "
      "UNION ALL SELECT a.stream_pos, 1, a.user_id, a.notify, a.highlight, " +
      ActionInThread("a") +
      " FROM event_push_actions a WHERE a.room_nid = $1 AND a.stream_pos > $2 AND "
      "a.stream_pos <= $3 ORDER BY 1, 2 LIMIT $4";
  auto res = tx.Query(kSql, {room_nid, after, upto, limit});
  std::vector<PushRow> out;
  out.reserve(res.rows.size());
  for (const auto& r : res.rows) {
    out.push_back({r.Int(0), r.Bool(1), r.Text(2), r.Bool(3), r.Bool(4), r.Bool(5)});
  }
  return out;
}

std::optional<std::string> UserDataStore::NoticeRoom(sql::Tx& tx, std::string_view user_id) {
  auto r = tx.QueryOne("SELECT room_id FROM server_notice_rooms WHERE user_id = $1",
                       {std::string(user_id)});
  if (!r) return std::nullopt;
  return r->Text(0);
}

std::string UserDataStore::SetNoticeRoom(sql::Tx& tx, std::string_view user_id,
                                         std::string_view room_id) {
  tx.Query(
      "INSERT INTO server_notice_rooms (user_id, room_id) VALUES ($1, $2) ON CONFLICT (user_id) "
      "DO NOTHING",
      {std::string(user_id), std::string(room_id)});
  return *NoticeRoom(tx, user_id);
}

}  // namespace vigie::storage
