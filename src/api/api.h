// The Matrix API: routes requests to endpoint handlers, applies the
// cross-cutting rules (CORS, authentication, rate limits, body parsing,
// error mapping) in one place.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <string>

#include "api/router.h"
#include "http/server.h"
#include "service/homeserver.h"

namespace vigie::api {

class Api {
 public:
  explicit Api(service::Homeserver& hs);

  boost::asio::awaitable<http::Response> Handle(http::Request& req);
  std::size_t BodyLimit(std::string_view method, std::string_view path) const;
  http::Response ProtocolErrorResponse(http::ProtocolError e) const;

  // The metrics listener's handler (GET /metrics).
  boost::asio::awaitable<http::Response> HandleMetrics(http::Request& req);

 private:
  // What Handle keeps, besides the request, to finish its answer.
  struct Exchange {
    std::chrono::steady_clock::time_point start;
    std::string route_name;
  };
  class Parked;

  boost::asio::awaitable<http::Response> Dispatch(http::Request& req, std::string& route_name);
  // Runs `step` (a route, or a parked answer's Finish); what it throws
  // becomes the error's answer (logged when internal).
  static boost::asio::awaitable<http::Response> Guard(boost::asio::awaitable<http::Response> step,
                                                      const std::string& request_id);
  // Adds the common headers, counts and logs the exchange; a pending answer
  // is wrapped to have this done when it comes.
  http::Response Complete(http::Response res, const http::Request& req, Exchange ex);
  service::Homeserver& hs_;
  Router router_;
  std::shared_ptr<const std::string> common_headers_;  // Response::header_lines
};

// Endpoint groups, one file each under api/client/.
void AddVersionRoutes(Router& r, service::Homeserver& hs);
void AddLoginRoutes(Router& r, service::Homeserver& hs);
void AddRegisterRoutes(Router& r, service::Homeserver& hs);
void AddAccountRoutes(Router& r, service::Homeserver& hs);
void AddDeviceRoutes(Router& r, service::Homeserver& hs);
void AddProfileRoutes(Router& r, service::Homeserver& hs);
void AddRoomRoutes(Router& r, service::Homeserver& hs);
void AddSyncRoutes(Router& r, service::Homeserver& hs);
void AddTypingRoutes(Router& r, service::Homeserver& hs);
void AddReceiptRoutes(Router& r, service::Homeserver& hs);
void AddPresenceRoutes(Router& r, service::Homeserver& hs);
void AddAccountDataRoutes(Router& r, service::Homeserver& hs);
void AddPushRuleRoutes(Router& r, service::Homeserver& hs);
void AddHistoryRoutes(Router& r, service::Homeserver& hs);
void AddDirectoryRoutes(Router& r, service::Homeserver& hs);
void AddKeysRoutes(Router& r, service::Homeserver& hs);
void AddRoomKeysRoutes(Router& r, service::Homeserver& hs);
void AddMediaRoutes(Router& r, service::Homeserver& hs);
// X.1606 device controls (api/client/vigie_devices.cc).
void AddVigieDeviceRoutes(Router& r, service::Homeserver& hs);
// Admin APIs, under api/admin/.
void AddVigieAdminRoutes(Router& r, service::Homeserver& hs);
// The Synapse-compatible admin API (api/admin/synapse.cc).
void AddSynapseAdminRoutes(Router& r, service::Homeserver& hs);

}  // namespace vigie::api
