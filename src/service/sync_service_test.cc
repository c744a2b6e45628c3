#include "service/sync_service.h"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <future>
#include <thread>

#include "service/service_test_util.h"

namespace vigie::service {
namespace {

namespace bj = boost::json;

// Filters named by /sync and /messages: parsed once per definition and
// shared, whoever names it and however (inline or stored).
class SyncFilterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    crypto::Init();
    Config c = TestConfig();
    Configure(c);
    hs_ = std::make_unique<Homeserver>(c);
    alice_ = RegisterAndLogin(*hs_, "alice");
    bob_ = RegisterAndLogin(*hs_, "bob");
  }
  std::shared_ptr<const Filter> Resolve(const Requester& who, std::optional<std::string> p) {
    return hs_->RunSync(hs_->sync.ResolveFilter(who, p));
  }
  virtual void Configure(Config&) {}
  std::string Store(const Requester& who, const bj::object& definition) {
    return hs_->RunSync(hs_->sync.CreateFilter(who, definition));
  }

  std::unique_ptr<Homeserver> hs_;
  Requester alice_, bob_;
};

TEST_F(SyncFilterTest, OneDefinitionIsParsedOnceForEveryone) {
  const std::string ten = R"({"room":{"timeline":{"limit":10}}})";
  const std::string five = R"({"room":{"timeline":{"limit":5}}})";
  auto a = Resolve(alice_, ten);
  auto b = Resolve(bob_, ten);
  auto c = Resolve(alice_, five);
  EXPECT_EQ(a.get(), b.get());  // the same text: one Filter
  EXPECT_NE(a.get(), c.get());
  EXPECT_EQ(a->room.timeline.limit, 10);
  EXPECT_EQ(c->room.timeline.limit, 5);
  EXPECT_EQ(hs_->sync.SharedFilters(), 2u);

  // Stored filters: each user's id names their own row, and the same
  // definition is one Filter for both.
  const bj::object lazy = {{"room", {{"state", {{"lazy_load_members", true}}}}}};
  const std::string ida = Store(alice_, lazy);
  const std::string idb = Store(bob_, lazy);
  auto sa = Resolve(alice_, ida);
  auto sb = Resolve(bob_, idb);
  EXPECT_EQ(sa.get(), sb.get());
  EXPECT_TRUE(sa->room.state.lazy_load_members);
  EXPECT_EQ(Resolve(alice_, ida).get(), sa.get());
  EXPECT_EQ(hs_->sync.SharedFilters(), 3u);
  // A stored filter is still its owner's alone.
  EXPECT_EQ(ErrorOf([&] { Resolve(bob_, ida); }).code(), ErrorCode::kNotFound);
  // No filter, or an empty one: the empty filter, not kept.
  EXPECT_FALSE(Resolve(alice_, std::nullopt)->room.timeline.limit);
  EXPECT_FALSE(Resolve(alice_, std::string())->room.timeline.limit);
  EXPECT_EQ(hs_->sync.SharedFilters(), 3u);
}

TEST_F(SyncFilterTest, BadInlineFiltersAreRefusedAndNotKept) {
  EXPECT_EQ(ErrorOf([&] { Resolve(alice_, "{not json"); }).code(), ErrorCode::kNotJson);
  EXPECT_EQ(ErrorOf([&] { Resolve(alice_, R"({"room":{"timeline":{"limit":"x"}}})"); }).code(),
            ErrorCode::kBadJson);
  EXPECT_EQ(hs_->sync.SharedFilters(), 0u);
}

