#include "service/recent_push.h"

#include <algorithm>

namespace vigie::service {

using storage::UserDataStore;

RecentPush::Parts RecentPush::Count(const Span& span, std::string_view user_id, std::int64_t after,
                                    std::int64_t upto, std::int64_t main_after) {
  Parts out;
  const auto& rows = span.rows;
  auto it = std::upper_bound(rows.begin(), rows.end(), after,
                             [](std::int64_t pos, const auto& r) { return pos < r.stream_pos; });
  // One position at a time: its summary (at most one: one event per
  // position) counts unless the event is the user's own or the user has an
  // action there, which then counts instead if it notifies.
  while (it != rows.end() && it->stream_pos <= upto) {
    const std::int64_t pos = it->stream_pos;
    const UserDataStore::PushRow* summary = nullptr;
    const UserDataStore::PushRow* mine = nullptr;
    for (; it != rows.end() && it->stream_pos == pos; ++it) {
      if (!it->action) {
        summary = &*it;
      } else if (it->user_id == user_id) {
        mine = &*it;
      }
    }
    const UserDataStore::PushRow* counted =
        mine ? (mine->notify ? mine : nullptr)
             : (summary && summary->user_id != user_id ? summary : nullptr);
    if (counted && (counted->in_thread || pos > main_after)) {
      Counts& part = counted->in_thread ? out.threads : out.main;
      part.first += 1;
      part.second += counted->highlight ? 1 : 0;
    }
  }
  return out;
}

std::size_t RecentPush::BytesOf(const storage::UserDataStore::PushRow& r) {
  return sizeof(r) + (r.user_id.capacity() > 15 ? r.user_id.capacity() : 0);
}

void RecentPush::Add(Span& span, std::vector<storage::UserDataStore::PushRow> rows) {
  // An entry costs its slot even without rows: counted too, so that the
  // bound holds for the number of rooms kept as well.
  if (span.bytes == 0) span.bytes = sizeof(Span) + sizeof(std::int64_t);
  for (auto& r : rows) {
    span.bytes += BytesOf(r);
    span.rows.push_back(std::move(r));
  }
}

void RecentPush::Keep(std::int64_t room_nid, Span span) {
  auto& rows = span.rows;
  if (span.bytes == 0) span.bytes = sizeof(Span) + sizeof(std::int64_t);
  if (rows.size() > kPerRoom) {
    // The oldest positions go, each with all its rows.
    std::size_t drop = rows.size() - kPerRoom;
    while (drop < rows.size() && rows[drop].stream_pos == rows[drop - 1].stream_pos) ++drop;
    span.after = rows[drop - 1].stream_pos;
    for (std::size_t i = 0; i < drop; ++i) span.bytes -= BytesOf(rows[i]);
    rows.erase(rows.begin(), rows.begin() + static_cast<std::ptrdiff_t>(drop));
  }
  rooms_.Put(room_nid, std::move(span));
}

void RecentPush::Appended(std::int64_t after, std::int64_t upto,
                          const std::vector<std::pair<std::int64_t, UserDataStore::PushRow>>& rows,
                          const std::unordered_map<std::int64_t, std::int64_t>& heads_before) {
  std::unordered_map<std::int64_t, std::vector<UserDataStore::PushRow>> by_room;
  for (const auto& [room, row] : rows) by_room[room].push_back(row);
  std::lock_guard lock(mu_);
  for (const auto& [room_nid, head] : heads_before) {
    // A span short of the room's head misses rows before the batch's: left
    // for a sync to extend by reading (as is a room not kept).
    auto it = rooms_.FindReaching(room_nid, head, after);
    if (it == rooms_.end()) continue;
    Span span = std::move(it->second);
    if (auto mine = by_room.find(room_nid); mine != by_room.end()) {
      Add(span, std::move(mine->second));
    }
    span.upto = upto;
    Keep(room_nid, std::move(span));
  }
}

std::optional<RecentPush::Parts> RecentPush::Added(sql::Tx& tx, std::int64_t room_nid,
                                                   std::string_view user_id, std::int64_t after,
                                                   std::int64_t upto, bool read, std::int64_t head,
                                                   std::int64_t main_after, bool* kept) {
  if (kept) *kept = false;
  std::int64_t extend_from = -1;  // read only what is newer than what is kept
  std::int64_t kept_after = 0;
  {
    std::lock_guard lock(mu_);
    auto it = rooms_.FindUpTo(room_nid, upto, head);
    if (it != rooms_.end() && it->second.after <= after) {
      if (upto <= it->second.upto) {
        hits_.fetch_add(1, std::memory_order_relaxed);
        if (kept) *kept = true;
        return Count(it->second, user_id, after, upto, main_after);
      }
      extend_from = it->second.upto;
      kept_after = it->second.after;
    }
  }
  if (!read) return std::nullopt;
  // More than a room's worth is not kept: the caller counts in the database.
  const auto limit = static_cast<std::int64_t>(kPerRoom) + 1;
  if (extend_from >= 0) {
    auto newer = UserDataStore::PushRowsIn(tx, room_nid, extend_from, upto, limit);
    std::lock_guard lock(mu_);
    if (newer.size() > kPerRoom) {
      rooms_.Forget(room_nid);
      return std::nullopt;
    }
    auto it = rooms_.find(room_nid);
    // Unless another sync moved it on meanwhile.
    if (it != rooms_.end() && it->second.upto == extend_from && it->second.after == kept_after) {
      Span span = std::move(it->second);
      Add(span, std::move(newer));
      span.upto = upto;
      Parts out = Count(span, user_id, after, upto, main_after);
      Keep(room_nid, std::move(span));
      return out;
    }
    // Another sync of the room extended it first: likely far enough.
    if (it != rooms_.end() && it->second.after <= after && upto <= it->second.upto) {
      return Count(it->second, user_id, after, upto, main_after);
    }
  }
  Span span;
  span.after = after;
  span.upto = upto;
  auto rows = UserDataStore::PushRowsIn(tx, room_nid, after, upto, limit);
  if (rows.size() > kPerRoom) return std::nullopt;
  Add(span, std::move(rows));
  Parts out = Count(span, user_id, after, upto, main_after);
  std::lock_guard lock(mu_);
  auto it = rooms_.find(room_nid);
  // Kept unless it would replace something newer.
  if (it == rooms_.end() || it->second.upto <= upto) Keep(room_nid, std::move(span));
  return out;
}

}  // namespace vigie::service
