// Accounts: registration, login, logout, passwords, deactivation.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>
#include <optional>
#include <string>

#include "service/auth_service.h"
#include "service/context.h"
#include "service/uia_service.h"
#include "storage/account_store.h"

namespace vigie::service {

struct Session {
  std::string user_id;
  std::string device_id;
  std::optional<std::string> access_token;  // absent with inhibit_login
};

struct RegisterRequest {
  std::optional<std::string> username;
  std::optional<std::string> password;
  std::optional<std::string> device_id;
  std::optional<std::string> initial_device_display_name;
  bool inhibit_login = false;
  const boost::json::object* auth = nullptr;
  std::string ip;
};

struct LoginRequest {
  std::string user;  // localpart or full user id
  std::string password;
  std::optional<std::string> device_id;
  std::optional<std::string> initial_device_display_name;
  std::string ip;
  std::string user_agent;
};

class AccountService {
 public:
  AccountService(ServiceContext& ctx, AuthService& auth, UiaService& uia)
      : ctx_(ctx), auth_(auth), uia_(uia) {}

  // Throws M_INVALID_USERNAME or M_USER_IN_USE; returns normally if free.
  boost::asio::awaitable<void> CheckUsernameAvailable(const std::string& localpart);
  // POST /register, including its user-interactive authentication.
  boost::asio::awaitable<Session> Register(RegisterRequest req);
  // Creates an account directly (CLI, admin API). Throws M_USER_IN_USE.
  boost::asio::awaitable<std::string> CreateUser(const std::string& localpart,
                                                 const std::string& password, bool admin,
                                                 const std::string& actor);
  boost::asio::awaitable<Session> Login(LoginRequest req);
  boost::asio::awaitable<void> Logout(const Requester& who);
  boost::asio::awaitable<void> LogoutAll(const Requester& who);
  // Requires UIA (m.login.password). With logout_devices, every other
  // device is deleted.
  boost::asio::awaitable<void> ChangePassword(const Requester& who, const boost::json::object* auth,
                                              const std::string& new_password, bool logout_devices);
  // Requires UIA. Removes every device and token, the password, and with
  // `erase` the profile.
  boost::asio::awaitable<void> Deactivate(const Requester& who, const boost::json::object* auth,
                                          bool erase);
  // Deactivation without UIA, for server admins.
  boost::asio::awaitable<void> DeactivateUser(const std::string& user_id, bool erase,
                                              const std::string& actor);

  // Registration tokens (CLI/admin).
  boost::asio::awaitable<std::string> CreateRegistrationToken(std::optional<std::int64_t> uses,
                                                              std::optional<std::int64_t> expiry,
                                                              const std::string& actor);
  boost::asio::awaitable<bool> RegistrationTokenValid(const std::string& token);

  void CheckPasswordStrength(const std::string& password) const;

 private:
  ServiceContext& ctx_;
  AuthService& auth_;
  UiaService& uia_;
};

// Appends an audit entry in `tx` (details: a JSON object).
void Audit(sql::Tx& tx, std::string_view actor, std::optional<std::string> tenant,
           std::string_view action, std::optional<std::string> target,
           const boost::json::object& details = {});

}  // namespace vigie::service
