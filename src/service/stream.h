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

#include <array>
#include <atomic>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "storage/room_store.h"
#include "storage/sql.h"
#include "storage/user_data_store.h"

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
    // Ends a Sleep in progress (it returns false, unless notified first);
    // on the subscription's executor.
    void Cancel() { w_->timer.cancel(); }

   private:
    Notifier& n_;
    std::shared_ptr<Waiter> w_;
    std::unordered_multimap<std::string, std::shared_ptr<Waiter>>::iterator it_;
  };

  // Not a user id: subscribed to, a waiter wakes at the stream's next
  // committed batch (Stream notifies it with every batch).
  static inline const std::string kEveryBatch;

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

// The kinds of stream data that /sync looks for besides room events.
enum class Change : std::uint8_t {
  kMembership,   // any room membership (device-list "left" and peers)
  kDeviceList,   // someone's device list
  kReceipt,      // a read receipt in any room
  kPresence,     // anyone's presence
  kToDevice,     // a to-device message, per recipient
  kAccountData,  // account data, per owner
  kUnread,       // a user's push actions cleared (by a receipt or their own event), per user
  kWoken,        // a write woke the user (noted by the stream for every write), per user
  kRooms,        // the user's own membership of some room, or a room forgotten, per user
  kKeys,         // one-time or fallback keys of a device of the user, or its devices, per user
};
inline constexpr std::size_t kChangeKinds = 10;

// Where each kind last changed, so that an incremental /sync asks the
// database only about the kinds that changed since its token (most syncs
// are woken by one new event and need none of them). Per-user kinds keep a
// position per user, up to a bound; past it they forget and answer
// "changed" for anything before the forgetting. Everything before the
// server started counts as changed.
//
// Noted by the stream's writer before the positions become visible, so a
// reader that sees position P also sees every change at or below P.
class ChangeLog {
 public:
  explicit ChangeLog(std::int64_t floor, std::size_t max_users = 100000);
  void Note(Change kind, const std::string& user, std::int64_t pos);
  // False only if nothing of `kind` (for `user`, for per-user kinds) can
  // have changed at a position above `since`.
  bool ChangedSince(Change kind, const std::string& user, std::int64_t since) const;

  // Rooms written (an event appended), at the position of their batch.
  void NoteRoom(std::int64_t room_nid, std::int64_t pos);
  // A position at or above the room's newest event, given `read`, the head
  // position read from the database by a reader that sees position P for
  // some P (any room written after P is noted here).
  std::int64_t RoomHeadBound(std::int64_t room_nid, std::int64_t read) const;
  // The same without a read: a room not written since the start counts as
  // written then.
  std::int64_t RoomHeadBound(std::int64_t room_nid) const;

  // A user's own event at `pos` in a room's main timeline, which marks what
  // came before it there as read for them (Effects::main_reads).
  void NoteMainRead(const std::string& user, std::int64_t room_nid, std::int64_t pos);
  // The position of the user's newest own main-timeline event in the room
  // noted since the start (0: none), `exact`; or, once forgotten, a bound
  // at or above it.
  struct MainRead {
    std::int64_t pos = 0;
    bool exact = true;
  };
  MainRead LastMainRead(const std::string& user, std::int64_t room_nid) const;

 private:
  static bool PerUser(Change kind) {
    return kind == Change::kToDevice || kind == Change::kAccountData || kind == Change::kUnread ||
           kind == Change::kWoken || kind == Change::kRooms || kind == Change::kKeys;
  }
  const std::size_t max_users_;
  const std::int64_t start_;  // the stream's position at the start
  mutable std::mutex mu_;
  std::array<std::int64_t, kChangeKinds> last_{};  // guarded by mu_
  // Per-user kinds: a user's last change, and below `floor_` what was forgotten.
  std::array<std::unordered_map<std::string, std::int64_t>, kChangeKinds> by_user_;
  std::array<std::int64_t, kChangeKinds> floor_{};
  // Rooms written since the start, up to max_users_ of them; past it they
  // are forgotten, and rooms_floor_ bounds every head.
  std::unordered_map<std::int64_t, std::int64_t> room_heads_;  // guarded by mu_
  std::int64_t rooms_floor_ = 0;                               // guarded by mu_
  // Own main-timeline events per user and room, up to max_users_ pairs;
  // past it they are forgotten, and main_reads_floor_ bounds every one.
  std::unordered_map<std::string, std::unordered_map<std::int64_t, std::int64_t>>
      main_reads_;                      // guarded by mu_
  std::size_t main_read_pairs_ = 0;     // guarded by mu_
  std::int64_t main_reads_floor_ = 0;   // guarded by mu_
  std::int64_t main_reads_newest_ = 0;  // guarded by mu_
};

