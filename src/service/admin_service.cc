#include "service/admin_service.h"

#include "common/error.h"
#include "common/ids.h"
#include "common/offload.h"
#include "common/time.h"
#include "service/account_service.h"
#include "service/keys_service.h"
#include "service/policy_service.h"
#include "storage/admin_store.h"
#include "storage/room_store.h"
#include "storage/tenant_store.h"

namespace vigie::service {

using storage::AccountStore;
using storage::UserRecord;

namespace {

constexpr std::int64_t kMaxLimit = 1000;

bool InScope(const Requester& who, const UserRecord& u) {
  return who.is_admin || (who.tenant_admin && u.tenant_id == who.tenant_id);
}

// The user as `who` may see it: M_NOT_FOUND if absent or out of scope.
UserRecord UserInScope(sql::Tx& tx, const Requester& who, const std::string& user_id) {
  auto u = AccountStore::GetUser(tx, user_id);
  if (!u || !InScope(who, *u)) throw NotFound("User not found");
  return *u;
}

// A tenant admin may look at a provider admin of its tenant, not change it.
void RequireManageable(const Requester& who, const UserRecord& u) {
  if (u.is_admin && !who.is_admin) {
    throw Forbidden("Only a provider admin can manage a provider admin's account");
  }
}

UserRecord ManageableUser(sql::Tx& tx, const Requester& who, const std::string& user_id) {
  UserRecord u = UserInScope(tx, who, user_id);
  RequireManageable(who, u);
  return u;
}

void RequireTenantExists(sql::Tx& tx, const std::string& tenant_id) {
  if (!storage::TenantStore::GetTenant(tx, tenant_id)) {
    throw InvalidParam("Unknown tenant '" + tenant_id + "'");
  }
}

void ValidateProfile(const AdminUserChanges& c) {
  if (c.displayname && c.displayname->size() > 256) throw InvalidParam("displayname is too long");
  if (c.avatar_url && (c.avatar_url->size() > 1000 || !c.avatar_url->starts_with("mxc://"))) {
    throw InvalidParam("avatar_url must be an mxc:// URI");
  }
  if (c.person_id && *c.person_id && ((*c.person_id)->empty() || (*c.person_id)->size() > 255)) {
    throw InvalidParam("io.vigie.person_id must be 1-255 bytes");
  }
  if (c.tenant && (c.tenant->empty() || c.tenant->size() > 255)) {
    throw InvalidParam("io.vigie.tenant must be 1-255 bytes");
  }
}

AdminUserView ViewOf(sql::Tx& tx, const std::string& user_id) {
  AdminUserView v;
  v.user = *AccountStore::GetUser(tx, user_id);
  v.profile = AccountStore::GetProfile(tx, user_id);
  v.device_count = static_cast<std::int64_t>(AccountStore::ListDevices(tx, user_id).size());
  return v;
}

}  // namespace

void AdminService::RequireLocalUserId(const std::string& user_id) const {
  auto id = ids::ParseUserId(user_id);
  if (!id || user_id.size() > ids::kMaxIdBytes || id->server_name != ctx_.config.server_name) {
    throw InvalidParam("Can only manage local users of " + ctx_.config.server_name);
  }
}

boost::asio::awaitable<AdminUserPage> AdminService::ListUsers(const Requester& who,
                                                              AdminUserQuery q) {
  RequireAnyAdmin(who);
  if (q.from < 0) throw InvalidParam("from must not be negative");
  if (q.limit < 1 || q.limit > kMaxLimit) throw InvalidParam("limit must be 1-1000");
  storage::UserFilter f;
  if (!who.is_admin) f.tenant_id = who.tenant_id;
  f.name = q.name;
  f.server_name = ctx_.config.server_name;
  f.user_id = q.user_id;
  f.include_deactivated = q.include_deactivated;
  co_return co_await Offload(ctx_.db_pool, [&] {
    return ctx_.db.Read([&](sql::Tx& tx) {
      AdminUserPage page;
      page.total = storage::AdminStore::CountUsers(tx, f);
      for (auto& u : storage::AdminStore::ListUsers(tx, f, q.from, q.limit)) {
        page.users.push_back({std::move(u.user), std::move(u.profile), 0});
      }
      return page;
    });
  });
}

boost::asio::awaitable<AdminUserView> AdminService::GetUser(const Requester& who,
                                                            const std::string& user_id) {
  RequireAnyAdmin(who);
  RequireLocalUserId(user_id);
  co_return co_await Offload(ctx_.db_pool, [&] {
    return ctx_.db.Read([&](sql::Tx& tx) {
      UserInScope(tx, who, user_id);
      return ViewOf(tx, user_id);
    });
  });
}

boost::asio::awaitable<AdminPutResult> AdminService::PutUser(const Requester& who,
                                                             const std::string& user_id,
                                                             AdminUserChanges c) {
  RequireAnyAdmin(who);
  RequireLocalUserId(user_id);
  ValidateProfile(c);
  if (c.password && c.deactivated.value_or(false)) {
    throw InvalidParam("A deactivated user cannot be given a password");
  }
  if (c.password) accounts_.CheckPasswordStrength(*c.password);
  std::optional<std::string> hash;
  if (c.password) {
    std::string h = co_await Offload(ctx_.hash_pool, [&] { return ctx_.hasher.Hash(*c.password); });
    hash = std::move(h);
  }
  const std::int64_t now = NowMs();
  AdminPutResult result =
      co_await stream_.Submit([&](sql::Tx& tx, const Stream::NextPos& next, Stream::Effects& fx) {
        boost::json::object details;
        auto existing = AccountStore::GetUser(tx, user_id);
        if (existing && !InScope(who, *existing)) {
          // Ids are global: it cannot be created in the caller's tenant.
          throw Error(ErrorCode::kUserInUse, "User ID already taken");
        }
        const bool creating = !existing;
        if (creating) {
          const std::string localpart = ids::ParseUserId(user_id)->localpart;
          if (!ids::IsValidLocalpart(localpart)) {
            throw Error(ErrorCode::kInvalidUsername,
                        "User ID may only contain a-z, 0-9, and the characters . _ = - / +");
          }
          UserRecord u;
          u.user_id = user_id;
          u.tenant_id = who.is_admin ? c.tenant.value_or(kDefaultTenant) : who.tenant_id;
          if (!who.is_admin && c.tenant && *c.tenant != who.tenant_id) {
            throw Forbidden("Only a provider admin can place a user in another tenant");
          }
          if (!who.is_admin && c.admin.value_or(false)) {
            throw Forbidden("Only a provider admin can grant provider admin");
          }
          if (!who.is_admin && c.person_id && *c.person_id) {
            throw Forbidden("Only a provider admin can link accounts across tenants");
          }
          RequireTenantExists(tx, u.tenant_id);
          u.deactivated = c.deactivated.value_or(false);
          u.password_hash = u.deactivated ? std::nullopt : hash;
          u.is_admin = c.admin.value_or(false);
          u.tenant_admin = c.tenant_admin.value_or(false);
          u.person_id = c.person_id.value_or(std::nullopt);
          u.created_ts = now;
          try {
            AccountStore::CreateUser(tx, u);
          } catch (const sql::UniqueViolation&) {
            throw Error(ErrorCode::kUserInUse, "User ID already taken");
          }
          AccountStore::SetDisplayName(tx, user_id, c.displayname.value_or(localpart));
          if (c.avatar_url) AccountStore::SetAvatarUrl(tx, user_id, c.avatar_url);
          details = {{"tenant", u.tenant_id},
                     {"admin", u.is_admin},
                     {"tenant_admin", u.tenant_admin},
                     {"deactivated", u.deactivated},
                     {"password", hash.has_value()}};
          if (u.person_id) details["person_id"] = *u.person_id;
          Audit(tx, who.user_id, u.tenant_id, "admin.user.create", user_id, details);
          return AdminPutResult{ViewOf(tx, user_id), true};
        }

        const UserRecord& u = *existing;
        RequireManageable(who, u);
        if (c.admin && *c.admin != u.is_admin) {
          if (!who.is_admin) throw Forbidden("Only a provider admin can grant provider admin");
          AccountStore::SetAdmin(tx, user_id, *c.admin);
          details["admin"] = *c.admin;
        }
        if (c.tenant && *c.tenant != u.tenant_id) {
          if (!who.is_admin) {
            throw Forbidden("Only a provider admin can move a user to another tenant");
          }
          RequireTenantExists(tx, *c.tenant);
          AccountStore::SetTenant(tx, user_id, *c.tenant);
          details["tenant"] = *c.tenant;
          details["previous_tenant"] = u.tenant_id;
        }
        if (c.tenant_admin && *c.tenant_admin != u.tenant_admin) {
          AccountStore::SetTenantAdmin(tx, user_id, *c.tenant_admin);
          details["tenant_admin"] = *c.tenant_admin;
        }
        if (c.person_id && *c.person_id != u.person_id) {
          if (!who.is_admin) {
            throw Forbidden("Only a provider admin can link accounts across tenants");
          }
          AccountStore::SetPersonId(tx, user_id, *c.person_id);
          details["person_id"] = *c.person_id ? boost::json::value(**c.person_id) : nullptr;
        }
        if (c.displayname) {
          AccountStore::SetDisplayName(tx, user_id, c.displayname);
          details["displayname"] = true;
        }
        if (c.avatar_url) {
          AccountStore::SetAvatarUrl(tx, user_id, c.avatar_url);
          details["avatar_url"] = true;
        }
        if (c.deactivated && *c.deactivated && !u.deactivated) {
          DeactivateInTx(tx, user_id, false, next, fx);
          details["deactivated"] = true;
        } else if (c.deactivated && !*c.deactivated && u.deactivated) {
          if (!hash) throw MissingParam("A password is needed to re-activate a user");
          AccountStore::SetDeactivated(tx, user_id, false);
          details["deactivated"] = false;
        }
        if (hash) {
          AccountStore::SetPasswordHash(tx, user_id, hash);
          details["password"] = true;
          if (c.logout_devices) {
            details["devices_deleted"] =
                static_cast<std::int64_t>(DeleteAllDevices(tx, user_id, next, fx));
          }
        }
        Audit(tx, who.user_id, u.tenant_id, "admin.user.modify", user_id, details);
        return AdminPutResult{ViewOf(tx, user_id), false};
      });
  // Admin flags, tenant and deactivation are cached with the tokens.
  auth_.Forget(user_id);
  if (c.password) {
    result.warning = co_await accounts_.CheckPasswordReuse(user_id, *c.password, who.user_id);
  }
  co_return result;
}

boost::asio::awaitable<void> AdminService::DeactivateUser(const Requester& who,
                                                          const std::string& user_id, bool erase) {
  RequireAnyAdmin(who);
  RequireLocalUserId(user_id);
  co_await stream_.Submit([&](sql::Tx& tx, const Stream::NextPos& next, Stream::Effects& fx) {
    UserRecord u = ManageableUser(tx, who, user_id);
    DeactivateInTx(tx, user_id, erase, next, fx);
    Audit(tx, who.user_id, u.tenant_id, "admin.user.deactivate", user_id, {{"erase", erase}});
  });
  auth_.Forget(user_id);
}

boost::asio::awaitable<void> AdminService::ResetPassword(const Requester& who,
                                                         const std::string& user_id,
                                                         const std::string& new_password,
                                                         bool logout_devices) {
  RequireAnyAdmin(who);
  RequireLocalUserId(user_id);
  accounts_.CheckPasswordStrength(new_password);
  std::string hash =
      co_await Offload(ctx_.hash_pool, [&] { return ctx_.hasher.Hash(new_password); });
  co_await stream_.Submit([&](sql::Tx& tx, const Stream::NextPos& next, Stream::Effects& fx) {
    UserRecord u = ManageableUser(tx, who, user_id);
    if (u.deactivated) throw InvalidParam("The user is deactivated");
    AccountStore::SetPasswordHash(tx, user_id, hash);
    boost::json::object details{{"logout_devices", logout_devices}};
    if (logout_devices) DeleteAllDevices(tx, user_id, next, fx);
    Audit(tx, who.user_id, u.tenant_id, "admin.user.reset_password", user_id, details);
  });
  if (logout_devices) auth_.Forget(user_id);
}

boost::asio::awaitable<std::vector<std::string>> AdminService::JoinedRooms(
    const Requester& who, const std::string& user_id) {
  RequireAnyAdmin(who);
  RequireLocalUserId(user_id);
  co_return co_await Offload(ctx_.db_pool, [&] {
    return ctx_.db.Read([&](sql::Tx& tx) {
      UserInScope(tx, who, user_id);
      std::vector<std::string> out;
      for (const auto& m : storage::RoomStore::RoomsForUser(tx, user_id, "join")) {
        out.push_back(m.room_id);
      }
      return out;
    });
  });
}

boost::asio::awaitable<std::vector<storage::DeviceRecord>> AdminService::ListDevices(
    const Requester& who, const std::string& user_id) {
  RequireAnyAdmin(who);
  RequireLocalUserId(user_id);
  co_return co_await Offload(ctx_.db_pool, [&] {
    return ctx_.db.Read([&](sql::Tx& tx) {
      UserInScope(tx, who, user_id);
      return AccountStore::ListDevices(tx, user_id);
    });
  });
}

boost::asio::awaitable<storage::DeviceRecord> AdminService::GetDevice(
    const Requester& who, const std::string& user_id, const std::string& device_id) {
  RequireAnyAdmin(who);
  RequireLocalUserId(user_id);
  auto d = co_await Offload(ctx_.db_pool, [&] {
    return ctx_.db.Read([&](sql::Tx& tx) {
      UserInScope(tx, who, user_id);
      return AccountStore::GetDevice(tx, user_id, device_id);
    });
  });
  if (!d) throw NotFound("Device not found");
  co_return *d;
}

boost::asio::awaitable<std::size_t> AdminService::DeleteDevicesOf(
    const Requester& who, const std::string& user_id, const std::vector<std::string>& device_ids) {
  RequireAnyAdmin(who);
  RequireLocalUserId(user_id);
  if (device_ids.size() > 1000) throw InvalidParam("Too many devices in one request");
  std::size_t deleted = co_await stream_.Submit([&](sql::Tx& tx, const Stream::NextPos& next,
                                                    Stream::Effects& fx) {
    UserRecord u = ManageableUser(tx, who, user_id);
    std::size_t n = 0;
    for (const auto& id : device_ids) {
      if (AccountStore::DeleteDevice(tx, user_id, id)) {
        Audit(tx, who.user_id, u.tenant_id, "admin.device.delete", user_id, {{"device_id", id}});
        ++n;
      }
    }
    if (n > 0) NoteDeviceListChange(tx, user_id, next, fx);
    return n;
  });
  for (const auto& id : device_ids) auth_.Forget(user_id, id);
  co_return deleted;
}

boost::asio::awaitable<void> AdminService::DeleteDevice(const Requester& who,
                                                        const std::string& user_id,
                                                        const std::string& device_id) {
  std::vector<std::string> ids{device_id};
  std::size_t deleted = co_await DeleteDevicesOf(who, user_id, ids);
  if (deleted == 0) throw NotFound("Device not found");
}

boost::asio::awaitable<void> AdminService::DeleteDevices(
    const Requester& who, const std::string& user_id, const std::vector<std::string>& device_ids) {
  co_await DeleteDevicesOf(who, user_id, device_ids);
}

boost::asio::awaitable<std::vector<storage::DeviceRecord>> AdminService::Whois(
    const Requester& who, const std::string& user_id) {
  if (who.user_id != user_id) RequireAnyAdmin(who);
  RequireLocalUserId(user_id);
  co_return co_await Offload(ctx_.db_pool, [&] {
    return ctx_.db.Read([&](sql::Tx& tx) {
      if (who.user_id != user_id) UserInScope(tx, who, user_id);
      return AccountStore::ListDevices(tx, user_id);
    });
  });
}

}  // namespace vigie::service
