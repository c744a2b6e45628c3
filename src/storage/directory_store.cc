#include "storage/directory_store.h"

namespace vigie::storage {
namespace {

using sql::LikeLiteral;

constexpr std::size_t kBatch = 200;

// SQL for the text at `content.<key>` of the PDU in column `col`, for
// state rows whose type is `type` (NULL for other rows). The one place
// where the engines' JSON functions differ. The CASE makes sure only the
// named event type is ever parsed.
std::string ContentText(sql::Dialect d, const std::string& type_col, const std::string& type,
                        const std::string& col, const std::string& key) {
  std::string extract = d == sql::Dialect::kSqlite
                            ? "json_extract(" + col + ", '$.content." + key + "')"
                            : "(" + col + "::json #>> '{content," + key + "}')";
  return "CASE WHEN " + type_col + " = '" + type + "' THEN " + extract + " END";
}

// "col IN ($n, ...)" over `values`, appended to `params`; "1 = 0" when empty.
std::string InList(const std::string& col, const std::vector<std::string>& values,
                   std::vector<sql::Value>& params) {
  if (values.empty()) return "1 = 0";
  std::string out = col + " IN (";
  sql::AppendList(out, params, values.begin(), values.end());
  return out + ")";
}

}  // namespace

std::vector<PublishedRoom> DirectoryStore::PublishedRooms(sql::Tx& tx,
                                                          const std::vector<std::string>& tenants) {
  std::vector<sql::Value> params;
  const std::string in_tenants = InList("r.tenant_id", tenants, params);
  auto res = tx.Query(
      "SELECT r.room_nid, r.room_id, COUNT(m.user_id) AS joined FROM rooms r LEFT JOIN "
      "memberships m ON m.room_nid = r.room_nid AND m.membership = 'join' WHERE r.published = 1 "
      "AND " +
          in_tenants + " GROUP BY r.room_nid, r.room_id ORDER BY joined DESC, r.room_id",
      params);
  std::vector<PublishedRoom> out;
  out.reserve(res.rows.size());
  for (const auto& r : res.rows) out.push_back({r.Int(0), r.Text(1), r.Int(2)});
  return out;
}

std::map<std::int64_t, std::map<std::string, std::string>> DirectoryStore::RoomStateByType(
    sql::Tx& tx, const std::vector<std::int64_t>& room_nids,
    const std::vector<std::string>& types) {
  std::map<std::int64_t, std::map<std::string, std::string>> out;
  if (types.empty()) return out;
  for (std::size_t i = 0; i < room_nids.size(); i += kBatch) {
    std::vector<sql::Value> params;
    std::string sql =
        "SELECT cs.room_nid, cs.type, e.json FROM current_state cs JOIN events e ON e.event_nid = "
        "cs.event_nid WHERE cs.state_key = '' AND cs.type IN (";
    sql::AppendList(sql, params, types.begin(), types.end());
    sql += ") AND cs.room_nid IN (";
    sql::AppendList(
        sql, params, room_nids.begin() + static_cast<std::ptrdiff_t>(i),
        room_nids.begin() + static_cast<std::ptrdiff_t>(std::min(room_nids.size(), i + kBatch)));
    sql += ")";
    for (const auto& r : tx.Query(sql, params).rows) out[r.Int(0)][r.Text(1)] = r.Text(2);
  }
  return out;
}

std::vector<UserDirectoryEntry> DirectoryStore::SearchUsers(sql::Tx& tx, std::string_view requester,
                                                            std::string_view folded_term,
                                                            const std::vector<std::string>& tenants,
                                                            std::int64_t limit) {
  const sql::Dialect d = tx.dialect();
  const std::string lit = LikeLiteral(folded_term);
  const std::string public_room =
      "(" + ContentText(d, "cs.type", "m.room.join_rules", "e.json", "join_rule") +
      " = 'public' OR " +
      ContentText(d, "cs.type", "m.room.history_visibility", "e.json", "history_visibility") +
      " = 'world_readable')";
  std::vector<sql::Value> params{std::string(requester), "%" + lit + "%", "@" + lit + "%",
                                 lit + "%", limit};
  const std::string in_tenants = InList("u.tenant_id", tenants, params);
  const std::string sql =
      "SELECT u.user_id, p.displayname, p.avatar_url FROM users u LEFT JOIN profiles p ON "
      "p.user_id = u.user_id WHERE u.deactivated = 0 AND " +
      in_tenants +
      " AND (LOWER(u.user_id) LIKE $2 ESCAPE '!' "
      "OR LOWER(COALESCE(p.displayname, '')) LIKE $2 ESCAPE '!') AND EXISTS (SELECT 1 FROM "
      "memberships m WHERE m.user_id = u.user_id AND m.membership = 'join' AND (EXISTS (SELECT 1 "
      "FROM memberships mine WHERE mine.room_nid = m.room_nid AND mine.user_id = $1 AND "
      "mine.membership = 'join') OR EXISTS (SELECT 1 FROM current_state cs JOIN events e ON "
      "e.event_nid = cs.event_nid WHERE cs.room_nid = m.room_nid AND cs.state_key = '' AND "
      "cs.type IN ('m.room.join_rules', 'm.room.history_visibility') AND " +
      public_room +
      "))) ORDER BY CASE WHEN LOWER(u.user_id) LIKE $3 ESCAPE '!' OR "
      "LOWER(COALESCE(p.displayname, '')) LIKE $4 ESCAPE '!' THEN 0 ELSE 1 END, CASE WHEN "
      "p.displayname IS NULL THEN 1 ELSE 0 END, u.user_id LIMIT $5";
  auto res = tx.Query(sql, params);
  std::vector<UserDirectoryEntry> out;
  out.reserve(res.rows.size());
  for (const auto& r : res.rows) out.push_back({r.Text(0), r.OptText(1), r.OptText(2)});
  return out;
}

}  // namespace vigie::storage
