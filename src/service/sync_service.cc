#include "service/sync_service.h"

#include <boost/asio/this_coro.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <charconv>
#include <map>
#include <set>

#include "common/error.h"
#include "common/json.h"
#include "common/offload.h"
#include "common/time.h"
#include "events/event.h"
#include "service/keys_service.h"
#include "service/push_rules.h"
#include "storage/e2e_store.h"
#include "storage/user_data_store.h"

namespace vigie::service {

using storage::Direction;
using storage::EventRecord;
using storage::RoomStore;
using storage::UserDataStore;

namespace {

constexpr std::int64_t kDefaultTimelineLimit = 10;
constexpr std::int64_t kMaxTimelineLimit = 1000;
constexpr std::size_t kMaxHeroes = 5;

bool ParseInt(std::string_view s, std::int64_t* out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size() && *out >= 0;
}

// The state events as of `upto` (see RoomStore::StateAt).
std::vector<EventRecord> StateAt(sql::Tx& tx, std::int64_t room_nid, std::int64_t upto) {
  std::vector<std::int64_t> nids;
  for (const auto& [_, nid] : RoomStore::StateAt(tx, room_nid, upto)) nids.push_back(nid);
  return RoomStore::GetEventsByNid(tx, nids);
}

// Whether anything /sync reports may have happened after `t`, given the
// stream position and typing serial now: every change takes one or the
// other.
bool MovedPast(const SyncToken& t, std::int64_t pos, std::int64_t typing) {
  return t.pos < pos || t.typing < typing;
}

boost::json::object StrippedEvent(const EventRecord& e) {
  return {{"type", e.type},
          {"state_key", e.state_key.value_or("")},
          {"sender", e.sender},
          {"content", events::ContentOf(e.json)}};
}

}  // namespace

SyncToken SyncToken::Parse(std::string_view s) {
  SyncToken t;
  if (s.size() < 2 || s.front() != 's') throw InvalidParam("Invalid sync token");
  s.remove_prefix(1);
  auto us = s.find('_');
  if (!ParseInt(s.substr(0, us), &t.pos)) throw InvalidParam("Invalid sync token");
  if (us != std::string_view::npos && !ParseInt(s.substr(us + 1), &t.typing)) {
    throw InvalidParam("Invalid sync token");
  }
  return t;
}

std::string SyncToken::ToString() const {
  return "s" + std::to_string(pos) + "_" + std::to_string(typing);
}

bool SyncResult::Empty() const {
  return join.empty() && invite.empty() && leave.empty() && knock.empty() && presence.empty() &&
         account_data.empty() && to_device.empty() && device_lists_changed.empty() &&
         device_lists_left.empty();
}

boost::asio::awaitable<std::string> SyncService::CreateFilter(
    const Requester& who, const boost::json::object& definition) {
  Filter::Parse(definition);  // validates
  std::string text = boost::json::serialize(definition);
  if (text.size() > 64 * 1024) throw Error(ErrorCode::kTooLarge, "Filter too large");
  co_return co_await Offload(ctx_.db_pool, [&] {
    return ctx_.db.Write(
        [&](sql::Tx& tx) { return UserDataStore::CreateFilter(tx, who.user_id, text); });
  });
}

boost::asio::awaitable<std::string> SyncService::StoredFilter(const Requester& who,
                                                              const std::string& filter_id) {
  auto stored = co_await Offload(ctx_.db_pool, [&] {
    return ctx_.db.Read(
        [&](sql::Tx& tx) { return UserDataStore::GetFilter(tx, who.user_id, filter_id); });
  });
  if (!stored) throw NotFound("Unknown filter");
  co_return std::move(*stored);
}

boost::asio::awaitable<boost::json::object> SyncService::GetFilter(const Requester& who,
                                                                   const std::string& filter_id) {
  co_return json::ParseStored(co_await StoredFilter(who, filter_id)).as_object();
}

std::shared_ptr<const Filter> SyncService::SharedFilter(std::string_view definition) {
  {
    std::lock_guard lock(filters_mu_);
    if (auto it = parsed_.find(definition); it != parsed_.end()) return it->second;
  }
  auto v = json::Parse(definition, ctx_.config.max_json_depth);
  if (!v.is_object()) throw BadJson("A filter must be a JSON object");
  auto parsed = std::make_shared<const Filter>(Filter::Parse(v.as_object()));
  std::lock_guard lock(filters_mu_);
  if (parsed_.size() >= kMaxCachedFilters ||
      parsed_bytes_ + definition.size() > kMaxParsedFilterBytes) {
    parsed_.clear();
    parsed_bytes_ = 0;
  }
  auto [it, added] = parsed_.emplace(std::string(definition), std::move(parsed));
  if (added) parsed_bytes_ += definition.size();
  return it->second;
}

std::size_t SyncService::SharedFilters() const {
  std::lock_guard lock(filters_mu_);
  return parsed_.size();
}

boost::asio::awaitable<std::shared_ptr<const Filter>> SyncService::ResolveFilter(
    const Requester& who, const std::optional<std::string>& p) {
  static const auto kEmpty = std::make_shared<const Filter>();
  if (!p || p->empty()) co_return kEmpty;
  if (p->front() == '{') co_return SharedFilter(*p);
  const std::string key = who.user_id + "\n" + *p;
  {
    std::lock_guard lock(filters_mu_);
    if (auto it = filters_.find(key); it != filters_.end()) co_return it->second;
  }
  auto parsed = SharedFilter(co_await StoredFilter(who, *p));
  std::lock_guard lock(filters_mu_);
  if (filters_.size() >= kMaxCachedFilters) filters_.clear();
  filters_.emplace(key, parsed);
  co_return parsed;
}

boost::asio::awaitable<SyncResult> SyncService::Sync(const Requester& who, SyncRequest req) {
  std::unique_ptr<SyncPoll> poll = co_await Begin(who, std::move(req));
  while (!poll->result) {
    co_await Wait(*poll);
    co_await Resume(*poll);
  }
  co_return std::move(*poll->result);
}

boost::asio::awaitable<std::unique_ptr<SyncPoll>> SyncService::Begin(const Requester& who,
                                                                     SyncRequest req) {
  auto poll = std::make_unique<SyncPoll>();
  poll->who = who;
  if (req.since) poll->since = SyncToken::Parse(*req.since);
  poll->deadline =
      std::chrono::steady_clock::now() + std::min(req.timeout, std::chrono::milliseconds(300000));
  poll->req = std::move(req);
  co_await Step(*poll, true);
  co_return poll;
}

boost::asio::awaitable<void> SyncService::Wait(SyncPoll& poll) {
  co_await poll.sub->Sleep(poll.deadline);
}

boost::asio::awaitable<void> SyncService::Resume(SyncPoll& poll) {
  const auto now = std::chrono::steady_clock::now();
  if (now >= poll.deadline) {
    poll.sub.reset();
    poll.result = co_await Look(poll);
    co_return;
  }
  // Woken while the writer is backlogged, the poll waits for the writer's
  // next batch (at most [server] sync_coalesce_ms) and answers both
  // batches' news in one response: under load each member then takes
  // fewer responses (a round trip, a look and a serialisation each), which
  // is CPU for the writes; an idle writer is not waited for.
  const std::chrono::milliseconds coalesce(ctx_.config.sync_coalesce_ms);
  if (coalesce.count() > 0 && stream_.Backlogged()) {
    const std::uint64_t batches = stream_.BatchesCommitted();
    Notifier::Subscription next(stream_.notifier(), Notifier::kEveryBatch,
                                co_await boost::asio::this_coro::executor);
    if (stream_.BatchesCommitted() == batches) {
      co_await next.Sleep(std::min(poll.deadline, now + coalesce));
    }
  }
  co_await Step(poll, false);
}

std::unique_ptr<SyncResult> SyncService::LookInMemory(const SyncPoll& poll) {
  std::optional<std::int64_t> delivered_upto;
  try {
    return std::make_unique<SyncResult>(
        Compute(poll.who, poll.req, poll.since, &delivered_upto, Source::kMemoryOnly));
  } catch (const sql::NeedsDatabase&) {
    return nullptr;
  }
}

boost::asio::awaitable<std::unique_ptr<SyncResult>> SyncService::Look(const SyncPoll& poll) {
  // An incremental sync is usually answered from what is kept in memory
  // (the user's rooms, their newest events and push rows, the device's key
  // counts): it is tried here, on the I/O thread, and goes to the database
  // pool only when it needs a read. A woken long-poll then costs no hand-
  // over to a worker and back, and does not queue behind the writer there.
  if (poll.since && !poll.req.full_state) {
    if (auto r = LookInMemory(poll)) co_return r;
  }
  // The sync that returned the token delivered the to-device messages up
  // to it (Compute finds them in its own read; a write only when there are
  // some). The result comes on the heap: a SyncResult slot in a coroutine
  // frame (a local, a co_await's value) takes 300 bytes.
  co_return co_await Offload(ctx_.db_pool, [&] {
    std::optional<std::int64_t> delivered_upto;
    auto r = std::make_unique<SyncResult>(
        Compute(poll.who, poll.req, poll.since, &delivered_upto, Source::kDatabase));
    if (delivered_upto) {
      ctx_.db.Write([&](sql::Tx& tx) {
        storage::E2eStore::DeleteToDeviceUpTo(tx, poll.who.user_id, poll.who.device_id,
                                              *delivered_upto);
      });
    }
    return r;
  });
}

boost::asio::awaitable<void> SyncService::Step(SyncPoll& poll, bool first) {
  // Subscribe before looking, so that a change committed while we look
  // wakes the wait that follows.
  poll.sub = std::make_unique<Notifier::Subscription>(stream_.notifier(), poll.who.user_id,
                                                      co_await boost::asio::this_coro::executor);
  const auto& since = poll.since;
  const SyncRequest& req = poll.req;
  // A long-poll whose token is the latest (the usual re-poll) has nothing
  // to look at: Compute would find nothing. It goes straight to sleep.
  // So does one whose user no write has woken since the token, with no
  // typing change: whatever a sync would show the user (events of their
  // rooms, their memberships, receipts, presence and device lists of
  // people sharing a room, their account data and to-device messages)
  // wakes them when it is written, or a sleeping long-poll would miss it.
  // Other rooms' traffic moves the stream but does not concern them.
  const bool nothing_new =
      first && since && !req.full_state && req.timeout.count() > 0 &&
      (!MovedPast(*since, stream_.Current(), typing_.Serial()) ||
       (since->typing >= typing_.Serial() &&
        !stream_.changes().ChangedSince(Change::kWoken, poll.who.user_id, since->pos)));
  if (nothing_new) co_return;
  std::unique_ptr<SyncResult> r = co_await Look(poll);
  if (!since || req.full_state || !r->Empty() || stream_.notifier().stopping() ||
      std::chrono::steady_clock::now() >= poll.deadline) {
    poll.sub.reset();
    poll.result = std::move(r);
  }
}

SyncService::SyncService(ServiceContext& ctx, Stream& stream, TypingService& typing)
    : ctx_(ctx), stream_(stream), typing_(typing) {
  // New events, and their push rows, go into what is kept of their rooms
  // as they commit, so the members they wake read nothing.
  stream_.OnAppended([this](const Stream::Appended& a) {
    // Each written room's head before the batch, looked up once for both.
    std::unordered_map<std::int64_t, std::int64_t> heads;
    for (const auto& e : a.events) {
      if (!heads.contains(e->room_nid)) {
        heads.emplace(e->room_nid, stream_.changes().RoomHeadBound(e->room_nid));
      }
    }
    recent_.Appended(a.after, a.upto, a.events, heads);
    recent_push_.Appended(a.after, a.upto, a.push_rows, heads);
  });
}

std::map<std::int64_t, std::pair<std::int64_t, std::int64_t>> SyncService::UnreadCounts(
    sql::Tx& tx, const std::string& user_id, const std::vector<CountedRoom>& rooms,
    std::int64_t current, std::uint64_t* shared_rows) {
  const ChangeLog& changes = stream_.changes();
  struct Known {
    CountedRoom room;
    std::int64_t upto;       // counted up to
    std::int64_t main_read;  // the user's own main-timeline event since, or 0
  };
  std::vector<Known> known;
  std::vector<std::int64_t> unknown;
  std::map<std::int64_t, UnreadParts> out;
  {
    std::lock_guard lock(unread_mu_);
    auto user = unread_.find(user_id);
    for (const CountedRoom& room : rooms) {
      if (user != unread_.end()) {
        auto it = user->second.find(room.room_nid);
        if (it != user->second.end() && it->second.upto <= current &&
            !changes.ChangedSince(Change::kUnread, user_id, it->second.upto)) {
          // The user's own event in the main timeline since restarts that
          // part after it; known exactly, and published, or counted afresh.
          const auto mine = changes.LastMainRead(user_id, room.room_nid);
          if (mine.pos <= it->second.upto) {
            known.push_back({room, it->second.upto, 0});
            out[room.room_nid] = it->second.parts;
            continue;
          }
          if (mine.exact && mine.pos <= current) {
            known.push_back({room, it->second.upto, mine.pos});
            out[room.room_nid] = {{0, 0}, it->second.parts.threads};
            continue;
          }
        }
      }
      unknown.push_back(room.room_nid);
    }
  }
  // What was added since: from the rows a room's members share (read here
  // when there are few rooms, as for a woken sync), or counted in the
  // database (afresh after the user's own event: the database cannot
  // take back what the cached main part holds).
  std::vector<std::pair<std::int64_t, std::int64_t>> counted_in_db;
  const bool read_rows = known.size() <= kMaxPushRowReads;
  for (const auto& [room, upto, main_read] : known) {
    const std::int64_t nid = room.room_nid;
    // (The mark is just before the event.)
    const std::int64_t main_after = main_read > 0 ? main_read - 1 : 0;
    bool kept = false;
    if (auto added = recent_push_.Added(tx, nid, user_id, upto, current, read_rows, room.head,
                                        main_after, &kept)) {
      if (kept) ++*shared_rows;
      out[nid] += *added;
    } else if (main_read > 0) {
      out.erase(nid);
      unknown.push_back(nid);
    } else {
      counted_in_db.emplace_back(nid, upto);
    }
  }
  if (!counted_in_db.empty()) {
    for (const auto& [nid, added] :
         UserDataStore::UnreadAddedIn(tx, user_id, counted_in_db, current)) {
      out[nid] += added;
    }
  }
  if (!unknown.empty()) {
    auto counted = UserDataStore::UnreadCountsIn(tx, user_id, unknown, current);
    for (std::int64_t nid : unknown) {
      auto it = counted.find(nid);
      out[nid] = it != counted.end() ? it->second : UnreadParts{};
    }
  }
  std::map<std::int64_t, std::pair<std::int64_t, std::int64_t>> totals;
  std::lock_guard lock(unread_mu_);
  if (unread_entries_ + rooms.size() > kMaxUnreadEntries) {
    unread_.clear();
    unread_entries_ = 0;
  }
  auto& mine = unread_[user_id];
  for (const auto& [nid, parts] : out) {
    totals.emplace_hint(totals.end(), nid, parts.Total());
    auto [it, added] = mine.try_emplace(nid);
    if (added) ++unread_entries_;
    // A sync that started earlier does not take a later one's place.
    if (added || it->second.upto <= current) it->second = Unread{current, parts};
  }
  return totals;
}

std::vector<storage::MembershipRecord> SyncService::RoomsOf(sql::Tx& tx, const std::string& user_id,
                                                            std::int64_t current, bool cached_ok) {
  const ChangeLog& changes = stream_.changes();
  std::shared_ptr<const std::vector<storage::MembershipRecord>> list;
  if (cached_ok) {
    std::lock_guard lock(rooms_mu_);
    auto it = rooms_.find(user_id);
    // (A list read at a later position may hold memberships this sync
    // must not show yet.)
    if (it != rooms_.end() && it->second.as_of <= current &&
        !changes.ChangedSince(Change::kRooms, user_id, it->second.as_of)) {
      list = it->second.list;
    }
  }
  if (!list) {
    list = std::make_shared<const std::vector<storage::MembershipRecord>>(
        RoomStore::RoomsWithHeads(tx, user_id));
    room_list_reads_.fetch_add(1, std::memory_order_relaxed);
    // (No entry for a user in no room: nothing to save, and a server full
    // of idle accounts would hold one per user.)
    if (list->empty()) return {};
    std::lock_guard lock(rooms_mu_);
    if (room_entries_ + list->size() > kMaxRoomEntries) {
      rooms_.clear();
      room_entries_ = 0;
    }
    auto& entry = rooms_[user_id];
    if (!entry.list || entry.as_of <= current) {
      if (entry.list) room_entries_ -= entry.list->size();
      entry = Rooms{current, list};
      room_entries_ += list->size();
    }
  }
  std::vector<storage::MembershipRecord> out(*list);
  for (auto& m : out) m.head_pos = changes.RoomHeadBound(m.room_nid, m.head_pos);
  return out;
}

storage::E2eStore::DeviceSyncState SyncService::DeviceStateOf(sql::Tx& tx, const Requester& who,
                                                              std::int64_t acked,
                                                              std::int64_t current) {
  const ChangeLog& changes = stream_.changes();
  const std::string key = who.user_id + "\n" + who.device_id;
  {
    std::lock_guard lock(devices_mu_);
    auto it = devices_.find(key);
    if (it != devices_.end()) {
      const DeviceState& d = it->second;
      const bool keys_hold =
          d.as_of <= current && !changes.ChangedSince(Change::kKeys, who.user_id, d.as_of);
      // Messages at or below `acked` are those at or below the clear
      // position (none) and those sent after it (none if none was sent).
      const bool none_acked =
          acked <= d.to_device_clear_upto ||
          (d.to_device_clear_upto >= 0 &&
           !changes.ChangedSince(Change::kToDevice, who.user_id, d.to_device_clear_upto));
      if (keys_hold && none_acked) {
        return {d.one_time_keys, d.unused_fallback, false};
      }
    }
  }
  auto read = storage::E2eStore::SyncStateOf(tx, who.user_id, who.device_id, acked);
  device_state_reads_.fetch_add(1, std::memory_order_relaxed);
  std::lock_guard lock(devices_mu_);
  if (devices_.size() >= kMaxDeviceEntries) devices_.clear();
  auto [it, added] = devices_.try_emplace(key);
  DeviceState& d = it->second;
  // A sync that started earlier does not take a later one's place.
  if (added || d.as_of <= current) {
    const std::int64_t clear = read.acked_to_device ? -1 : acked;
    d = DeviceState{current, read.one_time_keys, read.unused_fallback,
                    added ? clear : std::max(clear, d.to_device_clear_upto)};
  }
  return read;
}

SyncResult SyncService::Compute(const Requester& who, const SyncRequest& req,
                                const std::optional<SyncToken>& since,
                                std::optional<std::int64_t>* delivered_to_device_upto,
                                Source source) {
  // Everything at or below `current` has committed.
  const std::int64_t current = stream_.Current();
  const std::int64_t typing_serial = typing_.Serial();
  const std::int64_t S = since ? std::min(since->pos, current) : 0;
  static const Filter kNoFilter;
  const Filter& f = req.filter ? *req.filter : kNoFilter;
  const std::int64_t limit = std::clamp<std::int64_t>(
      f.room.timeline.limit.value_or(kDefaultTimelineLimit), 1, kMaxTimelineLimit);

  SyncResult out;
  out.next_batch = SyncToken{current, typing_serial}.ToString();

  // Only the kinds that changed since the token are looked up.
  const ChangeLog& changes = stream_.changes();
  auto changed = [&](Change kind) { return changes.ChangedSince(kind, who.user_id, S); };

  // What came from memory without a read; counted once the look is done
  // (a look from memory that needed the database after all runs again).
  std::uint64_t shared_timelines = 0, shared_push_rows = 0;

  // Every query of an incremental sync is bounded by the published
  // position `current` (or reads the latest state, which a snapshot would
  // not make older), so it reads without one: on PostgreSQL a woken sync
  // is then one round trip. An initial sync keeps its snapshot.
  const auto read = [&](sql::Tx& tx) {
    shared_timelines = shared_push_rows = 0;
    // Receipts for all the user's rooms in one query, by room.
    std::map<std::int64_t, std::vector<storage::ReceiptRecord>> receipts_by_room;
    if (changed(Change::kReceipt)) {
      for (auto& [room_nid, r] : UserDataStore::ReceiptsInUserRooms(tx, who.user_id, S, current)) {
        receipts_by_room[room_nid].push_back(std::move(r));
      }
    }
    // With nothing past the token, no room has news and the user's rooms
    // are not even listed.
    const bool rooms_may_have_changed =
        !since || req.full_state || MovedPast(*since, current, typing_serial);
    std::vector<storage::MembershipRecord> rooms;
    if (rooms_may_have_changed) {
      rooms = RoomsOf(tx, who.user_id, current, since && !req.full_state);
    }
    // Joined rooms of the answer (index in out.join, room) whose counts,
    // and whose summaries, are to be looked up.
    std::vector<std::pair<std::size_t, std::int64_t>> summarised;
    std::vector<std::size_t> counted_at;  // index in out.join of each counted room
    std::vector<CountedRoom> counted;
    for (const auto& m : rooms) {
      if (!f.room.MatchesRoom(m.room_id)) continue;
      const bool membership_new = !since || m.stream_pos > S;
      if (since && !req.full_state && !membership_new && m.head_pos <= S &&
          !receipts_by_room.count(m.room_nid) &&
          typing_.Typing(m.room_id).second <= since->typing) {
        continue;  // nothing in this room since the token
      }

      if (m.membership == "invite" || m.membership == "knock") {
        if (!membership_new) continue;
        RoomSync rs;
        rs.room_id = m.room_id;
        static const std::set<std::string> kStripped = {
            "m.room.create", "m.room.join_rules", "m.room.name",           "m.room.avatar",
            "m.room.topic",  "m.room.encryption", "m.room.canonical_alias"};
        std::vector<std::int64_t> nids;
        for (const auto& [k, nid] : RoomStore::CurrentState(tx, m.room_nid)) {
          if (kStripped.count(k.first)) nids.push_back(nid);
        }
        nids.push_back(m.event_nid);
        for (const auto& e : RoomStore::GetEventsByNid(tx, nids)) {
          rs.stripped_state.push_back(StrippedEvent(e));
        }
        (m.membership == "invite" ? out.invite : out.knock).push_back(std::move(rs));
        continue;
      }

      const bool joined = m.membership == "join";
      if (!joined) {
        // Left or banned: report the departure once, with what happened
        // up to it; with include_leave, an initial sync lists past rooms.
        if (since ? !membership_new : !f.room.include_leave) continue;
      }
      const std::int64_t upto = joined ? current : m.stream_pos;
      const bool fresh = !since || req.full_state || (joined && membership_new);
      if (!fresh && m.head_pos <= S && !joined) continue;

      if (source == Source::kMemoryOnly && out.join.size() + out.leave.size() >= kMaxMemoryRooms) {
        throw sql::NeedsDatabase{};
      }
      RoomSync rs;
      rs.room_id = m.room_id;
      std::vector<storage::SharedEventRecord> timeline;
      if (!joined && !m.joined_pos) {
        // Left without ever joining (a rejected invite, a withdrawn knock):
        // only the departure itself is theirs to see.
        if (auto leave = RoomStore::GetEventByNid(tx, m.event_nid)) {
          timeline.push_back(std::make_shared<EventRecord>(std::move(*leave)));
        }
      } else if (fresh || m.head_pos > S) {
        bool kept = false;
        timeline =
            recent_.Newest(tx, m.room_nid, fresh ? 0 : S, upto, limit + 1, m.head_pos, &kept);
        if (kept) ++shared_timelines;
      }
      if (static_cast<std::int64_t>(timeline.size()) > limit) {
        rs.limited = true;
        timeline.resize(limit);
      }
      std::reverse(timeline.begin(), timeline.end());

      // State: everything up to the timeline's start that the client
      // does not have yet.
      std::vector<EventRecord> state;
      if (!joined && !m.joined_pos) {
        // No state either.
      } else if (fresh) {
        state = timeline.empty() ? StateAt(tx, m.room_nid, upto)
                                 : StateAt(tx, m.room_nid, timeline.front()->stream_pos - 1);
      } else if (rs.limited && !timeline.empty()) {
        state = RoomStore::StateEventsBetween(tx, m.room_nid, S, timeline.front()->stream_pos);
      }
      rs.prev_batch =
          SyncToken{timeline.empty() ? upto : timeline.front()->stream_pos - 1, typing_serial}
              .ToString();

      // Filters. Lazy loading keeps only the members the timeline needs.
      std::set<std::string> senders = {who.user_id};
      for (const auto& e : timeline) senders.insert(e->sender);
      for (auto& e : state) {
        if (!f.room.state.MatchesRoom(m.room_id) ||
            !f.room.state.MatchesEvent(e.type, e.sender, {})) {
          continue;
        }
        if (e.type == "m.room.member" && f.room.state.lazy_load_members &&
            !senders.count(e.state_key.value_or(""))) {
          continue;
        }
        rs.state.push_back(std::move(e));
      }
      for (auto& e : timeline) {
        if (f.room.timeline.MatchesRoom(m.room_id) &&
            f.room.timeline.MatchesEventJson(e->type, e->sender, e->json)) {
          rs.timeline.push_back(std::move(e));
        }
      }

      // Ephemeral: typing and receipts.
      if (joined && f.room.ephemeral.MatchesRoom(m.room_id)) {
        auto [typing, serial] = typing_.Typing(m.room_id);
        bool typing_changed = since ? serial > since->typing : !typing.empty();
        if (typing_changed && f.room.ephemeral.Matches("m.typing", "")) {
          boost::json::array ids;
          for (const auto& u : typing) ids.emplace_back(u);
          rs.ephemeral.push_back({{"type", "m.typing"}, {"content", {{"user_ids", ids}}}});
        }
        const auto& receipts = receipts_by_room[m.room_nid];
        if (!receipts.empty() && f.room.ephemeral.Matches("m.receipt", "")) {
          boost::json::object content;
          for (const auto& r : receipts) {
            boost::json::object entry{{"ts", r.ts}};
            if (!r.thread_id.empty()) entry["thread_id"] = r.thread_id;
            auto& by_event = content[r.event_id];
            if (!by_event.is_object()) by_event = boost::json::object{};
            auto& by_type = by_event.as_object()[r.receipt_type];
            if (!by_type.is_object()) by_type = boost::json::object{};
            by_type.as_object()[r.user_id] = std::move(entry);
          }
          rs.ephemeral.push_back({{"type", "m.receipt"}, {"content", std::move(content)}});
        }
      }

      bool has_news = fresh || !rs.timeline.empty() || !rs.state.empty() || !rs.ephemeral.empty() ||
                      (!joined && membership_new);
      if (!has_news) continue;
      if (joined) {
        // Counts for every joined room in the answer; the summary when the
        // membership picture may have changed. Both looked up below, for
        // all such rooms at once.
        bool members_changed = fresh;
        for (const auto& e : rs.timeline) members_changed |= e->type == "m.room.member";
        for (const auto& e : rs.state) members_changed |= e.type == "m.room.member";
        counted_at.push_back(out.join.size());
        counted.push_back({m.room_nid, m.head_pos});
        if (members_changed) summarised.emplace_back(out.join.size(), m.room_nid);
      }
      (joined ? out.join : out.leave).push_back(std::move(rs));
    }
    if (!counted.empty()) {
      auto counts = UnreadCounts(tx, who.user_id, counted, current, &shared_push_rows);
      for (std::size_t k = 0; k < counted.size(); ++k) {
        if (auto it = counts.find(counted[k].room_nid); it != counts.end()) {
          auto& room = out.join[counted_at[k]];
          std::tie(room.notification_count, room.highlight_count) = it->second;
        }
      }
    }
    if (!summarised.empty()) {
      std::vector<std::int64_t> nids;
      for (const auto& [_, nid] : summarised) nids.push_back(nid);
      auto sums = RoomStore::MemberSummaries(tx, who.user_id, nids, kMaxHeroes);
      for (const auto& [i, nid] : summarised) {
        auto& s = sums[nid];
        out.join[i].summary = RoomSummary{std::move(s.heroes), s.joined, s.invited};
      }
    }

    // Account data: global and per room, changed since the token.
    std::vector<storage::AccountDataRecord> account_data;
    if (changed(Change::kAccountData)) {
      account_data = UserDataStore::AccountDataSince(tx, who.user_id, S, current);
    }
    for (const auto& ad : account_data) {
      boost::json::object ev{{"type", ad.type}, {"content", json::ParseStored(ad.content)}};
      if (ad.room_id.empty()) {
        if (f.account_data.Matches(ad.type, who.user_id)) out.account_data.push_back(std::move(ev));
        continue;
      }
      if (!f.room.account_data.MatchesRoom(ad.room_id) ||
          !f.room.account_data.Matches(ad.type, who.user_id)) {
        continue;
      }
      auto it = std::find_if(out.join.begin(), out.join.end(),
                             [&](const RoomSync& r) { return r.room_id == ad.room_id; });
      if (it == out.join.end()) {
        // Only for rooms the user is in.
        auto room = RoomStore::GetRoom(tx, ad.room_id);
        if (!room) continue;
        auto mem = RoomStore::GetMembership(tx, room->room_nid, who.user_id);
        if (!mem || mem->membership != "join") continue;
        out.join.push_back(RoomSync{});
        out.join.back().room_id = ad.room_id;
        it = out.join.end() - 1;
        // The counts go out with every joined room: an absent count would
        // read as zero.
        std::tie(it->notification_count, it->highlight_count) =
            UserDataStore::UnreadCounts(tx, room->room_nid, who.user_id);
      }
      it->account_data.push_back(std::move(ev));
    }
    // Push rules are account data; until a user changes theirs, an initial
    // sync shows the server defaults.
    if (!since && f.account_data.Matches("m.push_rules", who.user_id) &&
        std::none_of(out.account_data.begin(), out.account_data.end(), [](const auto& e) {
          return e.as_object().at("type").as_string() == "m.push_rules";
        })) {
      out.account_data.push_back(
          {{"type", "m.push_rules"},
           {"content", {{"global", push::RulesetJson(*push::DefaultRuleset(), who.user_id)}}}});
    }

    // Presence of the users the requester shares a room with (and their
    // own): looked up for those users only, so that what a sync costs does
    // not grow with everyone else's presence on the server.
    if (changed(Change::kPresence)) {
      auto sharing = RoomStore::UsersSharingRooms(tx, who.user_id);
      std::set<std::string> visible(sharing.begin(), sharing.end());
      visible.insert(who.user_id);
      const std::int64_t now = NowMs();
      for (const auto& p : UserDataStore::PresenceSince(tx, visible, S, current)) {
        if (!f.presence.Matches("m.presence", p.user_id)) continue;
        boost::json::object content{
            {"presence", p.state},
            {"last_active_ago", std::max<std::int64_t>(0, now - p.last_active_ts)},
            {"currently_active", p.state == "online"}};
        if (p.status_msg) content["status_msg"] = *p.status_msg;
        out.presence.push_back(
            {{"type", "m.presence"}, {"sender", p.user_id}, {"content", std::move(content)}});
      }
    }

    // End-to-end encryption: the device's to-device inbox and key counts,
    // and (incrementally) whose device lists changed.
    if (!who.device_id.empty()) {
      // (Before a first sync nothing was delivered: no position is acked.)
      auto device = DeviceStateOf(tx, who, since ? S : -1, current);
      if (device.acked_to_device) *delivered_to_device_upto = S;
      if (changed(Change::kToDevice)) {
        for (const auto& m :
             storage::E2eStore::ToDeviceFor(tx, who.user_id, who.device_id, S, current)) {
          out.to_device.push_back(
              {{"sender", m.sender}, {"type", m.type}, {"content", json::ParseStored(m.content)}});
        }
      }
      out.one_time_keys_count = {{"signed_curve25519", 0}};
      for (const auto& [alg, n] : device.one_time_keys) out.one_time_keys_count[alg] = n;
      for (auto& t : device.unused_fallback) out.unused_fallback_key_types.emplace_back(t);
    }
    if (since && (changed(Change::kDeviceList) || changed(Change::kMembership))) {
      auto delta = DeviceListChanges(tx, who.user_id, S, current);
      for (auto& u : delta.changed) out.device_lists_changed.emplace_back(u);
      for (auto& u : delta.left) out.device_lists_left.emplace_back(u);
    }
  };
  if (source == Source::kMemoryOnly) {
    sql::MemoryOnlyTx tx(ctx_.db.dialect());
    read(tx);
    // Acknowledged to-device messages are deleted by a write, which an I/O
    // thread does not do: such a look goes to the pool, counted there only.
    // (Known from memory only when none remain, so this does not happen
    // today; it keeps a change to DeviceStateOf from skipping a delete.)
    if (delivered_to_device_upto && *delivered_to_device_upto) throw sql::NeedsDatabase{};
    memory_looks_.fetch_add(1, std::memory_order_relaxed);
  } else if (since && !req.full_state) {
    ctx_.db.ReadLatest(read);
  } else {
    ctx_.db.Read(read);
  }
  looks_.fetch_add(1, std::memory_order_relaxed);
  shared_timelines_.fetch_add(shared_timelines, std::memory_order_relaxed);
  shared_push_rows_.fetch_add(shared_push_rows, std::memory_order_relaxed);
  return out;
}

}  // namespace vigie::service
