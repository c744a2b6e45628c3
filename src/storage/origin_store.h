// Where sessions come from (X-AC-1, X-AC-2): one row per login and per
// observed change of a session's network address, with what GeoIP and the
// client said. Stateless: every method runs inside the caller's transaction.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "storage/sql.h"

namespace vigie::storage {

struct OriginRecord {
  std::string user_id;
  std::string device_id;
  std::int64_t ts = 0;
  std::string kind;  // login | request
  std::string ip;
  std::optional<std::string> country;
  std::optional<double> lat;
  std::optional<double> lon;
  std::optional<std::int64_t> asn;
  bool anonymizer = false;
  std::optional<double> client_lat;
  std::optional<double> client_lon;
  std::optional<std::string> network_type;
  std::optional<std::string> anomaly;  // comma-separated signals, if any
};

class OriginStore {
 public:
  static void Insert(sql::Tx& tx, const OriginRecord& o);
  // The user's origins since `since_ts` that have a location (GeoIP or
  // reported), newest first.
  static std::vector<OriginRecord> RecentLocated(sql::Tx& tx, std::string_view user_id,
                                                 std::int64_t since_ts, std::int64_t limit);
  // The user's origins, newest first (admin view).
  static std::vector<OriginRecord> List(sql::Tx& tx, std::string_view user_id, std::int64_t limit);
};

}  // namespace vigie::storage
