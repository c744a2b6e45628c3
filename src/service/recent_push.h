// The newest notifications of each room with news, shared by every /sync
// that counts them: when one message wakes a room's 200 members, the first
// reads the room's push rows since its last count and the other 199 count
// theirs from the same rows, instead of one count query each.
#pragma once

#include <atomic>
#include <cstdint>
#include <limits>
#include <mutex>
#include <optional>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "service/room_spans.h"
#include "storage/user_data_store.h"

namespace vigie::service {

class RecentPush {
 public:
  using Counts = storage::UserDataStore::Counts;
  using Parts = storage::UserDataStore::UnreadParts;

  // What the room's notifications at positions in (after, upto] add to the
  // user's counts, in the main timeline and in threads: the summaries of
  // others' events the user has no action for, and the user's notifying
  // actions; in the main timeline only those above `main_after` (the
  // user's own event there marked what came before it read). Valid only
  // while no other mark or receipt of the user's moved in that range
  // (Change::kUnread), which is when a count known up to `after` grows by
  // it. `upto` must be a
  // published position. From memory when what is kept covers the range
  // (`read` false: nothing else); otherwise, when `read`, read and kept,
  // unless the range holds more than kPerRoom rows. None: not answered
  // (count in the database instead).
  // `head`, a position at or above the room's newest event, saves a read
  // when nothing of the room's is newer than what is kept (the usual case
  // when other rooms' events moved the stream on). `*kept`, when given, is
  // set to whether the answer came from memory without a read.
  std::optional<Parts> Added(sql::Tx& tx, std::int64_t room_nid, std::string_view user_id,
                             std::int64_t after, std::int64_t upto, bool read,
                             std::int64_t head = std::numeric_limits<std::int64_t>::max(),
                             std::int64_t main_after = 0, bool* kept = nullptr);

  // After a write committed, before readers may see it: `rows` (room, row)
  // are every push row at positions in (after, upto], in position order,
  // and `heads_before` holds every room with an event there, with a
  // position at or above its newest event before them. A room whose kept
  // span reaches that head gets its new rows (if any) and now reaches
  // `upto`, so the members woken read nothing.
  void Appended(std::int64_t after, std::int64_t upto,
                const std::vector<std::pair<std::int64_t, storage::UserDataStore::PushRow>>& rows,
                const std::unordered_map<std::int64_t, std::int64_t>& heads_before);

  // Answers served from memory without reading (tests).
  std::uint64_t Hits() const { return hits_.load(std::memory_order_relaxed); }
  // What is kept costs, as counted against kMaxBytes (tests).
  std::size_t Bytes() const {
    std::lock_guard lock(mu_);
    return rooms_.bytes();
  }

  // What is kept per room (rows) and in all (bytes); past the total it
  // starts afresh.
  static constexpr std::size_t kPerRoom = 2048;
  static constexpr std::size_t kMaxBytes = 8u << 20;

 private:
  // Every push row of the room at positions in (after, upto], by position.
  struct Span {
    std::int64_t after = 0;
    std::int64_t upto = 0;
    std::vector<storage::UserDataStore::PushRow> rows;
    std::size_t bytes = 0;  // what it costs, kept up to date by Add and Keep
  };
  static std::size_t BytesOf(const storage::UserDataStore::PushRow& r);
  // Appends rows (newer than the span's) to `span`.
  static void Add(Span& span, std::vector<storage::UserDataStore::PushRow> rows);
  static Parts Count(const Span& span, std::string_view user_id, std::int64_t after,
                     std::int64_t upto, std::int64_t main_after);
  // Keeps `span` for the room (caller holds mu_), trimmed to kPerRoom rows:
  // costs what it trims, not what it keeps.
  void Keep(std::int64_t room_nid, Span span);

  mutable std::mutex mu_;
  RoomSpans<Span> rooms_{kMaxBytes};  // guarded by mu_
  std::atomic<std::uint64_t> hits_{0};
};

}  // namespace vigie::service
