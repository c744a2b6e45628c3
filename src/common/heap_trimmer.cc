#include "common/heap_trimmer.h"

#if VIGIE_JEMALLOC
#include <jemalloc/jemalloc.h>
#else
#include <malloc.h>
#endif

#include <cstdint>

#include "common/thread_name.h"

namespace vigie {
namespace {

#if VIGIE_JEMALLOC
std::size_t JemallocStat(const char* name) {
  std::size_t v = 0, len = sizeof(v);
  return mallctl(name, &v, &len, nullptr, 0) == 0 ? v : 0;
}
#endif

// Hands the unused memory back to the system.
void Release() {
#if VIGIE_JEMALLOC
  // Every arena's unused pages (4096 is MALLCTL_ARENAS_ALL).
  static_assert(MALLCTL_ARENAS_ALL == 4096);
  mallctl("arena.4096.purge", nullptr, nullptr, nullptr, 0);
#else
  malloc_trim(0);
#endif
}

}  // namespace

std::size_t HeapTrimmer::FreeHeapBytes() {
#if VIGIE_JEMALLOC
  // Statistics are a snapshot taken at each "epoch" write.
  std::uint64_t epoch = 1;
  std::size_t len = sizeof(epoch);
  mallctl("epoch", &epoch, &len, &epoch, len);
  const std::size_t resident = JemallocStat("stats.resident");
  const std::size_t allocated = JemallocStat("stats.allocated");
  return resident > allocated ? resident - allocated : 0;
#else
  struct mallinfo2 mi = mallinfo2();
  return mi.fordblks + mi.fsmblks;
#endif
}

HeapTrimmer::HeapTrimmer(std::chrono::milliseconds interval, std::size_t min_free)
    : interval_(interval), min_free_(min_free) {
  if (interval_.count() > 0) {
    thread_ = std::thread([this] {
      NameThisThread("vigie-trim");
      Run();
    });
  }
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
    if (trim) Release();
    lock.lock();
    if (trim) ++trims_;
  }
}

}  // namespace vigie
