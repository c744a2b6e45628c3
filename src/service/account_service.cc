#include "service/account_service.h"

#include <boost/json/serialize.hpp>

#include "common/crypto.h"
#include "common/error.h"
#include "common/ids.h"
#include "common/offload.h"
#include "common/time.h"
#include "storage/audit_store.h"

namespace vigie::service {

using storage::AccountStore;

void Audit(sql::Tx& tx, std::string_view actor, std::optional<std::string> tenant,
           std::string_view action, std::optional<std::string> target,
           const boost::json::object& details) {
  storage::AuditEntry e;
  e.ts = NowMs();
  e.actor = std::string(actor);
  e.tenant_id = std::move(tenant);
  e.action = std::string(action);
  e.target = std::move(target);
  e.details = boost::json::serialize(details);
  storage::AuditStore::Append(tx, std::move(e));
}

namespace {

constexpr const char* kDefaultTenant = "default";

void ValidateDeviceId(const std::optional<std::string>& d) {
  if (d && (d->empty() || d->size() > 255)) throw InvalidParam("device_id must be 1-255 bytes");
}

void ValidateDisplayName(const std::optional<std::string>& n) {
  if (n && n->size() > 256) throw InvalidParam("Device display name is too long");
}

}  // namespace

void AccountService::CheckPasswordStrength(const std::string& password) const {
  if (password.size() < ctx_.config.min_password_length) {
    throw Error(ErrorCode::kWeakPassword, "Password must be at least " +
                                              std::to_string(ctx_.config.min_password_length) +
                                              " characters");
  }
  if (password.size() > 512) throw Error(ErrorCode::kWeakPassword, "Password is too long");
}

boost::asio::awaitable<void> AccountService::CheckUsernameAvailable(const std::string& localpart) {
  if (!ids::IsValidLocalpart(localpart)) {
    throw Error(ErrorCode::kInvalidUsername,
                "User ID may only contain a-z, 0-9, and the characters . _ = - / +");
  }
  const std::string user_id = ids::MakeUserId(localpart, ctx_.config.server_name);
  if (user_id.size() > ids::kMaxIdBytes) {
    throw Error(ErrorCode::kInvalidUsername, "User ID is too long");
  }
  bool taken = co_await Offload(ctx_.db_pool, [&] {
    return ctx_.db.Read(
        [&](sql::Tx& tx) { return AccountStore::GetUser(tx, user_id).has_value(); });
  });
  if (taken) throw Error(ErrorCode::kUserInUse, "User ID already taken");
}

boost::asio::awaitable<Session> AccountService::Register(RegisterRequest req) {
  const std::string& mode = ctx_.config.registration_mode;
  if (mode == "disabled") throw Forbidden("Registration is disabled on this server");
  ValidateDeviceId(req.device_id);
  ValidateDisplayName(req.initial_device_display_name);
  std::string localpart = req.username.value_or("");
  for (auto& c : localpart) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (req.username) co_await CheckUsernameAvailable(localpart);
  // Password checks come before UIA so that clients learn of a weak
  // password before spending a registration token.
  if (!req.password) throw MissingParam("Missing 'password'");
  CheckPasswordStrength(*req.password);

  UiaSpec spec{"register",
               mode == "token" ? std::vector<std::vector<std::string>>{{kStageRegistrationToken}}
                               : std::vector<std::vector<std::string>>{{kStageDummy}},
               std::nullopt};
  UiaResult uia = co_await uia_.Require(spec, req.auth);

  if (localpart.empty()) localpart = "u" + crypto::RandomAlnum(12);
  for (auto& c : localpart) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const std::string user_id = ids::MakeUserId(localpart, ctx_.config.server_name);
  std::string hash =
      co_await Offload(ctx_.hash_pool, [&] { return ctx_.hasher.Hash(*req.password); });
  const std::string device_id = req.device_id.value_or(ids::NewDeviceId());
  const std::int64_t now = NowMs();
  Session s = co_await Offload(ctx_.db_pool, [&] {
    return ctx_.db.Write([&](sql::Tx& tx) {
      if (uia.registration_token &&
          !AccountStore::UseRegistrationToken(tx, *uia.registration_token, now)) {
        throw Error(ErrorCode::kUnauthorized, "Registration token is no longer valid");
      }
      try {
        AccountStore::CreateUser(tx, {user_id, kDefaultTenant, hash, false, false, now});
      } catch (const sql::UniqueViolation&) {
        throw Error(ErrorCode::kUserInUse, "User ID already taken");
      }
      AccountStore::SetDisplayName(tx, user_id, localpart);
      boost::json::object details{{"via", uia.registration_token ? "registration_token" : mode}};
      Audit(tx, user_id, kDefaultTenant, "user.register", user_id, details);
      Session out{user_id, device_id, std::nullopt};
      if (!req.inhibit_login) {
        storage::DeviceRecord d;
        d.user_id = user_id;
        d.device_id = device_id;
        d.display_name = req.initial_device_display_name;
        d.created_ts = now;
        d.last_seen_ts = now;
        d.last_seen_ip = req.ip;
        AccountStore::UpsertDevice(tx, d);
        out.access_token = AuthService::IssueToken(tx, user_id, device_id);
      }
      return out;
    });
  });
  co_return s;
}

boost::asio::awaitable<std::string> AccountService::CreateUser(const std::string& localpart,
                                                               const std::string& password,
                                                               bool admin,
                                                               const std::string& actor) {
  if (!ids::IsValidLocalpart(localpart)) {
    throw Error(ErrorCode::kInvalidUsername,
                "User ID may only contain a-z, 0-9, and the characters . _ = - / +");
  }
  CheckPasswordStrength(password);
  const std::string user_id = ids::MakeUserId(localpart, ctx_.config.server_name);
  std::string hash = co_await Offload(ctx_.hash_pool, [&] { return ctx_.hasher.Hash(password); });
  co_await Offload(ctx_.db_pool, [&] {
    ctx_.db.Write([&](sql::Tx& tx) {
      try {
        AccountStore::CreateUser(tx, {user_id, kDefaultTenant, hash, admin, false, NowMs()});
      } catch (const sql::UniqueViolation&) {
        throw Error(ErrorCode::kUserInUse, "User ID already taken");
      }
      AccountStore::SetDisplayName(tx, user_id, localpart);
      Audit(tx, actor, kDefaultTenant, "user.create", user_id, {{"admin", admin}});
    });
  });
  co_return user_id;
}

boost::asio::awaitable<Session> AccountService::Login(LoginRequest req) {
  ValidateDeviceId(req.device_id);
  ValidateDisplayName(req.initial_device_display_name);
  std::string user_id =
      req.user.starts_with("@") ? req.user : ids::MakeUserId(req.user, ctx_.config.server_name);
  for (auto& c : user_id) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  auto user = co_await Offload(ctx_.db_pool, [&] {
    return ctx_.db.Read([&](sql::Tx& tx) { return AccountStore::GetUser(tx, user_id); });
  });
  bool ok = co_await Offload(ctx_.hash_pool, [&] {
    if (!user || !user->password_hash) {
      ctx_.hasher.DummyVerify(req.password);
      return false;
    }
    return ctx_.hasher.Verify(*user->password_hash, req.password);
  });
  if (user && user->deactivated) {
    throw Error(ErrorCode::kUserDeactivated, "This account has been deactivated");
  }
  if (!ok) throw Forbidden("Invalid username or password");

  const std::string device_id = req.device_id.value_or(ids::NewDeviceId());
  const std::int64_t now = NowMs();
  std::string token = co_await Offload(ctx_.db_pool, [&] {
    return ctx_.db.Write([&](sql::Tx& tx) {
      auto existing = AccountStore::GetDevice(tx, user_id, device_id);
      if (existing && existing->state == storage::DeviceState::kBanned) {
        throw Forbidden("This device has been banned");
      }
      // Reusing a device id replaces that device's previous token.
      if (existing) AccountStore::DeleteTokensOfDevice(tx, user_id, device_id);
      storage::DeviceRecord d;
      d.user_id = user_id;
      d.device_id = device_id;
      d.display_name = req.initial_device_display_name;
      d.created_ts = now;
      d.last_seen_ts = now;
      d.last_seen_ip = req.ip;
      d.last_seen_user_agent = req.user_agent;
      AccountStore::UpsertDevice(tx, d);
      return AuthService::IssueToken(tx, user_id, device_id);
    });
  });
  auth_.Forget(user_id, device_id);
  co_return Session{user_id, device_id, token};
}

boost::asio::awaitable<void> AccountService::Logout(const Requester& who) {
  co_await Offload(ctx_.db_pool, [&] {
    ctx_.db.Write([&](sql::Tx& tx) { AccountStore::DeleteDevice(tx, who.user_id, who.device_id); });
  });
  auth_.Forget(who.user_id, who.device_id);
}

boost::asio::awaitable<void> AccountService::LogoutAll(const Requester& who) {
  co_await Offload(ctx_.db_pool, [&] {
    ctx_.db.Write([&](sql::Tx& tx) {
      for (const auto& d : AccountStore::ListDevices(tx, who.user_id)) {
        AccountStore::DeleteDevice(tx, who.user_id, d.device_id);
      }
    });
  });
  auth_.Forget(who.user_id);
}

boost::asio::awaitable<void> AccountService::ChangePassword(const Requester& who,
                                                            const boost::json::object* auth,
                                                            const std::string& new_password,
                                                            bool logout_devices) {
  CheckPasswordStrength(new_password);
  UiaSpec spec{"POST /account/password", {{kStagePassword}}, who.user_id};
  co_await uia_.Require(spec, auth);
  std::string hash =
      co_await Offload(ctx_.hash_pool, [&] { return ctx_.hasher.Hash(new_password); });
  co_await Offload(ctx_.db_pool, [&] {
    ctx_.db.Write([&](sql::Tx& tx) {
      AccountStore::SetPasswordHash(tx, who.user_id, hash);
      if (logout_devices) {
        for (const auto& d : AccountStore::ListDevices(tx, who.user_id)) {
          if (d.device_id != who.device_id)
            AccountStore::DeleteDevice(tx, who.user_id, d.device_id);
        }
      }
      Audit(tx, who.user_id, who.tenant_id, "user.password_change", who.user_id,
            {{"logout_devices", logout_devices}});
    });
  });
  if (logout_devices) {
    // The requester's own token stays valid; drop every other cached one.
    auth_.Forget(who.user_id);
  }
}

boost::asio::awaitable<void> AccountService::Deactivate(const Requester& who,
                                                        const boost::json::object* auth,
                                                        bool erase) {
  UiaSpec spec{"POST /account/deactivate", {{kStagePassword}}, who.user_id};
  co_await uia_.Require(spec, auth);
  co_await DeactivateUser(who.user_id, erase, who.user_id);
}

boost::asio::awaitable<void> AccountService::DeactivateUser(const std::string& user_id, bool erase,
                                                            const std::string& actor) {
  co_await Offload(ctx_.db_pool, [&] {
    ctx_.db.Write([&](sql::Tx& tx) {
      auto user = AccountStore::GetUser(tx, user_id);
      if (!user) throw NotFound("Unknown user");
      for (const auto& d : AccountStore::ListDevices(tx, user_id)) {
        AccountStore::DeleteDevice(tx, user_id, d.device_id);
      }
      AccountStore::SetPasswordHash(tx, user_id, std::nullopt);
      AccountStore::SetDeactivated(tx, user_id, true);
      if (erase) {
        AccountStore::SetDisplayName(tx, user_id, std::nullopt);
        AccountStore::SetAvatarUrl(tx, user_id, std::nullopt);
      }
      Audit(tx, actor, user->tenant_id, "user.deactivate", user_id, {{"erase", erase}});
    });
  });
  auth_.Forget(user_id);
}

boost::asio::awaitable<std::string> AccountService::CreateRegistrationToken(
    std::optional<std::int64_t> uses, std::optional<std::int64_t> expiry,
    const std::string& actor) {
  std::string token = crypto::RandomAlnum(24);
  co_await Offload(ctx_.db_pool, [&] {
    ctx_.db.Write([&](sql::Tx& tx) {
      AccountStore::CreateRegistrationToken(tx, {token, uses, 0, 0, expiry}, NowMs());
      boost::json::object details;
      if (uses) details["uses_allowed"] = *uses;
      if (expiry) details["expiry_ts"] = *expiry;
      Audit(tx, actor, std::nullopt, "registration_token.create", std::nullopt, details);
    });
  });
  co_return token;
}

boost::asio::awaitable<bool> AccountService::RegistrationTokenValid(const std::string& token) {
  const std::int64_t now = NowMs();
  co_return co_await Offload(ctx_.db_pool, [&] {
    return ctx_.db.Read(
        [&](sql::Tx& tx) { return AccountStore::RegistrationTokenUsable(tx, token, now); });
  });
}

}  // namespace vigie::service
