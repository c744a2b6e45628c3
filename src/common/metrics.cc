#include "common/metrics.h"

#include <sstream>

namespace vigie {

void Metrics::ObserveRequest(const std::string& route, int status,
                             std::chrono::nanoseconds elapsed) {
  const double s = std::chrono::duration<double>(elapsed).count();
  std::lock_guard lock(mu_);
  ++requests_[{route, status}];
  Histogram& h = latency_[route];
  for (std::size_t i = 0; i < kBuckets.size(); ++i) {
    if (s <= kBuckets[i]) ++h.counts[i];
  }
  ++h.count;
  h.sum += s;
}

void Metrics::AddGauge(std::string name, std::string help, std::function<double()> read) {
  std::lock_guard lock(mu_);
  gauges_.push_back({std::move(name), std::move(help), std::move(read)});
}

std::string Metrics::Render() const {
  std::ostringstream out;
  std::lock_guard lock(mu_);
  out << "# HELP vigie_http_requests_total HTTP requests answered, by route and status (499: the "
         "client left first).\n"
         "# TYPE vigie_http_requests_total counter\n";
  for (const auto& [k, v] : requests_) {
    out << "vigie_http_requests_total{route=\"" << k.first << "\",status=\"" << k.second << "\"} "
        << v << "\n";
  }
  out << "# HELP vigie_http_request_duration_seconds Time from request read to response.\n"
         "# TYPE vigie_http_request_duration_seconds histogram\n";
  for (const auto& [route, h] : latency_) {
    for (std::size_t i = 0; i < kBuckets.size(); ++i) {
      out << "vigie_http_request_duration_seconds_bucket{route=\"" << route << "\",le=\""
          << kBuckets[i] << "\"} " << h.counts[i] << "\n";
    }
    out << "vigie_http_request_duration_seconds_bucket{route=\"" << route << "\",le=\"+Inf\"} "
        << h.count << "\n";
    out << "vigie_http_request_duration_seconds_sum{route=\"" << route << "\"} " << h.sum << "\n";
    out << "vigie_http_request_duration_seconds_count{route=\"" << route << "\"} " << h.count
        << "\n";
  }
  for (const auto& g : gauges_) {
    out << "# HELP " << g.name << " " << g.help << "\n# TYPE " << g.name << " gauge\n"
        << g.name << " " << g.read() << "\n";
  }
  return out.str();
}

}  // namespace vigie
