// vigie's own admin API: tenants (C4), links between tenants, policy
// documents (C9), policy changes and their approval (X-OR-1), and the
// audit log (Appendix I). Documented in docs/admin-api.md. Every route
// needs an admin's token; PolicyService decides who may do what.
#include <boost/json/parse.hpp>
#include <charconv>

#include "api/api.h"
#include "common/error.h"
#include "common/json.h"

namespace vigie::api {
namespace {

constexpr const char* kPrefix = "/_vigie/admin/v1";

std::string Path(const char* rest) { return std::string(kPrefix) + rest; }

boost::json::object TenantJson(const storage::TenantRecord& t) {
  return {{"tenant_id", t.tenant_id},
          {"name", t.name},
          {"state", t.state},
          {"created_ts", t.created_ts}};
}

boost::json::object ChangeJson(const storage::PolicyChangeRecord& c) {
  boost::json::object o{{"change_id", c.change_id},
                        {"scope", c.scope},
                        {"kind", c.kind},
                        {"payload", json::ParseStored(c.payload)},
                        {"assessment", c.assessment},
                        {"reasons", json::ParseStored(c.reasons)},
                        {"required_approvals", json::ParseStored(c.required)},
                        {"approvals", json::ParseStored(c.approvals)},
                        {"state", c.state},
                        {"proposer", c.proposer},
                        {"created_ts", c.created_ts}};
  if (c.decided_ts) o["decided_ts"] = *c.decided_ts;
  return o;
}

// 200 when the change applied (or was refused), 202 while it waits.
http::Response OutcomeResponse(const service::ChangeOutcome& out) {
  boost::json::object o = ChangeJson(out.change);
  if (out.policy_version) o["policy_version"] = *out.policy_version;
  return http::Response::Json(out.change.state == "pending" ? 202 : 200, o);
}

std::int64_t ParseInt(std::string_view s, const char* what) {
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || v < 0) {
    throw InvalidParam(std::string(what) + " must be a non-negative integer");
  }
  return v;
}

http::Response PolicyResponse(const std::string& scope,
                              const service::PolicyService::PolicyView& v) {
  boost::json::object o{{"scope", scope}, {"effective", v.effective.ToJson()}};
  if (v.current) {
    o["version"] = v.current->version;
    o["document"] = json::ParseStored(v.current->document);
    o["updated_by"] = v.current->actor;
    o["updated_ts"] = v.current->created_ts;
  } else {
    o["version"] = 0;
    o["document"] = boost::json::object{};
  }
  return http::Response::Json(o);
}

boost::json::array HistoryJson(const std::vector<storage::PolicyRecord>& h) {
  boost::json::array a;
  for (const auto& p : h) {
    boost::json::object o{{"version", p.version},
                          {"document", json::ParseStored(p.document)},
                          {"actor", p.actor},
                          {"created_ts", p.created_ts}};
    if (p.change_id) o["change_id"] = *p.change_id;
    a.push_back(std::move(o));
  }
  return a;
}

}  // namespace

