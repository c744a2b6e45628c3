#include "service/rate_limiter.h"

#include <algorithm>
#include <cmath>
#include <functional>

namespace vigie::service {

std::int64_t RateLimiter::Take(std::string_view key, double cost, Clock::time_point now) {
  if (limit_.per_second <= 0) return 0;
  Shard& shard = shards_[std::hash<std::string_view>{}(key) % kShards];
  std::lock_guard lock(shard.mu);
  // Forget buckets that have been full for a while, so that a flood of
  // distinct keys cannot grow memory without bound.
  const auto refill_time = std::chrono::duration<double>(limit_.burst / limit_.per_second);
  if (now - shard.last_sweep > std::chrono::seconds(60)) {
    shard.last_sweep = now;
    std::erase_if(shard.buckets,
                  [&](const auto& kv) { return now - kv.second.last > refill_time; });
  }
  auto [it, inserted] = shard.buckets.try_emplace(std::string(key), Bucket{limit_.burst, now});
  Bucket& b = it->second;
  double elapsed = std::chrono::duration<double>(now - b.last).count();
  b.tokens = std::min(limit_.burst, b.tokens + std::max(0.0, elapsed) * limit_.per_second);
  b.last = now;
  if (b.tokens >= cost) {
    b.tokens -= cost;
    return 0;
  }
  double wait_s = (cost - b.tokens) / limit_.per_second;
  return std::max<std::int64_t>(1, static_cast<std::int64_t>(std::ceil(wait_s * 1000)));
}

std::size_t RateLimiter::TrackedKeys() const {
  std::size_t n = 0;
  for (const auto& s : shards_) {
    std::lock_guard lock(s.mu);
    n += s.buckets.size();
  }
  return n;
}

}  // namespace vigie::service
