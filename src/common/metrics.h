// Prometheus metrics: request counts by route and status, a latency
// histogram, and gauges. Thread-safe; rendering is cheap enough for a
// scrape every few seconds.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <string>

namespace vigie {

class Metrics {
 public:
  void ObserveRequest(const std::string& route, int status, std::chrono::nanoseconds elapsed);
  // A gauge read at scrape time.
  void AddGauge(std::string name, std::string help, std::function<double()> read);
  std::string Render() const;

 private:
  static constexpr std::array<double, 12> kBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                      0.05,   0.1,   0.25,   0.5,   1.0,  2.5};
  struct Histogram {
    std::array<std::uint64_t, kBuckets.size()> counts{};
    std::uint64_t count = 0;
    double sum = 0;
  };
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, std::uint64_t> requests_;  // guarded by mu_
  std::map<std::string, Histogram> latency_;                       // guarded by mu_
  struct Gauge {
    std::string name, help;
    std::function<double()> read;
  };
  std::vector<Gauge> gauges_;  // guarded by mu_
};

}  // namespace vigie
