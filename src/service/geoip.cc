#include "service/geoip.h"

#include <maxminddb.h>

#include <cerrno>
#include <cmath>
#include <initializer_list>
#include <limits>
#include <stdexcept>
#include <system_error>

#include "common/ascii.h"

namespace vigie::service {
namespace {

// The longest textual IPv6 address ("ffff:...:255.255.255.255") is 45 bytes.
constexpr std::size_t kMaxAddressLength = 45;

// True when `ip` can only be a numeric address: hex digits, '.' and ':'.
// Keeps NUL bytes, names and zone ids away from getaddrinfo.
bool LooksNumeric(std::string_view ip) {
  if (ip.empty() || ip.size() > kMaxAddressLength) return false;
  for (char c : ip) {
    bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    if (!hex && c != '.' && c != ':') return false;
  }
  return true;
}

// "::ffff:a.b.c.d" -> "a.b.c.d", so IPv4-mapped addresses (dual-stack
// sockets) are found in IPv4-only databases too; anything else unchanged.
std::string_view UnmapIpv4(std::string_view ip) {
  constexpr std::string_view kPrefix = "::ffff:";
  if (ip.size() <= kPrefix.size() || !ascii::StartsWithNoCase(ip, kPrefix)) return ip;
  std::string_view rest = ip.substr(kPrefix.size());
  return rest.find('.') != std::string_view::npos ? rest : ip;
}

// Reads the value at `path` under `entry`. Returns false (and leaves the
// contents of *out unspecified) when it is absent or the data is malformed.
bool GetValue(MMDB_entry_s entry, std::initializer_list<const char*> path, MMDB_entry_data_s* out) {
  const char* elems[4] = {nullptr, nullptr, nullptr, nullptr};
  std::size_t n = 0;
  for (const char* p : path) {
    if (n + 1 >= std::size(elems)) return false;
    elems[n++] = p;
  }
  *out = {};
  return MMDB_aget_value(&entry, out, elems) == MMDB_SUCCESS && out->has_data;
}

// A double or float at `path`, if present.
std::optional<double> GetNumber(const MMDB_entry_s& entry,
                                std::initializer_list<const char*> path) {
  MMDB_entry_data_s d;
  if (!GetValue(entry, path, &d)) return std::nullopt;
  if (d.type == MMDB_DATA_TYPE_DOUBLE) return d.double_value;
  if (d.type == MMDB_DATA_TYPE_FLOAT) return static_cast<double>(d.float_value);
  return std::nullopt;
}

// An unsigned or non-negative signed integer at `path` that fits int64.
std::optional<std::int64_t> GetInteger(const MMDB_entry_s& entry,
                                       std::initializer_list<const char*> path) {
  MMDB_entry_data_s d;
  if (!GetValue(entry, path, &d)) return std::nullopt;
  switch (d.type) {
    case MMDB_DATA_TYPE_UINT16:
      return d.uint16;
    case MMDB_DATA_TYPE_UINT32:
      return d.uint32;
    case MMDB_DATA_TYPE_INT32:
      if (d.int32 < 0) return std::nullopt;
      return d.int32;
    case MMDB_DATA_TYPE_UINT64:
      if (d.uint64 > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
        return std::nullopt;
      }
      return static_cast<std::int64_t>(d.uint64);
    default:
      return std::nullopt;
  }
}

// True only when the value at `path` is the boolean true.
bool GetTrue(const MMDB_entry_s& entry, std::initializer_list<const char*> path) {
  MMDB_entry_data_s d;
  return GetValue(entry, path, &d) && d.type == MMDB_DATA_TYPE_BOOLEAN && d.boolean;
}

// country.iso_code when it is an ISO 3166-1 alpha-2 code (two ASCII
// letters), so nothing else from the file reaches logs and audit records.
std::optional<std::string> GetCountry(const MMDB_entry_s& entry) {
  MMDB_entry_data_s d;
  if (!GetValue(entry, {"country", "iso_code"}, &d)) return std::nullopt;
  if (d.type != MMDB_DATA_TYPE_UTF8_STRING || d.data_size != 2) return std::nullopt;
  std::string code(d.utf8_string, d.data_size);
  for (char c : code) {
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'))) return std::nullopt;
  }
  return code;
}

}  // namespace

GeoIp::GeoIp(const std::string& path) {
  if (path.empty()) return;
  auto db = std::make_unique<MMDB_s>();
  int status = MMDB_open(path.c_str(), MMDB_MODE_MMAP, db.get());
  if (status != MMDB_SUCCESS) {
    // MMDB_open has already released whatever it had allocated.
    std::string why = MMDB_strerror(status);
    if (status == MMDB_IO_ERROR)
      why += ": " + std::error_code(errno, std::generic_category()).message();
    throw std::runtime_error(path + ": cannot open GeoIP database: " + why);
  }
  db_ = std::move(db);
}

GeoIp::~GeoIp() {
  if (db_) MMDB_close(db_.get());
}

std::optional<GeoIp::GeoFix> GeoIp::Lookup(std::string_view ip) const {
  if (!db_) return std::nullopt;
  ip = UnmapIpv4(ip);
  if (!LooksNumeric(ip)) return std::nullopt;
  const std::string address(ip);  // MMDB_lookup_string needs a NUL-terminated string
  int gai_error = 0;
  int mmdb_error = MMDB_SUCCESS;
  MMDB_lookup_result_s result =
      MMDB_lookup_string(db_.get(), address.c_str(), &gai_error, &mmdb_error);
  if (gai_error != 0 || mmdb_error != MMDB_SUCCESS || !result.found_entry) return std::nullopt;

  const MMDB_entry_s& entry = result.entry;
  GeoFix fix;
  fix.country = GetCountry(entry);
  std::optional<double> lat = GetNumber(entry, {"location", "latitude"});
  std::optional<double> lon = GetNumber(entry, {"location", "longitude"});
  if (lat && lon && std::isfinite(*lat) && std::isfinite(*lon) && std::fabs(*lat) <= 90 &&
      std::fabs(*lon) <= 180) {
    fix.lat = *lat;
    fix.lon = *lon;
    fix.has_location = true;
  }
  fix.asn = GetInteger(entry, {"autonomous_system_number"});
  fix.anonymizer = GetTrue(entry, {"traits", "is_anonymous_proxy"}) ||
                   GetTrue(entry, {"traits", "is_anonymous_vpn"}) ||
                   GetTrue(entry, {"traits", "is_tor_exit_node"}) ||
                   GetTrue(entry, {"traits", "is_anonymous"});
  return fix;
}

}  // namespace vigie::service
