// GET /sync: what changed for one user and device since a token.
//
// Tokens are "s<stream position>_<typing serial>". An incremental sync
// reads only rooms whose last event, or whose membership, is newer than
// the token (one query lists the user's rooms with their heads), so its
// cost grows with what it returns, not with the user's history.
#pragma once

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/json/array.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "service/auth_service.h"
#include "service/context.h"
#include "service/filter.h"
#include "service/recent_events.h"
#include "service/recent_push.h"
#include "service/stream.h"
#include "service/typing_service.h"
#include "storage/e2e_store.h"
#include "storage/room_store.h"

namespace vigie::service {

struct SyncToken {
  std::int64_t pos = 0;
  std::int64_t typing = 0;
  // Throws M_INVALID_PARAM for a malformed token.
  static SyncToken Parse(std::string_view s);
  std::string ToString() const;
};

struct SyncRequest {
  std::optional<std::string> since;
  std::chrono::milliseconds timeout{0};
  bool full_state = false;
  // Shared with the stored-filter cache (a Filter is over a kilobyte, and a
  // long-poll holds its request for minutes); none means the empty filter.
  std::shared_ptr<const Filter> filter;
};

struct RoomSummary {
  std::vector<std::string> heroes;
  std::int64_t joined = 0;
  std::int64_t invited = 0;
};

struct RoomSync {
  std::string room_id;
  std::vector<storage::SharedEventRecord> timeline;  // shared with other syncs
  bool limited = false;
  std::string prev_batch;
  std::vector<storage::EventRecord> state;
  boost::json::array ephemeral;     // client-format EDUs (m.typing, m.receipt)
  boost::json::array account_data;  // client-format account data events
  std::int64_t notification_count = 0;
  std::int64_t highlight_count = 0;
  std::optional<RoomSummary> summary;
  boost::json::array stripped_state;  // invite_state / knock_state events
};

struct SyncResult {
  std::string next_batch;
  std::vector<RoomSync> join, invite, leave, knock;
  boost::json::array presence;
  boost::json::array account_data;
  // End-to-end encryption sections (filled by the keys service).
  boost::json::array to_device;
  boost::json::array device_lists_changed;
  boost::json::array device_lists_left;
  boost::json::object one_time_keys_count;
  boost::json::array unused_fallback_key_types;
  bool Empty() const;
};

// A sync in progress: its answer once it has one; until then, what it
// needs to look again and its subscription (made before its last look, so
// that nothing committed since is missed). A long-poll that found nothing
// is parked in one of these: the connection holds it while it waits, not
// the frames of the coroutines that handled the request (about 4 KB).
struct SyncPoll {
  Requester who;
  SyncRequest req;
  std::optional<SyncToken> since;
  std::chrono::steady_clock::time_point deadline;
  std::unique_ptr<Notifier::Subscription> sub;  // set while it waits
  std::unique_ptr<SyncResult> result;           // the answer, once there is one
};

class SyncService {
 public:
  SyncService(ServiceContext& ctx, Stream& stream, TypingService& typing);

  // Returns at once when there is news (or for an initial sync); otherwise
  // waits up to req.timeout for some. Begin, then Wait and Resume until
  // there is an answer.
  boost::asio::awaitable<SyncResult> Sync(const Requester& who, SyncRequest req);
  // A sync's first look: the poll has its result when there is news (or
  // for an initial sync, a full-state one, or a timeout of 0); otherwise it
  // waits, subscribed on the calling coroutine's executor.
  boost::asio::awaitable<std::unique_ptr<SyncPoll>> Begin(const Requester& who, SyncRequest req);
  // Until the poll is notified, reaches its deadline or is cancelled
  // (poll.sub->Cancel(): its client is gone); on the executor Begin ran on.
  static boost::asio::awaitable<void> Wait(SyncPoll& poll);
  // After Wait: sets the poll's result, or subscribes it again when what
  // woke it shows nothing for it (it then waits again).
  boost::asio::awaitable<void> Resume(SyncPoll& poll);
  // How many times a sync has looked for news (metrics), in memory or in
  // the database: a woken or moved-past long-poll looks, one with nothing
  // for its user sleeps.
  std::uint64_t Looks() const { return looks_.load(std::memory_order_relaxed); }
  // How many of those were answered from memory alone, on the I/O thread
  // (an incremental sync whose rooms, events, push rows and key counts are
  // all kept), without the database pool.
  std::uint64_t MemoryLooks() const { return memory_looks_.load(std::memory_order_relaxed); }
  // How many times a sync has read a user's list of rooms from the database
  // (tests: an incremental sync uses the cached one while it holds).
  std::uint64_t RoomListReads() const { return room_list_reads_.load(std::memory_order_relaxed); }
  // How many timelines of answered looks came from the shared recent
  // events, not a read (a look from memory that needed the database after
  // all counts once, in the look that answered).
  std::uint64_t SharedTimelines() const {
    return shared_timelines_.load(std::memory_order_relaxed);
  }
  // How many unread-count additions came from shared push rows, not a read
  // (counted the same way).
  std::uint64_t SharedPushRows() const { return shared_push_rows_.load(std::memory_order_relaxed); }
  // How many times a sync has read a device's key counts from the
  // database (tests: a woken sync uses the kept ones while they hold).
  std::uint64_t DeviceStateReads() const {
    return device_state_reads_.load(std::memory_order_relaxed);
  }

