#include "common/heap_trimmer.h"

#include <malloc.h>

namespace vigie {

std::size_t HeapTrimmer::FreeHeapBytes() {
  struct mallinfo2 mi = mallinfo2();
  return mi.fordblks + mi.fsmblks;
}

HeapTrimmer::HeapTrimmer(std::chrono::milliseconds interval, std::size_t min_free)
    : interval_(interval), min_free_(min_free) {
  if (interval_.count() > 0) thread_ = std::thread([this] { Run(); });
}

HeapTrimmer::~HeapTrimmer() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::size_t HeapTrimmer::Trims() const {
  std::lock_guard lock(mu_);
  return trims_;
}

void HeapTrimmer::Run() {
  std::unique_lock lock(mu_);
  while (!cv_.wait_for(lock, interval_, [this] { return stop_; })) {
    lock.unlock();
    const bool trim = FreeHeapBytes() >= min_free_;
    if (trim) malloc_trim(0);
    lock.lock();
    if (trim) ++trims_;
  }
}

}  // namespace vigie
