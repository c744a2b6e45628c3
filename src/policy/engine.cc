#include "policy/engine.h"

#include <algorithm>
#include <cmath>

namespace vigie::policy {
namespace {

using Verdict = Decision::Verdict;

std::pair<std::string, std::string> Ordered(const std::string& a, const std::string& b) {
  return a < b ? std::pair{a, b} : std::pair{b, a};
}

Decision Deny(std::string requirement, std::string reason) {
  Decision d;
  d.verdict = Verdict::kDeny;
  d.requirement = std::move(requirement);
  d.reason = std::move(reason);
  return d;
}

bool AnyContains(const std::vector<Cidr>& nets, const IpAddress& ip) {
  return std::any_of(nets.begin(), nets.end(), [&](const Cidr& c) { return c.Contains(ip); });
}

bool AnyCovers(const std::vector<Cidr>& nets, const Cidr& n) {
  return std::any_of(nets.begin(), nets.end(), [&](const Cidr& c) { return c.Covers(n); });
}

// C4 (suspension) then X-AC-3.
Decision Access(const Snapshot& s, const AccessQuestion& q) {
  const TenantInfo* t = s.tenant(q.tenant);
  if (!t) return Deny("C4", "Your organisation is not known to this server");
  if (t->suspended) return Deny("C4", "Your organisation's service is suspended");
  const Policy& p = s.For(q.tenant);
  if (p.trusted_networks.empty() && p.denied_networks.empty()) return {};
  auto ip = IpAddress::Parse(q.ip);
  if (!ip) return Deny("X-AC-3", "Your network address could not be checked");
  if (AnyContains(p.denied_networks, *ip)) {
    return Deny("X-AC-3", "Access from this network (a blocked relay or VPN) is not allowed");
  }
  if (!p.trusted_networks.empty() && !AnyContains(p.trusted_networks, *ip)) {
    return Deny("X-AC-3", "Access is only allowed from your organisation's trusted networks");
  }
  return {};
}

// C4: isolation unless the tenants are linked (X.1606 7.3).
Decision Contact(const Snapshot& s, const ContactQuestion& q) {
  if (q.from_tenant == q.to_tenant || s.Linked(q.from_tenant, q.to_tenant)) return {};
  return Deny("C4", "That user or resource belongs to another organisation");
}

// X-IM-1 then X-IM-2.
Decision NewDevice(const Snapshot& s, const NewDeviceQuestion& q) {
  const Policy& p = s.For(q.tenant);
  Decision d;
  if (p.max_devices > 0 && q.devices >= p.max_devices) {
    if (p.device_limit_action == DeviceLimitAction::kRefuse) {
      return Deny("X-IM-1", "You already have the maximum of " + std::to_string(p.max_devices) +
                                " devices; log out of one first");
    }
    d.evict_oldest = true;
    d.requirement = "X-IM-1";
  }
  if (!q.has_active_primary) {
    d.primary = true;  // the first device (or the first after the primary left) controls
  } else if (p.require_primary_approval) {
    d.pending = true;
    d.requirement = "X-IM-2";
    d.reason = "This device must be approved from your primary device";
  }
  return d;
}

// X-AC-1 and X-AC-2.
Decision Location(const Snapshot& s, const LocationQuestion& q) {
  const Policy& p = s.For(q.tenant);
  Decision d;
  if (p.anomaly_action == AnomalyAction::kOff) return d;
  std::optional<Fix> here = q.ip_fix ? q.ip_fix : q.reported;
  bool ac1 = false;
  if (here) {
    bool travel = false;
    bool simultaneous = false;
    for (const Fix& f : q.recent) {
      double km = DistanceKm(here->lat, here->lon, f.lat, f.lon);
      double hours = static_cast<double>(std::max<std::int64_t>(q.now - f.ts, 60000)) / 3.6e6;
      // Below 100 km, GeoIP noise dominates.
      if (km > 100 && km / hours > p.max_travel_kmh) travel = true;
      if (f.device_id != q.device_id && q.now - f.ts <= p.simultaneous_window_s * 1000 &&
          km > p.simultaneous_km) {
        simultaneous = true;
      }
    }
    if (travel) d.signals.emplace_back("impossible_travel");
    if (simultaneous) d.signals.emplace_back("simultaneous_distant_use");
    ac1 = travel || simultaneous;
  }
  if (q.ip_fix && q.reported &&
      DistanceKm(q.ip_fix->lat, q.ip_fix->lon, q.reported->lat, q.reported->lon) >
          p.location_disagreement_km) {
    d.signals.emplace_back("location_disagreement");
  }
  if (q.anonymizer) d.signals.emplace_back("anonymizer");
  if (d.signals.empty()) return d;
  d.requirement = ac1 ? "X-AC-1" : "X-AC-2";
  d.notify = true;
  switch (p.anomaly_action) {
    case AnomalyAction::kStepUp:
      d.verdict = Verdict::kStepUp;
      d.reason = "Unusual location: confirm this session from your primary device";
      break;
    case AnomalyAction::kBlock:
      d.verdict = Verdict::kDeny;
      d.reason = "Unusual location: this session was blocked";
      break;
    default:
      d.reason = "Unusual location";
      break;
  }
  return d;
}

Decision Password(const Snapshot& s, const PasswordQuestion& q) {
  Decision d;
  d.check = s.For(q.tenant).password_reuse_warning;
  d.requirement = "X-IM-5";
  return d;
}

void AddApprovers(const Policy& p, const std::string& tenant, std::vector<std::string>& out) {
  for (Party party : p.change_approvers) {
    std::string name = party == Party::kProvider ? "provider" : "tenant:" + tenant;
    if (std::find(out.begin(), out.end(), name) == out.end()) out.push_back(name);
  }
}

// X-OR-1.
Decision Change(const Snapshot& s, const ChangeQuestion& q) {
  Decision d;
  d.requirement = "X-OR-1";
  switch (q.kind) {
    case ChangeQuestion::Kind::kPolicy: {
      if (q.scope == "*") {
        Assess(Policy::Resolve(s.server_document()), Policy::Resolve(q.document), d.weakens,
               d.strengthens);
        d.approvers = {"provider"};
      } else {
        Policy after = Policy::Resolve(PolicyDocument::Merge(s.server_document(), q.document));
        const Policy& before = s.For(q.scope);
        Assess(before, after, d.weakens, d.strengthens);
        AddApprovers(before, q.scope, d.approvers);
      }
      break;
    }
    case ChangeQuestion::Kind::kLink:
      if (!s.Linked(q.scope, q.other_tenant)) {
        d.weakens.push_back("links tenants " + q.scope + " and " + q.other_tenant +
                            ": their users can find and reach each other");
      }
      AddApprovers(s.For(q.scope), q.scope, d.approvers);
      AddApprovers(s.For(q.other_tenant), q.other_tenant, d.approvers);
      break;
    case ChangeQuestion::Kind::kUnlink:
      if (s.Linked(q.scope, q.other_tenant)) {
        d.strengthens.push_back("unlinks tenants " + q.scope + " and " + q.other_tenant);
      }
      break;
  }
  if (!d.weakens.empty()) {
    d.verdict = Verdict::kNeedsApproval;
    d.reason = "This change lowers security and needs approval";
  }
  return d;
}

}  // namespace

Snapshot::Snapshot(std::map<std::string, TenantInfo> tenants,
                   std::set<std::pair<std::string, std::string>> links, PolicyDocument server_doc,
                   std::map<std::string, PolicyDocument> tenant_docs)
    : tenants_(std::move(tenants)),
      server_doc_(std::move(server_doc)),
      tenant_docs_(std::move(tenant_docs)),
      server_policy_(Policy::Resolve(server_doc_)) {
  for (const auto& [a, b] : links) links_.insert(Ordered(a, b));
  for (const auto& [id, doc] : tenant_docs_) {
    policies_.emplace(id, Policy::Resolve(PolicyDocument::Merge(server_doc_, doc)));
  }
}

const Policy& Snapshot::For(const std::string& tenant) const {
  auto it = policies_.find(tenant);
  return it == policies_.end() ? server_policy_ : it->second;
}

const PolicyDocument* Snapshot::tenant_document(const std::string& tenant) const {
  auto it = tenant_docs_.find(tenant);
  return it == tenant_docs_.end() ? nullptr : &it->second;
}

const TenantInfo* Snapshot::tenant(const std::string& tenant) const {
  auto it = tenants_.find(tenant);
  return it == tenants_.end() ? nullptr : &it->second;
}

bool Snapshot::Linked(const std::string& a, const std::string& b) const {
  return links_.contains(Ordered(a, b));
}

Decision Evaluate(const Snapshot& s, const Question& q) {
  return std::visit(
      [&](const auto& x) -> Decision {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, AccessQuestion>) return Access(s, x);
        if constexpr (std::is_same_v<T, ContactQuestion>) return Contact(s, x);
        if constexpr (std::is_same_v<T, NewDeviceQuestion>) return NewDevice(s, x);
        if constexpr (std::is_same_v<T, LocationQuestion>) return Location(s, x);
        if constexpr (std::is_same_v<T, PasswordQuestion>) return Password(s, x);
        if constexpr (std::is_same_v<T, ChangeQuestion>) return Change(s, x);
      },
      q);
}

