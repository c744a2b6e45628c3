#include "service/typing_service.h"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <memory>

#include "common/time.h"

namespace vigie::service {

// Serials start from the wall clock so that tokens issued before a restart
// stay below the ones issued after it.
TypingService::TypingService(boost::asio::any_io_executor ex, Notifier& notifier)
    : ex_(std::move(ex)), notifier_(notifier), serial_(NowMs()) {}

void TypingService::Set(const std::string& room_id, const std::string& user_id, bool typing,
                        std::chrono::milliseconds timeout,
                        const std::vector<std::string>& members) {
  timeout = std::clamp(timeout, std::chrono::milliseconds(1000), std::chrono::milliseconds(120000));
  bool changed = false;
  {
    std::lock_guard lock(mu_);
    RoomTyping& r = rooms_[room_id];
    changed = r.users.count(user_id) != static_cast<std::size_t>(typing);
    if (typing) {
      r.users[user_id] = Clock::now() + timeout;
    } else {
      r.users.erase(user_id);
    }
    r.members = members;
    if (changed) r.serial = ++serial_;
  }
  if (changed) notifier_.Notify(members);
  if (!typing) return;
  auto timer = std::make_shared<boost::asio::steady_timer>(ex_, timeout);
  {
    std::lock_guard lock(mu_);
    std::erase_if(timers_, [](const auto& w) { return w.expired(); });
    timers_.push_back(timer);
  }
  timer->async_wait([this, timer, room_id](const boost::system::error_code& ec) {
    if (!ec) Expire(room_id);
  });
}

void TypingService::Shutdown() {
  std::lock_guard lock(mu_);
  for (auto& w : timers_) {
    if (auto t = w.lock()) boost::asio::post(ex_, [t] { t->cancel(); });
  }
  timers_.clear();
}

void TypingService::Expire(const std::string& room_id) {
  std::vector<std::string> wake;
  {
    std::lock_guard lock(mu_);
    auto it = rooms_.find(room_id);
    if (it == rooms_.end()) return;
    const auto now = Clock::now();
    std::size_t before = it->second.users.size();
    std::erase_if(it->second.users, [&](const auto& kv) { return kv.second <= now; });
    if (it->second.users.size() == before) return;
    it->second.serial = ++serial_;
    wake = it->second.members;
    if (it->second.users.empty()) it->second.members.clear();
  }
  notifier_.Notify(wake);
}

std::int64_t TypingService::Serial() const {
  std::lock_guard lock(mu_);
  return serial_;
}

std::pair<std::vector<std::string>, std::int64_t> TypingService::Typing(
    const std::string& room_id) const {
  std::lock_guard lock(mu_);
  auto it = rooms_.find(room_id);
  if (it == rooms_.end()) return {{}, 0};
  std::vector<std::string> users;
  const auto now = Clock::now();
  for (const auto& [u, exp] : it->second.users) {
    if (exp > now) users.push_back(u);
  }
  return {users, it->second.serial};
}

}  // namespace vigie::service
