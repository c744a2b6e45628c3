// The policy engine: one entry point, Evaluate(snapshot, question), that
// every X.1606 control consults. It is pure: the snapshot holds tenants,
// links and policy documents; the question holds the facts the caller
// gathered (addresses, device counts, earlier locations). The service layer
// (service/policy_service.h) keeps the snapshot current and acts on the
// decision.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "policy/document.h"

namespace vigie::policy {

struct TenantInfo {
  std::string tenant_id;
  std::string name;
  bool suspended = false;
};

// Everything the engine knows about the deployment; immutable once built.
class Snapshot {
 public:
  Snapshot(std::map<std::string, TenantInfo> tenants,
           std::set<std::pair<std::string, std::string>> links, PolicyDocument server_doc,
           std::map<std::string, PolicyDocument> tenant_docs);

  // The effective policy of a tenant (server default for unknown tenants).
  const Policy& For(const std::string& tenant) const;
  const PolicyDocument& server_document() const { return server_doc_; }
  const PolicyDocument* tenant_document(const std::string& tenant) const;
  const TenantInfo* tenant(const std::string& tenant) const;
  const std::map<std::string, TenantInfo>& tenants() const { return tenants_; }
  bool Linked(const std::string& a, const std::string& b) const;
  const std::set<std::pair<std::string, std::string>>& links() const { return links_; }

 private:
  std::map<std::string, TenantInfo> tenants_;
  std::set<std::pair<std::string, std::string>> links_;  // (a, b) with a < b
  PolicyDocument server_doc_;
  std::map<std::string, PolicyDocument> tenant_docs_;
  Policy server_policy_;
  std::map<std::string, Policy> policies_;
};

// C4 + X-AC-3: may a client at `ip` use an account of `tenant`? Asked at
// login and on every authenticated request.
struct AccessQuestion {
  std::string tenant;
  std::string ip;
};

// C4: may a user of `from_tenant` reach something of `to_tenant` (a user
// to invite or look up, a room to join, a file to fetch)?
struct ContactQuestion {
  std::string from_tenant;
  std::string to_tenant;
};

// X-IM-1 / X-IM-2: a login creates a new device for a user who already
// has `devices` devices.
struct NewDeviceQuestion {
  std::string tenant;
  std::int64_t devices = 0;
  bool has_active_primary = false;
};

struct Fix {
  double lat = 0;
  double lon = 0;
  std::int64_t ts = 0;  // ms
  std::string device_id;
};

// X-AC-1 / X-AC-2: where a login or request comes from, against where the
// user's sessions were seen before.
struct LocationQuestion {
  std::string tenant;
  std::string device_id;
  std::int64_t now = 0;         // ms
  std::optional<Fix> ip_fix;    // from GeoIP
  std::optional<Fix> reported;  // from the client
  bool anonymizer = false;      // GeoIP says proxy/VPN/relay
  std::vector<Fix> recent;      // the user's earlier fixes, any device
};

// X-IM-5: should a new password be compared with the person's other accounts?
struct PasswordQuestion {
  std::string tenant;
};

// X-OR-1: a proposed change. `scope` is a tenant id or "*" (server default).
struct ChangeQuestion {
  enum class Kind { kPolicy, kLink, kUnlink };
  Kind kind = Kind::kPolicy;
  std::string scope;
  PolicyDocument document;   // kPolicy: the scope's new document (replaces the old)
  std::string other_tenant;  // kLink / kUnlink
};

using Question = std::variant<AccessQuestion, ContactQuestion, NewDeviceQuestion, LocationQuestion,
                              PasswordQuestion, ChangeQuestion>;

struct Decision {
  enum class Verdict { kAllow, kDeny, kStepUp, kNeedsApproval };
  Verdict verdict = Verdict::kAllow;
  std::string requirement;  // the X.1606 id that decided, e.g. "X-AC-3"
  std::string reason;       // for the user or the admin
  // NewDeviceQuestion
  bool evict_oldest = false;  // X-IM-1: make room by removing the oldest non-primary device
  bool pending = false;       // X-IM-2: the device waits for the primary's approval
  bool primary = false;       // X-IM-2: the device becomes the primary
  // LocationQuestion
  std::vector<std::string> signals;  // impossible_travel, simultaneous_distant_use, ...
  bool notify = false;               // tell the user's other devices (X-IM-3)
  // PasswordQuestion
  bool check = false;
  // ChangeQuestion
  std::vector<std::string> weakens;
  std::vector<std::string> strengthens;
  std::vector<std::string> approvers;  // "provider", "tenant:<id>"

  bool allowed() const { return verdict == Verdict::kAllow; }
};

Decision Evaluate(const Snapshot& s, const Question& q);

// Great-circle distance in km.
double DistanceKm(double lat1, double lon1, double lat2, double lon2);

// X-OR-1: how `after` differs from `before` in security terms.
void Assess(const Policy& before, const Policy& after, std::vector<std::string>& weakens,
            std::vector<std::string>& strengthens);

}  // namespace vigie::policy
