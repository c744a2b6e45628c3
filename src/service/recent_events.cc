#include "service/recent_events.h"

#include <algorithm>

namespace vigie::service {

using storage::Direction;
using storage::EventRecord;
using storage::RoomStore;
using storage::SharedEventRecord;

namespace {

std::size_t BytesOf(const EventRecord& e) {
  return sizeof(EventRecord) + e.json.size() + e.event_id.size() + e.type.size() + e.sender.size() +
         (e.redacted_because ? e.redacted_because->size() : 0);
}

}  // namespace

bool RecentEvents::Serve(const Span& span, std::int64_t after, std::int64_t upto,
                         std::int64_t limit, std::vector<SharedEventRecord>& out) {
  if (upto > span.upto) return false;
  out.clear();
  for (auto it = span.events.rbegin(); it != span.events.rend(); ++it) {
    if ((*it)->stream_pos > upto) continue;
    if ((*it)->stream_pos <= after || static_cast<std::int64_t>(out.size()) == limit) return true;
    out.push_back(*it);
  }
  // Ran out of kept events: complete only if nothing older was asked for.
  return after >= span.after || static_cast<std::int64_t>(out.size()) == limit;
}

void RecentEvents::Add(Span& span, SharedEventRecord e) {
  // An entry costs its slot even without events: counted too, so that the
  // bound holds for the number of rooms kept as well.
  if (span.bytes == 0) span.bytes = sizeof(Span) + sizeof(std::int64_t);
  span.bytes += BytesOf(*e);
  span.events.push_back(std::move(e));
}

void RecentEvents::Keep(std::int64_t room_nid, Span span) {
  if (span.bytes == 0) span.bytes = sizeof(Span) + sizeof(std::int64_t);
  if (span.events.size() > kPerRoom) {
    const auto drop = static_cast<std::ptrdiff_t>(span.events.size() - kPerRoom);
    span.after = span.events[static_cast<std::size_t>(drop - 1)]->stream_pos;
    for (auto it = span.events.begin(); it != span.events.begin() + drop; ++it) {
      span.bytes -= BytesOf(**it);
    }
    span.events.erase(span.events.begin(), span.events.begin() + drop);
  }
  rooms_.Put(room_nid, std::move(span));
}

void RecentEvents::Appended(std::int64_t after, std::int64_t upto,
                            const std::vector<SharedEventRecord>& events,
                            const std::unordered_map<std::int64_t, std::int64_t>& heads_before) {
  // Each room's events of the batch, in position order.
  struct Batch {
    std::vector<const SharedEventRecord*> events;
    bool redacts = false;
  };
  std::unordered_map<std::int64_t, Batch> by_room;
  for (const auto& e : events) {
    Batch& b = by_room[e->room_nid];
    b.events.push_back(&e);
    b.redacts |= e->type == "m.room.redaction";
  }
  std::lock_guard lock(mu_);
  for (const auto& [room_nid, b] : by_room) {
    if (b.redacts) {
      rooms_.Forget(room_nid);
      continue;
    }
    // A span short of the room's head misses events before the batch's:
    // left for a sync to extend by reading (as is a room not kept).
    auto it = rooms_.FindReaching(room_nid, heads_before.at(room_nid), after);
    if (it == rooms_.end()) continue;
    Span span = std::move(it->second);
    for (const SharedEventRecord* e : b.events) Add(span, *e);
    span.upto = upto;
    Keep(room_nid, std::move(span));
  }
}

std::vector<SharedEventRecord> RecentEvents::Newest(sql::Tx& tx, std::int64_t room_nid,
                                                    std::int64_t after, std::int64_t upto,
                                                    std::int64_t limit, std::int64_t head,
                                                    bool* kept) {
  if (kept) *kept = false;
  std::vector<SharedEventRecord> out;
  std::int64_t extend_from = -1;  // read only what is newer than what is kept
  std::int64_t kept_after = 0;
  {
    std::lock_guard lock(mu_);
    auto it = rooms_.FindUpTo(room_nid, upto, head);
    if (it != rooms_.end()) {
      if (Serve(it->second, after, upto, limit, out)) {
        hits_.fetch_add(1, std::memory_order_relaxed);
        if (kept) *kept = true;
        return out;
      }
      if (upto > it->second.upto) {
        extend_from = it->second.upto;
        kept_after = it->second.after;
      }
    }
  }
  if (extend_from >= 0) {
    // Newer events only; at most a room's worth (more means start afresh).
    auto newer =
        RoomStore::RoomEvents(tx, room_nid, extend_from, upto,
                              static_cast<std::int64_t>(kPerRoom) + 1, Direction::kForward);
    // A redaction rewrites an event that may be kept: start afresh.
    const bool redacts = std::any_of(newer.begin(), newer.end(), [](const EventRecord& e) {
      return e.type == "m.room.redaction";
    });
    if (newer.size() <= kPerRoom && !redacts) {
      std::lock_guard lock(mu_);
      auto it = rooms_.find(room_nid);
      // Unless another sync moved it on meanwhile.
      if (it != rooms_.end() && it->second.upto == extend_from && it->second.after == kept_after) {
        Span span = std::move(it->second);
        for (auto& e : newer) Add(span, std::make_shared<EventRecord>(std::move(e)));
        span.upto = upto;
        Keep(room_nid, std::move(span));
        if (Serve(rooms_.at(room_nid), after, upto, limit, out)) return out;
      } else if (it != rooms_.end() && Serve(it->second, after, upto, limit, out)) {
        return out;  // another sync of the room extended it first, far enough
      }
    } else {
      std::lock_guard lock(mu_);
      rooms_.Forget(room_nid);
    }
  }
  out.clear();  // what a failed Serve left
  for (auto& e : RoomStore::RoomEvents(tx, room_nid, after, upto, limit, Direction::kBackward)) {
    out.push_back(std::make_shared<EventRecord>(std::move(e)));
  }
  // Newest first: together they are every event in (after', upto], where
  // after' is the position before the oldest if the limit cut the read.
  Span span;
  span.upto = upto;
  span.after = static_cast<std::int64_t>(out.size()) == limit && !out.empty()
                   ? out.back()->stream_pos - 1
                   : after;
  span.events.reserve(out.size());
  for (auto it = out.rbegin(); it != out.rend(); ++it) Add(span, *it);
  std::lock_guard lock(mu_);
  auto it = rooms_.find(room_nid);
  // Kept unless it would replace something newer.
  if (it == rooms_.end() || it->second.upto <= upto) Keep(room_nid, std::move(span));
  return out;
}

}  // namespace vigie::service
