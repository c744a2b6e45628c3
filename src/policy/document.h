// Policy documents (X.1606 "policy": a per-tenant setting with a server
// default). A document is partial: a tenant's document overrides the
// server's, which overrides the built-in defaults, field by field. The
// result is a complete `Policy`.
#pragma once

#include <boost/json/object.hpp>
#include <optional>
#include <string>
#include <vector>

#include "policy/cidr.h"

namespace vigie::policy {

enum class DeviceLimitAction { kRefuse, kEvictOldest };
// Ordered from weakest to strongest.
enum class AnomalyAction { kOff, kNotify, kStepUp, kBlock };
enum class Party { kProvider, kTenant };

const char* ToString(DeviceLimitAction a);
const char* ToString(AnomalyAction a);
const char* ToString(Party p);

// Every field optional: absent means "inherit".
struct PolicyDocument {
  std::optional<std::int64_t> max_devices;  // X-IM-1; 0 = no limit
  std::optional<DeviceLimitAction> device_limit_action;
  std::optional<bool> require_primary_approval;        // X-IM-2
  std::optional<std::vector<Cidr>> trusted_networks;   // X-AC-3; empty = anywhere
  std::optional<std::vector<Cidr>> denied_networks;    // X-AC-3: relays, VPN chains
  std::optional<AnomalyAction> anomaly_action;         // X-AC-1
  std::optional<double> max_travel_kmh;                // X-AC-1 impossible travel
  std::optional<double> simultaneous_km;               // X-AC-1 simultaneous distant use
  std::optional<std::int64_t> simultaneous_window_s;   // X-AC-1
  std::optional<double> location_disagreement_km;      // X-AC-2 GeoIP vs reported
  std::optional<bool> password_reuse_warning;          // X-IM-5
  std::optional<std::vector<Party>> change_approvers;  // X-OR-1

  // Throws Error(M_BAD_JSON / M_INVALID_PARAM) naming the field; unknown
  // fields are refused so that a typo cannot silently weaken a policy.
  static PolicyDocument FromJson(const boost::json::object& o);
  boost::json::object ToJson() const;
  // `over` wins field by field.
  static PolicyDocument Merge(const PolicyDocument& base, const PolicyDocument& over);
};

// A complete policy: what the controls read.
struct Policy {
  std::int64_t max_devices = 10;
  DeviceLimitAction device_limit_action = DeviceLimitAction::kRefuse;
  bool require_primary_approval = false;
  std::vector<Cidr> trusted_networks;
  std::vector<Cidr> denied_networks;
  AnomalyAction anomaly_action = AnomalyAction::kNotify;
  double max_travel_kmh = 1000;
  double simultaneous_km = 500;
  std::int64_t simultaneous_window_s = 600;
  double location_disagreement_km = 500;
  bool password_reuse_warning = true;
  std::vector<Party> change_approvers = {Party::kProvider, Party::kTenant};

  // Built-in defaults overridden by `doc`.
  static Policy Resolve(const PolicyDocument& doc);
  boost::json::object ToJson() const;
};

}  // namespace vigie::policy