class Stream {
 public:
  // Batches submitted without a waiting thread run on `pool`.
  Stream(sql::Database& db, boost::asio::thread_pool& pool);

  // The highest position whose write has committed.
  std::int64_t Current() const { return current_.load(std::memory_order_acquire); }

  // What a write produced: which users to wake once it is visible.
  struct Effects {
    std::set<std::string> wake;
    // What changed besides room events (user: the owner of a per-user kind).
    std::vector<std::pair<Change, std::string>> changed;
    // The events appended to rooms, in position order, as stored, and the
    // push rows added for them (room, row), in the same order.
    std::vector<storage::SharedEventRecord> events;
    std::vector<std::pair<std::int64_t, storage::UserDataStore::PushRow>> push_rows;
    // Senders whose own event marked the room's main timeline read up to
    // before it (and nothing else of theirs): (room, sender, the event's
    // position). Other clears note Change::kUnread.
    struct MainRead {
      std::int64_t room_nid = 0;
      std::string user_id;
      std::int64_t pos = 0;
    };
    std::vector<MainRead> main_reads;
    void Changed(Change kind, std::string user = {}) {
      changed.emplace_back(kind, std::move(user));
    }
  };
  using NextPos = std::function<std::int64_t()>;

  // How often a write's function may run. kOnce: exactly once. kRepeatable:
  // once more, from the start, after its transaction was rolled back and
  // the undo hooks ran. Such a function consumes nothing it captured, and
  // what it leaves in memory either goes with the undo hooks or is checked
  // against the database before use (as a retried send's transaction id).
  //
  // Why: on an engine that defers statements (PostgreSQL), a batch made
  // only of repeatable writes sends its writes' statements together with
  // the commit, in one round trip, instead of one round trip per write to
  // learn whether each write's statements failed. Should any statement of
  // the batch fail, the batch is rolled back and runs again the careful
  // way, each write's statements sent and checked before the next write.
  enum class Runs { kOnce, kRepeatable };

  // Runs fn(tx, next_pos, effects) in a write transaction, without holding
  // a thread while it waits: the calling coroutine suspends until the
  // batch holding its write has committed (or the write has failed), and
  // resumes on its own executor. Positions from next_pos() become visible
  // after commit, then the users in effects.wake are notified (a write
  // that notes effects without taking a position is given one, so readers
  // see them as new). The last position is stored with each batch and is
  // never handed out again, even after a restart. Returns
  // fn's result, or rethrows what fn threw (its changes undone). `fn` may
  // capture the caller's locals by reference.
  //
  // Group commit: writes queued while a batch runs share the next
  // transaction (and so one fsync), up to a bound. A Drain task on the
  // database pool runs each batch: every write in its own savepoint (a
  // write that throws is rolled back alone, the others go on), one commit,
  // then publication and wake-ups. Each fn runs once (see Runs), on a pool
  // thread; writes run in arrival order and see the writes before them.
  // Since no caller holds a thread, the batch size is bounded by the queue,
  // not by the worker count.
  //
  // Never wait for a Submit on a database-pool thread (RunSync there): the
  // Drain that would run it needs one of those threads.
  template <typename F>
  auto Submit(F fn, Runs runs = Runs::kOnce)
      -> boost::asio::awaitable<decltype(fn(std::declval<sql::Tx&>(), std::declval<NextPos&>(),
                                            std::declval<Effects&>()))> {
    using R =
        decltype(fn(std::declval<sql::Tx&>(), std::declval<NextPos&>(), std::declval<Effects&>()));
    std::optional<std::conditional_t<std::is_void_v<R>, bool, R>> out;
    const WriteFn wfn = [&](sql::Tx& tx, NextPos& alloc, Effects& fx) {
      if constexpr (std::is_void_v<R>) {
        fn(tx, alloc, fx);
        out.emplace(true);
      } else {
        out.emplace(fn(tx, alloc, fx));
      }
    };
    Job job{&wfn, runs == Runs::kRepeatable};
    co_await boost::asio::async_initiate<const boost::asio::use_awaitable_t<>&, void()>(
        [this, &job](auto handler) {
          // Runs once the coroutine is suspended: the job may complete at once.
          auto h = std::make_shared<decltype(handler)>(std::move(handler));
          job.resume = [h] {
            auto ex = boost::asio::get_associated_executor(*h);
            boost::asio::post(ex, std::move(*h));
          };
          Enqueue(job);
        },
        boost::asio::use_awaitable);
    if (job.error) std::rethrow_exception(job.error);
    if constexpr (!std::is_void_v<R>) co_return std::move(*out);
  }

