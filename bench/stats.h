// Measurement helpers for vigie-bench: a latency histogram, thread-safe error
// tallies, and readings of a server process from /proc.
#pragma once

#include <sys/types.h>

#include <array>
#include <atomic>
#include <boost/json/object.hpp>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vigie::bench {

// A log-linear histogram of non-negative integers (vigie-bench records
// microseconds), in the manner of HdrHistogram: values below 2^kSubBits are
// exact; above, each power of two is split into 2^kSubBits buckets, so a
// reported percentile is within 1/2^kSubBits (1.6%) of a recorded value.
// Recording is O(1) and allocation-free. Not thread-safe: keep one per thread
// and Merge.
class Histogram {
 public:
  static constexpr int kSubBits = 6;

  void Record(std::int64_t v);
  void Merge(const Histogram& other);

  std::uint64_t count() const { return count_; }
  std::int64_t min() const { return count_ ? min_ : 0; }
  std::int64_t max() const { return max_; }
  double mean() const { return count_ ? static_cast<double>(sum_) / count_ : 0.0; }
  // The smallest bucket bound below which at least p% of the values lie,
  // clamped to [min, max]. 0 when empty.
  std::int64_t Percentile(double p) const;

  // {"count","min","mean","p50","p90","p99","p999","max"}, values divided by
  // `scale` (1000 turns microseconds into milliseconds).
  boost::json::object ToJson(double scale = 1000.0) const;
  // "p50 1.2 p90 3.4 p99 5.6 max 7.8 ms (n=123)", same scaling.
  std::string Summary(double scale = 1000.0, std::string_view unit = "ms") const;

  static int BucketOf(std::uint64_t v);
  static std::uint64_t UpperBound(int bucket);

 private:
  static constexpr int kSub = 1 << kSubBits;
  static constexpr int kBuckets = kSub + (64 - kSubBits) * kSub;
  std::array<std::uint64_t, kBuckets> counts_{};
  std::uint64_t count_ = 0;
  std::int64_t min_ = 0;
  std::int64_t max_ = 0;
  std::int64_t sum_ = 0;
};

// Counts errors by kind, keeping the first few messages of each for the
// report. Thread-safe; errors are rare, so a mutex is enough.
class Errors {
 public:
  void Record(const std::string& kind, std::string_view detail);
  std::uint64_t total() const { return total_.load(std::memory_order_relaxed); }
  boost::json::object ToJson() const;
  std::vector<std::string> Lines() const;

 private:
  struct Kind {
    std::uint64_t count = 0;
    std::vector<std::string> examples;
  };
  mutable std::mutex mu_;
  std::map<std::string, Kind> kinds_;
  std::atomic<std::uint64_t> total_{0};
};

// What /proc says about a process.
struct ProcSample {
  std::int64_t rss_kib = 0;  // VmRSS
  std::int64_t hwm_kib = 0;  // VmHWM, the peak RSS
  std::int64_t threads = 0;
  std::int64_t cpu_ticks = 0;  // utime + stime, in clock ticks
  std::int64_t fds = 0;
  double taken_s = 0;  // steady-clock seconds when read
};

// Reads /proc/PID/status, /proc/PID/stat and counts /proc/PID/fd. nullopt
// when the process is gone or unreadable.
std::optional<ProcSample> ReadProc(pid_t pid);
// CPU use between two samples, in percent of one core.
double CpuPercent(const ProcSample& a, const ProcSample& b);
// This process's own CPU time (user + system), seconds.
double SelfCpuSeconds();
// Steady-clock seconds since an arbitrary start.
double NowSeconds();
// Loadavg, the first three numbers of /proc/loadavg.
std::string LoadAverage();

}  // namespace vigie::bench
