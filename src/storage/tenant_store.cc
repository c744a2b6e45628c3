#include "storage/tenant_store.h"

#include <algorithm>

namespace vigie::storage {
namespace {

using sql::Opt;
using sql::Str;

std::pair<std::string, std::string> Ordered(std::string_view a, std::string_view b) {
  return a < b ? std::pair{std::string(a), std::string(b)}
               : std::pair{std::string(b), std::string(a)};
}

constexpr const char* kChangeCols =
    "change_id, scope, kind, payload, assessment, reasons, required, approvals, state, proposer, "
    "created_ts, decided_ts";

PolicyChangeRecord ReadChange(const sql::Row& r) {
  return {r.Int(0),  r.Text(1), r.Text(2), r.Text(3), r.Text(4), r.Text(5),
          r.Text(6), r.Text(7), r.Text(8), r.Text(9), r.Int(10), r.OptInt(11)};
}

PolicyRecord ReadPolicy(const sql::Row& r) {
  return {r.Text(0), r.Int(1), r.Text(2), r.Text(3), r.OptInt(4), r.Int(5)};
}

}  // namespace

void TenantStore::CreateTenant(sql::Tx& tx, const TenantRecord& t) {
  tx.Query("INSERT INTO tenants (tenant_id, name, state, created_ts) VALUES ($1, $2, $3, $4)",
           {t.tenant_id, t.name, t.state, t.created_ts});
}

std::optional<TenantRecord> TenantStore::GetTenant(sql::Tx& tx, std::string_view tenant_id) {
  auto r =
      tx.QueryOne("SELECT tenant_id, name, state, created_ts FROM tenants WHERE tenant_id = $1",
                  {Str(tenant_id)});
  if (!r) return std::nullopt;
  return TenantRecord{r->Text(0), r->Text(1), r->Text(2), r->Int(3)};
}

std::vector<TenantRecord> TenantStore::ListTenants(sql::Tx& tx) {
  auto res = tx.Query("SELECT tenant_id, name, state, created_ts FROM tenants ORDER BY tenant_id");
  std::vector<TenantRecord> out;
  for (const auto& r : res.rows) out.push_back({r.Text(0), r.Text(1), r.Text(2), r.Int(3)});
  return out;
}

void TenantStore::SetTenantName(sql::Tx& tx, std::string_view tenant_id, std::string_view name) {
  tx.Query("UPDATE tenants SET name = $1 WHERE tenant_id = $2", {Str(name), Str(tenant_id)});
}

void TenantStore::SetTenantState(sql::Tx& tx, std::string_view tenant_id, std::string_view state) {
  tx.Query("UPDATE tenants SET state = $1 WHERE tenant_id = $2", {Str(state), Str(tenant_id)});
}

void TenantStore::AddLink(sql::Tx& tx, std::string_view a, std::string_view b,
                          std::optional<std::int64_t> change_id, std::int64_t ts) {
  auto [x, y] = Ordered(a, b);
  tx.Query(
      "INSERT INTO tenant_links (tenant_a, tenant_b, change_id, created_ts) VALUES ($1, $2, $3, "
      "$4) ON CONFLICT (tenant_a, tenant_b) DO NOTHING",
      {x, y, Opt(change_id), ts});
}

bool TenantStore::RemoveLink(sql::Tx& tx, std::string_view a, std::string_view b) {
  auto [x, y] = Ordered(a, b);
  return tx.Query("DELETE FROM tenant_links WHERE tenant_a = $1 AND tenant_b = $2", {x, y})
             .affected > 0;
}

std::vector<TenantLinkRecord> TenantStore::ListLinks(sql::Tx& tx) {
  auto res = tx.Query(
      "SELECT tenant_a, tenant_b, change_id, created_ts FROM tenant_links ORDER BY tenant_a, "
      "tenant_b");
  std::vector<TenantLinkRecord> out;
  for (const auto& r : res.rows) out.push_back({r.Text(0), r.Text(1), r.OptInt(2), r.Int(3)});
  return out;
}

std::int64_t TenantStore::AppendPolicy(sql::Tx& tx, PolicyRecord p) {
  auto row =
      tx.QueryOne("SELECT COALESCE(MAX(version), 0) FROM policies WHERE scope = $1", {p.scope});
  p.version = row->Int(0) + 1;
  tx.Query(
      "INSERT INTO policies (scope, version, document, actor, change_id, created_ts) VALUES ($1, "
      "$2, $3, $4, $5, $6)",
      {p.scope, p.version, p.document, p.actor, Opt(p.change_id), p.created_ts});
  return p.version;
}

std::optional<PolicyRecord> TenantStore::CurrentPolicy(sql::Tx& tx, std::string_view scope) {
  auto r = tx.QueryOne(
      "SELECT scope, version, document, actor, change_id, created_ts FROM policies WHERE scope = "
      "$1 ORDER BY version DESC LIMIT 1",
      {Str(scope)});
  if (!r) return std::nullopt;
  return ReadPolicy(*r);
}

std::vector<PolicyRecord> TenantStore::CurrentPolicies(sql::Tx& tx) {
  auto res = tx.Query(
      "SELECT p.scope, p.version, p.document, p.actor, p.change_id, p.created_ts FROM policies p "
      "WHERE p.version = (SELECT MAX(q.version) FROM policies q WHERE q.scope = p.scope) "
      "ORDER BY p.scope");
  std::vector<PolicyRecord> out;
  for (const auto& r : res.rows) out.push_back(ReadPolicy(r));
  return out;
}

std::vector<PolicyRecord> TenantStore::PolicyHistory(sql::Tx& tx, std::string_view scope) {
  auto res = tx.Query(
      "SELECT scope, version, document, actor, change_id, created_ts FROM policies WHERE scope = "
      "$1 ORDER BY version DESC",
      {Str(scope)});
  std::vector<PolicyRecord> out;
  for (const auto& r : res.rows) out.push_back(ReadPolicy(r));
  return out;
}

std::int64_t TenantStore::InsertChange(sql::Tx& tx, const PolicyChangeRecord& c) {
  auto r = tx.QueryOne(
      "INSERT INTO policy_changes (scope, kind, payload, assessment, reasons, required, "
      "approvals, state, proposer, created_ts, decided_ts) VALUES ($1, $2, $3, $4, $5, $6, $7, "
      "$8, $9, $10, $11) RETURNING change_id",
      {c.scope, c.kind, c.payload, c.assessment, c.reasons, c.required, c.approvals, c.state,
       c.proposer, c.created_ts, Opt(c.decided_ts)});
  return r->Int(0);
}

std::optional<PolicyChangeRecord> TenantStore::GetChange(sql::Tx& tx, std::int64_t change_id) {
  auto r = tx.QueryOne(
      std::string("SELECT ") + kChangeCols + " FROM policy_changes WHERE change_id = $1",
      {change_id});
  if (!r) return std::nullopt;
  return ReadChange(*r);
}

std::vector<PolicyChangeRecord> TenantStore::ListChanges(sql::Tx& tx, std::string_view state,
                                                         const std::vector<std::string>& scopes,
                                                         std::int64_t limit) {
  auto res =
      tx.Query(std::string("SELECT ") + kChangeCols +
                   " FROM policy_changes WHERE (CAST($1 AS TEXT) = '' OR state = $1) ORDER BY "
                   "change_id DESC LIMIT $2",
               {Str(state), scopes.empty() ? limit : std::int64_t{100000}});
  std::vector<PolicyChangeRecord> out;
  for (const auto& r : res.rows) {
    auto c = ReadChange(r);
    if (!scopes.empty() && std::find(scopes.begin(), scopes.end(), c.scope) == scopes.end()) {
      // A link change also concerns the other tenant named in its payload.
      bool other = std::any_of(scopes.begin(), scopes.end(), [&](const std::string& s) {
        return c.payload.find("\"other_tenant\":\"" + s + "\"") != std::string::npos;
      });
      if (!other) continue;
    }
    out.push_back(std::move(c));
    if (static_cast<std::int64_t>(out.size()) >= limit) break;
  }
  return out;
}

void TenantStore::UpdateChange(sql::Tx& tx, std::int64_t change_id, std::string_view approvals,
                               std::string_view state, std::optional<std::int64_t> decided_ts) {
  tx.Query(
      "UPDATE policy_changes SET approvals = $1, state = $2, decided_ts = $3 WHERE change_id = $4",
      {Str(approvals), Str(state), Opt(decided_ts), change_id});
}

}  // namespace vigie::storage
