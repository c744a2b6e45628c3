// User administration behind the Synapse-compatible admin API, scoped by the
// caller's X.1606 role:
//   * a provider admin (users.is_admin) manages every user;
//   * a tenant admin (users.tenant_admin) manages the users of its own
//     tenant only: a user of another tenant is to it as if absent
//     (M_NOT_FOUND), and it cannot change a provider admin's account, grant
//     provider admin, move users between tenants or link accounts across
//     tenants (M_FORBIDDEN);
//   * anyone else gets M_FORBIDDEN "You are not a server admin".
// User ids must be local (M_INVALID_PARAM otherwise). Every change is
// audited ("admin.*", actor = the caller) in the transaction that makes it,
// and cached tokens of the target are dropped once it has committed.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <optional>
#include <string>
#include <vector>

#include "service/account_service.h"
#include "service/auth_service.h"
#include "service/context.h"
#include "service/stream.h"
#include "storage/account_store.h"

namespace vigie::service {

struct AdminUserView {
  storage::UserRecord user;
  storage::ProfileRecord profile;
  std::int64_t device_count = 0;  // filled by GetUser and PutUser only
};

struct AdminUserQuery {
  std::int64_t from = 0;               // >= 0
  std::int64_t limit = 100;            // 1..1000
  std::optional<std::string> name;     // contained in the localpart or display name
  std::optional<std::string> user_id;  // contained in the user id
  bool include_deactivated = false;
};

struct AdminUserPage {
  std::vector<AdminUserView> users;
  std::int64_t total = 0;  // users matching the query, all pages
};

// PUT semantics: absent fields keep their value (or their default when the
// user is created).
struct AdminUserChanges {
  std::optional<std::string> password;
  bool logout_devices = true;  // with a new password, delete every device
  std::optional<std::string> displayname;
  std::optional<std::string> avatar_url;
  std::optional<bool> admin;
  std::optional<bool> deactivated;  // false re-activates, with a password
  std::optional<std::string> tenant;
  std::optional<bool> tenant_admin;
  std::optional<std::optional<std::string>> person_id;  // an empty inner value clears it
};

struct AdminPutResult {
  AdminUserView user;  // as it is after the change
  bool created = false;
  std::optional<PasswordWarning> warning;  // X-IM-5: the password is used by the person elsewhere
};

class AdminService {
 public:
  AdminService(ServiceContext& ctx, AuthService& auth, AccountService& accounts, Stream& stream)
      : ctx_(ctx), auth_(auth), accounts_(accounts), stream_(stream) {}

  // Users the caller may see (a tenant admin: its tenant's), by user id.
  boost::asio::awaitable<AdminUserPage> ListUsers(const Requester& who, AdminUserQuery q);
  boost::asio::awaitable<AdminUserView> GetUser(const Requester& who, const std::string& user_id);
  // Creates the user (in the caller's tenant for a tenant admin, else in
  // `tenant` or "default") or modifies it. Throws M_INVALID_USERNAME for a
  // localpart vigie would not create, M_USER_IN_USE when the id belongs to
  // a user the caller may not see, M_INVALID_PARAM for an unknown tenant.
  boost::asio::awaitable<AdminPutResult> PutUser(const Requester& who, const std::string& user_id,
                                                 AdminUserChanges changes);
  // Deletes every device and token and the password; with `erase`, the
  // profile too. Idempotent.
  boost::asio::awaitable<void> DeactivateUser(const Requester& who, const std::string& user_id,
                                              bool erase);
  boost::asio::awaitable<void> ResetPassword(const Requester& who, const std::string& user_id,
                                             const std::string& new_password, bool logout_devices);
  boost::asio::awaitable<std::vector<std::string>> JoinedRooms(const Requester& who,
                                                               const std::string& user_id);

  boost::asio::awaitable<std::vector<storage::DeviceRecord>> ListDevices(
      const Requester& who, const std::string& user_id);
  // Throws M_NOT_FOUND if the user has no such device.
  boost::asio::awaitable<storage::DeviceRecord> GetDevice(const Requester& who,
                                                          const std::string& user_id,
                                                          const std::string& device_id);
  // Deletes the device with its tokens, keys and to-device inbox, as a
  // device-list change. Throws M_NOT_FOUND if the user has no such device.
  boost::asio::awaitable<void> DeleteDevice(const Requester& who, const std::string& user_id,
                                            const std::string& device_id);
  // The same for several devices (at most 1000); ids the user does not
  // have are ignored.
  boost::asio::awaitable<void> DeleteDevices(const Requester& who, const std::string& user_id,
                                             const std::vector<std::string>& device_ids);

  // The user's devices with where and when they were last seen. Unlike the
  // rest, a user may also ask about themself.
  boost::asio::awaitable<std::vector<storage::DeviceRecord>> Whois(const Requester& who,
                                                                   const std::string& user_id);

 private:
  // Throws M_INVALID_PARAM unless `user_id` is a well-formed local user id.
  void RequireLocalUserId(const std::string& user_id) const;
  boost::asio::awaitable<std::size_t> DeleteDevicesOf(const Requester& who,
                                                      const std::string& user_id,
                                                      const std::vector<std::string>& device_ids);

  ServiceContext& ctx_;
  AuthService& auth_;
  AccountService& accounts_;
  Stream& stream_;
};

}  // namespace vigie::service
