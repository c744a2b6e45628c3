// What a client reports about where it is (X-AC-2), as it arrives in the
// X-Vigie-Location ("lat,lon") and X-Vigie-Network headers. Network-fed:
// malformed values are ignored, never an error.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace vigie::policy {

struct ClientReport {
  std::optional<double> lat;
  std::optional<double> lon;
  std::optional<std::string> network_type;  // e.g. wifi, ethernet, 4g, 2g

  // Both headers as received (possibly empty). Latitude must be within
  // [-90, 90] and longitude within [-180, 180]; the network type is kept
  // when it is 1-32 characters of [a-z0-9._-] (lower-cased).
  static ClientReport Parse(std::string_view location, std::string_view network);
};

}  // namespace vigie::policy
