#include "common/thread_name.h"

#include <gtest/gtest.h>

#include <boost/asio/post.hpp>
#include <future>
#include <set>
#include <thread>

namespace vigie {
namespace {

TEST(ThreadName, NamesTheCallingThread) {
  std::thread t([] {
    NameThisThread("vigie-a-very-long-name");
    EXPECT_EQ(ThisThreadName(), "vigie-a-very-lo");  // Linux keeps 15 bytes
  });
  t.join();
}

TEST(ThreadName, NamesEveryThreadOfAPoolOnce) {
  boost::asio::thread_pool pool(3);
  NamePoolThreads(pool, 3, "db");
  // Many tasks: whichever threads run them, each has one of the names.
  std::mutex mu;
  std::set<std::string> seen;
  std::vector<std::future<void>> done;
  for (int i = 0; i < 60; ++i) {
    auto p = std::make_shared<std::promise<void>>();
    done.push_back(p->get_future());
    boost::asio::post(pool, [&, p] {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
      std::lock_guard lock(mu);
      seen.insert(ThisThreadName());
      p->set_value();
    });
  }
  for (auto& f : done) f.get();
  EXPECT_EQ(seen, (std::set<std::string>{"db-0", "db-1", "db-2"}));
  pool.join();
}

TEST(ThreadName, APoolSmallerThanSaidIsNamedWithoutHanging) {
  boost::asio::thread_pool pool(1);
  const auto start = std::chrono::steady_clock::now();
  NamePoolThreads(pool, 2, "x", std::chrono::milliseconds(100));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  std::promise<std::string> name;
  boost::asio::post(pool, [&] { name.set_value(ThisThreadName()); });
  const std::string got = name.get_future().get();
  EXPECT_TRUE(got == "x-0" || got == "x-1") << got;
  pool.join();
}

}  // namespace
}  // namespace vigie
