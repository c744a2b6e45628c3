#include "service/history_service.h"

#include <algorithm>
#include <boost/json/parse.hpp>
#include <set>

#include "common/error.h"
#include "common/offload.h"
#include "events/event.h"
#include "service/room_service.h"
#include "service/sync_service.h"
#include "storage/relation_store.h"

namespace vigie::service {

using storage::Direction;
using storage::EventRecord;
using storage::RelationStore;
using storage::RoomStore;

namespace {

constexpr std::int64_t kDefaultMessagesLimit = 10;
constexpr std::int64_t kDefaultRelationsLimit = 50;
constexpr std::int64_t kDefaultThreadsLimit = 20;
constexpr std::int64_t kMaxLimit = 1000;
constexpr std::int64_t kMaxThreadsLimit = 100;
// Rows one filtered page may examine before it returns what it has (with
// an `end` token, so that the client continues): bounds the work a filter
// that matches little can cause.
constexpr std::int64_t kMaxScan = 5000;

// content.m.relates_to.rel_type, or "".
std::string RelTypeOf(const boost::json::object& content) {
  const auto* rel = content.if_contains("m.relates_to");
  if (!rel || !rel->is_object()) return "";
  const auto* t = rel->as_object().if_contains("rel_type");
  return t && t->is_string() ? std::string(t->as_string()) : "";
}

bool Restricts(const RoomEventFilter& f) {
  return f.types || f.not_types || f.senders || f.not_senders || f.contains_url;
}

bool Matches(const RoomEventFilter& f, const EventRecord& e) {
  return f.MatchesEventJson(e.type, e.sender, e.json);
}

struct Readable {
  storage::RoomRecord room;
  std::int64_t upto = 0;  // the user reads events at or before this position
  bool live = false;      // joined: new events will become visible
};

// The room and how far `user_id` may read it; M_FORBIDDEN when not at all
// (an unknown room looks the same, so that ids cannot be probed).
Readable OpenReadable(sql::Tx& tx, const std::string& room_id, const std::string& user_id,
                      std::int64_t current) {
  auto room = RoomStore::GetRoom(tx, room_id);
  if (!room) throw Forbidden("You are not allowed to read this room");
  auto upto = VisibleUpTo(tx, room->room_nid, user_id, current);
  if (!upto) throw Forbidden("You are not allowed to read this room");
  return {*room, std::min(*upto, current), *upto >= current};
}

// The event `event_id` of `r.room`, if the user can see it.
std::optional<EventRecord> VisibleEvent(sql::Tx& tx, const Readable& r,
                                        const std::string& event_id) {
  auto ev = RoomStore::GetEvent(tx, event_id);
  if (!ev || ev->room_nid != r.room.room_nid || ev->stream_pos > r.upto) return std::nullopt;
  return ev;
}

std::int64_t Clamp(std::optional<std::int64_t> v, std::int64_t dflt, std::int64_t max) {
  return std::clamp<std::int64_t>(v.value_or(dflt), 1, max);
}

// A walk along a room's events from a point in one direction, keeping the
// events that match a filter.
struct Walk {
  std::vector<EventRecord> events;
  std::int64_t cursor = 0;  // the point reached: continue from here
  bool exhausted = false;   // reached `bound`: nothing further
};

// Backward: events in (bound, from], newest first. Forward: events in
// (from, bound], oldest first. At most `limit` matching events, and at
// most kMaxScan examined.
Walk WalkRoom(sql::Tx& tx, std::int64_t room_nid, Direction dir, std::int64_t from,
              std::int64_t bound, std::int64_t limit, const RoomEventFilter& f) {
  const bool back = dir == Direction::kBackward;
  Walk w;
  w.cursor = from;
  if (limit <= 0) return w;
  const bool filtering = Restricts(f);
  std::int64_t scanned = 0;
  for (;;) {
    const std::int64_t lo = back ? bound : w.cursor;
    const std::int64_t hi = back ? w.cursor : bound;
    if (lo >= hi) {
      w.exhausted = true;
      w.cursor = bound;
      return w;
    }
    const std::int64_t want = limit - static_cast<std::int64_t>(w.events.size());
    // Unfiltered, one row beyond the page tells whether more exist.
    const std::int64_t batch = filtering ? std::max<std::int64_t>(want * 2, 100) : want + 1;
    auto rows = RoomStore::RoomEvents(tx, room_nid, lo, hi, batch, dir);
    for (auto& e : rows) {
      if (static_cast<std::int64_t>(w.events.size()) == limit) return w;  // more remain
      w.cursor = back ? e.stream_pos - 1 : e.stream_pos;
      ++scanned;
      if (Matches(f, e)) w.events.push_back(std::move(e));
    }
    if (static_cast<std::int64_t>(rows.size()) < batch) {
      w.exhausted = true;
      w.cursor = bound;
      return w;
    }
    if (static_cast<std::int64_t>(w.events.size()) == limit || scanned >= kMaxScan) return w;
  }
}

std::map<std::int64_t, EventRecord> LoadByNid(sql::Tx& tx, const std::vector<std::int64_t>& nids) {
  std::map<std::int64_t, EventRecord> by_nid;
  for (auto& e : RoomStore::GetEventsByNid(tx, nids)) by_nid.emplace(e.event_nid, std::move(e));
  return by_nid;
}

// The events of `nids`, in the order given.
std::vector<EventRecord> LoadInOrder(sql::Tx& tx, const std::vector<std::int64_t>& nids) {
  auto by_nid = LoadByNid(tx, nids);
  std::vector<EventRecord> out;
  out.reserve(nids.size());
  for (auto nid : nids) {
    auto it = by_nid.find(nid);
    if (it != by_nid.end()) out.push_back(std::move(it->second));
  }
  return out;
}

// The state after `at`, as events: all of it, or only the membership
// events of `members` when that is given.
std::vector<EventRecord> StateAfter(sql::Tx& tx, const EventRecord& at,
                                    const std::set<std::string>* members) {
  std::vector<std::int64_t> nids;
  for (const auto& [key, nid] : RoomStore::LoadStateGroup(tx, at.state_group)) {
    if (members && (key.first != "m.room.member" || !members->count(key.second))) continue;
    nids.push_back(nid);
  }
  return RoomStore::GetEventsByNid(tx, nids);
}

// Bundled aggregations for `events` (state events get none), counting
// children at or before `upto`. The latest reply of each thread gets its
// own aggregations (its edits, references) as the spec asks; threads do
// not nest, so that second level looks for no threads.
void Aggregate(sql::Tx& tx, std::int64_t room_nid, std::int64_t upto, const std::string& user_id,
               const std::vector<const EventRecord*>& events, Bundles& out, int depth = 0) {
  std::vector<std::string> ids;
  std::map<std::string, const EventRecord*> parents;
  for (const auto* e : events) {
    if (e->state_key || out.count(e->event_id) || parents.count(e->event_id)) continue;
    ids.push_back(e->event_id);
    parents.emplace(e->event_id, e);
  }
  if (ids.empty()) return;

  Bundles found;
  if (depth == 0) {
    auto threads = RelationStore::ThreadSummaries(tx, room_nid, ids, user_id, upto);
    std::vector<std::int64_t> nids;
    for (const auto& t : threads) nids.push_back(t.latest_nid);
    auto latest = LoadByNid(tx, nids);
    for (const auto& t : threads) {
      auto it = latest.find(t.latest_nid);
      if (it == latest.end()) continue;
      found[t.root_event_id].thread =
          ThreadSummary{std::move(it->second), t.count,
                        t.participated || parents.at(t.root_event_id)->sender == user_id};
    }
  }

  // Edits: the most recent valid replacement (same sender and type as the
  // original, neither a state event, the original not itself an edit, and
  // an m.new_content), by origin_server_ts then event id.
  std::map<std::string, std::vector<storage::RelatedChild>> edits;
  for (auto& c : RelationStore::ChildrenOf(tx, room_nid, ids, {"m.replace", "m.reference"}, upto)) {
    if (c.rel_type == "m.reference") {
      found[c.parent_event_id].references.push_back(c.event_id);
      continue;
    }
    const EventRecord& parent = *parents.at(c.parent_event_id);
    if (c.sender != parent.sender || c.type != parent.type || c.is_state) continue;
    edits[c.parent_event_id].push_back(std::move(c));
  }
  for (auto& [parent_id, candidates] : edits) {
    if (RelTypeOf(events::ContentOf(parents.at(parent_id)->json)) == "m.replace") continue;
    std::sort(candidates.begin(), candidates.end(), [](const auto& a, const auto& b) {
      return std::tie(a.origin_server_ts, a.event_id) > std::tie(b.origin_server_ts, b.event_id);
    });
    for (const auto& c : candidates) {
      auto ev = RoomStore::GetEventByNid(tx, c.event_nid);
      if (!ev) continue;
      auto content = events::ContentOf(ev->json);
      const auto* nc = content.if_contains("m.new_content");
      if (!nc || !nc->is_object()) continue;
      found[parent_id].replace = std::move(*ev);
      break;
    }
  }
  std::vector<const EventRecord*> next;  // the latest replies, now owned by `out`
  for (auto& [id, b] : found) {
    auto& dst = out[id] = std::move(b);
    if (dst.thread) next.push_back(&dst.thread->latest);
  }
  if (!next.empty()) {
    Bundles nested;
    Aggregate(tx, room_nid, upto, user_id, next, nested, depth + 1);
    for (auto& [id, b] : nested) out.emplace(id, std::move(b));
  }
}

std::vector<const EventRecord*> Pointers(std::initializer_list<const std::vector<EventRecord>*> vs,
                                         const EventRecord* extra = nullptr) {
  std::vector<const EventRecord*> out;
  for (const auto* v : vs) {
    for (const auto& e : *v) out.push_back(&e);
  }
  if (extra) out.push_back(extra);
  return out;
}

}  // namespace

boost::asio::awaitable<MessagesPage> HistoryService::Messages(const Requester& who,
                                                              const std::string& room_id,
                                                              MessagesRequest req) {
  std::optional<SyncToken> from, to;
  if (req.from) from = SyncToken::Parse(*req.from);
  if (req.to) to = SyncToken::Parse(*req.to);
  const std::int64_t limit =
      Clamp(req.limit ? req.limit : req.filter.limit, kDefaultMessagesLimit, kMaxLimit);
  const std::int64_t current = stream_.Current();
  co_return co_await Offload(ctx_.db_pool, [&] {
    return ctx_.db.Read([&](sql::Tx& tx) {
      Readable r = OpenReadable(tx, room_id, who.user_id, current);
      const bool back = req.dir == Direction::kBackward;
      const std::int64_t typing = from ? from->typing : 0;
      auto token = [&](std::int64_t pos) { return SyncToken{pos, typing}.ToString(); };

      // The walk: backward from `from` (or the newest visible event) down
      // to `to` (or the room's start); forward from `from` (or the start)
      // up to `to` (or the newest visible event).
      std::int64_t start, bound;
      if (back) {
        start = from ? std::min(from->pos, r.upto) : r.upto;
        bound = to ? std::max<std::int64_t>(to->pos, 0) : 0;
      } else {
        start = from ? from->pos : 0;
        bound = to ? std::min(to->pos, r.upto) : r.upto;
      }
      MessagesPage page;
      page.room_id = room_id;
      page.start = req.from ? *req.from : token(start);
      if (!req.filter.MatchesRoom(room_id)) return page;

      Walk w = WalkRoom(tx, r.room.room_nid, req.dir, start, bound, limit, req.filter);
      page.chunk = std::move(w.events);
      if (!w.exhausted) {
        page.end = token(w.cursor);
      } else if (!back && r.live && !to && !page.chunk.empty()) {
        // At the live end: more may come, continue from here.
        page.end = token(w.cursor);
      }

      if (req.filter.lazy_load_members && !page.chunk.empty()) {
        std::set<std::string> senders;
        for (const auto& e : page.chunk) senders.insert(e.sender);
        // Every sender's membership is in the state after the newest event.
        const EventRecord& newest = back ? page.chunk.front() : page.chunk.back();
        page.state = StateAfter(tx, newest, &senders);
      }
      Aggregate(tx, r.room.room_nid, r.upto, who.user_id, Pointers({&page.chunk}), page.bundles);
      return page;
    });
  });
}

boost::asio::awaitable<ContextPage> HistoryService::Context(const Requester& who,
                                                            const std::string& room_id,
                                                            const std::string& event_id,
                                                            ContextRequest req) {
  const std::int64_t limit = std::clamp<std::int64_t>(req.limit, 0, kMaxLimit);
  const std::int64_t current = stream_.Current();
  co_return co_await Offload(ctx_.db_pool, [&] {
    return ctx_.db.Read([&](sql::Tx& tx) {
      Readable r = OpenReadable(tx, room_id, who.user_id, current);
      auto ev = VisibleEvent(tx, r, event_id);
      if (!ev) throw NotFound("Event not found");
      ContextPage page;
      page.room_id = room_id;
      page.event = std::move(*ev);
      const std::int64_t before_limit = limit / 2;
      const RoomEventFilter& f = req.filter;
      const bool room_ok = f.MatchesRoom(room_id);
      Walk before = WalkRoom(tx, r.room.room_nid, Direction::kBackward, page.event.stream_pos - 1,
                             0, room_ok ? before_limit : 0, f);
      Walk after = WalkRoom(tx, r.room.room_nid, Direction::kForward, page.event.stream_pos, r.upto,
                            room_ok ? limit - before_limit : 0, f);
      page.before = std::move(before.events);
      page.after = std::move(after.events);
      page.start = SyncToken{before.cursor, 0}.ToString();
      page.end = SyncToken{after.cursor, 0}.ToString();

      const EventRecord& last = page.after.empty() ? page.event : page.after.back();
      std::set<std::string> senders = {page.event.sender};
      for (const auto& e : page.before) senders.insert(e.sender);
      for (const auto& e : page.after) senders.insert(e.sender);
      for (auto& e : StateAfter(tx, last, f.lazy_load_members ? &senders : nullptr)) {
        if (room_ok && Matches(f, e)) page.state.push_back(std::move(e));
      }
      Aggregate(tx, r.room.room_nid, r.upto, who.user_id,
                Pointers({&page.before, &page.after}, &page.event), page.bundles);
      return page;
    });
  });
}

boost::asio::awaitable<RelationsPage> HistoryService::Relations(const Requester& who,
                                                                const std::string& room_id,
                                                                const std::string& event_id,
                                                                RelationsRequest req) {
  std::optional<SyncToken> from, to;
  if (req.from) from = SyncToken::Parse(*req.from);
  if (req.to) to = SyncToken::Parse(*req.to);
  const std::int64_t limit = Clamp(req.limit, kDefaultRelationsLimit, kMaxLimit);
  const std::int64_t current = stream_.Current();
  co_return co_await Offload(ctx_.db_pool, [&] {
    return ctx_.db.Read([&](sql::Tx& tx) {
      Readable r = OpenReadable(tx, room_id, who.user_id, current);
      if (!VisibleEvent(tx, r, event_id)) throw NotFound("Event not found");
      const bool back = req.dir == Direction::kBackward;
      const std::int64_t typing = from ? from->typing : 0;
      storage::RelationsQuery q;
      q.room_nid = r.room.room_nid;
      q.parent_event_id = event_id;
      q.rel_type = req.rel_type;
      q.event_type = req.event_type;
      q.depth = req.recurse.value_or(false) ? kRecursionDepth : 1;
      q.dir = req.dir;
      q.limit = limit + 1;
      if (back) {
        q.to_inclusive = from ? std::min(from->pos, r.upto) : r.upto;
        q.from_exclusive = to ? to->pos : 0;
      } else {
        q.from_exclusive = from ? from->pos : 0;
        q.to_inclusive = to ? std::min(to->pos, r.upto) : r.upto;
      }
      RelationsPage page;
      page.room_id = room_id;
      if (req.recurse) page.recursion_depth = q.depth;
      page.prev_batch = req.from;
      if (q.from_exclusive >= q.to_inclusive) return page;
      auto rows = RelationStore::Children(tx, q);
      const bool more = static_cast<std::int64_t>(rows.size()) > limit;
      if (more) rows.resize(limit);
      std::vector<std::int64_t> nids;
      for (const auto& c : rows) nids.push_back(c.event_nid);
      page.chunk = LoadInOrder(tx, nids);
      if (more) {
        const std::int64_t last = rows.back().stream_pos;
        page.next_batch = SyncToken{back ? last - 1 : last, typing}.ToString();
      }
      Aggregate(tx, r.room.room_nid, r.upto, who.user_id, Pointers({&page.chunk}), page.bundles);
      return page;
    });
  });
}

boost::asio::awaitable<ThreadsPage> HistoryService::Threads(const Requester& who,
                                                            const std::string& room_id,
                                                            ThreadsRequest req) {
  std::optional<SyncToken> from;
  if (req.from) from = SyncToken::Parse(*req.from);
  if (req.limit && *req.limit <= 0) throw InvalidParam("limit must be greater than zero");
  const std::int64_t limit = Clamp(req.limit, kDefaultThreadsLimit, kMaxThreadsLimit);
  const std::int64_t current = stream_.Current();
  co_return co_await Offload(ctx_.db_pool, [&] {
    return ctx_.db.Read([&](sql::Tx& tx) {
      Readable r = OpenReadable(tx, room_id, who.user_id, current);
      storage::ThreadsQuery q;
      q.room_nid = r.room.room_nid;
      q.user_id = who.user_id;
      q.only_participated = req.only_participated;
      q.visible_upto = r.upto;
      q.latest_upto = from ? std::min(from->pos, r.upto) : r.upto;
      q.limit = limit + 1;
      auto roots = RelationStore::Threads(tx, q);
      ThreadsPage page;
      page.room_id = room_id;
      if (static_cast<std::int64_t>(roots.size()) > limit) {
        roots.resize(limit);
        page.next_batch =
            SyncToken{roots.back().latest_pos - 1, from ? from->typing : 0}.ToString();
      }
      std::vector<std::int64_t> root_nids, latest_nids;
      for (const auto& t : roots) {
        root_nids.push_back(t.root_nid);
        latest_nids.push_back(t.latest_nid);
      }
      page.chunk = LoadInOrder(tx, root_nids);
      auto latest = LoadByNid(tx, latest_nids);
      // The summaries come with the roots; the other aggregations (edits
      // of the roots and of the latest replies) are looked up as usual.
      for (const auto& t : roots) {
        auto it = latest.find(t.latest_nid);
        if (it == latest.end()) continue;
        page.bundles[t.root_event_id].thread =
            ThreadSummary{std::move(it->second), t.count, t.participated};
      }
      Bundles extra;
      std::vector<const EventRecord*> targets = Pointers({&page.chunk});
      for (const auto& [id, b] : page.bundles) targets.push_back(&b.thread->latest);
      Aggregate(tx, r.room.room_nid, r.upto, who.user_id, targets, extra, 1);
      for (auto& [id, b] : extra) {
        auto& dst = page.bundles[id];
        dst.replace = std::move(b.replace);
        dst.references = std::move(b.references);
      }
      return page;
    });
  });
}

}  // namespace vigie::service