  // Stored filters. CreateFilter validates the definition first.
  boost::asio::awaitable<std::string> CreateFilter(const Requester& who,
                                                   const boost::json::object& definition);
  // Throws M_NOT_FOUND for an unknown id or another user's filter.
  boost::asio::awaitable<boost::json::object> GetFilter(const Requester& who,
                                                        const std::string& filter_id);
  // The filter a sync or /messages request names: inline JSON (starting
  // with '{') or a stored filter id; the empty filter when absent.
  boost::asio::awaitable<std::shared_ptr<const Filter>> ResolveFilter(
      const Requester& who, const std::optional<std::string>& param);
  // How many parsed filter definitions are kept (tests).
  std::size_t SharedFilters() const;

 private:
  // Where Compute reads: the database (blocks: a worker thread), or only
  // what is kept in memory (sql::MemoryOnlyTx: throws sql::NeedsDatabase
  // at the first statement, or past kMaxMemoryRooms rooms with news).
  enum class Source { kDatabase, kMemoryOnly };
  // A look from memory runs on an I/O thread: one with news in more rooms
  // than this (a client back after a while) is work for a worker thread.
  static constexpr std::size_t kMaxMemoryRooms = 16;
  // Also sets `delivered_to_device_upto` when to-device messages up to the
  // token remain (delivered by the sync that returned it).
  SyncResult Compute(const Requester& who, const SyncRequest& req,
                     const std::optional<SyncToken>& since,
                     std::optional<std::int64_t>* delivered_to_device_upto, Source source);
  // The poll's answer from memory alone, or null when it needs the
  // database. Does not block.
  std::unique_ptr<SyncResult> LookInMemory(const SyncPoll& poll);
  // Computes the poll's answer (from memory when it can, else on the
  // database pool), and deletes the to-device messages its token
  // acknowledged.
  boost::asio::awaitable<std::unique_ptr<SyncResult>> Look(const SyncPoll& poll);
  // Subscribes the poll, then looks (unless nothing can be new for it: only
  // on its first look), and sets its result if the look is the answer.
  boost::asio::awaitable<void> Step(SyncPoll& poll, bool first);
  // A stored filter's definition (its JSON text). Throws M_NOT_FOUND.
  boost::asio::awaitable<std::string> StoredFilter(const Requester& who,
                                                   const std::string& filter_id);
  // The parsed form of a filter definition (JSON text), shared by every
  // request that names the same text, inline or stored, whoever sends it:
  // a Filter is over a kilobyte, a long-poll holds its own for minutes, and
  // clients send the same few. Throws as Filter::Parse, or M_NOT_JSON.
  std::shared_ptr<const Filter> SharedFilter(std::string_view definition);

  ServiceContext& ctx_;
  Stream& stream_;
  TypingService& typing_;
  // Stored filters never change: clients name the same one on every sync,
  // so the filter a (user, filter id) names is kept, up to a bound.
  // Parsed definitions are kept by their text (SharedFilter), up to a
  // bound in entries and in text bytes (inline ones come from anyone);
  // both maps are emptied when full.
  static constexpr std::size_t kMaxCachedFilters = 10000;
  static constexpr std::size_t kMaxParsedFilterBytes = 4 << 20;
  mutable std::mutex filters_mu_;
  std::unordered_map<std::string, std::shared_ptr<const Filter>> filters_;    // "user\nid"; guarded
  std::map<std::string, std::shared_ptr<const Filter>, std::less<>> parsed_;  // guarded
  std::size_t parsed_bytes_ = 0;                                              // guarded