TEST_F(SyncFilterTest, KeptFiltersAreBoundedInNumberAndBytes) {
  // Anyone may send inline filters, each different: the kept ones stay
  // bounded while every request still gets its own filter right.
  const std::size_t n = 10000 + 10;
  for (std::size_t i = 0; i < n; ++i) {
    auto f = Resolve(alice_, R"({"room":{"timeline":{"limit":)" + std::to_string(i % 1000) +
                                 R"(}},"event_fields":["x)" + std::to_string(i) + R"("]})");
    ASSERT_EQ(f->room.timeline.limit, static_cast<std::int64_t>(i % 1000));
  }
  EXPECT_LE(hs_->sync.SharedFilters(), 10000u);
  // Large definitions (up to the header limit) count by their bytes.
  const std::string pad(12000, 'a');
  for (int i = 0; i < 400; ++i) {
    Resolve(alice_, R"({"event_fields":[")" + pad + std::to_string(i) + R"("]})");
  }
  EXPECT_LE(hs_->sync.SharedFilters(), (4u << 20) / 12000 + 1);
}

// A long-poll split at its wait (Begin, Wait, Resume): what the API parks
// on the connection instead of its handler's coroutines.
class SyncPollTest : public SyncFilterTest {
 protected:
  void SetUp() override {
    SyncFilterTest::SetUp();
    CreateRoomOptions o;
    room_ = hs_->RunSync(hs_->rooms.CreateRoom(alice_, o)).room_id;
    SyncRequest initial;
    since_ = hs_->RunSync(hs_->sync.Sync(alice_, initial)).next_batch;
  }
  SyncRequest LongPoll(std::chrono::milliseconds timeout) {
    SyncRequest req;
    req.since = since_;
    req.timeout = timeout;
    return req;
  }
  static std::string LastBody(const SyncResult& r) {
    if (r.join.empty() || r.join[0].timeline.empty()) return "";
    auto v = bj::parse(r.join[0].timeline.back()->json);
    return std::string(v.at("content").at("body").as_string());
  }

  std::string room_, since_;
};

TEST_F(SyncPollTest, ALongPollParksUntilNotifiedThenAnswers) {
  boost::asio::io_context ioc;
  std::unique_ptr<SyncPoll> poll;
  bool parked = false, woken = false;
  const std::uint64_t looks = hs_->sync.Looks();
  boost::asio::co_spawn(
      ioc,
      [&]() -> boost::asio::awaitable<void> {
        poll = co_await hs_->sync.Begin(alice_, LongPoll(std::chrono::seconds(20)));
        // Nothing new since the token: parked without a look.
        parked = !poll->result && poll->sub;
        EXPECT_EQ(hs_->sync.Looks(), looks);
        bj::object content{{"body", "wake"}};
        co_await hs_->rooms.Send(alice_, room_, "m.room.message", content, "w1");
        co_await SyncService::Wait(*poll);
        woken = std::chrono::steady_clock::now() < poll->deadline;
        co_await hs_->sync.Resume(*poll);
      },
      boost::asio::detached);
  ioc.run();
  EXPECT_TRUE(parked);
  EXPECT_TRUE(woken);  // by the message, not the deadline
  ASSERT_TRUE(poll->result);
  EXPECT_FALSE(poll->sub);
  EXPECT_EQ(LastBody(*poll->result), "wake");
  EXPECT_NE(poll->result->next_batch, since_);
}

TEST_F(SyncPollTest, APollAnswersAtItsDeadlineAndAtOnceWithoutATimeout) {
  boost::asio::io_context ioc;
  std::unique_ptr<SyncPoll> poll, now;
  boost::asio::co_spawn(
      ioc,
      [&]() -> boost::asio::awaitable<void> {
        now = co_await hs_->sync.Begin(alice_, LongPoll(std::chrono::milliseconds(0)));
        poll = co_await hs_->sync.Begin(alice_, LongPoll(std::chrono::milliseconds(50)));
        co_await SyncService::Wait(*poll);
        co_await hs_->sync.Resume(*poll);
      },
      boost::asio::detached);
  ioc.run();
  ASSERT_TRUE(now->result);  // timeout 0: answered by Begin
  EXPECT_TRUE(now->result->Empty());
  ASSERT_TRUE(poll->result);  // at the deadline: an empty answer
  EXPECT_TRUE(poll->result->Empty());
  EXPECT_GE(std::chrono::steady_clock::now(), poll->deadline);
}

