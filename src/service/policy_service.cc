#include "service/policy_service.h"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <regex>

#include "common/error.h"
#include "common/json.h"
#include "common/offload.h"
#include "common/time.h"
#include "service/account_service.h"
#include "service/server_notices.h"
#include "storage/account_store.h"

namespace vigie::service {

using storage::PolicyChangeRecord;
using storage::TenantStore;

namespace {

constexpr const char* kServerScope = "*";

boost::json::array Strings(const std::vector<std::string>& v) {
  boost::json::array a;
  for (const auto& s : v) a.emplace_back(s);
  return a;
}

std::vector<std::string> StringsOf(const std::string& json_array) {
  std::vector<std::string> out;
  const boost::json::value parsed = json::ParseStored(json_array);
  for (const auto& v : parsed.as_array()) {
    out.emplace_back(v.as_string());
  }
  return out;
}

// The parties `actor` can fill: "provider" and/or "tenant:<own tenant>".
std::vector<std::string> PartiesOf(const Requester& actor) {
  std::vector<std::string> out;
  if (actor.is_admin) out.emplace_back("provider");
  if (actor.tenant_admin) out.push_back("tenant:" + actor.tenant_id);
  return out;
}

// Tenants a change concerns.
std::vector<std::string> TenantsOf(const PolicyChangeRecord& c) {
  std::vector<std::string> out;
  if (c.scope != kServerScope) out.push_back(c.scope);
  if (c.kind != "policy") {
    out.emplace_back(json::ParseStored(c.payload).as_object().at("other_tenant").as_string());
  }
  return out;
}

// Any admin reads the server default; a scope's own admins read a tenant's.
void RequireReader(const Requester& actor, const std::string& scope) {
  if (scope == kServerScope) {
    RequireAnyAdmin(actor);
  } else {
    RequireAdminOf(actor, scope);
  }
}

bool MayView(const Requester& actor, const PolicyChangeRecord& c) {
  if (actor.is_admin) return true;
  if (!actor.tenant_admin) return false;
  auto t = TenantsOf(c);
  return std::find(t.begin(), t.end(), actor.tenant_id) != t.end();
}

void ValidateTenantId(const std::string& id) {
  static const std::regex kId("[a-z0-9][a-z0-9._-]{0,63}");
  if (!std::regex_match(id, kId)) {
    throw InvalidParam("Tenant ids are 1-64 characters of a-z, 0-9, '.', '_' and '-'");
  }
}

// C4: may a user of `from` (nullopt: a request without an access token)
// reach a resource of `to`? Anonymous requests act for no tenant: they
// reach the default tenant's resources only, not those of tenants linked
// to it.
bool Reaches(const policy::Snapshot& s, const std::optional<std::string>& from,
             const std::string& to) {
  if (!from) return to == kDefaultTenant;
  return policy::Evaluate(s, policy::ContactQuestion{*from, to}).allowed();
}

}  // namespace

void RequireProviderAdmin(const Requester& actor) {
  if (!actor.is_admin) throw Forbidden("You are not a server admin");
}

void RequireAnyAdmin(const Requester& actor) {
  if (!actor.is_admin && !actor.tenant_admin) throw Forbidden("You are not a server admin");
}

void RequireAdminOf(const Requester& actor, const std::string& tenant_id) {
  if (actor.is_admin) return;
  if (actor.tenant_admin && actor.tenant_id == tenant_id) return;
  throw Forbidden("You are not an admin of this tenant");
}

PolicyService::PolicyService(ServiceContext& ctx, ServerNoticeService& notices)
    : ctx_(ctx), notices_(notices) {}

void PolicyService::Load() {
  auto snap = ctx_.db.Read([&](sql::Tx& tx) {
    std::map<std::string, policy::TenantInfo> tenants;
    for (auto& t : TenantStore::ListTenants(tx)) {
      tenants.emplace(t.tenant_id, policy::TenantInfo{t.tenant_id, t.name, t.state == "suspended"});
    }
    std::set<std::pair<std::string, std::string>> links;
    for (auto& l : TenantStore::ListLinks(tx)) links.emplace(l.tenant_a, l.tenant_b);
    policy::PolicyDocument server_doc;
    std::map<std::string, policy::PolicyDocument> docs;
    for (auto& p : TenantStore::CurrentPolicies(tx)) {
      auto doc = policy::PolicyDocument::FromJson(json::ParseStored(p.document).as_object());
      if (p.scope == kServerScope) {
        server_doc = std::move(doc);
      } else {
        docs.emplace(p.scope, std::move(doc));
      }
    }
    return std::make_shared<const policy::Snapshot>(std::move(tenants), std::move(links),
                                                    std::move(server_doc), std::move(docs));
  });
  Install(std::move(snap));
}

void PolicyService::Install(std::shared_ptr<const policy::Snapshot> s) {
  std::unique_lock lock(mu_);
  snapshot_ = std::move(s);
}

std::shared_ptr<const policy::Snapshot> PolicyService::snapshot() const {
  std::shared_lock lock(mu_);
  return snapshot_;
}

policy::Decision PolicyService::Evaluate(const policy::Question& q) const {
  return policy::Evaluate(*snapshot(), q);
}

void PolicyService::Require(const policy::Question& q) const {
  policy::Decision d = Evaluate(q);
  if (d.verdict == policy::Decision::Verdict::kDeny) {
    throw Forbidden(d.reason).with("io.vigie.requirement", boost::json::string(d.requirement));
  }
}

bool PolicyService::MayContactUser(sql::Tx& tx, const std::string& from_tenant,
                                   const std::string& user_id) const {
  auto user = storage::AccountStore::GetUser(tx, user_id);
  if (!user) return true;
  return Evaluate(policy::ContactQuestion{from_tenant, user->tenant_id}).allowed();
}

std::vector<std::string> PolicyService::ContactableTenants(
    const std::optional<std::string>& from_tenant) const {
  auto snap = snapshot();
  std::vector<std::string> out;
  for (const auto& [id, info] : snap->tenants()) {
    if (Reaches(*snap, from_tenant, id)) out.push_back(id);
  }
  return out;
}

bool PolicyService::MayReach(const std::optional<std::string>& from_tenant,
                             const std::string& to_tenant) const {
  return Reaches(*snapshot(), from_tenant, to_tenant);
}

void PolicyService::RequireReach(const std::optional<std::string>& from_tenant,
                                 const std::string& to_tenant) const {
  if (from_tenant) return Require(policy::ContactQuestion{*from_tenant, to_tenant});
  if (!Reaches(*snapshot(), from_tenant, to_tenant)) {
    throw Forbidden("That user or resource belongs to another organisation")
        .with("io.vigie.requirement", boost::json::string("C4"));
  }
}

void PolicyService::RequireContactWithUser(sql::Tx& tx, const std::string& from_tenant,
                                           const std::string& user_id) const {
  auto user = storage::AccountStore::GetUser(tx, user_id);
  if (!user) return;
  Require(policy::ContactQuestion{from_tenant, user->tenant_id});
}

boost::asio::awaitable<storage::TenantRecord> PolicyService::CreateTenant(
    const Requester& actor, const std::string& tenant_id, const std::string& name) {
  RequireProviderAdmin(actor);
  ValidateTenantId(tenant_id);
  if (name.empty() || name.size() > 200) throw InvalidParam("'name' must be 1-200 bytes");
  storage::TenantRecord t{tenant_id, name, "active", NowMs()};
  co_await Offload(ctx_.db_pool, [&] {
    ctx_.db.Write([&](sql::Tx& tx) {
      if (TenantStore::GetTenant(tx, tenant_id)) {
        throw Error(ErrorCode::kUnknown, "Tenant already exists", 409);
      }
      TenantStore::CreateTenant(tx, t);
      Audit(tx, actor.user_id, tenant_id, "tenant.create", tenant_id, {{"name", name}});
    });
    Load();
  });
  co_return t;
}

boost::asio::awaitable<std::vector<storage::TenantRecord>> PolicyService::ListTenants(
    const Requester& actor) {
  RequireAnyAdmin(actor);
  auto all = co_await Offload(ctx_.db_pool, [&] {
    return ctx_.db.Read([&](sql::Tx& tx) { return TenantStore::ListTenants(tx); });
  });
  if (!actor.is_admin) {
    std::erase_if(all, [&](const auto& t) { return t.tenant_id != actor.tenant_id; });
  }
  co_return all;
}

boost::asio::awaitable<storage::TenantRecord> PolicyService::GetTenant(
    const Requester& actor, const std::string& tenant_id) {
  RequireAdminOf(actor, tenant_id);
  auto t = co_await Offload(ctx_.db_pool, [&] {
    return ctx_.db.Read([&](sql::Tx& tx) { return TenantStore::GetTenant(tx, tenant_id); });
  });
  if (!t) throw NotFound("Unknown tenant");
  co_return *t;
}

boost::asio::awaitable<storage::TenantRecord> PolicyService::UpdateTenant(
    const Requester& actor, const std::string& tenant_id, std::optional<std::string> name,
    std::optional<bool> suspended) {
  RequireAdminOf(actor, tenant_id);
  if (suspended) RequireProviderAdmin(actor);
  if (suspended && tenant_id == kDefaultTenant && *suspended) {
    throw InvalidParam("The default tenant cannot be suspended");
  }
  if (name && (name->empty() || name->size() > 200))
    throw InvalidParam("'name' must be 1-200 bytes");
  auto t = co_await Offload(ctx_.db_pool, [&] {
    auto out = ctx_.db.Write([&](sql::Tx& tx) {
      auto cur = TenantStore::GetTenant(tx, tenant_id);
      if (!cur) throw NotFound("Unknown tenant");
      if (name && *name != cur->name) {
        TenantStore::SetTenantName(tx, tenant_id, *name);
        Audit(tx, actor.user_id, tenant_id, "tenant.rename", tenant_id, {{"name", *name}});
      }
      if (suspended && *suspended != (cur->state == "suspended")) {
        TenantStore::SetTenantState(tx, tenant_id, *suspended ? "suspended" : "active");
        Audit(tx, actor.user_id, tenant_id, *suspended ? "tenant.suspend" : "tenant.unsuspend",
              tenant_id);
      }
      return *TenantStore::GetTenant(tx, tenant_id);
    });
    Load();
    return out;
  });
  co_return t;
}

boost::asio::awaitable<PolicyService::PolicyView> PolicyService::GetPolicy(
    const Requester& actor, const std::string& scope) {
  RequireReader(actor, scope);
  auto snap = snapshot();
  if (scope != kServerScope && !snap->tenant(scope)) throw NotFound("Unknown tenant");
  PolicyView v;
  v.current = co_await Offload(ctx_.db_pool, [&] {
    return ctx_.db.Read([&](sql::Tx& tx) { return TenantStore::CurrentPolicy(tx, scope); });
  });
  v.effective =
      scope == kServerScope ? policy::Policy::Resolve(snap->server_document()) : snap->For(scope);
  co_return v;
}

boost::asio::awaitable<std::vector<storage::PolicyRecord>> PolicyService::PolicyHistory(
    const Requester& actor, const std::string& scope) {
  RequireReader(actor, scope);
  co_return co_await Offload(ctx_.db_pool, [&] {
    return ctx_.db.Read([&](sql::Tx& tx) { return TenantStore::PolicyHistory(tx, scope); });
  });
}

boost::asio::awaitable<ChangeOutcome> PolicyService::ProposePolicy(
    const Requester& actor, const std::string& scope, const boost::json::object& document) {
  if (scope == kServerScope) {
    RequireProviderAdmin(actor);
  } else {
    RequireAdminOf(actor, scope);
    if (!snapshot()->tenant(scope)) throw NotFound("Unknown tenant");
  }
  policy::ChangeQuestion q;
  q.kind = policy::ChangeQuestion::Kind::kPolicy;
  q.scope = scope;
  q.document = policy::PolicyDocument::FromJson(document);
  policy::Decision d = Evaluate(q);
  PolicyChangeRecord c;
  c.scope = scope;
  c.kind = "policy";
  c.payload = boost::json::serialize(q.document.ToJson());
  co_return co_await Submit(actor, std::move(c), d);
}

boost::asio::awaitable<ChangeOutcome> PolicyService::ProposeLink(const Requester& actor,
                                                                 const std::string& a,
                                                                 const std::string& b, bool link) {
  if (!actor.is_admin && !(actor.tenant_admin && (actor.tenant_id == a || actor.tenant_id == b))) {
    throw Forbidden("You are not an admin of either tenant");
  }
  auto snap = snapshot();
  if (!snap->tenant(a) || !snap->tenant(b)) throw NotFound("Unknown tenant");
  if (a == b) throw InvalidParam("A tenant cannot be linked to itself");
  policy::ChangeQuestion q;
  q.kind = link ? policy::ChangeQuestion::Kind::kLink : policy::ChangeQuestion::Kind::kUnlink;
  q.scope = a;
  q.other_tenant = b;
  policy::Decision d = Evaluate(q);
  PolicyChangeRecord c;
  c.scope = a;
  c.kind = link ? "link" : "unlink";
  c.payload = boost::json::serialize(boost::json::object{{"other_tenant", b}});
  co_return co_await Submit(actor, std::move(c), d);
}

boost::asio::awaitable<ChangeOutcome> PolicyService::Submit(const Requester& actor,
                                                            PolicyChangeRecord c,
                                                            const policy::Decision& d) {
  const bool weakens = !d.weakens.empty();
  c.assessment = weakens ? "weakens" : (d.strengthens.empty() ? "neutral" : "strengthens");
  c.reasons = boost::json::serialize(boost::json::object{{"weakens", Strings(d.weakens)},
                                                         {"strengthens", Strings(d.strengthens)}});
  c.required = boost::json::serialize(weakens ? Strings(d.approvers) : boost::json::array{});
  c.proposer = actor.user_id;
  c.created_ts = NowMs();
  // The proposer approves for one party it holds.
  boost::json::array approvals;
  if (weakens) {
    for (const auto& party : PartiesOf(actor)) {
      if (std::find(d.approvers.begin(), d.approvers.end(), party) != d.approvers.end()) {
        approvals.push_back(boost::json::object{
            {"party", party}, {"user_id", actor.user_id}, {"ts", c.created_ts}});
        break;
      }
    }
  }
  const bool complete = !weakens || approvals.size() == d.approvers.size();
  c.approvals = boost::json::serialize(approvals);
  c.state = complete ? "applied" : "pending";
  if (complete) c.decided_ts = c.created_ts;
  ChangeOutcome out = co_await Offload(ctx_.db_pool, [&] {
    std::lock_guard lock(change_mu_);
    ChangeOutcome o;
    ctx_.db.Write([&](sql::Tx& tx) {
      c.change_id = TenantStore::InsertChange(tx, c);
      boost::json::object details{{"requirement", "X-OR-1"},
                                  {"kind", c.kind},
                                  {"assessment", c.assessment},
                                  {"reasons", json::ParseStored(c.reasons)},
                                  {"payload", json::ParseStored(c.payload)},
                                  {"required", json::ParseStored(c.required)}};
      Audit(tx, actor.user_id, c.scope == kServerScope ? std::nullopt : std::optional(c.scope),
            "policy.change.proposed", std::to_string(c.change_id), details);
      if (complete) o.policy_version = Apply(tx, c, actor.user_id);
      o.change = c;
    });
    if (complete) Load();
    return o;
  });
  if (weakens) {
    const std::string what = complete ? "applied" : "proposed";
    co_await Announce(out.change, what);
  }
  co_return out;
}

std::optional<std::int64_t> PolicyService::Apply(sql::Tx& tx, const PolicyChangeRecord& c,
                                                 const std::string& actor) {
  std::optional<std::int64_t> version;
  const std::int64_t now = NowMs();
  if (c.kind == "policy") {
    version = TenantStore::AppendPolicy(tx, {c.scope, 0, c.payload, actor, c.change_id, now});
  } else {
    auto other =
        std::string(json::ParseStored(c.payload).as_object().at("other_tenant").as_string());
    if (c.kind == "link") {
      TenantStore::AddLink(tx, c.scope, other, c.change_id, now);
    } else {
      TenantStore::RemoveLink(tx, c.scope, other);
    }
  }
  boost::json::object details{{"requirement", "X-OR-1"}, {"kind", c.kind}};
  if (version) details["version"] = *version;
  Audit(tx, actor, c.scope == kServerScope ? std::nullopt : std::optional(c.scope),
        "policy.change.applied", std::to_string(c.change_id), details);
  return version;
}

boost::asio::awaitable<ChangeOutcome> PolicyService::Approve(const Requester& actor,
                                                             std::int64_t change_id) {
  const std::int64_t now = NowMs();
  ChangeOutcome out = co_await Offload(ctx_.db_pool, [&] {
    std::lock_guard lock(change_mu_);
    ChangeOutcome o;
    bool applied = false;
    ctx_.db.Write([&](sql::Tx& tx) {
      auto c = TenantStore::GetChange(tx, change_id);
      if (!c || !MayView(actor, *c)) throw NotFound("Unknown change");
      if (c->state != "pending") throw Error(ErrorCode::kBadState, "The change is " + c->state);
      auto required = StringsOf(c->required);
      auto approvals = json::ParseStored(c->approvals).as_array();
      std::vector<std::string> filled;
      for (const auto& a : approvals) {
        if (a.at("user_id").as_string() == actor.user_id) {
          throw Error(ErrorCode::kBadState, "You have already approved this change");
        }
        filled.emplace_back(a.at("party").as_string());
      }
      std::optional<std::string> party;
      for (const auto& p : PartiesOf(actor)) {
        bool needed = std::find(required.begin(), required.end(), p) != required.end();
        bool done = std::find(filled.begin(), filled.end(), p) != filled.end();
        if (needed && !done) {
          party = p;
          break;
        }
      }
      if (!party) throw Forbidden("This change does not need your approval");
      approvals.push_back(
          boost::json::object{{"party", *party}, {"user_id", actor.user_id}, {"ts", now}});
      applied = approvals.size() >= required.size();
      c->approvals = boost::json::serialize(approvals);
      c->state = applied ? "applied" : "pending";
      if (applied) c->decided_ts = now;
      TenantStore::UpdateChange(tx, change_id, c->approvals, c->state, c->decided_ts);
      Audit(tx, actor.user_id, c->scope == kServerScope ? std::nullopt : std::optional(c->scope),
            "policy.change.approved", std::to_string(change_id),
            {{"requirement", "X-OR-1"}, {"party", *party}});
      if (applied) o.policy_version = Apply(tx, *c, actor.user_id);
      o.change = *c;
    });
    if (applied) Load();
    return o;
  });
  if (out.change.state == "applied") {
    const std::string what = "applied";
    co_await Announce(out.change, what);
  }
  co_return out;
}

boost::asio::awaitable<ChangeOutcome> PolicyService::Refuse(const Requester& actor,
                                                            std::int64_t change_id,
                                                            const std::string& reason) {
  if (reason.size() > 1000) throw InvalidParam("'reason' is too long");
  ChangeOutcome out = co_await Offload(ctx_.db_pool, [&] {
    std::lock_guard lock(change_mu_);
    return ctx_.db.Write([&](sql::Tx& tx) {
      auto c = TenantStore::GetChange(tx, change_id);
      if (!c || !MayView(actor, *c)) throw NotFound("Unknown change");
      if (c->state != "pending") throw Error(ErrorCode::kBadState, "The change is " + c->state);
      auto required = StringsOf(c->required);
      bool may = c->proposer == actor.user_id;  // withdrawing one's own proposal
      for (const auto& p : PartiesOf(actor)) {
        if (std::find(required.begin(), required.end(), p) != required.end()) may = true;
      }
      if (!may) throw Forbidden("This change does not need your approval");
      c->state = "refused";
      c->decided_ts = NowMs();
      TenantStore::UpdateChange(tx, change_id, c->approvals, c->state, c->decided_ts);
      Audit(tx, actor.user_id, c->scope == kServerScope ? std::nullopt : std::optional(c->scope),
            "policy.change.refused", std::to_string(change_id),
            {{"requirement", "X-OR-1"}, {"reason", reason}});
      return ChangeOutcome{*c, std::nullopt};
    });
  });
  co_return out;
}

boost::asio::awaitable<std::vector<PolicyChangeRecord>> PolicyService::ListChanges(
    const Requester& actor, const std::string& state) {
  RequireAnyAdmin(actor);
  if (!state.empty() && state != "pending" && state != "applied" && state != "refused") {
    throw InvalidParam("'state' must be pending, applied or refused");
  }
  std::vector<std::string> scopes;
  if (!actor.is_admin) scopes.push_back(actor.tenant_id);
  co_return co_await Offload(ctx_.db_pool, [&] {
    return ctx_.db.Read(
        [&](sql::Tx& tx) { return TenantStore::ListChanges(tx, state, scopes, 500); });
  });
}

boost::asio::awaitable<PolicyChangeRecord> PolicyService::GetChange(const Requester& actor,
                                                                    std::int64_t change_id) {
  auto c = co_await Offload(ctx_.db_pool, [&] {
    return ctx_.db.Read([&](sql::Tx& tx) { return TenantStore::GetChange(tx, change_id); });
  });
  if (!c || !MayView(actor, *c)) throw NotFound("Unknown change");
  co_return *c;
}

boost::asio::awaitable<std::vector<storage::AuditEntry>> PolicyService::ListAudit(
    const Requester& actor, std::int64_t from_seq, std::int64_t limit) {
  RequireAnyAdmin(actor);
  if (limit < 1 || limit > 1000) throw InvalidParam("'limit' must be 1-1000");
  std::vector<storage::AuditEntry> out;
  // A tenant admin's page is filtered, so read on until it is full.
  for (std::int64_t from = from_seq; static_cast<std::int64_t>(out.size()) < limit;) {
    auto page = co_await Offload(ctx_.db_pool, [&] {
      return ctx_.db.Read([&](sql::Tx& tx) { return storage::AuditStore::List(tx, from, 500); });
    });
    if (page.empty()) break;
    from = page.back().seq + 1;
    for (auto& e : page) {
      if (!actor.is_admin && e.tenant_id != actor.tenant_id) continue;
      out.push_back(std::move(e));
      if (static_cast<std::int64_t>(out.size()) >= limit) break;
    }
  }
  co_return out;
}

boost::asio::awaitable<storage::AuditVerifyResult> PolicyService::VerifyAudit(
    const Requester& actor) {
  RequireProviderAdmin(actor);
  co_return co_await Offload(ctx_.db_pool, [&] {
    return ctx_.db.Read([&](sql::Tx& tx) { return storage::AuditStore::Verify(tx); });
  });
}

boost::asio::awaitable<void> PolicyService::Announce(const PolicyChangeRecord& c,
                                                     const std::string& what) {
  constexpr std::int64_t kPage = 500;
  const auto tenants = TenantsOf(c);
  auto reasons = json::ParseStored(c.reasons).as_object();
  std::string weakens;
  for (const auto& w : reasons["weakens"].as_array()) {
    weakens += (weakens.empty() ? "" : ", ") + std::string(w.as_string());
  }
  std::string body = what == "applied"
                         ? "A security policy change for your organisation now applies: " + weakens
                         : "A security policy change for your organisation was proposed and "
                           "awaits approval: " +
                               weakens;
  boost::json::object details{{"requirement", "X-OR-1"},
                              {"change_id", c.change_id},
                              {"state", c.state},
                              {"weakens", reasons["weakens"]}};
  const std::string kind = "policy.change." + what;
  for (std::int64_t from = 0;; from += kPage) {
    auto users = co_await Offload(ctx_.db_pool, [&] {
      return ctx_.db.Read([&](sql::Tx& tx) {
        std::vector<storage::UserRecord> out;
        if (tenants.empty()) return storage::AccountStore::ListUsers(tx, from, kPage);
        for (const auto& t : tenants) {
          auto page = storage::AccountStore::ListTenantUsers(tx, t, from, kPage);
          out.insert(out.end(), page.begin(), page.end());
        }
        return out;
      });
    });
    if (users.empty()) break;
    for (const auto& u : users) {
      if (u.deactivated) continue;
      co_await notices_.Send(u.user_id, kind, body, details);
    }
  }
}

}  // namespace vigie::service
