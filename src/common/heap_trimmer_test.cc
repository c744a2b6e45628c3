#include "common/heap_trimmer.h"

#include <gtest/gtest.h>

#include <fstream>
#include <memory>
#include <vector>

namespace vigie {
namespace {

[[maybe_unused]] std::size_t RssBytes() {
  std::ifstream f("/proc/self/statm");
  std::size_t size = 0, resident = 0;
  f >> size >> resident;
  return resident * static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
}

// A burst of small allocations, freed except for every 64th: the freed
// memory sits between live blocks, where glibc's free alone never returns
// it to the system, and jemalloc only as its decay advances. (Unused under
// the sanitizers, whose allocator it is neither.)
[[maybe_unused]] std::vector<std::unique_ptr<char[]>> Burst(std::size_t bytes) {
  constexpr std::size_t kBlock = 2048;
  std::vector<std::unique_ptr<char[]>> all(bytes / kBlock);
  for (auto& b : all) {
    b.reset(new char[kBlock]);
    for (std::size_t i = 0; i < kBlock; i += 512) b[i] = 1;  // touch: resident
  }
  std::vector<std::unique_ptr<char[]>> kept;
  for (std::size_t i = 0; i < all.size(); i += 64) kept.push_back(std::move(all[i]));
  return kept;
}

TEST(HeapTrimmer, GivesAFreedBurstBackToTheSystem) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "the sanitizer's allocator is neither glibc's nor jemalloc's";
#else
  auto kept = Burst(128 << 20);
  ASSERT_GE(HeapTrimmer::FreeHeapBytes(), std::size_t{64} << 20);
  const std::size_t before = RssBytes();
  HeapTrimmer trimmer(std::chrono::milliseconds(10));
  for (int i = 0; i < 500 && trimmer.Trims() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_GE(trimmer.Trims(), 1u);
  EXPECT_LT(RssBytes() + (64u << 20), before) << "a trim released less than half the burst";
  EXPECT_EQ(kept.size(), (std::size_t{128} << 20) / 2048 / 64);
#endif
}

TEST(HeapTrimmer, LeavesASmallHeapAloneAndStopsAtOnce) {
  HeapTrimmer trimmer(std::chrono::milliseconds(5), std::size_t{1} << 40);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(trimmer.Trims(), 0u);
  const auto start = std::chrono::steady_clock::now();
  {
    // Its destructor wakes the thread instead of waiting out the hour.
    HeapTrimmer hourly(std::chrono::hours(1));
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

}  // namespace
}  // namespace vigie
