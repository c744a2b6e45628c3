#include "service/room_cache.h"

#include <set>

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

std::string RecentTxns::Key(std::string_view user_id, std::string_view device_id,
                            std::string_view txn_id) {
  // Length-prefixed: no choice of ids makes two keys alike.
  std::string key = std::to_string(user_id.size()) + ":";
  key += user_id;
  key += std::to_string(device_id.size()) + ":";
  key += device_id;
  key += txn_id;
  return key;
}

std::optional<std::string> RecentTxns::Find(const std::string& key) const {
  std::lock_guard lock(mu_);
  auto it = ids_.find(key);
  if (it == ids_.end()) return std::nullopt;
  return it->second;
}

void RecentTxns::Add(const std::string& key, const std::string& event_id) {
  std::lock_guard lock(mu_);
  if (!ids_.emplace(key, event_id).second) return;
  order_.push_back(key);
  while (order_.size() > max_) {
    ids_.erase(order_.front());
    order_.pop_front();
  }
}

}  // namespace vigie::service
