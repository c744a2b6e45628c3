#include "common/thread_name.h"

#include <pthread.h>

#include <array>
#include <boost/asio/post.hpp>
#include <condition_variable>
#include <memory>
#include <mutex>

namespace vigie {

void NameThisThread(const std::string& name) {
  pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
}

std::string ThisThreadName() {
  std::array<char, 16> buf{};
  if (pthread_getname_np(pthread_self(), buf.data(), buf.size()) != 0) return "";
  return buf.data();
}

void NamePoolThreads(boost::asio::thread_pool& pool, std::size_t threads, const std::string& prefix,
                     std::chrono::milliseconds wait) {
  struct Gate {
    std::mutex mu;
    std::condition_variable cv;
    std::size_t started = 0;  // guarded by mu
    std::size_t named = 0;    // guarded by mu
  };
  auto gate = std::make_shared<Gate>();
  const auto deadline = std::chrono::steady_clock::now() + wait;
  for (std::size_t i = 0; i < threads; ++i) {
    boost::asio::post(pool, [gate, threads, prefix, deadline] {
      std::unique_lock lock(gate->mu);
      NameThisThread(prefix + "-" + std::to_string(gate->started++));
      gate->cv.notify_all();
      // Held until every task has a thread of its own (or the wait is over).
      gate->cv.wait_until(lock, deadline, [&] { return gate->started == threads; });
      ++gate->named;
      gate->cv.notify_all();
    });
  }
  std::unique_lock lock(gate->mu);
  gate->cv.wait_until(lock, deadline + wait, [&] { return gate->named == threads; });
}

}  // namespace vigie
