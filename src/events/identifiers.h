// Grammar checks for the identifiers that appear in events (appendices,
// "Identifier Grammar"). Pure functions; none of them throws.
#pragma once

#include <cstddef>
#include <string_view>

namespace vigie::events {

// Longest user id, room id, event id, event type or state key, in bytes.
inline constexpr std::size_t kMaxIdentifierBytes = 255;

// server_name = hostname [ ":" port ], hostname being a DNS name, an IPv4
// literal or a bracketed IPv6 literal; port is 1 to 5 digits.
bool IsValidServerName(std::string_view name);

// A user id as events may carry it: "@" localpart ":" server_name, at most
// 255 bytes. The localpart follows the historical grammar servers must accept
// (any code points except ':' and NUL, possibly empty), since existing rooms
// contain such senders; new local users must meet a stricter grammar, which
// is not checked here.
bool IsValidUserId(std::string_view id);

// The part of an identifier after its first ':' ("example.org" for
// "@u:example.org"), or an empty view if there is no ':'.
std::string_view DomainOf(std::string_view id);

}  // namespace vigie::events
