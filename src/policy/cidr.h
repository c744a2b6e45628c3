// IP networks in CIDR notation ("10.0.0.0/8", "2001:db8::/32", or a bare
// address meaning /32 or /128). IPv4-mapped IPv6 addresses
// ("::ffff:10.1.2.3") match IPv4 networks.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace vigie::policy {

struct IpAddress {
  bool v4 = true;
  std::array<std::uint8_t, 16> bytes{};  // v4 uses the first 4
  // Parses a textual address; nullopt if it is not one. Mapped v4 becomes v4.
  static std::optional<IpAddress> Parse(std::string_view s);
};

class Cidr {
 public:
  // Throws std::invalid_argument naming the problem.
  static Cidr Parse(std::string_view s);
  bool Contains(const IpAddress& ip) const;
  // True if every address of `other` is in this network.
  bool Covers(const Cidr& other) const;
  const std::string& text() const { return text_; }

 private:
  IpAddress net_;
  int prefix_ = 0;
  std::string text_;  // canonical "address/prefix"
};

}  // namespace vigie::policy
