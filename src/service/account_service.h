// Accounts: registration, login, logout, passwords, deactivation.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>
#include <optional>
#include <string>

#include "service/access_control.h"
#include "service/auth_service.h"
#include "service/context.h"
#include "service/policy_service.h"
#include "service/stream.h"
#include "service/uia_service.h"
#include "storage/account_store.h"

namespace vigie::service {

class ServerNoticeService;

// Deletes the user's devices (tokens, keys, inboxes with them); returns how
// many. A deletion is a device-list change. Call inside a Stream::Submit write.
std::size_t DeleteAllDevices(sql::Tx& tx, const std::string& user_id, const Stream::NextPos& next,
                             Stream::Effects& fx);

// What deactivation does to a user: no device, token, password or key
// backup left; with `erase`, no profile either. Call inside a Stream::Submit write;
// the caller audits.
void DeactivateInTx(sql::Tx& tx, const std::string& user_id, bool erase,
                    const Stream::NextPos& next, Stream::Effects& fx);

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

// X-IM-5: the new password is one the same person (users.person_id)
// already uses for an account in another tenant. A warning, not a refusal.
struct PasswordWarning {
  std::string requirement;  // "X-IM-5"
  std::string message;      // for the user
};

struct PasswordChangeResult {
  std::optional<PasswordWarning> warning;
};

// The tenant that accounts join unless told otherwise (C4); it always exists.
inline constexpr const char* kDefaultTenant = "default";

// Where CreateUser puts the account (C4, X-IM-5).
struct NewAccountOptions {
  std::string tenant = kDefaultTenant;   // must exist
  std::optional<std::string> person_id;  // links the person's accounts across tenants
};

struct CreatedUser {
  std::string user_id;
  std::optional<PasswordWarning> warning;
};

struct LoginRequest {
  std::string user;  // localpart or full user id
  std::string password;
  std::optional<std::string> device_id;
  std::optional<std::string> initial_device_display_name;
  std::string ip;
  std::string user_agent;
  ClientContext client;  // X-AC-2: what the client reports about where it is
};

class AccountService {
 public:
  AccountService(ServiceContext& ctx, AuthService& auth, UiaService& uia, PolicyService& policy,
                 ServerNoticeService& notices, Stream& stream, AccessControlService& access)
      : ctx_(ctx),
        auth_(auth),
        uia_(uia),
        policy_(policy),
        notices_(notices),
        stream_(stream),
        access_(access) {}

  // Throws M_INVALID_USERNAME or M_USER_IN_USE; returns normally if free.
  boost::asio::awaitable<void> CheckUsernameAvailable(const std::string& localpart);
  // POST /register, including its user-interactive authentication.
  boost::asio::awaitable<Session> Register(RegisterRequest req);
  // Creates an account directly (CLI, admin API). Throws M_USER_IN_USE,
  // M_INVALID_PARAM for an unknown tenant. With a person_id, the password
  // is checked for reuse (X-IM-5, see ChangePassword).
  boost::asio::awaitable<CreatedUser> CreateUser(const std::string& localpart,
                                                 const std::string& password, bool admin,
                                                 const std::string& actor,
                                                 NewAccountOptions options = {});
  boost::asio::awaitable<Session> Login(LoginRequest req);
  boost::asio::awaitable<void> Logout(const Requester& who);
  boost::asio::awaitable<void> LogoutAll(const Requester& who);
  // Requires UIA (m.login.password). With logout_devices, every other
  // device is deleted. X-IM-5: when the user's tenant policy asks and the
  // user has a person_id, the new password is verified against the stored
  // Argon2id hashes of the person's accounts in other tenants (at most
  // kMaxReuseChecks); a match is not refused but returned as a warning,
  // sent to the user as a server notice and audited ("password.reuse",
  // without password material).
  boost::asio::awaitable<PasswordChangeResult> ChangePassword(const Requester& who,
                                                              const boost::json::object* auth,
                                                              const std::string& new_password,
                                                              bool logout_devices);
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

  // Other accounts of a person whose hashes one password change verifies
  // (each an Argon2id run).
  static constexpr std::size_t kMaxReuseChecks = 8;

  // X-IM-5 for `user_id`, whose password was just set to `password`: the
  // warning (also sent as a server notice and audited as "password.reuse"
  // by `actor`) or nullopt. Public so that other paths that set a password
  // (the admin API) can call it after their transaction commits.
  boost::asio::awaitable<std::optional<PasswordWarning>> CheckPasswordReuse(
      const std::string& user_id, const std::string& password, const std::string& actor);

 private:
  ServiceContext& ctx_;
  AuthService& auth_;
  UiaService& uia_;
  PolicyService& policy_;
  ServerNoticeService& notices_;
  Stream& stream_;
  AccessControlService& access_;
};

// Appends an audit entry in `tx` (details: a JSON object).
void Audit(sql::Tx& tx, std::string_view actor, std::optional<std::string> tenant,
           std::string_view action, std::optional<std::string> target,
           const boost::json::object& details = {});

}  // namespace vigie::service
