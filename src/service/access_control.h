// Location anomaly checks (X.1606 X-AC-1, X-AC-2): where each login and
// request comes from (IP with GeoIP when configured, the client's reported
// location and network type), recorded per session and judged by the
// policy engine against the user's recent sessions: impossible travel,
// simultaneous use from distant places, GeoIP disagreeing with the
// client, anonymising networks. The tenant's policy picks the action:
// notify, step-up (the device must be approved again from the primary), or
// block. Every anomaly is audited and the user is told (X-IM-3).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "policy/client_report.h"
#include "policy/engine.h"
#include "service/auth_service.h"
#include "service/context.h"
#include "service/geoip.h"

namespace vigie::service {

class PolicyService;
class ServerNoticeService;

// What the client reports about itself (X-AC-2).
using ClientContext = policy::ClientReport;

class AccessControlService {
 public:
  AccessControlService(ServiceContext& ctx, PolicyService& policy, ServerNoticeService& notices,
                       AuthService& auth);

  // X-AC-1/2 at login, before the session exists. Records the origin and
  // returns the engine's decision: the caller refuses the login on kDeny
  // and makes the new device pending on kStepUp.
  boost::asio::awaitable<policy::Decision> CheckLogin(const std::string& user_id,
                                                      const std::string& tenant,
                                                      const std::string& device_id,
                                                      const std::string& ip,
                                                      const ClientContext& client);

  // X-AC-1/2 on an authenticated request. Cheap (one map lookup) unless the
  // session's address or reported location changed or it was last checked
  // over kRecheckMs ago. On step-up the device goes back to pending (the
  // primary itself is logged out softly, to re-enter its password); on
  // block the session's tokens are revoked. Both throw the matching error.
  boost::asio::awaitable<void> CheckRequest(const Requester& who, const std::string& ip,
                                            const ClientContext& client);

  // Tells the user about an anomaly (after the decision was acted on).
  boost::asio::awaitable<void> Notify(const std::string& user_id, const std::string& device_id,
                                      const std::string& ip, const policy::Decision& d);

  const GeoIp& geoip() const { return geoip_; }

 private:
  boost::asio::awaitable<policy::Decision> Observe(
      const std::string& user_id, const std::string& tenant, const std::string& device_id,
      const std::string& ip, const ClientContext& client, const std::string& kind);
  struct Seen {
    std::string key;  // ip + reported location
    std::int64_t ts = 0;
  };
  ServiceContext& ctx_;
  PolicyService& policy_;
  ServerNoticeService& notices_;
  AuthService& auth_;
  GeoIp geoip_;
  std::mutex mu_;
  std::unordered_map<std::string, Seen> seen_;  // token hash -> last check; guarded by mu_
};

}  // namespace vigie::service