  // Registers `fn`, called on the writing thread (before the writes'
  // callers resume) whenever writes whose functions had returned are undone
  // after all: a statement they deferred failed when sent, or their batch
  // did not commit. Whatever those functions left in memory (caches of
  // what they wrote) must go. Register before the first write.
  void OnUndo(std::function<void()> fn) { on_undo_.push_back(std::move(fn)); }

  // What a committed batch appended: every event and push row at the
  // positions it took, (after, upto], in position order (no other write
  // takes a position in that range).
  struct Appended {
    std::int64_t after = 0;
    std::int64_t upto = 0;
    std::vector<storage::SharedEventRecord> events;
    std::vector<std::pair<std::int64_t, storage::UserDataStore::PushRow>> push_rows;  // by room
  };
  // Registers `fn`, called on the writing thread after each batch that
  // appended events commits, before its positions become visible.
  // Register before the first write.
  using AppendedFn = std::function<void(const Appended&)>;
  void OnAppended(AppendedFn fn) { on_appended_.push_back(std::move(fn)); }

  // How many transactions the writes took, and how many writes: their ratio
  // is the group-commit batch size (metrics).
  std::uint64_t BatchesCommitted() const { return batches_.load(std::memory_order_relaxed); }
  // Batches of repeatable writes that ran again the careful way, after a
  // statement failed with the writes' statements sent together.
  std::uint64_t BatchesRunAgain() const { return run_again_.load(std::memory_order_relaxed); }
  std::uint64_t WritesCommitted() const { return writes_.load(std::memory_order_relaxed); }
  // True if writes were queued behind the last batch when it committed: the
  // writer is busy, and its next batch commits within about a batch's time.
  bool Backlogged() const { return backlogged_.load(std::memory_order_relaxed); }

  // Writes waiting for the running batch to end.
  std::size_t Queued() const {
    std::lock_guard lock(queue_mu_);
    return queue_.size();
  }

  Notifier& notifier() { return notifier_; }
  const ChangeLog& changes() const { return changes_; }

 private:
  using WriteFn = std::function<void(sql::Tx&, NextPos&, Effects&)>;
  struct Job {
    const WriteFn* fn;
    bool repeatable = false;  // Runs::kRepeatable
    Effects effects;
    std::exception_ptr error;
    bool returned = false;         // fn returned (it may still be undone)
    std::function<void()> resume;  // resumes its caller
  };
  void Enqueue(Job& job);
  // Runs queued batches until the queue is empty.
  void Drain();
  // Under queue_mu_: takes the next batch off the queue.
  std::vector<Job*> TakeBatch();
  // Resumes the batch's callers (a resumed caller's job is gone).
  static void Finish(std::vector<Job*>& batch);
  void RunBatch(const std::vector<Job*>& batch);
  // One transaction of the batch's writes. `together`: their statements
  // go out with the commit, if the engine defers them; then any failed
  // statement gives kRunAgain (nothing committed). Otherwise each write's
  // statements are checked before the next write runs. Sets each write's
  // error, and `next` past the last position taken.
  enum class Outcome { kCommitted, kFailed, kRunAgain };
  Outcome Transact(const std::vector<Job*>& batch, bool together, std::int64_t start,
                   std::int64_t& next);
  void Undone();

  sql::Database& db_;
  boost::asio::thread_pool& pool_;
  std::vector<std::function<void()>> on_undo_;  // set before the first write
  std::vector<AppendedFn> on_appended_;         // set before the first write
  mutable std::mutex queue_mu_;
  std::vector<Job*> queue_;  // guarded by queue_mu_
  // A Drain is posted or running, and takes what is queued. Guarded by
  // queue_mu_.
  bool draining_ = false;
  std::atomic<std::int64_t> current_{0};
  std::atomic<std::uint64_t> batches_{0};
  std::atomic<std::uint64_t> run_again_{0};
  std::atomic<std::uint64_t> writes_{0};
  std::atomic<bool> backlogged_{false};
  Notifier notifier_;
  ChangeLog changes_;
};

}  // namespace vigie::service
