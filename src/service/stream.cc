#include "service/stream.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "storage/room_store.h"

namespace vigie::service {

Stream::Stream(sql::Database& db) : db_(db) {
  current_ = db_.Read([](sql::Tx& tx) { return storage::RoomStore::MaxStreamPos(tx); });
}

Notifier::Subscription::Subscription(Notifier& n, std::string user_id,
                                     boost::asio::any_io_executor ex)
    : n_(n), w_(std::make_shared<Waiter>(std::move(ex))) {
  std::lock_guard lock(n_.mu_);
  it_ = n_.waiters_.emplace(std::move(user_id), w_);
}

Notifier::Subscription::~Subscription() {
  std::lock_guard lock(n_.mu_);
  n_.waiters_.erase(it_);
}

boost::asio::awaitable<bool> Notifier::Subscription::Sleep(
    std::chrono::steady_clock::time_point deadline) {
  // Fire() posts the cancel to this executor, so it cannot run between
  // this check and the start of the wait.
  if (w_->fired.load() || n_.stopping()) co_return true;
  w_->timer.expires_at(deadline);
  co_await w_->timer.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
  co_return w_->fired.load();
}

void Notifier::Fire(const std::shared_ptr<Waiter>& w) {
  if (w->fired.exchange(true)) return;
  boost::asio::post(w->timer.get_executor(), [w] { w->timer.cancel(); });
}

void Notifier::Notify(const std::vector<std::string>& user_ids) {
  std::lock_guard lock(mu_);
  for (const auto& u : user_ids) {
    auto [b, e] = waiters_.equal_range(u);
    for (auto it = b; it != e; ++it) Fire(it->second);
  }
}

void Notifier::Shutdown() {
  stopping_ = true;
  NotifyAll();
}

void Notifier::NotifyAll() {
  std::lock_guard lock(mu_);
  for (auto& [_, w] : waiters_) Fire(w);
}

std::size_t Notifier::Waiters() const {
  std::lock_guard lock(mu_);
  return waiters_.size();
}

}  // namespace vigie::service
