#include "service/stream.h"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <future>
#include <set>
#include <thread>

#include "service/engine_test_util.h"

namespace vigie::service {
namespace {

class StreamTest : public EngineHomeserverTest {
 protected:
  void SetUp() override {
    EngineHomeserverTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    hs_->db().ExecScript("CREATE TABLE stream_test (k TEXT PRIMARY KEY, pos BIGINT NOT NULL)");
  }
  // One write, waited for on this thread.
  template <typename F>
  auto Write(F fn) {
    return hs_->RunSync(hs_->stream.Submit(std::move(fn)));
  }
  // Inserts row `k` at a new position; returns the position.
  std::int64_t Insert(const std::string& k) {
    return Write([&](sql::Tx& tx, Stream::NextPos& next, Stream::Effects&) {
      const std::int64_t pos = next();
      tx.Query("INSERT INTO stream_test (k, pos) VALUES ($1, $2)", {k, pos});
      return pos;
    });
  }
  // Starts, on a thread of its own, a write that holds its batch open
  // until `n` writes have queued up behind it (or 10 s have passed), so
  // that they run as one later batch; it then runs `then` in its
  // transaction. Returns once the write runs; join the thread.
  std::thread HoldBatch(std::size_t n,
                        std::function<void(sql::Tx&, Stream::NextPos&)> then = nullptr) {
    auto holding = std::make_shared<std::atomic<bool>>(false);
    std::thread holder([this, n, then = std::move(then), holding] {
      Write([&](sql::Tx& tx, Stream::NextPos& next, Stream::Effects&) {
        *holding = true;
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (hs_->stream.Queued() < n && std::chrono::steady_clock::now() < deadline) {
          std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        if (then) then(tx, next);
      });
    });
    while (!*holding) std::this_thread::yield();
    return holder;
  }
  std::set<std::string> Keys() {
    return hs_->db().Read([](sql::Tx& tx) {
      std::set<std::string> out;
      for (const auto& r : tx.Query("SELECT k FROM stream_test").rows) out.insert(r.Text(0));
      return out;
    });
  }
};

// Concurrent writes share transactions; each one's result, error and
// positions stay its own: a write that fails (by throwing, or by a failing
// statement, which PostgreSQL would otherwise let abort the whole
// transaction) is undone alone, and the others in its batch commit.
TEST_P(StreamTest, ConcurrentWritesCommitTogetherAndFailAlone) {
  const auto batches_before = hs_->stream.BatchesCommitted();
  const auto writes_before = hs_->stream.WritesCommitted();
  Insert("taken");

  constexpr int kThreads = 12;
  std::vector<std::thread> threads;
  std::vector<std::int64_t> positions(kThreads, -1);
  std::vector<ErrorCode> errors(kThreads, ErrorCode::kInternal);
  std::vector<bool> failed(kThreads, false);
  // The first write holds its batch open until the others have queued up
  // behind it, so they run as one later batch.
  threads.push_back(HoldBatch(kThreads - 1, [&](sql::Tx& tx, Stream::NextPos& next) {
    positions[0] = next();
    tx.Query("INSERT INTO stream_test (k, pos) VALUES ('w0', $1)", {positions[0]});
  }));
  for (int i = 1; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      try {
        if (i == 4) {
          // Throws after writing and taking a position.
          Write([&](sql::Tx& tx, Stream::NextPos& next, Stream::Effects&) {
            tx.Query("INSERT INTO stream_test (k, pos) VALUES ('thrown', $1)", {next()});
            throw Forbidden("no");
          });
        } else if (i == 7) {
          Insert("taken");  // a failing statement: the key exists
        } else if (i == 9) {
          // The same, deferred: it fails this write, not the next one.
          Write([&](sql::Tx& tx, Stream::NextPos& next, Stream::Effects&) {
            tx.Defer("INSERT INTO stream_test (k, pos) VALUES ('w9', $1)", {next()});
            tx.Defer("INSERT INTO stream_test (k, pos) VALUES ('taken', $1)", {next()});
          });
        } else {
          positions[i] = Insert("w" + std::to_string(i));
        }
      } catch (const Error& e) {
        failed[i] = true;
        errors[i] = e.code();
      } catch (const sql::UniqueViolation&) {
        failed[i] = true;
      }
    });
  }
  for (auto& t : threads) t.join();

