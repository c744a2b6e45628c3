#include "policy/cidr.h"

#include <arpa/inet.h>

#include <charconv>
#include <stdexcept>

namespace vigie::policy {
namespace {

bool PrefixEqual(const std::uint8_t* a, const std::uint8_t* b, int bits) {
  int full = bits / 8;
  for (int i = 0; i < full; ++i) {
    if (a[i] != b[i]) return false;
  }
  int rest = bits % 8;
  if (rest == 0) return true;
  auto mask = static_cast<std::uint8_t>(0xFF << (8 - rest));
  return (a[full] & mask) == (b[full] & mask);
}

}  // namespace

std::optional<IpAddress> IpAddress::Parse(std::string_view s) {
  if (s.empty() || s.size() > 64) return std::nullopt;
  std::string text(s);
  IpAddress ip;
  if (inet_pton(AF_INET, text.c_str(), ip.bytes.data()) == 1) {
    ip.v4 = true;
    return ip;
  }
  if (inet_pton(AF_INET6, text.c_str(), ip.bytes.data()) == 1) {
    static constexpr std::uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
    if (std::equal(kMapped, kMapped + 12, ip.bytes.begin())) {
      std::array<std::uint8_t, 16> v4{};
      std::copy(ip.bytes.begin() + 12, ip.bytes.end(), v4.begin());
      ip.bytes = v4;
      ip.v4 = true;
    } else {
      ip.v4 = false;
    }
    return ip;
  }
  return std::nullopt;
}

Cidr Cidr::Parse(std::string_view s) {
  Cidr c;
  auto slash = s.find('/');
  auto addr = IpAddress::Parse(s.substr(0, slash));
  if (!addr) throw std::invalid_argument("not an IP network: " + std::string(s.substr(0, 64)));
  const int max = addr->v4 ? 32 : 128;
  c.prefix_ = max;
  if (slash != std::string_view::npos) {
    auto p = s.substr(slash + 1);
    int v = -1;
    auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), v);
    if (ec != std::errc() || end != p.data() + p.size() || v < 0 || v > max) {
      throw std::invalid_argument("bad prefix length in " + std::string(s.substr(0, 64)));
    }
    c.prefix_ = v;
  }
  c.net_ = *addr;
  // Zero the host bits so that the canonical text names the network.
  for (int bit = c.prefix_; bit < max; ++bit) {
    c.net_.bytes[bit / 8] &= static_cast<std::uint8_t>(~(0x80 >> (bit % 8)));
  }
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(c.net_.v4 ? AF_INET : AF_INET6, c.net_.bytes.data(), buf, sizeof buf);
  c.text_ = std::string(buf) + "/" + std::to_string(c.prefix_);
  return c;
}

bool Cidr::Contains(const IpAddress& ip) const {
  if (ip.v4 != net_.v4) return false;
  return PrefixEqual(ip.bytes.data(), net_.bytes.data(), prefix_);
}

bool Cidr::Covers(const Cidr& other) const {
  return other.net_.v4 == net_.v4 && other.prefix_ >= prefix_ && Contains(other.net_);
}

}  // namespace vigie::policy
