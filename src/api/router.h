// Routes: method + path pattern ("/_matrix/client/v3/devices/{deviceId}")
// to a handler, with what the route needs (authentication, rate class).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "http/message.h"
#include "service/auth_service.h"

namespace vigie::api {

enum class AuthMode { kNone, kRequired, kOptional };

struct RequestContext {
  http::Request& req;
  std::vector<std::string> params;  // percent-decoded path parameters, in order
  std::optional<service::Requester> who;
  boost::json::object body;  // the JSON body (empty object when there is none)

  // The authenticated requester (only on routes with AuthMode::kRequired).
  const service::Requester& requester() const { return *who; }
};

using RouteHandler = std::function<boost::asio::awaitable<http::Response>(RequestContext&)>;

struct RouteOptions {
  AuthMode auth = AuthMode::kRequired;
  bool json_body = true;       // parse the body as a JSON object (POST/PUT)
  bool login_rate = false;     // also counts against the login/registration limit
  bool allow_pending = false;  // X-IM-2: a device awaiting approval may call it
};

struct Route {
  std::string method;
  std::string pattern;
  std::vector<std::string> segments;  // "{x}" marks a parameter
  RouteHandler handler;
  RouteOptions options;
};

class Router {
 public:
  void Add(std::string method, std::string pattern, RouteHandler handler,
           RouteOptions options = {});

  struct Match {
    const Route* route = nullptr;  // null: no route
    bool wrong_method = false;     // the path exists with another method
    bool bad_param = false;        // the route matched but a parameter did not decode
    std::vector<std::string> params;
  };
  // `path` is percent-encoded; parameters are decoded. A parameter with a
  // malformed escape does not match.
  Match Find(std::string_view method, std::string_view path) const;

 private:
  std::vector<Route> routes_;
};

}  // namespace vigie::api
