#include "storage/origin_store.h"

namespace vigie::storage {
namespace {

sql::Value OptD(const std::optional<double>& v) { return v ? sql::Value(*v) : sql::kNull; }
sql::Value OptI(const std::optional<std::int64_t>& v) { return v ? sql::Value(*v) : sql::kNull; }
sql::Value OptS(const std::optional<std::string>& v) { return v ? sql::Value(*v) : sql::kNull; }
std::optional<double> RealOrNull(const sql::Row& r, std::size_t i) {
  if (r.IsNull(i)) return std::nullopt;
  return r.Real(i);
}

constexpr const char* kCols =
    "user_id, device_id, ts, kind, ip, country, lat, lon, asn, anonymizer, client_lat, "
    "client_lon, network_type, anomaly";

OriginRecord Read(const sql::Row& r) {
  OriginRecord o;
  o.user_id = r.Text(0);
  o.device_id = r.Text(1);
  o.ts = r.Int(2);
  o.kind = r.Text(3);
  o.ip = r.Text(4);
  o.country = r.OptText(5);
  o.lat = RealOrNull(r, 6);
  o.lon = RealOrNull(r, 7);
  o.asn = r.OptInt(8);
  o.anonymizer = r.Bool(9);
  o.client_lat = RealOrNull(r, 10);
  o.client_lon = RealOrNull(r, 11);
  o.network_type = r.OptText(12);
  o.anomaly = r.OptText(13);
  return o;
}

}  // namespace

void OriginStore::Insert(sql::Tx& tx, const OriginRecord& o) {
  tx.Query(std::string("INSERT INTO session_origins (") + kCols +
               ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
           {o.user_id, o.device_id, o.ts, o.kind, o.ip, OptS(o.country), OptD(o.lat), OptD(o.lon),
            OptI(o.asn), std::int64_t{o.anonymizer}, OptD(o.client_lat), OptD(o.client_lon),
            OptS(o.network_type), OptS(o.anomaly)});
}

std::vector<OriginRecord> OriginStore::RecentLocated(sql::Tx& tx, std::string_view user_id,
                                                     std::int64_t since_ts, std::int64_t limit) {
  auto res = tx.Query(std::string("SELECT ") + kCols +
                          " FROM session_origins WHERE user_id = $1 AND ts >= $2 AND (lat IS NOT "
                          "NULL OR client_lat IS NOT NULL) ORDER BY ts DESC LIMIT $3",
                      {std::string(user_id), since_ts, limit});
  std::vector<OriginRecord> out;
  for (const auto& r : res.rows) out.push_back(Read(r));
  return out;
}

std::vector<OriginRecord> OriginStore::List(sql::Tx& tx, std::string_view user_id,
                                            std::int64_t limit) {
  auto res = tx.Query(std::string("SELECT ") + kCols +
                          " FROM session_origins WHERE user_id = $1 ORDER BY ts DESC LIMIT $2",
                      {std::string(user_id), limit});
  std::vector<OriginRecord> out;
  for (const auto& r : res.rows) out.push_back(Read(r));
  return out;
}

}  // namespace vigie::storage
