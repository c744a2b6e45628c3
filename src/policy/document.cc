#include "policy/document.h"

#include <cmath>
#include <stdexcept>

#include "common/error.h"

namespace vigie::policy {
namespace {

template <typename E, std::size_t N>
E ParseEnum(const boost::json::value& v, const char* field, const char* const (&names)[N]) {
  if (!v.is_string()) throw BadJson(std::string(field) + " must be a string");
  std::string_view s = v.get_string();
  for (std::size_t i = 0; i < N; ++i) {
    if (s == names[i]) return static_cast<E>(i);
  }
  throw InvalidParam(std::string(field) + " has an unknown value");
}

constexpr const char* kLimitActions[] = {"refuse", "evict_oldest"};
constexpr const char* kAnomalyActions[] = {"off", "notify", "step_up", "block"};
constexpr const char* kParties[] = {"provider", "tenant"};

std::int64_t NonNegativeInt(const boost::json::value& v, const char* field, std::int64_t max) {
  if (!v.is_int64() && !v.is_uint64()) throw BadJson(std::string(field) + " must be an integer");
  if (v.is_uint64() && v.get_uint64() > static_cast<std::uint64_t>(max)) {
    throw InvalidParam(std::string(field) + " is out of range");
  }
  std::int64_t i = v.is_int64() ? v.get_int64() : static_cast<std::int64_t>(v.get_uint64());
  if (i < 0 || i > max) throw InvalidParam(std::string(field) + " is out of range");
  return i;
}

double PositiveNumber(const boost::json::value& v, const char* field) {
  if (!v.is_number()) throw BadJson(std::string(field) + " must be a number");
  double d = v.to_number<double>();
  if (!std::isfinite(d) || d <= 0 || d > 1e9) {
    throw InvalidParam(std::string(field) + " is out of range");
  }
  return d;
}

bool Bool(const boost::json::value& v, const char* field) {
  if (!v.is_bool()) throw BadJson(std::string(field) + " must be a boolean");
  return v.get_bool();
}

std::vector<Cidr> Networks(const boost::json::value& v, const char* field) {
  if (!v.is_array()) throw BadJson(std::string(field) + " must be an array of CIDR strings");
  const auto& a = v.get_array();
  if (a.size() > 1000) throw InvalidParam(std::string(field) + " has too many entries");
  std::vector<Cidr> out;
  for (const auto& e : a) {
    if (!e.is_string()) throw BadJson(std::string(field) + " must be an array of CIDR strings");
    try {
      out.push_back(Cidr::Parse(e.get_string()));
    } catch (const std::invalid_argument& ex) {
      throw InvalidParam(std::string(field) + ": " + ex.what());
    }
  }
  return out;
}

boost::json::array NetworksJson(const std::vector<Cidr>& v) {
  boost::json::array a;
  for (const auto& c : v) a.emplace_back(c.text());
  return a;
}

boost::json::array PartiesJson(const std::vector<Party>& v) {
  boost::json::array a;
  for (auto p : v) a.emplace_back(ToString(p));
  return a;
}

template <typename T>
void Take(std::optional<T>& out, const std::optional<T>& over) {
  if (over) out = over;
}

}  // namespace

const char* ToString(DeviceLimitAction a) { return kLimitActions[static_cast<int>(a)]; }
const char* ToString(AnomalyAction a) { return kAnomalyActions[static_cast<int>(a)]; }
const char* ToString(Party p) { return kParties[static_cast<int>(p)]; }

PolicyDocument PolicyDocument::FromJson(const boost::json::object& o) {
  PolicyDocument d;
  for (const auto& [key, v] : o) {
    if (v.is_null()) continue;  // explicit null: inherit
    if (key == "max_devices") {
      d.max_devices = NonNegativeInt(v, "max_devices", 10000);
    } else if (key == "device_limit_action") {
      d.device_limit_action = ParseEnum<DeviceLimitAction>(v, "device_limit_action", kLimitActions);
    } else if (key == "require_primary_approval") {
      d.require_primary_approval = Bool(v, "require_primary_approval");
    } else if (key == "trusted_networks") {
      d.trusted_networks = Networks(v, "trusted_networks");
    } else if (key == "denied_networks") {
      d.denied_networks = Networks(v, "denied_networks");
    } else if (key == "anomaly_action") {
      d.anomaly_action = ParseEnum<AnomalyAction>(v, "anomaly_action", kAnomalyActions);
    } else if (key == "max_travel_kmh") {
      d.max_travel_kmh = PositiveNumber(v, "max_travel_kmh");
    } else if (key == "simultaneous_km") {
      d.simultaneous_km = PositiveNumber(v, "simultaneous_km");
    } else if (key == "simultaneous_window_s") {
      d.simultaneous_window_s = NonNegativeInt(v, "simultaneous_window_s", 86400 * 30);
    } else if (key == "location_disagreement_km") {
      d.location_disagreement_km = PositiveNumber(v, "location_disagreement_km");
    } else if (key == "password_reuse_warning") {
      d.password_reuse_warning = Bool(v, "password_reuse_warning");
    } else if (key == "change_approvers") {
      if (!v.is_array()) throw BadJson("change_approvers must be an array");
      std::vector<Party> parties;
      for (const auto& e : v.get_array()) {
        Party p = ParseEnum<Party>(e, "change_approvers", kParties);
        if (std::find(parties.begin(), parties.end(), p) == parties.end()) parties.push_back(p);
      }
      if (parties.empty()) throw InvalidParam("change_approvers must name at least one party");
      d.change_approvers = parties;
    } else {
      throw InvalidParam("Unknown policy field '" + std::string(key.substr(0, 64)) + "'");
    }
  }
  return d;
}

boost::json::object PolicyDocument::ToJson() const {
  boost::json::object o;
  if (max_devices) o["max_devices"] = *max_devices;
  if (device_limit_action) o["device_limit_action"] = ToString(*device_limit_action);
  if (require_primary_approval) o["require_primary_approval"] = *require_primary_approval;
  if (trusted_networks) o["trusted_networks"] = NetworksJson(*trusted_networks);
  if (denied_networks) o["denied_networks"] = NetworksJson(*denied_networks);
  if (anomaly_action) o["anomaly_action"] = ToString(*anomaly_action);
  if (max_travel_kmh) o["max_travel_kmh"] = *max_travel_kmh;
  if (simultaneous_km) o["simultaneous_km"] = *simultaneous_km;
  if (simultaneous_window_s) o["simultaneous_window_s"] = *simultaneous_window_s;
  if (location_disagreement_km) o["location_disagreement_km"] = *location_disagreement_km;
  if (password_reuse_warning) o["password_reuse_warning"] = *password_reuse_warning;
  if (change_approvers) o["change_approvers"] = PartiesJson(*change_approvers);
  return o;
}

PolicyDocument PolicyDocument::Merge(const PolicyDocument& base, const PolicyDocument& over) {
  PolicyDocument d = base;
  Take(d.max_devices, over.max_devices);
  Take(d.device_limit_action, over.device_limit_action);
  Take(d.require_primary_approval, over.require_primary_approval);
  Take(d.trusted_networks, over.trusted_networks);
  Take(d.denied_networks, over.denied_networks);
  Take(d.anomaly_action, over.anomaly_action);
  Take(d.max_travel_kmh, over.max_travel_kmh);
  Take(d.simultaneous_km, over.simultaneous_km);
  Take(d.simultaneous_window_s, over.simultaneous_window_s);
  Take(d.location_disagreement_km, over.location_disagreement_km);
  Take(d.password_reuse_warning, over.password_reuse_warning);
  Take(d.change_approvers, over.change_approvers);
  return d;
}

Policy Policy::Resolve(const PolicyDocument& doc) {
  Policy p;
  p.max_devices = doc.max_devices.value_or(p.max_devices);
  p.device_limit_action = doc.device_limit_action.value_or(p.device_limit_action);
  p.require_primary_approval = doc.require_primary_approval.value_or(p.require_primary_approval);
  p.trusted_networks = doc.trusted_networks.value_or(p.trusted_networks);
  p.denied_networks = doc.denied_networks.value_or(p.denied_networks);
  p.anomaly_action = doc.anomaly_action.value_or(p.anomaly_action);
  p.max_travel_kmh = doc.max_travel_kmh.value_or(p.max_travel_kmh);
  p.simultaneous_km = doc.simultaneous_km.value_or(p.simultaneous_km);
  p.simultaneous_window_s = doc.simultaneous_window_s.value_or(p.simultaneous_window_s);
  p.location_disagreement_km = doc.location_disagreement_km.value_or(p.location_disagreement_km);
  p.password_reuse_warning = doc.password_reuse_warning.value_or(p.password_reuse_warning);
  p.change_approvers = doc.change_approvers.value_or(p.change_approvers);
  return p;
}

boost::json::object Policy::ToJson() const {
  return {{"max_devices", max_devices},
          {"device_limit_action", ToString(device_limit_action)},
          {"require_primary_approval", require_primary_approval},
          {"trusted_networks", NetworksJson(trusted_networks)},
          {"denied_networks", NetworksJson(denied_networks)},
          {"anomaly_action", ToString(anomaly_action)},
          {"max_travel_kmh", max_travel_kmh},
          {"simultaneous_km", simultaneous_km},
          {"simultaneous_window_s", simultaneous_window_s},
          {"location_disagreement_km", location_disagreement_km},
          {"password_reuse_warning", password_reuse_warning},
          {"change_approvers", PartiesJson(change_approvers)}};
}

}  // namespace vigie::policy
