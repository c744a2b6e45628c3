#include "common/log_sink.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <spdlog/logger.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace vigie {
namespace {

using namespace std::chrono_literals;

struct Pipe {
  int r = -1, w = -1;
  Pipe() {
    int fds[2];
    EXPECT_EQ(::pipe(fds), 0);
    r = fds[0];
    w = fds[1];
  }
  ~Pipe() {
    if (r >= 0) ::close(r);
    if (w >= 0) ::close(w);
  }
  // Everything written until the write end is closed.
  std::string ReadAll() {
    ::close(w);
    w = -1;
    std::string out;
    char buf[65536];
    for (ssize_t n; (n = ::read(r, buf, sizeof buf)) > 0;)
      out.append(buf, static_cast<std::size_t>(n));
    return out;
  }
};

std::shared_ptr<spdlog::logger> LoggerOn(std::shared_ptr<BatchingSink> sink) {
  auto logger = std::make_shared<spdlog::logger>("test", std::move(sink));
  logger->set_pattern("%v");
  return logger;
}

// Every record of every thread arrives once, in each thread's order, in
// far fewer writes than records.
TEST(BatchingSinkTest, WritesEveryRecordInOrderInBatches) {
  Pipe pipe;
  std::uint64_t writes = 0;
  std::string text;
  constexpr int kThreads = 4, kEach = 2000;
  std::thread reader([&] {
    char buf[65536];
    for (ssize_t n; (n = ::read(pipe.r, buf, sizeof buf)) > 0;) {
      text.append(buf, static_cast<std::size_t>(n));
    }
  });
  {
    auto sink = std::make_shared<BatchingSink>(pipe.w);
    auto logger = LoggerOn(sink);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < kEach; ++i) logger->info("t{} n{}", t, i);
      });
    }
    for (auto& th : threads) th.join();
    logger.reset();
    writes = sink->Writes();
    EXPECT_EQ(sink->Dropped(), 0u);
  }  // the sink's destruction writes what is pending
  ::close(pipe.w);
  pipe.w = -1;
  reader.join();
  std::map<int, int> next;
  std::istringstream lines(text);
  int count = 0;
  for (std::string line; std::getline(lines, line); ++count) {
    int t = -1, n = -1;
    ASSERT_EQ(std::sscanf(line.c_str(), "t%d n%d", &t, &n), 2) << line;
    EXPECT_EQ(n, next[t]++) << line;
  }
  EXPECT_EQ(count, kThreads * kEach);
  EXPECT_LT(writes, static_cast<std::uint64_t>(kThreads * kEach) / 10) << writes;
}

// A record shows up without any flush or destruction: the writer wakes.
TEST(BatchingSinkTest, ARecordIsWrittenSoonWithoutAFlush) {
  Pipe pipe;
  auto sink = std::make_shared<BatchingSink>(pipe.w);
  auto logger = LoggerOn(sink);
  logger->info("hello");
  char buf[64];
  ASSERT_EQ(::fcntl(pipe.r, F_SETFL, O_NONBLOCK), 0);
  std::string got;
  for (auto until = std::chrono::steady_clock::now() + 10s;
       got.find('\n') == std::string::npos && std::chrono::steady_clock::now() < until;) {
    ssize_t n = ::read(pipe.r, buf, sizeof buf);
    if (n > 0) got.append(buf, static_cast<std::size_t>(n));
    std::this_thread::sleep_for(1ms);
  }
  EXPECT_EQ(got, "hello\n");
}

// With the descriptor blocked, logging never waits: past the bound records
// are dropped and counted, and the log says so once it flows again.
TEST(BatchingSinkTest, ABlockedLogDropsAndSaysSoInsteadOfBlocking) {
  Pipe pipe;
  const std::string big(1000, 'x');
  std::uint64_t dropped = 0;
  {
    auto sink = std::make_shared<BatchingSink>(pipe.w, 64 * 1024, 1ms);
    auto logger = LoggerOn(sink);
    // A pipe holds 64 KiB: 1,000 records of 1 KB are more than the pipe
    // and the pending bound together, and nobody reads yet.
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < 1000; ++i) logger->info("{}", big);
    EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
    dropped = sink->Dropped();
    EXPECT_GT(dropped, 0u);
    logger.reset();
    std::string text;
    std::thread reader([&] {
      char buf[65536];
      for (ssize_t n; (n = ::read(pipe.r, buf, sizeof buf)) > 0;) {
        text.append(buf, static_cast<std::size_t>(n));
      }
    });
    sink.reset();  // its final write needs the reader
    ::close(pipe.w);
    pipe.w = -1;
    reader.join();
    EXPECT_NE(text.find("records dropped"), std::string::npos);
  }
}

}  // namespace
}  // namespace vigie
