// ASCII case folding for protocol text: user ids, media types, search
// terms. It does not depend on the C locale, and bytes outside A-Z
// (UTF-8 included) pass unchanged.
#pragma once

#include <string>
#include <string_view>

namespace vigie::ascii {

constexpr char Lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

inline std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = Lower(c);
  return out;
}

// True if `s` begins with `prefix`, A-Z and a-z matching either way
// ("Bearer ", "bytes=", "::ffff:").
constexpr bool StartsWithNoCase(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (Lower(s[i]) != Lower(prefix[i])) return false;
  }
  return true;
}

}  // namespace vigie::ascii
