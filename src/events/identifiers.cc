#include "events/identifiers.h"

namespace vigie::events {

namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

bool IsDnsChar(char c) {
  return IsDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' || c == '.';
}

bool IsIpv6Char(char c) {
  return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' || c == '.';
}

bool IsValidPort(std::string_view port) {
  if (port.empty() || port.size() > 5) return false;
  for (char c : port) {
    if (!IsDigit(c)) return false;
  }
  return true;
}

}  // namespace

bool IsValidServerName(std::string_view name) {
  std::string_view rest;
  if (!name.empty() && name.front() == '[') {
    std::size_t close = name.find(']');
    if (close == std::string_view::npos) return false;
    std::string_view ip = name.substr(1, close - 1);
    if (ip.size() < 2 || ip.size() > 45) return false;
    for (char c : ip) {
      if (!IsIpv6Char(c)) return false;
    }
    rest = name.substr(close + 1);
  } else {
    std::size_t colon = name.find(':');
    std::string_view host = name.substr(0, colon);
    if (host.empty() || host.size() > 255) return false;
    for (char c : host) {
      if (!IsDnsChar(c)) return false;
    }
    rest = colon == std::string_view::npos ? std::string_view() : name.substr(colon);
  }
  if (rest.empty()) return true;
  return rest.front() == ':' && IsValidPort(rest.substr(1));
}

bool IsValidUserId(std::string_view id) {
  if (id.size() < 3 || id.size() > kMaxIdentifierBytes || id.front() != '@') return false;
  std::size_t colon = id.find(':');
  if (colon == std::string_view::npos) return false;
  if (id.substr(1, colon - 1).find('\0') != std::string_view::npos) return false;
  return IsValidServerName(id.substr(colon + 1));
}

std::string_view DomainOf(std::string_view id) {
  std::size_t colon = id.find(':');
  if (colon == std::string_view::npos) return {};
  return id.substr(colon + 1);
}

}  // namespace vigie::events
