// Token-bucket rate limiting by key (an IP address, a user id). Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/config.h"

namespace vigie::service {

class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;
  explicit RateLimiter(RateLimit limit) : limit_(limit) {}

  // Takes `cost` tokens from key's bucket. Returns 0 when allowed, else
  // the milliseconds until enough tokens will be there (nothing is taken).
  // A limit with per_second == 0 allows everything.
  std::int64_t Take(std::string_view key, double cost = 1.0, Clock::time_point now = Clock::now());

  std::size_t TrackedKeys() const;

 private:
  struct Bucket {
    double tokens;
    Clock::time_point last;
  };
  static constexpr int kShards = 16;
  struct Shard {
    mutable std::mutex mu;
    std::unordered_map<std::string, Bucket> buckets;  // guarded by mu
    Clock::time_point last_sweep{};
  };
  RateLimit limit_;
  Shard shards_[kShards];
};

}  // namespace vigie::service