double DistanceKm(double lat1, double lon1, double lat2, double lon2) {
  constexpr double kEarthKm = 6371.0;
  constexpr double kRad = 3.14159265358979323846 / 180.0;
  double dlat = (lat2 - lat1) * kRad;
  double dlon = (lon2 - lon1) * kRad;
  double a = std::sin(dlat / 2) * std::sin(dlat / 2) + std::cos(lat1 * kRad) *
                                                           std::cos(lat2 * kRad) *
                                                           std::sin(dlon / 2) * std::sin(dlon / 2);
  return 2 * kEarthKm * std::asin(std::min(1.0, std::sqrt(a)));
}

void Assess(const Policy& before, const Policy& after, std::vector<std::string>& weakens,
            std::vector<std::string>& strengthens) {
  auto limit = [](std::int64_t n) { return n == 0 ? INT64_MAX : n; };
  auto compare = [&](bool weaker, bool stronger, const std::string& what) {
    if (weaker) weakens.push_back(what);
    if (stronger) strengthens.push_back(what);
  };
  compare(limit(after.max_devices) > limit(before.max_devices),
          limit(after.max_devices) < limit(before.max_devices), "max_devices");
  compare(after.device_limit_action == DeviceLimitAction::kEvictOldest &&
              before.device_limit_action == DeviceLimitAction::kRefuse,
          after.device_limit_action == DeviceLimitAction::kRefuse &&
              before.device_limit_action == DeviceLimitAction::kEvictOldest,
          "device_limit_action");
  compare(before.require_primary_approval && !after.require_primary_approval,
          !before.require_primary_approval && after.require_primary_approval,
          "require_primary_approval");
  // Trusted networks: empty means anywhere, so removing the list widens it.
  {
    bool widened = false;
    bool narrowed = false;
    if (after.trusted_networks.empty()) {
      widened = !before.trusted_networks.empty();
    } else if (before.trusted_networks.empty()) {
      narrowed = true;
    } else {
      for (const auto& n : after.trusted_networks) {
        if (!AnyCovers(before.trusted_networks, n)) widened = true;
      }
      for (const auto& n : before.trusted_networks) {
        if (!AnyCovers(after.trusted_networks, n)) narrowed = true;
      }
    }
    compare(widened, narrowed && !widened, "trusted_networks");
  }
  {
    bool dropped = false;
    bool added = false;
    for (const auto& n : before.denied_networks) {
      if (!AnyCovers(after.denied_networks, n)) dropped = true;
    }
    for (const auto& n : after.denied_networks) {
      if (!AnyCovers(before.denied_networks, n)) added = true;
    }
    compare(dropped, added && !dropped, "denied_networks");
  }
  compare(after.anomaly_action<before.anomaly_action, after.anomaly_action> before.anomaly_action,
          "anomaly_action");
  compare(after.max_travel_kmh > before.max_travel_kmh,
          after.max_travel_kmh < before.max_travel_kmh, "max_travel_kmh");
  compare(after.simultaneous_km > before.simultaneous_km,
          after.simultaneous_km < before.simultaneous_km, "simultaneous_km");
  compare(
      after.simultaneous_window_s<before.simultaneous_window_s, after.simultaneous_window_s> before
          .simultaneous_window_s,
      "simultaneous_window_s");
  compare(after.location_disagreement_km > before.location_disagreement_km,
          after.location_disagreement_km < before.location_disagreement_km,
          "location_disagreement_km");
  compare(before.password_reuse_warning && !after.password_reuse_warning,
          !before.password_reuse_warning && after.password_reuse_warning, "password_reuse_warning");
  {
    auto has = [](const std::vector<Party>& v, Party p) {
      return std::find(v.begin(), v.end(), p) != v.end();
    };
    bool removed = false;
    bool added = false;
    for (Party p : {Party::kProvider, Party::kTenant}) {
      if (has(before.change_approvers, p) && !has(after.change_approvers, p)) removed = true;
      if (!has(before.change_approvers, p) && has(after.change_approvers, p)) added = true;
    }
    compare(removed, added && !removed, "change_approvers");
  }
}

}  // namespace vigie::policy
