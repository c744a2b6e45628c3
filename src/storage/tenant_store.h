// Tenants (X.1606 cloud service customers), the links between them, their
// versioned policy documents, and proposed policy changes (X-OR-1).
// Stateless: every method runs inside the caller's transaction.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "storage/sql.h"

namespace vigie::storage {

struct TenantRecord {
  std::string tenant_id;
  std::string name;
  std::string state;  // active | suspended
  std::int64_t created_ts = 0;
};

struct TenantLinkRecord {
  std::string tenant_a;  // tenant_a < tenant_b
  std::string tenant_b;
  std::optional<std::int64_t> change_id;
  std::int64_t created_ts = 0;
};

struct PolicyRecord {
  std::string scope;  // tenant id, or "*" for the server default
  std::int64_t version = 0;
  std::string document;  // JSON object text
  std::string actor;
  std::optional<std::int64_t> change_id;
  std::int64_t created_ts = 0;
};

struct PolicyChangeRecord {
  std::int64_t change_id = 0;
  std::string scope;       // tenant id or "*"
  std::string kind;        // policy | link | unlink
  std::string payload;     // JSON: the new document, or {"other_tenant": ...}
  std::string assessment;  // weakens | strengthens | neutral
  std::string reasons;     // JSON: {"weakens": [...], "strengthens": [...]}
  std::string required;    // JSON array of parties: "provider", "tenant:<id>"
  std::string approvals;   // JSON array of {"party", "user_id", "ts"}
  std::string state;       // pending | applied | refused
  std::string proposer;
  std::int64_t created_ts = 0;
  std::optional<std::int64_t> decided_ts;
};

class TenantStore {
 public:
  // Throws sql::UniqueViolation if the id is taken.
  static void CreateTenant(sql::Tx& tx, const TenantRecord& t);
  static std::optional<TenantRecord> GetTenant(sql::Tx& tx, std::string_view tenant_id);
  static std::vector<TenantRecord> ListTenants(sql::Tx& tx);
  static void SetTenantName(sql::Tx& tx, std::string_view tenant_id, std::string_view name);
  static void SetTenantState(sql::Tx& tx, std::string_view tenant_id, std::string_view state);

  // Links are unordered pairs; the store orders them.
  static void AddLink(sql::Tx& tx, std::string_view a, std::string_view b,
                      std::optional<std::int64_t> change_id, std::int64_t ts);
  static bool RemoveLink(sql::Tx& tx, std::string_view a, std::string_view b);
  static std::vector<TenantLinkRecord> ListLinks(sql::Tx& tx);

  // Policies: each change appends a version; the newest is current.
  static std::int64_t AppendPolicy(sql::Tx& tx, PolicyRecord p);  // returns the version
  static std::optional<PolicyRecord> CurrentPolicy(sql::Tx& tx, std::string_view scope);
  static std::vector<PolicyRecord> CurrentPolicies(sql::Tx& tx);
  static std::vector<PolicyRecord> PolicyHistory(sql::Tx& tx, std::string_view scope);

  static std::int64_t InsertChange(sql::Tx& tx, const PolicyChangeRecord& c);
  static std::optional<PolicyChangeRecord> GetChange(sql::Tx& tx, std::int64_t change_id);
  // Newest first; `state` empty means any; `scopes` empty means any.
  static std::vector<PolicyChangeRecord> ListChanges(sql::Tx& tx, std::string_view state,
                                                     const std::vector<std::string>& scopes,
                                                     std::int64_t limit);
  static void UpdateChange(sql::Tx& tx, std::int64_t change_id, std::string_view approvals,
                           std::string_view state, std::optional<std::int64_t> decided_ts);
};

}  // namespace vigie::storage
