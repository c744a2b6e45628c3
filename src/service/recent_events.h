// The newest events of each room with news, shared by every /sync that
// reads them: when 200 members of a room are woken by one message, the
// first reads it from the database and the other 199 share its record.
#pragma once

#include <atomic>
#include <cstdint>
#include <limits>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "service/room_spans.h"
#include "storage/room_store.h"

namespace vigie::service {

class RecentEvents {
 public:
  // The newest `limit` events of the room at positions in (after, upto],
  // newest first: RoomStore::RoomEvents backwards. `upto` must be a
  // published position (every event at or below it committed). Served from
  // memory when what is kept covers the answer; otherwise read, and kept
  // when it extends or replaces what was.
  // `head`, a position at or above the room's newest event, saves a read
  // when nothing of the room's is newer than what is kept (the usual case
  // when other rooms' events moved the stream on). `*kept`, when given, is
  // set to whether the answer came from memory without a read.
  std::vector<storage::SharedEventRecord> Newest(
      sql::Tx& tx, std::int64_t room_nid, std::int64_t after, std::int64_t upto, std::int64_t limit,
      std::int64_t head = std::numeric_limits<std::int64_t>::max(), bool* kept = nullptr);

  // After a write committed, before readers may see it: `events` are every
  // event at positions in (after, upto], in position order, and
  // `heads_before` holds for each of their rooms a position at or above
  // its newest event before them. A room whose kept span reaches that head
  // gets its new events and now reaches `upto`, so the members they wake
  // read nothing; a redaction (which rewrites an event that may be kept)
  // makes the room start afresh.
  void Appended(std::int64_t after, std::int64_t upto,
                const std::vector<storage::SharedEventRecord>& events,
                const std::unordered_map<std::int64_t, std::int64_t>& heads_before);

  // Answers served from memory without reading (tests).
  std::uint64_t Hits() const { return hits_.load(std::memory_order_relaxed); }
  // What is kept costs, as counted against kMaxBytes (tests).
  std::size_t Bytes() const {
    std::lock_guard lock(mu_);
    return rooms_.bytes();
  }

  // What is kept per room, and in all (events and entries); past the
  // total it starts afresh. A room's members who fell behind it (a busy
  // room, a slow client) are served from memory up to kPerRoom events
  // back; beyond, each reads its own from the database, which slows the
  // syncs further behind (on PostgreSQL, 256 tipped a 200-member room at
  // about 1,000 sends/s into limited timelines).
  static constexpr std::size_t kPerRoom = 1024;
  static constexpr std::size_t kMaxBytes = 32u << 20;

 private:
  // Every event of the room at positions in (after, upto], oldest first.
  struct Span {
    std::int64_t after = 0;
    std::int64_t upto = 0;
    std::vector<storage::SharedEventRecord> events;
    std::size_t bytes = 0;  // what it costs, kept up to date by Add and Keep
  };
  // Appends an event (the newest) to `span`.
  static void Add(Span& span, storage::SharedEventRecord e);
  // The answer from `span` if it covers it (caller holds mu_).
  static bool Serve(const Span& span, std::int64_t after, std::int64_t upto, std::int64_t limit,
                    std::vector<storage::SharedEventRecord>& out);
  // Keeps `span` for the room (caller holds mu_), trimmed to kPerRoom:
  // costs what it trims, not what it keeps.
  void Keep(std::int64_t room_nid, Span span);

  mutable std::mutex mu_;
  RoomSpans<Span> rooms_{kMaxBytes};  // guarded by mu_
  std::atomic<std::uint64_t> hits_{0};
};

}  // namespace vigie::service
