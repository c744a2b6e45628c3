// ASCII case folding for protocol text: user ids, media types, search
// terms. It does not depend on the C locale, and bytes outside A-Z
// (UTF-8 included) pass unchanged. And a search for any of a few bytes.
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

// The first position at or after `from` of a byte of `set` in `s`, or npos:
// string_view::find_first_of for a handful of bytes, as one plain loop.
// libstdc++'s calls memchr on `set` once per byte of `s`: it was most of
// the cost of writing a response's header lines.
constexpr std::size_t FindAny(std::string_view s, std::string_view set, std::size_t from = 0) {
  for (std::size_t i = from; i < s.size(); ++i) {
    for (const char c : set) {
      if (s[i] == c) return i;
    }
  }
  return std::string_view::npos;
}

}  // namespace vigie::ascii
