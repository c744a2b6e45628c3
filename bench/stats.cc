#include "bench/stats.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

namespace vigie::bench {

int Histogram::BucketOf(std::uint64_t v) {
  if (v < static_cast<std::uint64_t>(kSub)) return static_cast<int>(v);
  const int h = std::bit_width(v) - 1;
  const int shift = h - kSubBits;
  const int sub = static_cast<int>(v >> shift) - kSub;
  return kSub + shift * kSub + sub;
}

std::uint64_t Histogram::UpperBound(int bucket) {
  if (bucket < kSub) return static_cast<std::uint64_t>(bucket);
  const int shift = (bucket - kSub) / kSub;
  const int sub = (bucket - kSub) % kSub;
  const std::uint64_t lower = static_cast<std::uint64_t>(kSub + sub) << shift;
  return lower + ((std::uint64_t{1} << shift) - 1);
}

void Histogram::Record(std::int64_t v) {
  if (v < 0) v = 0;
  ++counts_[BucketOf(static_cast<std::uint64_t>(v))];
  if (count_ == 0 || v < min_) min_ = v;
  if (v > max_) max_ = v;
  ++count_;
  sum_ += v;
}

void Histogram::Merge(const Histogram& o) {
  if (o.count_ == 0) return;
  for (int i = 0; i < kBuckets; ++i) counts_[i] += o.counts_[i];
  if (count_ == 0 || o.min_ < min_) min_ = o.min_;
  max_ = std::max(max_, o.max_);
  count_ += o.count_;
  sum_ += o.sum_;
}

std::int64_t Histogram::Percentile(double p) const {
  if (count_ == 0) return 0;
  auto rank = static_cast<std::uint64_t>(std::ceil(p / 100.0 * static_cast<double>(count_)));
  rank = std::clamp<std::uint64_t>(rank, 1, count_);
  std::uint64_t seen = 0;
  for (int i = 0; i < kBuckets; ++i) {
    seen += counts_[i];
    if (seen >= rank) {
      auto v = static_cast<std::int64_t>(std::min<std::uint64_t>(UpperBound(i), INT64_MAX));
      return std::clamp(v, min_, max_);
    }
  }
  return max_;
}

boost::json::object Histogram::ToJson(double scale) const {
  auto s = [scale](double v) { return std::round(v / scale * 1000.0) / 1000.0; };
  return {{"count", count_},
          {"min", s(static_cast<double>(min()))},
          {"mean", s(mean())},
          {"p50", s(static_cast<double>(Percentile(50)))},
          {"p90", s(static_cast<double>(Percentile(90)))},
          {"p99", s(static_cast<double>(Percentile(99)))},
          {"p999", s(static_cast<double>(Percentile(99.9)))},
          {"max", s(static_cast<double>(max_))}};
}

std::string Histogram::Summary(double scale, std::string_view unit) const {
  char buf[200];
  std::snprintf(
      buf, sizeof buf, "p50 %.2f  p90 %.2f  p99 %.2f  max %.2f %.*s (n=%llu)",
      static_cast<double>(Percentile(50)) / scale, static_cast<double>(Percentile(90)) / scale,
      static_cast<double>(Percentile(99)) / scale, static_cast<double>(max_) / scale,
      static_cast<int>(unit.size()), unit.data(), static_cast<unsigned long long>(count_));
  return buf;
}

void Errors::Record(const std::string& kind, std::string_view detail) {
  total_.fetch_add(1, std::memory_order_relaxed);
  std::lock_guard lock(mu_);
  auto& k = kinds_[kind];
  ++k.count;
  if (k.examples.size() < 3) k.examples.emplace_back(detail.substr(0, 300));
}

boost::json::object Errors::ToJson() const {
  std::lock_guard lock(mu_);
  boost::json::object out;
  for (const auto& [name, k] : kinds_) {
    boost::json::array ex;
    for (const auto& e : k.examples) ex.emplace_back(e);
    out[name] = {{"count", k.count}, {"examples", std::move(ex)}};
  }
  return out;
}

std::vector<std::string> Errors::Lines() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  for (const auto& [name, k] : kinds_) {
    std::string line = "  " + name + ": " + std::to_string(k.count);
    if (!k.examples.empty()) line += "  e.g. " + k.examples.front();
    out.push_back(std::move(line));
  }
  return out;
}

std::optional<ProcSample> ReadProc(pid_t pid) {
  const std::string base = "/proc/" + std::to_string(pid);
  ProcSample s;
  s.taken_s = NowSeconds();
  {
    std::ifstream status(base + "/status");
    if (!status) return std::nullopt;
    std::string line;
    auto field = [&line](std::string_view name, std::int64_t& out) {
      if (line.compare(0, name.size(), name) == 0) {
        out = std::strtoll(line.c_str() + name.size(), nullptr, 10);
      }
    };
    while (std::getline(status, line)) {
      field("VmRSS:", s.rss_kib);
      field("VmHWM:", s.hwm_kib);
      field("Threads:", s.threads);
    }
  }
  {
    std::ifstream stat(base + "/stat");
    std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    // The command name may hold spaces and parentheses: fields start after
    // the last ')'. utime and stime are fields 14 and 15 (1-based).
    auto close = text.rfind(')');
    if (close == std::string::npos) return std::nullopt;
    std::istringstream rest(text.substr(close + 2));
    std::string f;
    for (int i = 3; i <= 15 && rest >> f; ++i) {
      if (i == 14 || i == 15) s.cpu_ticks += std::strtoll(f.c_str(), nullptr, 10);
    }
  }
  if (DIR* d = opendir((base + "/fd").c_str())) {
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] != '.') ++s.fds;
    }
    closedir(d);
  }
  return s;
}

double CpuPercent(const ProcSample& a, const ProcSample& b) {
  const double dt = b.taken_s - a.taken_s;
  if (dt <= 0) return 0;
  static const double kTicks = static_cast<double>(sysconf(_SC_CLK_TCK));
  return 100.0 * static_cast<double>(b.cpu_ticks - a.cpu_ticks) / kTicks / dt;
}

double SelfCpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  auto sec = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
  return sec(u.ru_utime) + sec(u.ru_stime);
}

double NowSeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::string LoadAverage() {
  std::ifstream f("/proc/loadavg");
  std::string a, b, c;
  f >> a >> b >> c;
  return a + " " + b + " " + c;
}

}  // namespace vigie::bench
