// GeoIP lookups in a MaxMind DB (.mmdb) file, for the location checks of
// X.1606 X-AC-1 / X-AC-2 (impossible travel, anonymising networks). The
// database is supplied by the operator ([geoip] database); vigie reads
// GeoIP2/GeoLite2-City-shaped records, and the top-level ASN of
// GeoLite2-ASN-shaped ones, from the same file.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

struct MMDB_s;

namespace vigie::service {

class GeoIp {
 public:
  // What the database says about one address. Absent or ill-typed fields
  // are left at their empty values; a lookup never fails on them.
  struct GeoFix {
    std::optional<std::string> country;  // country.iso_code, e.g. "FR"
    double lat = 0;                      // location.latitude, degrees
    double lon = 0;                      // location.longitude, degrees
    bool has_location = false;           // lat/lon were present, finite and in range
    std::optional<std::int64_t> asn;     // autonomous_system_number
    // True when any of traits.is_anonymous_proxy, is_anonymous_vpn,
    // is_tor_exit_node or is_anonymous is the boolean true.
    bool anonymizer = false;
  };

  // Opens the MMDB file at `path` (memory-mapped, read-only). An empty path
  // gives a disabled GeoIp whose lookups all return nullopt. Throws
  // std::runtime_error naming the file when it cannot be opened or is not a
  // valid MaxMind DB.
  explicit GeoIp(const std::string& path);
  ~GeoIp();
  GeoIp(const GeoIp&) = delete;
  GeoIp& operator=(const GeoIp&) = delete;

  // True when a database is open.
  bool enabled() const { return db_ != nullptr; }

  // Looks up a textual IPv4 or IPv6 address ("203.0.113.7", "2001:db8::1";
  // an IPv4-mapped "::ffff:203.0.113.7" is looked up as the IPv4 address).
  // Returns nullopt when disabled, when `ip` is not a numeric address (no
  // name resolution is ever done), when the address is not in the database
  // (or is IPv6 and the database IPv4-only), or when the database is corrupt
  // at that address. Thread-safe: any number of threads may look up at once.
  std::optional<GeoFix> Lookup(std::string_view ip) const;

 private:
  std::unique_ptr<MMDB_s> db_;  // null when disabled
};

}  // namespace vigie::service
