#include "service/room_cache.h"

#include <sodium.h>

#include <algorithm>
#include <cstring>
#include <set>
#include <stdexcept>

namespace vigie::service {

std::optional<RoomSnapshot> RoomCache::Take(const std::string& room_id) {
  std::lock_guard lock(mu_);
  auto it = rooms_.find(room_id);
  if (it == rooms_.end()) return std::nullopt;
  std::optional<RoomSnapshot> out(std::move(it->second));
  members_ -= MembersOf(*out);
  rooms_.erase(it);
  return out;
}

std::int64_t RoomCache::NextEventNid(sql::Tx& tx) {
  std::lock_guard lock(mu_);
  if (last_event_nid_ < 0) last_event_nid_ = storage::RoomStore::MaxEventNid(tx);
  return ++last_event_nid_;
}

void RoomCache::Clear() {
  std::lock_guard lock(mu_);
  rooms_.clear();
  members_ = 0;
}

void RoomCache::Put(RoomSnapshot s) {
  if (s.room.room_id.empty() || !s.room.room_nid) return;
  // Events that are not (or no longer) current state are not kept. The
  // writer leaves none behind, so each event must then have a state key
  // of its own: only more events than keys needs the full check (which
  // would cost every join to a large room a walk of its members).
  if (s.pdus.size() > s.state.size() || s.ids.size() > s.state.size()) {
    std::set<std::int64_t> current;
    for (const auto& [_, nid] : s.state) {
      if (nid) current.insert(*nid);
    }
    std::erase_if(s.pdus, [&](const auto& p) { return !current.count(p.first); });
    std::erase_if(s.ids, [&](const auto& p) { return !current.count(p.first); });
  }
  std::lock_guard lock(mu_);
  auto it = rooms_.find(s.room.room_id);
  if (it != rooms_.end()) {
    members_ -= MembersOf(it->second);
    rooms_.erase(it);
  }
  if (rooms_.size() >= max_rooms_ || members_ + MembersOf(s) > max_members_) {
    rooms_.clear();
    members_ = 0;
  }
  members_ += MembersOf(s);
  rooms_.emplace(s.room.room_id, std::move(s));
}

std::size_t RoomCache::Size() const {
  std::lock_guard lock(mu_);
  return rooms_.size();
}

SentTxns::SentTxns(std::size_t max_entries, std::int64_t window_ms)
    : max_(max_entries), window_ms_(window_ms) {
  static_assert(sizeof key_ == crypto_shorthash_KEYBYTES);
  if (sodium_init() < 0) throw std::runtime_error("libsodium failed to initialise");
  crypto_shorthash_keygen(key_);
}

std::uint64_t SentTxns::Hash(std::string_view user_id, std::string_view device_id,
                             std::string_view txn_id) const {
  // Length-prefixed: no choice of ids makes two keys alike.
  std::string key = std::to_string(user_id.size()) + ":";
  key += user_id;
  key += std::to_string(device_id.size()) + ":";
  key += device_id;
  key += txn_id;
  unsigned char out[crypto_shorthash_BYTES];
  crypto_shorthash(out, reinterpret_cast<const unsigned char*>(key.data()), key.size(), key_);
  std::uint64_t h = 0;
  std::memcpy(&h, out, sizeof h);
  return h;
}

std::vector<std::int64_t> SentTxns::Candidates(std::uint64_t hash) const {
  std::lock_guard lock(mu_);
  std::vector<std::int64_t> out;
  auto [b, e] = nids_.equal_range(hash);
  for (auto it = b; it != e; ++it) out.push_back(it->second);
  std::sort(out.rbegin(), out.rend());
  return out;
}

void SentTxns::Add(std::uint64_t hash, std::int64_t event_nid, std::int64_t ts_ms) {
  std::lock_guard lock(mu_);
  nids_.emplace(hash, event_nid);
  order_.push_back({ts_ms, hash, event_nid});
  while (!order_.empty() && (order_.size() > max_ || order_.front().ts_ms < ts_ms - window_ms_)) {
    const Sent& old = order_.front();
    auto [b, e] = nids_.equal_range(old.hash);
    for (auto it = b; it != e; ++it) {
      if (it->second == old.event_nid) {
        nids_.erase(it);
        break;
      }
    }
    order_.pop_front();
  }
}

std::size_t SentTxns::Size() const {
  std::lock_guard lock(mu_);
  return order_.size();
}

}  // namespace vigie::service
