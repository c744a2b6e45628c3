// The service side of the policy engine (policy/engine.h): it keeps the
// engine's snapshot of tenants, links and policy documents current, asks
// the engine every X.1606 question, and runs the tenant and policy-change
// administration (C4, C9, X-OR-1). Every change and decision it makes is
// appended to the audit log in the same transaction.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <vector>

#include "policy/engine.h"
#include "service/auth_service.h"
#include "service/context.h"
#include "storage/audit_store.h"
#include "storage/tenant_store.h"

namespace vigie::service {

class ServerNoticeService;

// A proposed change and where it stands (X-OR-1).
struct ChangeOutcome {
  storage::PolicyChangeRecord change;
  std::optional<std::int64_t> policy_version;  // set once a policy change applied
};

class PolicyService {
 public:
  PolicyService(ServiceContext& ctx, ServerNoticeService& notices);

  // Reads tenants, links and policies into a fresh snapshot. Blocking: at
  // start-up, or on a worker thread after a change committed.
  void Load();
  std::shared_ptr<const policy::Snapshot> snapshot() const;

  // The one entry point: every control asks here.
  policy::Decision Evaluate(const policy::Question& q) const;
  // Evaluate, and throw M_FORBIDDEN (with "io.vigie.requirement") unless
  // the decision allows.
  void Require(const policy::Question& q) const;
  // C4 for a user: throws M_FORBIDDEN unless `from_tenant` may reach
  // `user_id` (same or linked tenant). Unknown users pass (callers report
  // their own M_NOT_FOUND).
  void RequireContactWithUser(sql::Tx& tx, const std::string& from_tenant,
                              const std::string& user_id) const;
  bool MayContactUser(sql::Tx& tx, const std::string& from_tenant,
                      const std::string& user_id) const;
  // C4 for lists filtered in SQL (user directory, room directory): the
  // tenants whose users and rooms a user of `from_tenant` may see, itself
  // included. Requests without an access token (`from_tenant` nullopt)
  // see the default tenant only.
  std::vector<std::string> ContactableTenants(const std::optional<std::string>& from_tenant) const;
  // C4 for one resource of `to_tenant` (a room, a media file, a profile)
  // reached by a user of `from_tenant`, or without an access token
  // (nullopt: the default tenant's resources only).
  bool MayReach(const std::optional<std::string>& from_tenant, const std::string& to_tenant) const;
  // MayReach, or throw M_FORBIDDEN with "io.vigie.requirement": "C4".
  void RequireReach(const std::optional<std::string>& from_tenant,
                    const std::string& to_tenant) const;

  // Tenants. Provider admins only, except that tenant admins may read
  // their own tenant. Suspension applies at once (it only strengthens).
  boost::asio::awaitable<storage::TenantRecord> CreateTenant(const Requester& actor,
                                                             const std::string& tenant_id,
                                                             const std::string& name);
  boost::asio::awaitable<std::vector<storage::TenantRecord>> ListTenants(const Requester& actor);
  boost::asio::awaitable<storage::TenantRecord> GetTenant(const Requester& actor,
                                                          const std::string& tenant_id);
  boost::asio::awaitable<storage::TenantRecord> UpdateTenant(const Requester& actor,
                                                             const std::string& tenant_id,
                                                             std::optional<std::string> name,
                                                             std::optional<bool> suspended);

  // Policy documents: `scope` is a tenant id or "*" (server default).
  struct PolicyView {
    std::optional<storage::PolicyRecord> current;  // absent: never set
    policy::Policy effective;                      // what applies now
  };
  boost::asio::awaitable<PolicyView> GetPolicy(const Requester& actor, const std::string& scope);
  boost::asio::awaitable<std::vector<storage::PolicyRecord>> PolicyHistory(
      const Requester& actor, const std::string& scope);

  // X-OR-1: each proposal is assessed; one that only strengthens applies
  // at once, one that weakens waits for the parties the current policy
  // names ("provider", "tenant:<id>"), the proposer counting for a party
  // it holds. Users of the affected tenants are told either way when a
  // weakening is proposed and when it applies.
  boost::asio::awaitable<ChangeOutcome> ProposePolicy(const Requester& actor,
                                                      const std::string& scope,
                                                      const boost::json::object& document);
  boost::asio::awaitable<ChangeOutcome> ProposeLink(const Requester& actor, const std::string& a,
                                                    const std::string& b, bool link);
  // Approving fills one party the approver holds (one party per person);
  // the change applies when every party approved. Refusing ends it.
  boost::asio::awaitable<ChangeOutcome> Approve(const Requester& actor, std::int64_t change_id);
  boost::asio::awaitable<ChangeOutcome> Refuse(const Requester& actor, std::int64_t change_id,
                                               const std::string& reason);
  // Changes the actor may see (provider: all; tenant admin: its tenant's).
  boost::asio::awaitable<std::vector<storage::PolicyChangeRecord>> ListChanges(
      const Requester& actor, const std::string& state);
  boost::asio::awaitable<storage::PolicyChangeRecord> GetChange(const Requester& actor,
                                                                std::int64_t change_id);

  // The audit log (Appendix I): provider admins read all of it, tenant
  // admins the entries of their tenant. Verify walks the hash chain
  // (provider admins only).
  boost::asio::awaitable<std::vector<storage::AuditEntry>> ListAudit(const Requester& actor,
                                                                     std::int64_t from_seq,
                                                                     std::int64_t limit);
  boost::asio::awaitable<storage::AuditVerifyResult> VerifyAudit(const Requester& actor);

 private:
  void Install(std::shared_ptr<const policy::Snapshot> s);
  // Applies an approved change in `tx`; returns the new policy version.
  std::optional<std::int64_t> Apply(sql::Tx& tx, const storage::PolicyChangeRecord& c,
                                    const std::string& actor);
  // Tells users of the tenants a change concerns.
  boost::asio::awaitable<void> Announce(const storage::PolicyChangeRecord& c,
                                        const std::string& what);
  boost::asio::awaitable<ChangeOutcome> Submit(const Requester& actor,
                                               storage::PolicyChangeRecord c,
                                               const policy::Decision& d);

  ServiceContext& ctx_;
  ServerNoticeService& notices_;
  mutable std::shared_mutex mu_;
  std::shared_ptr<const policy::Snapshot> snapshot_;  // guarded by mu_
  // Serialises change decisions (propose/approve/refuse) so that two
  // approvals cannot both apply a change. Held only on worker threads.
  std::mutex change_mu_;
};

// Role checks shared by the admin endpoints.
// Provider admin: anything. Tenant admin: its own tenant. Else M_FORBIDDEN.
void RequireAdminOf(const Requester& actor, const std::string& tenant_id);
void RequireProviderAdmin(const Requester& actor);
// A provider or tenant admin of any tenant.
void RequireAnyAdmin(const Requester& actor);

}  // namespace vigie::service
