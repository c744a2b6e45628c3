#include "storage/admin_store.h"

#include "common/ascii.h"

namespace vigie::storage {
namespace {

using ascii::Lower;
using sql::LikeLiteral;

// " FROM ... WHERE ..." for `f`, appending its parameters to `params`
// (which may hold others already).
std::string FromWhere(const UserFilter& f, std::vector<sql::Value>& params) {
  std::string sql = " FROM users u LEFT JOIN profiles p ON p.user_id = u.user_id WHERE 1 = 1";
  auto param = [&](std::string v) {
    params.emplace_back(std::move(v));
    return "$" + std::to_string(params.size());
  };
  if (f.tenant_id) sql += " AND u.tenant_id = " + param(*f.tenant_id);
  if (!f.include_deactivated) sql += " AND u.deactivated = 0";
  if (f.user_id) {
    sql += " AND LOWER(u.user_id) LIKE " + param("%" + LikeLiteral(Lower(*f.user_id)) + "%") +
           " ESCAPE '!'";
  }
  if (f.name) {
    const std::string needle = LikeLiteral(Lower(*f.name));
    const std::string localpart = param("@%" + needle + "%:" + LikeLiteral(Lower(f.server_name)));
    const std::string display = param("%" + needle + "%");
    sql += " AND (LOWER(u.user_id) LIKE " + localpart + " ESCAPE '!' OR LOWER(COALESCE(" +
           "p.displayname, '')) LIKE " + display + " ESCAPE '!')";
  }
  return sql;
}

}  // namespace

std::vector<UserWithProfile> AdminStore::ListUsers(sql::Tx& tx, const UserFilter& f,
                                                   std::int64_t from, std::int64_t limit) {
  std::vector<sql::Value> params = {limit, from};
  const std::string sql =
      "SELECT u.user_id, u.tenant_id, u.password_hash, u.is_admin, u.deactivated, u.created_ts, "
      "u.tenant_admin, u.person_id, p.displayname, p.avatar_url" +
      FromWhere(f, params) + " ORDER BY u.user_id LIMIT $1 OFFSET $2";
  auto res = tx.Query(sql, params);
  std::vector<UserWithProfile> out;
  out.reserve(res.rows.size());
  for (const auto& r : res.rows) {
    UserWithProfile u;
    u.user = {r.Text(0), r.Text(1), r.OptText(2), r.Bool(3),
              r.Bool(4), r.Int(5),  r.Bool(6),    r.OptText(7)};
    u.profile = {r.OptText(8), r.OptText(9)};
    out.push_back(std::move(u));
  }
  return out;
}

std::int64_t AdminStore::CountUsers(sql::Tx& tx, const UserFilter& f) {
  std::vector<sql::Value> params;
  std::string sql = "SELECT COUNT(*)" + FromWhere(f, params);
  return tx.QueryOne(sql, params)->Int(0);
}

}  // namespace vigie::storage