  EXPECT_TRUE(failed[4]);
  EXPECT_EQ(errors[4], ErrorCode::kForbidden);
  EXPECT_TRUE(failed[7]);
  EXPECT_TRUE(failed[9]);
  auto keys = Keys();
  EXPECT_EQ(keys.count("thrown"), 0u);
  EXPECT_EQ(keys.count("w9"), 0u);
  std::set<std::int64_t> unique;
  for (int i = 0; i < kThreads; ++i) {
    if (i == 4 || i == 7 || i == 9) continue;
    EXPECT_FALSE(failed[i]) << i;
    EXPECT_EQ(keys.count("w" + std::to_string(i)), 1u) << i;
    EXPECT_GT(positions[i], 0) << i;
    EXPECT_LE(positions[i], hs_->stream.Current());
    unique.insert(positions[i]);
  }
  EXPECT_EQ(unique.size(), static_cast<std::size_t>(kThreads - 3));
  // Positions stay dense: a failed write's positions are given again.
  EXPECT_EQ(*unique.rbegin() - *unique.begin(), kThreads - 4);

  const auto writes = hs_->stream.WritesCommitted() - writes_before;
  const auto batches = hs_->stream.BatchesCommitted() - batches_before;
  EXPECT_EQ(writes, static_cast<std::uint64_t>(kThreads - 3 + 1));
  EXPECT_LT(batches, writes);  // the queued writes shared a transaction
}

// A write holds no worker thread while it waits, so with one worker many
// of them queue behind a running batch and then commit as one batch, each
// with its own result or error. Were a waiting write to hold a worker, one
// worker would let only one write queue at a time.
TEST_P(StreamTest, SubmittedWritesWaitWithoutAThreadAndShareOneBatch) {
  RestartHomeserver([](Config& c) { c.worker_threads = 1; });
  if (HasFatalFailure()) return;
  Insert("taken");
  const auto batches_before = hs_->stream.BatchesCommitted();
  const auto writes_before = hs_->stream.WritesCommitted();

  constexpr int kSubmitted = 40;
  boost::asio::io_context ioc;
  std::vector<std::int64_t> positions(kSubmitted, -1);
  std::vector<std::string> errors(kSubmitted);
  int resumed = 0;
  // Everything else queues behind this batch, which has the only worker.
  std::thread holder = HoldBatch(kSubmitted, [](sql::Tx& tx, Stream::NextPos& next) {
    tx.Query("INSERT INTO stream_test (k, pos) VALUES ('holder', $1)", {next()});
  });
  for (int i = 0; i < kSubmitted; ++i) {
    boost::asio::co_spawn(
        ioc,
        [&, i]() -> boost::asio::awaitable<void> {
          try {
            positions[i] = co_await hs_->stream.Submit(
                [&](sql::Tx& tx, Stream::NextPos& next, Stream::Effects&) {
                  const std::int64_t pos = next();
                  const std::string k = i == 7 ? "taken" : "s" + std::to_string(i);
                  tx.Query("INSERT INTO stream_test (k, pos) VALUES ($1, $2)", {k, pos});
                  if (i == 3) throw Forbidden("no");
                  return pos;
                });
          } catch (const Error& e) {
            errors[i] = "forbidden";
          } catch (const sql::UniqueViolation&) {
            errors[i] = "unique";
          }
          ++resumed;  // on the io_context's one thread
        },
        boost::asio::detached);
  }
  ioc.run();  // returns once every submitted write has resumed its caller
  holder.join();

  EXPECT_EQ(resumed, kSubmitted);
  EXPECT_EQ(errors[3], "forbidden");
  EXPECT_EQ(errors[7], "unique");
  auto keys = Keys();
  EXPECT_EQ(keys.count("s3"), 0u);
  for (int i = 0; i < kSubmitted; ++i) {
    if (i == 3 || i == 7) continue;
    EXPECT_EQ(errors[i], "") << i;
    EXPECT_EQ(keys.count("s" + std::to_string(i)), 1u) << i;
    EXPECT_GT(positions[i], 0) << i;
  }
  EXPECT_EQ(keys.count("holder"), 1u);
  // The holder's batch, then everything that queued behind it in one.
  EXPECT_EQ(hs_->stream.WritesCommitted() - writes_before,
            static_cast<std::uint64_t>(kSubmitted - 2 + 1));
  EXPECT_EQ(hs_->stream.BatchesCommitted() - batches_before, 2u);
}

// A batch made only of repeatable writes sends their statements together
// on an engine that defers them (PostgreSQL). A write whose deferred
// statement fails still fails alone, even when another write's Query meets
// the failure and makes it an error of its own: the batch runs again the
// careful way, so the writes' functions run again and the others commit
// once. A batch
// with one write that must run once keeps the careful way from the start.
TEST_P(StreamTest, RepeatableWritesGoTogetherAndStillFailAlone) {
  RestartHomeserver([](Config& c) { c.worker_threads = 1; });
  if (HasFatalFailure()) return;
  Insert("taken");
  const bool defers = hs_->db().Write([](sql::Tx& tx) { return tx.Defers(); });
  constexpr int kSubmitted = 12;
  struct Round {
    std::vector<int> runs = std::vector<int>(kSubmitted, 0);
    std::vector<std::string> errors = std::vector<std::string>(kSubmitted);
  };
  // Queues the writes behind a holder's batch so that they run as one
  // batch: repeatable ones writing "<prefix><i>", write 5 failing on a
  // deferred statement and write 8 throwing; write 2 is kOnce if `mixed`.
  auto round = [&](const std::string& prefix, bool failing, bool mixed) {
    Round r;
    boost::asio::io_context ioc;
    std::thread holder = HoldBatch(kSubmitted);
    for (int i = 0; i < kSubmitted; ++i) {
      boost::asio::co_spawn(
          ioc,
          [&, i]() -> boost::asio::awaitable<void> {
            try {
              co_await hs_->stream.Submit(
                  [&](sql::Tx& tx, Stream::NextPos& next, Stream::Effects&) {
                    ++r.runs[i];
                    const std::string k = failing && i == 5 ? "taken" : prefix + std::to_string(i);
                    tx.Defer("INSERT INTO stream_test (k, pos) VALUES ($1, $2)", {k, next()});
                    if (failing && i == 8) throw Forbidden("no");
                    if (i == 6) {
                      // Sent together, write 5's failure surfaces here,
                      // and this write makes it an error of its own.
                      try {
                        tx.Query("SELECT 1");
                      } catch (const sql::DbError&) {
                        throw Forbidden("not mine");
                      }
                    }
                  },
                  mixed && i == 2 ? Stream::Runs::kOnce : Stream::Runs::kRepeatable);
            } catch (const Error&) {
              r.errors[i] = "forbidden";
            } catch (const sql::UniqueViolation&) {
              r.errors[i] = "unique";
            }
          },
          boost::asio::detached);
    }
    ioc.run();
    holder.join();
    return r;
  };
  auto expect_committed_once = [&](const Round& r, const std::string& prefix, bool failing) {
    auto keys = Keys();
    for (int i = 0; i < kSubmitted; ++i) {
      const bool fails = failing && (i == 5 || i == 8);
      EXPECT_EQ(keys.count(prefix + std::to_string(i)), fails ? 0u : 1u) << prefix << i;
      if (!fails) {
        EXPECT_EQ(r.errors[i], "") << prefix << i;
      }
    }
    if (failing) {
      EXPECT_EQ(r.errors[5], "unique");
      EXPECT_EQ(r.errors[8], "forbidden");
    }
  };

  // Nothing fails: one pass.
  auto again = hs_->stream.BatchesRunAgain();
  Round ok = round("a", false, false);
  expect_committed_once(ok, "a", false);
  for (int i = 0; i < kSubmitted; ++i) EXPECT_EQ(ok.runs[i], 1) << i;
  EXPECT_EQ(hs_->stream.BatchesRunAgain(), again);

  // A deferred statement fails: sent together, the batch runs again.
  Round failed = round("b", true, false);
  expect_committed_once(failed, "b", true);
  // (The first pass stopped at write 6, which met the failure.)
  for (int i = 0; i < kSubmitted; ++i) EXPECT_EQ(failed.runs[i], defers && i <= 6 ? 2 : 1) << i;
  EXPECT_EQ(hs_->stream.BatchesRunAgain(), again + (defers ? 1 : 0));

  // One write that must run once: the careful way from the start.
  Round mixed = round("c", true, true);
  expect_committed_once(mixed, "c", true);
  for (int i = 0; i < kSubmitted; ++i) EXPECT_EQ(mixed.runs[i], 1) << i;
  EXPECT_EQ(hs_->stream.BatchesRunAgain(), again + (defers ? 1 : 0));
}

// Waiting for a write on a database-pool thread is refused: with every
// worker waiting, the Drain that runs the write would never start.
TEST_P(StreamTest, WaitingForAWriteOnAPoolThreadIsRefused) {
  std::promise<std::string> outcome;
  boost::asio::post(hs_->db_pool(), [&] {
    try {
      Insert("never");
      outcome.set_value("written");
    } catch (const std::logic_error&) {
      outcome.set_value("refused");
    }
  });
  EXPECT_EQ(outcome.get_future().get(), "refused");
  EXPECT_TRUE(Keys().empty());
}

// Undo hooks hear of writes whose functions returned and were undone all
// the same (here: a row whose foreign key fails only at COMMIT), not of
// writes whose functions threw, which undid their own work.
TEST_P(StreamTest, UndoHooksHearOfWritesUndoneAfterTheirFunctionReturned) {
  hs_->db().ExecScript(
      "CREATE TABLE undo_parent (id BIGINT PRIMARY KEY);"
      "CREATE TABLE undo_child (parent BIGINT REFERENCES undo_parent (id) DEFERRABLE INITIALLY "
      "DEFERRED)");
  std::atomic<int> undos{0};
  hs_->stream.OnUndo([&] { ++undos; });  // no write in flight
  EXPECT_THROW(Write([&](sql::Tx&, Stream::NextPos&, Stream::Effects&) { throw Forbidden("no"); }),
               Error);
  EXPECT_EQ(undos, 0);
  EXPECT_THROW(Write([&](sql::Tx& tx, Stream::NextPos& next, Stream::Effects&) {
                 tx.Query("INSERT INTO stream_test (k, pos) VALUES ('orphan', $1)", {next()});
                 tx.Query("INSERT INTO undo_child (parent) VALUES (1)");
               }),
               sql::DbError);
  EXPECT_EQ(undos, 1);
  EXPECT_TRUE(Keys().empty());
  Insert("fine");
  EXPECT_EQ(undos, 1);
}

// The appended hooks hear of what committed only, with the positions the
// batch took, before those become visible and before the rooms' heads
// move past them.
TEST_P(StreamTest, AppendedHooksHearOfCommittedEventsOnly) {
  hs_->db().ExecScript(
      "CREATE TABLE appended_parent (id BIGINT PRIMARY KEY);"
      "CREATE TABLE appended_child (parent BIGINT REFERENCES appended_parent (id) DEFERRABLE "
      "INITIALLY DEFERRED)");
  struct Heard {
    std::int64_t after, upto, current, head_before;
    std::vector<std::int64_t> positions;
  };
  std::vector<Heard> heard;
  hs_->stream.OnAppended([&](const Stream::Appended& a) {  // no write in flight
    Heard h{a.after, a.upto, hs_->stream.Current(), hs_->stream.changes().RoomHeadBound(77), {}};
    for (const auto& e : a.events) h.positions.push_back(e->stream_pos);
    heard.push_back(std::move(h));
  });
  auto event_at = [](std::int64_t pos) {
    auto e = std::make_shared<storage::EventRecord>();
    e->room_nid = 77;
    e->stream_pos = pos;
    return e;
  };
  Insert("nothing appended");
  EXPECT_TRUE(heard.empty());
  const std::int64_t start = hs_->stream.Current();
  Write([&](sql::Tx&, Stream::NextPos& next, Stream::Effects& fx) {
    fx.events.push_back(event_at(next()));
    next();  // a position without an event of room 77
    fx.events.push_back(event_at(next()));
  });
  ASSERT_EQ(heard.size(), 1u);
  EXPECT_EQ(heard[0].after, start);
  EXPECT_EQ(heard[0].upto, start + 3);
  EXPECT_EQ(heard[0].current, start) << "heard after the positions became visible";
  EXPECT_LE(heard[0].head_before, start) << "heard after the room's head moved";
  EXPECT_EQ(heard[0].positions, (std::vector<std::int64_t>{start + 1, start + 3}));
  EXPECT_EQ(hs_->stream.changes().RoomHeadBound(77), start + 3);
  Write([&](sql::Tx&, Stream::NextPos& next, Stream::Effects& fx) {
    fx.events.push_back(event_at(next()));
  });
  ASSERT_EQ(heard.size(), 2u);
  EXPECT_EQ(heard[1].head_before, start + 3) << "heard after the room's head moved";
  EXPECT_EQ(heard[1].positions, (std::vector<std::int64_t>{start + 4}));
  EXPECT_THROW(Write([&](sql::Tx&, Stream::NextPos& next, Stream::Effects& fx) {
                 fx.events.push_back(event_at(next()));
                 throw Forbidden("no");
               }),
               Error);
  EXPECT_THROW(Write([&](sql::Tx& tx, Stream::NextPos& next, Stream::Effects& fx) {
                 fx.events.push_back(event_at(next()));
                 tx.Query("INSERT INTO appended_child (parent) VALUES (1)");
               }),
               sql::DbError);
  EXPECT_EQ(heard.size(), 2u) << "heard of a write that did not commit";
}

TEST_P(StreamTest, AWriteAloneThatThrowsLeavesNothing) {
  const auto before = hs_->stream.Current();
  EXPECT_THROW(Write([&](sql::Tx& tx, Stream::NextPos& next, Stream::Effects&) {
                 tx.Query("INSERT INTO stream_test (k, pos) VALUES ('x', $1)", {next()});
                 throw Forbidden("no");
               }),
               Error);
  EXPECT_EQ(hs_->stream.Current(), before);
  EXPECT_TRUE(Keys().empty());
  EXPECT_EQ(Insert("y"), before + 1);
}

// What a write notes as changed becomes visible with its positions; a
// write that fails notes nothing.
TEST_P(StreamTest, ChangesAreNotedWithTheirWrite) {
  const auto start = hs_->stream.Current();
  const ChangeLog& log = hs_->stream.changes();
  EXPECT_FALSE(log.ChangedSince(Change::kReceipt, "", start));
  EXPECT_FALSE(log.ChangedSince(Change::kToDevice, "@a:x", start));
  EXPECT_THROW(Write([&](sql::Tx&, Stream::NextPos& next, Stream::Effects& fx) {
                 next();
                 fx.Changed(Change::kReceipt);
                 throw Forbidden("no");
               }),
               Error);
  EXPECT_FALSE(log.ChangedSince(Change::kReceipt, "", start));
  Write([&](sql::Tx&, Stream::NextPos& next, Stream::Effects& fx) {
    next();
    fx.Changed(Change::kToDevice, "@a:x");
  });
  const auto after = hs_->stream.Current();
  EXPECT_TRUE(log.ChangedSince(Change::kToDevice, "@a:x", start));
  EXPECT_FALSE(log.ChangedSince(Change::kToDevice, "@a:x", after));
  EXPECT_FALSE(log.ChangedSince(Change::kToDevice, "@b:x", start));  // per user
  EXPECT_FALSE(log.ChangedSince(Change::kReceipt, "", start));       // per kind
  // Whom a write wakes is noted with it.
  EXPECT_FALSE(log.ChangedSince(Change::kWoken, "@a:x", start));
  Write([&](sql::Tx&, Stream::NextPos& next, Stream::Effects& fx) {
    next();
    fx.wake.insert("@a:x");
  });
  EXPECT_TRUE(log.ChangedSince(Change::kWoken, "@a:x", after));
  EXPECT_FALSE(log.ChangedSince(Change::kWoken, "@a:x", hs_->stream.Current()));
  EXPECT_FALSE(log.ChangedSince(Change::kWoken, "@b:x", start));
}

// A write that notes a change without taking a position (a forget, say)
// is given one: what it notes lies above every position a reader could
// have seen before it.
TEST_P(StreamTest, AChangeNotedWithoutAPositionIsGivenOne) {
  const auto start = hs_->stream.Current();
  const ChangeLog& log = hs_->stream.changes();
  Write(
      [&](sql::Tx&, Stream::NextPos&, Stream::Effects& fx) { fx.Changed(Change::kRooms, "@a:x"); });
  EXPECT_EQ(hs_->stream.Current(), start + 1);
  EXPECT_TRUE(log.ChangedSince(Change::kRooms, "@a:x", start));
  EXPECT_FALSE(log.ChangedSince(Change::kRooms, "@a:x", start + 1));
  // A write that notes nothing and takes nothing moves nothing.
  Write([&](sql::Tx& tx, Stream::NextPos&, Stream::Effects&) {
    tx.Query("INSERT INTO stream_test (k, pos) VALUES ('quiet', 0)");
  });
  EXPECT_EQ(hs_->stream.Current(), start + 1);
}

// Positions whose writes left no row that carries them (to-device messages
// deleted once read, a forget) are still never handed out again after a
// restart: a client holding a token at one would miss what took it next.
TEST_P(StreamTest, PositionsAreNotReusedAfterARestart) {
  Insert("a");
  Write([&](sql::Tx&, Stream::NextPos& next, Stream::Effects&) {
    next();
    next();
  });
  Write([&](sql::Tx&, Stream::NextPos&, Stream::Effects& fx) { fx.Changed(Change::kReceipt); });
  const auto head = hs_->stream.Current();
  boost::asio::thread_pool pool(1);
  Stream restarted(hs_->db(), pool);
  EXPECT_EQ(restarted.Current(), head);
  pool.join();
}

VIGIE_INSTANTIATE_ENGINE_TEST_SUITE(StreamTest);

// Before the floor (the server's start) everything counts as changed;
// global kinds change for everyone; a full per-user map forgets, and what
// it forgot reads as changed.
TEST(ChangeLog, AnswersChangedWheneverItCannotBeSure) {
  ChangeLog log(10, 2);
  for (Change k : {Change::kMembership, Change::kToDevice}) {
    EXPECT_TRUE(log.ChangedSince(k, "@a:x", 9));
    EXPECT_FALSE(log.ChangedSince(k, "@a:x", 10));
  }
  log.Note(Change::kMembership, "", 12);
  EXPECT_TRUE(log.ChangedSince(Change::kMembership, "@anyone:x", 11));
  EXPECT_FALSE(log.ChangedSince(Change::kMembership, "@anyone:x", 12));

  log.Note(Change::kAccountData, "@a:x", 13);
  log.Note(Change::kAccountData, "@b:x", 14);
  EXPECT_TRUE(log.ChangedSince(Change::kAccountData, "@a:x", 12));
  EXPECT_FALSE(log.ChangedSince(Change::kAccountData, "@a:x", 13));
  EXPECT_FALSE(log.ChangedSince(Change::kAccountData, "@c:x", 10));
  log.Note(Change::kAccountData, "@a:x", 15);  // known: no forgetting
  EXPECT_FALSE(log.ChangedSince(Change::kAccountData, "@b:x", 14));
  log.Note(Change::kAccountData, "@c:x", 16);  // a third user: forget
  EXPECT_TRUE(log.ChangedSince(Change::kAccountData, "@b:x", 14));
  EXPECT_TRUE(log.ChangedSince(Change::kAccountData, "@d:x", 14));
  EXPECT_FALSE(log.ChangedSince(Change::kAccountData, "@d:x", 15));
  EXPECT_TRUE(log.ChangedSince(Change::kAccountData, "@c:x", 15));
  EXPECT_FALSE(log.ChangedSince(Change::kAccountData, "@c:x", 16));
  EXPECT_FALSE(log.ChangedSince(Change::kToDevice, "@c:x", 10));  // kinds apart
}

// A room's head bound: what the database said while the room was not
// written since the start, the newest noted position once it was, and past
// the bound (rooms forgotten) never below the newest position forgotten.
// Each user's newest own main-timeline event per room, exact while kept;
// once forgotten, a bound at or above it (the newest noted then).
TEST(ChangeLog, KnowsEachUsersNewestOwnMainTimelineEventPerRoom) {
  ChangeLog log(10, 2);
  using MR = ChangeLog::MainRead;
  auto eq = [](MR got, MR want) { return got.pos == want.pos && got.exact == want.exact; };
  EXPECT_TRUE(eq(log.LastMainRead("@a:x", 1), {0, true}));  // none since the start
  log.NoteMainRead("@a:x", 1, 12);
  log.NoteMainRead("@a:x", 1, 11);  // never lowers
  log.NoteMainRead("@b:x", 1, 13);
  EXPECT_TRUE(eq(log.LastMainRead("@a:x", 1), {12, true}));
  EXPECT_TRUE(eq(log.LastMainRead("@b:x", 1), {13, true}));
  EXPECT_TRUE(eq(log.LastMainRead("@a:x", 2), {0, true}));  // rooms apart
  log.NoteMainRead("@a:x", 1, 14);                          // a known pair: nothing forgotten
  EXPECT_TRUE(eq(log.LastMainRead("@b:x", 1), {13, true}));
  log.NoteMainRead("@a:x", 2, 15);  // a third pair: forget the others
  EXPECT_TRUE(eq(log.LastMainRead("@a:x", 2), {15, true}));
  EXPECT_TRUE(eq(log.LastMainRead("@a:x", 1), {14, false}));
  EXPECT_TRUE(eq(log.LastMainRead("@b:x", 1), {14, false}));
  EXPECT_TRUE(eq(log.LastMainRead("@c:x", 3), {14, false}));
  log.NoteMainRead("@b:x", 1, 16);
  EXPECT_TRUE(eq(log.LastMainRead("@b:x", 1), {16, true}));
}

TEST(ChangeLog, BoundsEveryRoomsHead) {
  ChangeLog log(10, 2);
  EXPECT_EQ(log.RoomHeadBound(1, 7), 7);
  EXPECT_EQ(log.RoomHeadBound(1), 10);  // without a read: as at the start
  log.NoteRoom(1, 12);
  EXPECT_EQ(log.RoomHeadBound(1), 12);
  EXPECT_EQ(log.RoomHeadBound(1, 7), 12);
  EXPECT_EQ(log.RoomHeadBound(1, 12), 12);
  log.NoteRoom(1, 11);  // never lowers
  EXPECT_EQ(log.RoomHeadBound(1, 7), 12);
  log.NoteRoom(2, 14);
  EXPECT_EQ(log.RoomHeadBound(3, 5), 5);
  log.NoteRoom(3, 15);  // a third room: forget the others
  EXPECT_EQ(log.RoomHeadBound(1, 7), 14);
  EXPECT_EQ(log.RoomHeadBound(2, 7), 14);
  EXPECT_EQ(log.RoomHeadBound(3, 7), 15);
  EXPECT_EQ(log.RoomHeadBound(4, 3), 14);
}

}  // namespace
}  // namespace vigie::service
