// The global stream and its waiters.
//
// Every change that /sync returns (events, memberships, receipts, account
// data, presence) carries a position from one counter. Writes that take
// positions run under one writer lock and publish their positions only
// after commit, so a reader that has seen position P has seen everything
// below P: sync tokens are a total order on both engines.
//
// Notifier is the one wake-up mechanism for long-polling /sync: a waiter
// registers for its user, re-checks for news, then sleeps on a timer that a
// notification cancels. No polling loops.
#pragma once

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "storage/sql.h"

namespace vigie::service {

class Notifier {
  struct Waiter;

 public:
  // A registration for one user's notifications, made before the caller
  // looks for news, so that nothing that commits after the look is missed.
  // Lives on one executor (the caller's coroutine); unregisters on
  // destruction.
  class Subscription {
   public:
    Subscription(Notifier& n, std::string user_id, boost::asio::any_io_executor ex);
    ~Subscription();
    Subscription(const Subscription&) = delete;
    Subscription& operator=(const Subscription&) = delete;
    // Suspends until notified (at once if a notification came since the
    // subscription was made) or until `deadline`. Returns true if notified.
    boost::asio::awaitable<bool> Sleep(std::chrono::steady_clock::time_point deadline);

   private:
    Notifier& n_;
    std::shared_ptr<Waiter> w_;
    std::unordered_multimap<std::string, std::shared_ptr<Waiter>>::iterator it_;
  };

  void Notify(const std::vector<std::string>& user_ids);
  void NotifyAll();
  // Wakes every waiter, now and later: used at shutdown so that long-polls
  // answer at once instead of holding the server up.
  void Shutdown();
  bool stopping() const { return stopping_.load(); }
  std::size_t Waiters() const;

 private:
  struct Waiter {
    explicit Waiter(boost::asio::any_io_executor ex) : timer(ex) {}
    boost::asio::steady_timer timer;
    std::atomic<bool> fired{false};
  };
  void Fire(const std::shared_ptr<Waiter>& w);
  std::atomic<bool> stopping_{false};
  mutable std::mutex mu_;
  std::unordered_multimap<std::string, std::shared_ptr<Waiter>> waiters_;  // guarded by mu_
};

class Stream {
 public:
  explicit Stream(sql::Database& db);

  // The highest position whose write has committed.
  std::int64_t Current() const { return current_.load(std::memory_order_acquire); }

  // What a write produced: which users to wake once it is visible.
  struct Effects {
    std::set<std::string> wake;
  };
  using NextPos = std::function<std::int64_t()>;

  // Runs fn(tx, next_pos, effects) in one write transaction under the
  // writer lock; positions from next_pos() become visible after commit,
  // then the users in effects.wake are notified. Blocking: call it from a
  // worker thread. Returns fn's result.
  template <typename F>
  auto Write(F&& fn) {
    Effects effects;
    std::unique_lock lock(mu_);
    std::int64_t next = current_.load();
    NextPos alloc = [&next] { return ++next; };
    auto commit = [&] {
      current_.store(next, std::memory_order_release);
      lock.unlock();
      notifier_.Notify({effects.wake.begin(), effects.wake.end()});
    };
    using R = decltype(fn(std::declval<sql::Tx&>(), alloc, effects));
    if constexpr (std::is_void_v<R>) {
      db_.Write([&](sql::Tx& tx) { fn(tx, alloc, effects); });
      commit();
    } else {
      auto r = db_.Write([&](sql::Tx& tx) { return fn(tx, alloc, effects); });
      commit();
      return r;
    }
  }

  Notifier& notifier() { return notifier_; }

 private:
  sql::Database& db_;
  std::mutex mu_;  // the writer lock
  std::atomic<std::int64_t> current_{0};
  Notifier notifier_;
};

}  // namespace vigie::service
