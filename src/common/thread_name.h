// Thread names, for `top -H`, `perf report --sort comm` and debuggers: a
// profile of vigie then says which thread spent the time (an I/O thread,
// the database pool, the hashing pool, the log writer...). Linux keeps the
// first 15 bytes of a name.
#pragma once

#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <cstddef>
#include <string>

namespace vigie {

void NameThisThread(const std::string& name);

// The calling thread's name ("" if it cannot be read).
std::string ThisThreadName();

// Names the threads of a fresh pool of `threads` threads prefix-0,
// prefix-1, ...: one task per thread, each held until all have started so
// that no thread runs two. Returns once they are named, or after `wait`
// if the pool has fewer threads than said (those it has are named).
void NamePoolThreads(boost::asio::thread_pool& pool, std::size_t threads, const std::string& prefix,
                     std::chrono::milliseconds wait = std::chrono::seconds(2));

// A thread pool whose threads are named prefix-0, prefix-1, ... from the
// start, before any work is posted to it.
class NamedThreadPool : public boost::asio::thread_pool {
 public:
  NamedThreadPool(std::size_t threads, const std::string& prefix) : thread_pool(threads) {
    NamePoolThreads(*this, threads, prefix);
  }
};

}  // namespace vigie
