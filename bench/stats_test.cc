#include "bench/stats.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <random>
#include <vector>

namespace vigie::bench {
namespace {

TEST(HistogramTest, EmptyIsZero) {
  Histogram h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.Percentile(50), 0);
  EXPECT_EQ(h.max(), 0);
  EXPECT_EQ(h.min(), 0);
}

TEST(HistogramTest, SmallValuesAreExact) {
  Histogram h;
  for (int v = 0; v < 64; ++v) h.Record(v);
  EXPECT_EQ(h.Percentile(0.1), 0);
  EXPECT_EQ(h.Percentile(50), 31);
  EXPECT_EQ(h.Percentile(100), 63);
  EXPECT_EQ(h.min(), 0);
  EXPECT_EQ(h.max(), 63);
}

TEST(HistogramTest, BucketsCoverEveryValueInOrder) {
  // A value lies at or below its bucket's upper bound and above the
  // previous bucket's.
  std::mt19937_64 rng(7);
  for (int i = 0; i < 100000; ++i) {
    const std::uint64_t v = rng() >> (rng() % 64);
    const int b = Histogram::BucketOf(v);
    EXPECT_LE(v, Histogram::UpperBound(b));
    if (b > 0) {
      EXPECT_GT(v, Histogram::UpperBound(b - 1));
    }
  }
  EXPECT_EQ(Histogram::UpperBound(Histogram::BucketOf(UINT64_MAX)), UINT64_MAX);
}

TEST(HistogramTest, PercentilesWithinRelativeError) {
  std::mt19937_64 rng(42);
  std::lognormal_distribution<double> dist(8.0, 1.5);
  std::vector<std::int64_t> values;
  Histogram h;
  for (int i = 0; i < 50000; ++i) {
    auto v = static_cast<std::int64_t>(dist(rng));
    values.push_back(v);
    h.Record(v);
  }
  std::sort(values.begin(), values.end());
  for (double p : {50.0, 90.0, 99.0, 99.9}) {
    const auto exact = values[static_cast<std::size_t>(std::ceil(p / 100 * values.size())) - 1];
    const auto got = h.Percentile(p);
    EXPECT_GE(got, exact) << p;
    EXPECT_LE(static_cast<double>(got), exact * (1.0 + 2.0 / 64) + 1) << p;
  }
  EXPECT_EQ(h.Percentile(100), values.back());
  EXPECT_EQ(h.max(), values.back());
  EXPECT_EQ(h.min(), values.front());
}

TEST(HistogramTest, MergeEqualsRecordingBoth) {
  Histogram a, b, both;
  for (int i = 0; i < 1000; ++i) {
    a.Record(i * 7);
    both.Record(i * 7);
    b.Record(i * 13 + 5);
    both.Record(i * 13 + 5);
  }
  a.Merge(b);
  EXPECT_EQ(a.count(), both.count());
  EXPECT_EQ(a.min(), both.min());
  EXPECT_EQ(a.max(), both.max());
  for (double p : {1.0, 50.0, 99.0}) EXPECT_EQ(a.Percentile(p), both.Percentile(p));
  EXPECT_DOUBLE_EQ(a.mean(), both.mean());
}

TEST(HistogramTest, NegativeCountsAsZero) {
  Histogram h;
  h.Record(-5);
  EXPECT_EQ(h.min(), 0);
  EXPECT_EQ(h.Percentile(50), 0);
}

TEST(ErrorsTest, CountsByKindWithExamples) {
  Errors e;
  for (int i = 0; i < 5; ++i) e.Record("send: HTTP 500", "body " + std::to_string(i));
  e.Record("sync: transport: Connection reset", "");
  EXPECT_EQ(e.total(), 6u);
  auto j = e.ToJson();
  EXPECT_EQ(j.at("send: HTTP 500").at("count").as_uint64(), 5u);
  EXPECT_EQ(j.at("send: HTTP 500").at("examples").as_array().size(), 3u);
  EXPECT_EQ(e.Lines().size(), 2u);
}

TEST(ProcTest, ReadsOwnProcess) {
  auto s = ReadProc(getpid());
  ASSERT_TRUE(s.has_value());
  EXPECT_GT(s->rss_kib, 0);
  EXPECT_GE(s->threads, 1);
  EXPECT_GT(s->fds, 0);
  EXPECT_FALSE(ReadProc(-1).has_value());
}

}  // namespace
}  // namespace vigie::bench
