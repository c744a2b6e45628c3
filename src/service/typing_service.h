// Typing notifications: in memory only (they are ephemeral), with their
// own serial number in the sync token. A typing user expires after the
// timeout the client gave (at most 2 minutes), which wakes the room's
// members like any other change.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "service/stream.h"

namespace vigie::service {

class TypingService {
 public:
  using Clock = std::chrono::steady_clock;
  // `timer_executor` runs expiry timers; `notifier` wakes waiters.
  TypingService(boost::asio::any_io_executor timer_executor, Notifier& notifier);

  // Sets or clears `user_id`'s typing in `room_id` and wakes `members`.
  void Set(const std::string& room_id, const std::string& user_id, bool typing,
           std::chrono::milliseconds timeout, const std::vector<std::string>& members);

  // Cancels pending expiry timers (before the timer executor is joined).
  void Shutdown();

  // The serial of the latest change anywhere (part of the sync token).
  std::int64_t Serial() const;
  // Users typing in the room now, and the serial of its last change.
  std::pair<std::vector<std::string>, std::int64_t> Typing(const std::string& room_id) const;

 private:
  struct RoomTyping {
    std::map<std::string, Clock::time_point> users;
    std::int64_t serial = 0;
    std::vector<std::string> members;  // who to wake when an entry expires
  };
  void Expire(const std::string& room_id);

  boost::asio::any_io_executor ex_;
  Notifier& notifier_;
  mutable std::mutex mu_;
  std::int64_t serial_;                                           // guarded by mu_
  std::map<std::string, RoomTyping> rooms_;                       // guarded by mu_
  std::vector<std::weak_ptr<boost::asio::steady_timer>> timers_;  // guarded by mu_
};

}  // namespace vigie::service
