// User-interactive authentication (spec: client-server API, "User-Interactive
// Authentication API"). One mechanism for every endpoint that needs it.
// Sessions live in memory for 15 minutes and are bound to one operation
// and, for re-authentication, to one user.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "service/context.h"

namespace vigie::service {

inline constexpr const char* kStageDummy = "m.login.dummy";
inline constexpr const char* kStagePassword = "m.login.password";
inline constexpr const char* kStageRegistrationToken = "m.login.registration_token";

struct UiaSpec {
  std::string operation;                        // e.g. "POST /delete_devices"
  std::vector<std::vector<std::string>> flows;  // each a list of stages
  // For m.login.password: the user who must prove their password.
  std::optional<std::string> user_id;
};

struct UiaResult {
  std::string session;
  std::optional<std::string> registration_token;  // the token a registration used
};

class UiaService {
 public:
  explicit UiaService(ServiceContext& ctx) : ctx_(ctx) {}

  // Processes the stage in `auth` (nullptr: none) and returns once the
  // session has completed one of spec.flows. Otherwise throws
  // Error(kUiaRequired) whose extra() is the 401 body (flows, params,
  // session, completed, and errcode/error when a stage failed).
  boost::asio::awaitable<UiaResult> Require(const UiaSpec& spec, const boost::json::object* auth);

 private:
  struct Session {
    std::string operation;
    std::optional<std::string> user_id;
    std::set<std::string> completed;
    std::optional<std::string> registration_token;
    std::int64_t created_ms = 0;
  };
  [[noreturn]] void Challenge(const UiaSpec& spec, const std::string& session_id, const Session& s,
                              const char* errcode, std::string error);
  boost::asio::awaitable<bool> CheckPassword(const UiaSpec& spec, const boost::json::object& auth,
                                             std::string* why);
  boost::asio::awaitable<bool> CheckRegistrationToken(const std::string& token);

  ServiceContext& ctx_;
  std::mutex mu_;
  std::unordered_map<std::string, Session> sessions_;  // guarded by mu_
};

}  // namespace vigie::service
