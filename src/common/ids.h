// Matrix identifiers (spec appendices: identifier grammar).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace vigie::ids {

inline constexpr std::size_t kMaxIdBytes = 255;

// Localparts vigie creates: [a-z0-9._=/+-], non-empty.
bool IsValidLocalpart(std::string_view localpart);

struct UserId {
  std::string localpart;
  std::string server_name;
};
// Splits "@localpart:server". Accepts historical localparts (any printable
// ASCII but ':'), as other servers may have them. nullopt if malformed.
std::optional<UserId> ParseUserId(std::string_view user_id);

std::string MakeUserId(std::string_view localpart, std::string_view server_name);

// A device id vigie generates: 10 upper-case letters.
std::string NewDeviceId();

}  // namespace vigie::ids