void AddVigieAdminRoutes(Router& r, service::Homeserver& hs) {
  // GET /_vigie/admin/v1/tenants
  r.Add("GET", Path("/tenants"),
        [&hs](RequestContext& c) -> boost::asio::awaitable<http::Response> {
          auto tenants = co_await hs.policy.ListTenants(c.requester());
          boost::json::array a;
          for (const auto& t : tenants) a.push_back(TenantJson(t));
          co_return http::Response::Json({{"tenants", a}});
        });

  // POST /_vigie/admin/v1/tenants
  r.Add("POST", Path("/tenants"),
        [&hs](RequestContext& c) -> boost::asio::awaitable<http::Response> {
          std::string id = json::RequireString(c.body, "tenant_id");
          std::string name = json::GetString(c.body, "name").value_or(id);
          auto t = co_await hs.policy.CreateTenant(c.requester(), id, name);
          co_return http::Response::Json(201, TenantJson(t));
        });

  // GET /_vigie/admin/v1/tenants/{tenantId}
  r.Add("GET", Path("/tenants/{tenantId}"),
        [&hs](RequestContext& c) -> boost::asio::awaitable<http::Response> {
          auto t = co_await hs.policy.GetTenant(c.requester(), c.params[0]);
          co_return http::Response::Json(TenantJson(t));
        });

  // PUT /_vigie/admin/v1/tenants/{tenantId}
  r.Add("PUT", Path("/tenants/{tenantId}"),
        [&hs](RequestContext& c) -> boost::asio::awaitable<http::Response> {
          std::optional<bool> suspended;
          if (auto it = c.body.find("suspended"); it != c.body.end()) {
            if (!it->value().is_bool()) throw BadJson("'suspended' must be a boolean");
            suspended = it->value().get_bool();
          }
          auto t = co_await hs.policy.UpdateTenant(c.requester(), c.params[0],
                                                   json::GetString(c.body, "name"), suspended);
          co_return http::Response::Json(TenantJson(t));
        });

  // GET /_vigie/admin/v1/policy  (the server default, scope "*")
  r.Add("GET", Path("/policy"), [&hs](RequestContext& c) -> boost::asio::awaitable<http::Response> {
    auto v = co_await hs.policy.GetPolicy(c.requester(), "*");
    co_return PolicyResponse("*", v);
  });

  // PUT /_vigie/admin/v1/policy
  r.Add("PUT", Path("/policy"), [&hs](RequestContext& c) -> boost::asio::awaitable<http::Response> {
    auto out = co_await hs.policy.ProposePolicy(c.requester(), "*", c.body);
    co_return OutcomeResponse(out);
  });

  // GET /_vigie/admin/v1/policy/history
  r.Add("GET", Path("/policy/history"),
        [&hs](RequestContext& c) -> boost::asio::awaitable<http::Response> {
          auto h = co_await hs.policy.PolicyHistory(c.requester(), "*");
          co_return http::Response::Json({{"versions", HistoryJson(h)}});
        });

  // GET /_vigie/admin/v1/tenants/{tenantId}/policy
  r.Add("GET", Path("/tenants/{tenantId}/policy"),
        [&hs](RequestContext& c) -> boost::asio::awaitable<http::Response> {
          auto v = co_await hs.policy.GetPolicy(c.requester(), c.params[0]);
          co_return PolicyResponse(c.params[0], v);
        });

  // PUT /_vigie/admin/v1/tenants/{tenantId}/policy
  r.Add("PUT", Path("/tenants/{tenantId}/policy"),
        [&hs](RequestContext& c) -> boost::asio::awaitable<http::Response> {
          auto out = co_await hs.policy.ProposePolicy(c.requester(), c.params[0], c.body);
          co_return OutcomeResponse(out);
        });

  // GET /_vigie/admin/v1/tenants/{tenantId}/policy/history
  r.Add("GET", Path("/tenants/{tenantId}/policy/history"),
        [&hs](RequestContext& c) -> boost::asio::awaitable<http::Response> {
          auto h = co_await hs.policy.PolicyHistory(c.requester(), c.params[0]);
          co_return http::Response::Json({{"versions", HistoryJson(h)}});
        });

  // GET /_vigie/admin/v1/links
  r.Add("GET", Path("/links"), [&hs](RequestContext& c) -> boost::asio::awaitable<http::Response> {
    const auto& who = c.requester();
    service::RequireAnyAdmin(who);
    boost::json::array a;
    auto snap = hs.policy.snapshot();
    for (const auto& [x, y] : snap->links()) {
      if (!who.is_admin && x != who.tenant_id && y != who.tenant_id) continue;
      a.push_back(boost::json::object{{"tenants", boost::json::array{x, y}}});
    }
    co_return http::Response::Json({{"links", a}});
  });

  // POST /_vigie/admin/v1/links  {"tenants": [a, b]}
  r.Add("POST", Path("/links"), [&hs](RequestContext& c) -> boost::asio::awaitable<http::Response> {
    auto t = json::GetStringArray(c.body, "tenants", 2);
    if (!t || t->size() != 2) throw MissingParam("'tenants' must name two tenants");
    auto out = co_await hs.policy.ProposeLink(c.requester(), (*t)[0], (*t)[1], true);
    co_return OutcomeResponse(out);
  });

  // DELETE /_vigie/admin/v1/links/{a}/{b}
  r.Add("DELETE", Path("/links/{a}/{b}"),
        [&hs](RequestContext& c) -> boost::asio::awaitable<http::Response> {
          auto out = co_await hs.policy.ProposeLink(c.requester(), c.params[0], c.params[1], false);
          co_return OutcomeResponse(out);
        });

  // GET /_vigie/admin/v1/changes?state=pending|applied|refused
  r.Add("GET", Path("/changes"),
        [&hs](RequestContext& c) -> boost::asio::awaitable<http::Response> {
          std::string state(c.req.Query("state").value_or(""));
          auto changes = co_await hs.policy.ListChanges(c.requester(), state);
          boost::json::array a;
          for (const auto& ch : changes) a.push_back(ChangeJson(ch));
          co_return http::Response::Json({{"changes", a}});
        });

  // GET /_vigie/admin/v1/changes/{changeId}
  r.Add("GET", Path("/changes/{changeId}"),
        [&hs](RequestContext& c) -> boost::asio::awaitable<http::Response> {
          auto ch = co_await hs.policy.GetChange(c.requester(), ParseInt(c.params[0], "changeId"));
          co_return http::Response::Json(ChangeJson(ch));
        });

  // POST /_vigie/admin/v1/changes/{changeId}/approve
  r.Add("POST", Path("/changes/{changeId}/approve"),
        [&hs](RequestContext& c) -> boost::asio::awaitable<http::Response> {
          auto out = co_await hs.policy.Approve(c.requester(), ParseInt(c.params[0], "changeId"));
          co_return OutcomeResponse(out);
        });

  // POST /_vigie/admin/v1/changes/{changeId}/refuse  {"reason": "..."}
  r.Add("POST", Path("/changes/{changeId}/refuse"),
        [&hs](RequestContext& c) -> boost::asio::awaitable<http::Response> {
          auto out = co_await hs.policy.Refuse(c.requester(), ParseInt(c.params[0], "changeId"),
                                               json::GetString(c.body, "reason").value_or(""));
          co_return OutcomeResponse(out);
        });

  // GET /_vigie/admin/v1/audit?from=SEQ&limit=N
  r.Add("GET", Path("/audit"), [&hs](RequestContext& c) -> boost::asio::awaitable<http::Response> {
    std::int64_t from = 1;
    std::int64_t limit = 100;
    if (auto f = c.req.Query("from")) from = ParseInt(*f, "from");
    if (auto l = c.req.Query("limit")) limit = ParseInt(*l, "limit");
    auto entries = co_await hs.policy.ListAudit(c.requester(), from, limit);
    boost::json::array a;
    for (const auto& e : entries) {
      boost::json::object o{{"seq", e.seq},
                            {"ts", e.ts},
                            {"actor", e.actor},
                            {"action", e.action},
                            {"details", json::ParseStored(e.details)},
                            {"prev_hash", e.prev_hash},
                            {"entry_hash", e.entry_hash}};
      o["tenant_id"] = e.tenant_id ? boost::json::value(*e.tenant_id) : nullptr;
      o["target"] = e.target ? boost::json::value(*e.target) : nullptr;
      a.push_back(std::move(o));
    }
    boost::json::object res{{"entries", a}};
    if (!entries.empty()) res["next_from"] = entries.back().seq + 1;
    co_return http::Response::Json(res);
  });

  // GET /_vigie/admin/v1/audit/verify
  r.Add("GET", Path("/audit/verify"),
        [&hs](RequestContext& c) -> boost::asio::awaitable<http::Response> {
          auto v = co_await hs.policy.VerifyAudit(c.requester());
          boost::json::object o{{"ok", v.ok}, {"entries", v.entries}};
          if (v.first_bad_seq) o["first_bad_seq"] = *v.first_bad_seq;
          if (!v.reason.empty()) o["reason"] = v.reason;
          co_return http::Response::Json(o);
        });
}

}  // namespace vigie::api