TEST_F(SyncPollTest, ACancelledPollStopsWaitingAtOnce) {
  boost::asio::io_context ioc;
  std::unique_ptr<SyncPoll> poll;
  boost::asio::co_spawn(
      ioc,
      [&]() -> boost::asio::awaitable<void> {
        poll = co_await hs_->sync.Begin(alice_, LongPoll(std::chrono::seconds(60)));
        // Its client hangs up while it waits (http::Pending::Cancel).
        boost::asio::post(co_await boost::asio::this_coro::executor,
                          [&poll] { poll->sub->Cancel(); });
        co_await SyncService::Wait(*poll);
      },
      boost::asio::detached);
  const auto start = std::chrono::steady_clock::now();
  ioc.run();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(30));
  ASSERT_TRUE(poll);
  EXPECT_FALSE(poll->result);  // nobody to answer: no look
}

// A woken long-poll is answered from what is kept in memory, on its own
// thread: not one task for the database pool. Shown with every pool
// thread held busy while it resumes; it answers anyway.
TEST_F(SyncPollTest, AWokenPollIsAnsweredFromMemoryWithoutTheDatabasePool) {
  // (The first incremental sync after a message reads the device's key
  // counts and the room's push rows; from then on they are kept.)
  hs_->RunSync(hs_->rooms.Send(alice_, room_, "m.room.message", {{"body", "first"}}, "m0"));
  since_ = hs_->RunSync(hs_->sync.Sync(alice_, LongPoll(std::chrono::milliseconds(0)))).next_batch;
  boost::asio::io_context ioc;
  std::unique_ptr<SyncPoll> poll;
  boost::asio::co_spawn(
      ioc,
      [&]() -> boost::asio::awaitable<void> {
        poll = co_await hs_->sync.Begin(alice_, LongPoll(std::chrono::seconds(20)));
        bj::object content{{"body", "kept"}};
        co_await hs_->rooms.Send(alice_, room_, "m.room.message", content, "m1");
        co_await SyncService::Wait(*poll);
      },
      boost::asio::detached);
  ioc.run();
  ASSERT_TRUE(poll && !poll->result);

  // Every pool thread (TestConfig: 2) waits until released.
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<int> holding{0};
  for (int i = 0; i < 2; ++i) {
    boost::asio::post(hs_->db_pool(), [&holding, released] {
      ++holding;
      released.wait();
    });
  }
  while (holding.load() < 2) std::this_thread::yield();

  const std::uint64_t looks = hs_->sync.Looks();
  const std::uint64_t in_memory = hs_->sync.MemoryLooks();
  boost::asio::co_spawn(
      ioc, [&]() -> boost::asio::awaitable<void> { co_await hs_->sync.Resume(*poll); },
      boost::asio::detached);
  ioc.restart();
  ioc.run_for(std::chrono::seconds(10));
  const bool answered = poll->result != nullptr;
  release.set_value();
  ioc.run();  // (a look sent to the pool finishes now)
  EXPECT_TRUE(answered);
  ASSERT_TRUE(poll->result);
  EXPECT_EQ(LastBody(*poll->result), "kept");
  EXPECT_EQ(hs_->sync.Looks() - looks, 1u);
  EXPECT_EQ(hs_->sync.MemoryLooks() - in_memory, 1u);
}

// What memory does not hold is read: account data set since the token
// needs the database, so the look goes to the pool, and the answer has it.
TEST_F(SyncPollTest, ALookThatNeedsAReadGoesToTheDatabase) {
  boost::asio::io_context ioc;
  std::unique_ptr<SyncPoll> poll;
  const std::uint64_t looks = hs_->sync.Looks();
  const std::uint64_t in_memory = hs_->sync.MemoryLooks();
  boost::asio::co_spawn(
      ioc,
      [&]() -> boost::asio::awaitable<void> {
        poll = co_await hs_->sync.Begin(alice_, LongPoll(std::chrono::seconds(20)));
        const std::string global, type = "org.example.pref";
        bj::object content{{"on", true}};
        co_await hs_->account_data.Set(alice_, alice_.user_id, global, type, content);
        co_await SyncService::Wait(*poll);
        co_await hs_->sync.Resume(*poll);
      },
      boost::asio::detached);
  ioc.run();
  ASSERT_TRUE(poll->result);
  ASSERT_EQ(poll->result->account_data.size(), 1u);
  EXPECT_EQ(poll->result->account_data[0].as_object().at("type"), "org.example.pref");
  EXPECT_EQ(hs_->sync.Looks() - looks, 1u);
  EXPECT_EQ(hs_->sync.MemoryLooks(), in_memory);
}

