// What RecentEvents and RecentPush keep: one span of recent rows per room,
// bounded in bytes (each span counts its own in `Span::bytes`); past the
// bound everything kept goes and it starts afresh. A span holds every row
// of its room at positions in (after, upto]. Not thread-safe: its
// owner's mutex guards it.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <unordered_map>
#include <utility>

namespace vigie::service {

template <typename Span>
class RoomSpans {
 public:
  using Map = std::unordered_map<std::int64_t, Span>;
  explicit RoomSpans(std::size_t max_bytes) : max_bytes_(max_bytes) {}

  typename Map::iterator find(std::int64_t room_nid) { return map_.find(room_nid); }
  // The room's span, first stretched up to `upto` if `head` (a position at
  // or above the room's newest row) shows nothing of the room's is newer
  // than what it holds: other rooms moved the stream on, not this one.
  typename Map::iterator FindUpTo(std::int64_t room_nid, std::int64_t upto, std::int64_t head) {
    auto it = map_.find(room_nid);
    if (it != map_.end() && head <= it->second.upto) {
      it->second.upto = std::max(it->second.upto, upto);
    }
    return it;
  }
  // The room's span if rows at positions above `after` may be appended to
  // it: it reaches `head`, a position at or above the room's newest row up
  // to `after`, and not beyond `after`. Else end().
  typename Map::iterator FindReaching(std::int64_t room_nid, std::int64_t head,
                                      std::int64_t after) {
    auto it = map_.find(room_nid);
    if (it == map_.end() || it->second.upto < head || it->second.upto > after) return map_.end();
    return it;
  }
  typename Map::iterator end() { return map_.end(); }
  Span& at(std::int64_t room_nid) { return map_.at(room_nid); }

  // Keeps `span` as the room's, in place of what was.
  void Put(std::int64_t room_nid, Span span) {
    Forget(room_nid);
    if (bytes_ + span.bytes > max_bytes_) {
      map_.clear();
      bytes_ = 0;
    }
    bytes_ += span.bytes;
    map_.emplace(room_nid, std::move(span));
  }
  void Forget(std::int64_t room_nid) {
    auto it = map_.find(room_nid);
    if (it == map_.end()) return;
    bytes_ -= it->second.bytes;
    map_.erase(it);
  }
  std::size_t bytes() const { return bytes_; }

 private:
  const std::size_t max_bytes_;
  Map map_;
  std::size_t bytes_ = 0;
};

}  // namespace vigie::service
