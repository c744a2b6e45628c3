// Gives the memory a burst freed back to the system.
//
// The allocator keeps freed memory: after thousands of clients sync at once
// (a drill starting, a restart), the server's RSS stays near the burst's
// peak although the heap is mostly free (glibc until a trim; jemalloc
// until its decay, which advances only as the server allocates, and an
// idle server does not). A HeapTrimmer thread looks every `interval` and,
// when more than `min_free` bytes are resident but unused, has the
// allocator release them: jemalloc's arenas purged when vigie is built
// with it (VIGIE_JEMALLOC, the default), glibc's malloc_trim otherwise.
// It runs on its own thread because a trim walks every arena: never on an
// I/O thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <thread>

namespace vigie {

class HeapTrimmer {
 public:
  // Bytes the allocator holds resident but unused (not yet given back).
  static std::size_t FreeHeapBytes();

  // interval <= 0: never trims (no thread).
  HeapTrimmer(std::chrono::milliseconds interval, std::size_t min_free = 16 << 20);
  ~HeapTrimmer();
  HeapTrimmer(const HeapTrimmer&) = delete;
  HeapTrimmer& operator=(const HeapTrimmer&) = delete;

  std::size_t Trims() const;  // trims done so far

 private:
  void Run();
  const std::chrono::milliseconds interval_;
  const std::size_t min_free_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;      // guarded by mu_
  std::size_t trims_ = 0;  // guarded by mu_
  std::thread thread_;
};

}  // namespace vigie
