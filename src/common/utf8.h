// UTF-8 checks for text that reaches storage from the network: both
// engines must store it unchanged, and PostgreSQL refuses invalid UTF-8
// and NUL bytes.
#pragma once

#include <string>
#include <string_view>

namespace vigie::utf8 {

// True if `s` is well-formed UTF-8 (no overlongs, surrogates or code
// points above U+10FFFF).
bool IsValid(std::string_view s);

// `s` with each invalid byte and each NUL replaced by '?', cut to at most
// `max_bytes` without splitting a character.
std::string Sanitize(std::string_view s, std::size_t max_bytes = std::string::npos);

}  // namespace vigie::utf8
