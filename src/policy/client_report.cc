#include "policy/client_report.h"

#include <charconv>
#include <cmath>

#include "common/ascii.h"

namespace vigie::policy {
namespace {

std::optional<double> ParseDouble(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  if (s.empty() || s.size() > 32) return std::nullopt;
  double v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

}  // namespace

ClientReport ClientReport::Parse(std::string_view location, std::string_view network) {
  ClientReport c;
  if (auto comma = location.find(','); comma != std::string_view::npos) {
    auto lat = ParseDouble(location.substr(0, comma));
    auto lon = ParseDouble(location.substr(comma + 1));
    if (lat && lon && std::abs(*lat) <= 90 && std::abs(*lon) <= 180) {
      c.lat = lat;
      c.lon = lon;
    }
  }
  if (!network.empty() && network.size() <= 32) {
    std::string n;
    for (char ch : network) {
      const char l = ascii::Lower(ch);
      if (!std::isalnum(static_cast<unsigned char>(l)) && l != '.' && l != '_' && l != '-') {
        return c;
      }
      n.push_back(l);
    }
    c.network_type = std::move(n);
  }
  return c;
}

}  // namespace vigie::policy
