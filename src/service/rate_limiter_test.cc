#include "service/rate_limiter.h"

#include <gtest/gtest.h>

namespace vigie::service {
namespace {

using namespace std::chrono_literals;

TEST(RateLimiter, BurstThenRetryAfter) {
  RateLimiter rl({2.0, 5.0});
  auto t0 = RateLimiter::Clock::now();
  for (int i = 0; i < 5; ++i) EXPECT_EQ(rl.Take("ip", 1, t0), 0) << i;
  std::int64_t wait = rl.Take("ip", 1, t0);
  EXPECT_GE(wait, 499);
  EXPECT_LE(wait, 501);
  // Half a second later one token is back.
  EXPECT_EQ(rl.Take("ip", 1, t0 + 500ms), 0);
  EXPECT_GT(rl.Take("ip", 1, t0 + 500ms), 0);
}

TEST(RateLimiter, KeysAreIndependent) {
  RateLimiter rl({1.0, 1.0});
  auto t0 = RateLimiter::Clock::now();
  EXPECT_EQ(rl.Take("a", 1, t0), 0);
  EXPECT_GT(rl.Take("a", 1, t0), 0);
  EXPECT_EQ(rl.Take("b", 1, t0), 0);
}

TEST(RateLimiter, RefillIsCappedAtBurst) {
  RateLimiter rl({10.0, 3.0});
  auto t0 = RateLimiter::Clock::now();
  EXPECT_EQ(rl.Take("k", 3, t0), 0);
  auto later = t0 + 1h;
  EXPECT_EQ(rl.Take("k", 3, later), 0);
  EXPECT_GT(rl.Take("k", 1, later), 0);
}

TEST(RateLimiter, ZeroRateDisables) {
  RateLimiter rl({0, 0});
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(rl.Take("k"), 0);
  EXPECT_EQ(rl.TrackedKeys(), 0u);
}

TEST(RateLimiter, IdleKeysAreForgotten) {
  RateLimiter rl({1.0, 2.0});
  auto t0 = RateLimiter::Clock::now();
  for (int i = 0; i < 100; ++i) rl.Take("k" + std::to_string(i), 1, t0);
  EXPECT_EQ(rl.TrackedKeys(), 100u);
  // 1000 new keys touch every shard, each sweeping its idle buckets.
  for (int i = 0; i < 1000; ++i) rl.Take("late" + std::to_string(i), 1, t0 + 120s);
  EXPECT_EQ(rl.TrackedKeys(), 1000u);
}

}  // namespace
}  // namespace vigie::service
