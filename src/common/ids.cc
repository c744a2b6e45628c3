#include "common/ids.h"

#include "common/crypto.h"

namespace vigie::ids {

bool IsValidLocalpart(std::string_view lp) {
  if (lp.empty()) return false;
  for (char c : lp) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '=' || c == '-' || c == '/' || c == '+';
    if (!ok) return false;
  }
  return true;
}

std::optional<UserId> ParseUserId(std::string_view id) {
  if (id.size() < 4 || id.size() > kMaxIdBytes || id.front() != '@') return std::nullopt;
  auto colon = id.find(':');
  if (colon == std::string_view::npos || colon == 1 || colon + 1 == id.size()) {
    return std::nullopt;
  }
  std::string_view lp = id.substr(1, colon - 1);
  for (unsigned char c : lp) {
    if (c < 0x21 || c > 0x7e) return std::nullopt;
  }
  std::string_view server = id.substr(colon + 1);
  for (unsigned char c : server) {
    if (c < 0x21 || c > 0x7e || c == '/' || c == '@') return std::nullopt;
  }
  return UserId{std::string(lp), std::string(server)};
}

std::string MakeUserId(std::string_view localpart, std::string_view server_name) {
  std::string out = "@";
  out += localpart;
  out += ':';
  out += server_name;
  return out;
}

std::string NewDeviceId() {
  std::string raw = crypto::RandomAlnum(32);
  std::string out;
  for (char c : raw) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    if (c >= 'A' && c <= 'Z') out.push_back(c);
    if (out.size() == 10) break;
  }
  while (out.size() < 10) out.push_back('X');
  return out;
}

}  // namespace vigie::ids