  // A room to count, with a position at or above its newest event.
  struct CountedRoom {
    std::int64_t room_nid = 0;
    std::int64_t head = 0;
  };
  // Unread counts of the rooms of an answer: the cached ones brought up to
  // date by counting only the push actions since, the others in full.
  // Adds to `*shared_rows` the rooms whose additions came from shared push
  // rows without a read.
  std::map<std::int64_t, std::pair<std::int64_t, std::int64_t>> UnreadCounts(
      sql::Tx& tx, const std::string& user_id, const std::vector<CountedRoom>& rooms,
      std::int64_t current, std::uint64_t* shared_rows);
  // The unread counts last answered per user and room, and the position they
  // were counted up to. Push actions are only ever added at new positions,
  // or cleared with a Change::kUnread noted, or by the user's own event in
  // the room's main timeline (ChangeLog::LastMainRead): while no
  // Change::kUnread is noted for the user, the count at a later position is
  // this one plus what was added since, the main timeline's part only
  // after the user's own event there if they sent one. Bounded: past
  // kMaxUnreadEntries it starts afresh.
  using UnreadParts = storage::UserDataStore::UnreadParts;
  struct Unread {
    std::int64_t upto = 0;
    UnreadParts parts;  // the main timeline's and the threads' apart
  };
  static constexpr std::size_t kMaxUnreadEntries = 200000;
  // Up to this many rooms' push rows are read for one sync (RecentPush);
  // past it, what was added is counted in the database.
  static constexpr std::size_t kMaxPushRowReads = 4;
  std::mutex unread_mu_;
  std::unordered_map<std::string, std::unordered_map<std::int64_t, Unread>> unread_;  // guarded
  std::size_t unread_entries_ = 0;                                                    // guarded

  // The user's rooms (memberships, not forgotten), each with a head
  // position at or above its newest event. An incremental sync takes the
  // list last read for the user while none of their memberships changed
  // since (Change::kRooms: their own membership events, a forget), and the
  // heads from the change log: a woken sync reads no membership table.
  // Bounded: past kMaxRoomEntries memberships cached it starts afresh.
  std::vector<storage::MembershipRecord> RoomsOf(sql::Tx& tx, const std::string& user_id,
                                                 std::int64_t current, bool cached_ok);
  struct Rooms {
    std::int64_t as_of = 0;  // read by a reader that saw this position
    std::shared_ptr<const std::vector<storage::MembershipRecord>> list;
  };
  static constexpr std::size_t kMaxRoomEntries = 200000;
  std::mutex rooms_mu_;
  std::unordered_map<std::string, Rooms> rooms_;  // guarded
  std::size_t room_entries_ = 0;                  // guarded

  // What every sync tells a device (its one-time key counts, unused
  // fallback keys) and whether to-device messages at or below `acked` are
  // left to delete (acked < 0: none asked). Served from memory while
  // nothing changed the user's keys or devices (Change::kKeys) since it
  // was read, and no to-device message can be at or below `acked` that was
  // not there when it was last found clear: a woken sync reads no key
  // table. Bounded: past kMaxDeviceEntries it starts afresh.
  storage::E2eStore::DeviceSyncState DeviceStateOf(sql::Tx& tx, const Requester& who,
                                                   std::int64_t acked, std::int64_t current);
  struct DeviceState {
    std::int64_t as_of = 0;  // read by a reader that saw this position
    std::map<std::string, std::int64_t> one_time_keys;
    std::vector<std::string> unused_fallback;
    // No to-device message for the device is at or below this position
    // (-1: not known). None can be added there later: positions only grow.
    std::int64_t to_device_clear_upto = -1;
  };
  static constexpr std::size_t kMaxDeviceEntries = 100000;
  std::mutex devices_mu_;
  std::unordered_map<std::string, DeviceState> devices_;  // "user\ndevice"; guarded

  std::atomic<std::uint64_t> looks_{0};               // see Looks()
  std::atomic<std::uint64_t> memory_looks_{0};        // see MemoryLooks()
  std::atomic<std::uint64_t> shared_timelines_{0};    // see SharedTimelines()
  std::atomic<std::uint64_t> shared_push_rows_{0};    // see SharedPushRows()
  std::atomic<std::uint64_t> room_list_reads_{0};     // see RoomListReads()
  std::atomic<std::uint64_t> device_state_reads_{0};  // see DeviceStateReads()
  RecentEvents recent_;                               // timelines shared by syncs
  RecentPush recent_push_;                            // notifications shared by syncs
};

}  // namespace vigie::service