// Under load: a long-poll woken by a batch while more writes wait behind
// it waits for their batch (up to [server] sync_coalesce_ms) and answers
// both batches in one response.
class SyncCoalesceTest : public SyncPollTest {
 protected:
  void Configure(Config& c) override { c.sync_coalesce_ms = 1000; }
  // Alice sends `body` into her room (`body` is the transaction id too).
  boost::asio::awaitable<void> Say(std::string body) {
    bj::object content{{"body", body}};
    co_await hs_->rooms.Send(alice_, room_, "m.room.message", content, body);
  }
};

// Polls `done` every millisecond for up to 10 s.
void AwaitTrue(const std::function<bool()>& done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!done() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

TEST_F(SyncCoalesceTest, APollWokenWhileWritesQueueAnswersTheirBatchToo) {
  Stream& stream = hs_->stream;
  const std::size_t waiters = stream.notifier().Waiters();
  // Writes that hold their batch open until `done`.
  auto hold = [&](std::function<bool()> done) {
    hs_->RunSync(
        stream.Submit([&](sql::Tx&, Stream::NextPos&, Stream::Effects&) { AwaitTrue(done); }));
  };
  std::atomic<bool> first_running{false}, second_running{false};
  // Batch 1 (held): until e1 and the second holder queue. Batch 2: e1 and
  // the second holder, which holds it until e2 and the third holder queue
  // (so batch 2 commits with writes waiting). Batch 3: e2 and the third
  // holder, which holds it until the woken poll waits for the next batch
  // (its subscription beside its own): without that wait, the poll would
  // look before e2 and answer e1 alone.
  std::thread first([&] {
    hold([&] {
      first_running = true;
      return stream.Queued() >= 2;
    });
  });
  AwaitTrue([&] { return first_running.load(); });
  boost::asio::io_context ioc;
  std::unique_ptr<SyncPoll> poll;
  std::thread second, third;
  boost::asio::co_spawn(
      ioc,
      [&]() -> boost::asio::awaitable<void> {
        poll = co_await hs_->sync.Begin(alice_, LongPoll(std::chrono::seconds(20)));
        boost::asio::co_spawn(ioc, Say("e1"), boost::asio::detached);
        second = std::thread([&] {
          AwaitTrue([&] { return stream.Queued() >= 1; });  // e1
          hold([&] {
            second_running = true;
            return stream.Queued() >= 2;
          });
        });
        boost::asio::steady_timer t(ioc);
        while (!second_running) {
          t.expires_after(std::chrono::milliseconds(1));
          co_await t.async_wait(boost::asio::use_awaitable);
        }
        boost::asio::co_spawn(ioc, Say("e2"), boost::asio::detached);
        third = std::thread([&] {
          AwaitTrue([&] { return stream.Queued() >= 1; });  // e2
          hold([&] { return stream.notifier().Waiters() >= waiters + 2; });
        });
        co_await SyncService::Wait(*poll);
        co_await hs_->sync.Resume(*poll);
      },
      boost::asio::detached);
  ioc.run();
  first.join();
  second.join();
  third.join();
  ASSERT_TRUE(poll && poll->result);
  ASSERT_EQ(poll->result->join.size(), 1u);
  std::vector<std::string> bodies;
  for (const auto& e : poll->result->join[0].timeline) {
    bodies.emplace_back(bj::parse(e->json).at("content").at("body").as_string());
  }
  EXPECT_EQ(bodies, (std::vector<std::string>{"e1", "e2"}));
}

}  // namespace
}  // namespace vigie::service
