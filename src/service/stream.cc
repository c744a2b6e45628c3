#include "service/stream.h"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <iterator>

#include "storage/room_store.h"

namespace vigie::service {

Stream::Stream(sql::Database& db, boost::asio::thread_pool& pool)
    : db_(db),
      pool_(pool),
      current_(db_.Read([](sql::Tx& tx) { return storage::RoomStore::MaxStreamPos(tx); })),
      changes_(current_.load()) {}

ChangeLog::ChangeLog(std::int64_t floor, std::size_t max_users)
    : max_users_(max_users), start_(floor) {
  last_.fill(floor);
  floor_.fill(floor);
}

void ChangeLog::Note(Change kind, const std::string& user, std::int64_t pos) {
  const auto k = static_cast<std::size_t>(kind);
  std::lock_guard lock(mu_);
  if (PerUser(kind)) {
    auto& users = by_user_[k];
    if (users.size() >= max_users_ && !users.count(user)) {
      // Forget everyone: what came before now reads as changed.
      users.clear();
      floor_[k] = last_[k];
    }
    auto& p = users[user];
    p = std::max(p, pos);
  }
  last_[k] = std::max(last_[k], pos);
}

bool ChangeLog::ChangedSince(Change kind, const std::string& user, std::int64_t since) const {
  const auto k = static_cast<std::size_t>(kind);
  std::lock_guard lock(mu_);
  if (last_[k] <= since) return false;
  if (!PerUser(kind)) return true;
  if (floor_[k] > since) return true;
  auto it = by_user_[k].find(user);
  return it != by_user_[k].end() && it->second > since;
}

void ChangeLog::NoteRoom(std::int64_t room_nid, std::int64_t pos) {
  std::lock_guard lock(mu_);
  if (room_heads_.size() >= max_users_ && !room_heads_.count(room_nid)) {
    // Forget every room: each head is now bounded by the newest noted.
    std::int64_t newest = rooms_floor_;
    for (const auto& [_, p] : room_heads_) newest = std::max(newest, p);
    room_heads_.clear();
    rooms_floor_ = newest;
  }
  auto& p = room_heads_[room_nid];
  p = std::max(p, pos);
}

std::int64_t ChangeLog::RoomHeadBound(std::int64_t room_nid, std::int64_t read) const {
  std::lock_guard lock(mu_);
  auto it = room_heads_.find(room_nid);
  // Not noted: not written since the start (so `read` is its head), or
  // forgotten (at or below the floor).
  return it != room_heads_.end() ? std::max(it->second, read) : std::max(read, rooms_floor_);
}

void ChangeLog::NoteMainRead(const std::string& user, std::int64_t room_nid, std::int64_t pos) {
  std::lock_guard lock(mu_);
  auto mine = main_reads_.find(user);
  const bool known = mine != main_reads_.end() && mine->second.count(room_nid);
  if (!known && main_read_pairs_ >= max_users_) {
    // Forget every pair: each is now bounded by the newest noted.
    main_reads_.clear();
    main_read_pairs_ = 0;
    main_reads_floor_ = main_reads_newest_;
    mine = main_reads_.end();
  }
  if (mine == main_reads_.end()) mine = main_reads_.try_emplace(user).first;
  auto [it, added] = mine->second.try_emplace(room_nid, pos);
  if (added) {
    ++main_read_pairs_;
  } else {
    it->second = std::max(it->second, pos);
  }
  main_reads_newest_ = std::max(main_reads_newest_, pos);
}

ChangeLog::MainRead ChangeLog::LastMainRead(const std::string& user, std::int64_t room_nid) const {
  std::lock_guard lock(mu_);
  if (auto mine = main_reads_.find(user); mine != main_reads_.end()) {
    if (auto it = mine->second.find(room_nid); it != mine->second.end()) {
      return {it->second, true};
    }
  }
  if (main_reads_floor_ > 0) return {main_reads_floor_, false};
  return {0, true};
}

std::int64_t ChangeLog::RoomHeadBound(std::int64_t room_nid) const {
  // Not written since the start: at most where the stream stood then.
  return RoomHeadBound(room_nid, start_);
}

namespace {

// Bounds one transaction's work and its callers' wait.
constexpr std::size_t kMaxBatch = 256;

}  // namespace

void Stream::Enqueue(Job& job) {
  std::lock_guard lock(queue_mu_);
  queue_.push_back(&job);
  if (draining_) return;  // the running Drain takes it
  draining_ = true;
  boost::asio::post(pool_, [this] { Drain(); });
}

void Stream::Drain() {
  std::unique_lock lock(queue_mu_);
  while (!queue_.empty()) {
    auto batch = TakeBatch();
    lock.unlock();
    RunBatch(batch);
    Finish(batch);
    lock.lock();
  }
  draining_ = false;
}

std::vector<Stream::Job*> Stream::TakeBatch() {
  std::vector<Job*> batch;
  if (queue_.size() <= kMaxBatch) {
    batch.swap(queue_);
  } else {
    batch.assign(queue_.begin(), queue_.begin() + kMaxBatch);
    queue_.erase(queue_.begin(), queue_.begin() + kMaxBatch);
  }
  return batch;
}

void Stream::Finish(std::vector<Job*>& batch) {
  for (Job* j : batch) {
    // Once resumed, the caller may return and its job go.
    auto resume = std::move(j->resume);
    resume();
  }
  batch.clear();
}

namespace {

// Thrown out of a transaction whose writes must run again.
struct RunAgain {};

}  // namespace

Stream::Outcome Stream::Transact(const std::vector<Job*>& batch, bool together, std::int64_t start,
                                 std::int64_t& next) {
  next = start;
  NextPos alloc = [&next] { return ++next; };
  const bool alone = batch.size() == 1;
  bool deferred = false;  // the writes' statements went out together
  try {
    db_.Write([&](sql::Tx& tx) {
      deferred = together && !alone && tx.Defers();
      for (Job* j : batch) {
        if (alone) {
          (*j->fn)(tx, alloc, j->effects);  // a throw rolls the transaction back
          j->returned = true;
          continue;
        }
        const std::int64_t before = next;
        const std::uint64_t failures = tx.StatementFailures();
        tx.Defer("SAVEPOINT vigie_write");
        try {
          (*j->fn)(tx, alloc, j->effects);
          j->returned = true;
          tx.Defer("RELEASE SAVEPOINT vigie_write");
          if (!deferred) tx.Flush();  // what the write deferred fails it, not the next one
        } catch (...) {
          // Sent together, a failed statement may be an earlier write's
          // (surfacing under this one's Query): no write can tell it is
          // its own.
          if (deferred && tx.StatementFailures() != failures) throw RunAgain{};
          j->error = std::current_exception();
          j->effects = {};
          next = before;
          tx.Defer("ROLLBACK TO SAVEPOINT vigie_write");
          tx.Defer("RELEASE SAVEPOINT vigie_write");
        }
        if (deferred && tx.StatementFailures() != failures) throw RunAgain{};
      }
      // What is noted must be noted above every position a reader may have
      // seen before, so a batch that notes a change without having taken a
      // position takes one. The head is stored with the batch: a position
      // that left no row of its own is not handed out again after a
      // restart.
      const bool notes = std::any_of(batch.begin(), batch.end(), [](const Job* j) {
        return !j->error && (!j->effects.changed.empty() || !j->effects.events.empty() ||
                             !j->effects.wake.empty());
      });
      if (notes && next == start) ++next;
      if (next != start) storage::RoomStore::SetStreamHead(tx, next);
    });
  } catch (...) {
    if (deferred) return Outcome::kRunAgain;
    // Nothing committed: every write fails, with its own error if it had one.
    for (Job* j : batch) {
      if (!j->error) j->error = std::current_exception();
    }
    return Outcome::kFailed;
  }
  return Outcome::kCommitted;
}

void Stream::RunBatch(const std::vector<Job*>& batch) {
  const std::int64_t start = current_.load();
  std::int64_t next = start;
  const bool repeatable =
      std::all_of(batch.begin(), batch.end(), [](const Job* j) { return j->repeatable; });
  Outcome outcome = Transact(batch, repeatable, start, next);
  if (outcome == Outcome::kRunAgain) {
    run_again_.fetch_add(1, std::memory_order_relaxed);
    if (std::any_of(batch.begin(), batch.end(), [](const Job* j) { return j->returned; })) {
      Undone();
    }
    for (Job* j : batch) {
      j->effects = {};
      j->error = nullptr;
      j->returned = false;
    }
    outcome = Transact(batch, false, start, next);
  }
  const bool committed = outcome == Outcome::kCommitted;
  // A write that failed although its function had returned was undone
  // after the fact: what it left in memory must go.
  if (std::any_of(batch.begin(), batch.end(),
                  [](const Job* j) { return j->returned && j->error; })) {
    Undone();
  }
  if (!committed) return;
  // What the batch appended goes to the hooks first, so that they see the
  // rooms' heads as they were before it.
  if (!on_appended_.empty()) {
    Appended appended{start, next, {}, {}};
    for (Job* j : batch) {
      if (j->error) continue;
      auto& fx = j->effects;
      appended.events.insert(appended.events.end(), fx.events.begin(), fx.events.end());
      std::move(fx.push_rows.begin(), fx.push_rows.end(), std::back_inserter(appended.push_rows));
    }
    if (!appended.events.empty()) {
      for (const auto& fn : on_appended_) fn(appended);
    }
  }
  // Changes are noted at the batch's last position (at or above each one's
  // own) before the positions become visible.
  std::set<std::string> wake;
  for (Job* j : batch) {
    if (j->error) continue;
    for (const auto& [kind, user] : j->effects.changed) changes_.Note(kind, user, next);
    for (const auto& e : j->effects.events) changes_.NoteRoom(e->room_nid, next);
    for (const auto& r : j->effects.main_reads) changes_.NoteMainRead(r.user_id, r.room_nid, r.pos);
    wake.merge(j->effects.wake);
  }
  // Whom the batch wakes, noted too: a long-poll that starts after this
  // batch learns from it whether it must look (see SyncService::Sync).
  for (const auto& user : wake) changes_.Note(Change::kWoken, user, next);
  current_.store(next, std::memory_order_release);
  batches_.fetch_add(1, std::memory_order_relaxed);
  for (Job* j : batch) {
    if (!j->error) writes_.fetch_add(1, std::memory_order_relaxed);
  }
  {
    std::lock_guard lock(queue_mu_);
    backlogged_.store(!queue_.empty(), std::memory_order_relaxed);
  }
  wake.insert(Notifier::kEveryBatch);
  notifier_.Notify({wake.begin(), wake.end()});
}

void Stream::Undone() {
  for (const auto& fn : on_undo_) fn();
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
