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

}  // namespace vigie::ascii
