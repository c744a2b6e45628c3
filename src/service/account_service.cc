#include "service/account_service.h"

#include <spdlog/spdlog.h>

#include <boost/json/serialize.hpp>

#include "common/ascii.h"
#include "common/crypto.h"
#include "common/error.h"
#include "common/ids.h"
#include "common/offload.h"
#include "common/time.h"
#include "service/device_service.h"
#include "service/keys_service.h"
#include "service/server_notices.h"
#include "storage/audit_store.h"
#include "storage/key_backup_store.h"

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

std::size_t DeleteAllDevices(sql::Tx& tx, const std::string& user_id, const Stream::NextPos& next,
                             Stream::Effects& fx) {
  auto devices = AccountStore::ListDevices(tx, user_id);
  for (const auto& d : devices) AccountStore::DeleteDevice(tx, user_id, d.device_id);
  if (!devices.empty()) NoteDeviceListChange(tx, user_id, next, fx);
  return devices.size();
}

void DeactivateInTx(sql::Tx& tx, const std::string& user_id, bool erase,
                    const Stream::NextPos& next, Stream::Effects& fx) {
  DeleteAllDevices(tx, user_id, next, fx);
  storage::KeyBackupStore::DeleteAllOf(tx, user_id);
  AccountStore::SetPasswordHash(tx, user_id, std::nullopt);
  AccountStore::SetDeactivated(tx, user_id, true);
  if (erase) {
    AccountStore::SetDisplayName(tx, user_id, std::nullopt);
    AccountStore::SetAvatarUrl(tx, user_id, std::nullopt);
  }
}

namespace {

void ValidateDeviceId(const std::optional<std::string>& d) {
  if (d && (d->empty() || d->size() > 255)) throw InvalidParam("device_id must be 1-255 bytes");
}

void ValidateDisplayName(const std::optional<std::string>& n) {
  if (n && n->size() > 256) throw InvalidParam("Device display name is too long");
}

// What X-IM-1 / X-IM-2 decided for a new device of a user, and what it
// changed to make room.
struct DeviceAdmission {
  policy::Decision decision;
  std::int64_t other_devices = 0;        // the user's devices before it (not banned or wiped)
  std::vector<std::string> evicted_ids;  // X-IM-1 evict_oldest
  std::vector<std::string> evicted_labels;
};

// Asks the policy engine how device `device_id` (new to the user) may
// join, and evicts the devices the answer asks for: the least recently
// seen non-primary ones, one at a time, asking again after each. A
// refusal changes nothing but the audit log. Audits every decision. Runs
// inside the login's write transaction.
DeviceAdmission AdmitNewDevice(sql::Tx& tx, const PolicyService& policy, const std::string& user_id,
                               const std::string& tenant, const std::string& device_id) {
  // Accounts from before primary devices existed get one among the devices
  // they already trust, rather than giving the role to the newcomer.
  PromotePrimaryIfGone(tx, user_id, tenant, user_id);
  std::vector<storage::DeviceRecord> live = AccountStore::ListDevices(tx, user_id);
  // A banned device is a ban, not a device; a device told to wipe is going.
  std::erase_if(live, [](const auto& d) {
    return d.state == storage::DeviceState::kBanned || d.wipe_requested_ts;
  });
  DeviceAdmission a;
  a.other_devices = static_cast<std::int64_t>(live.size());
  policy::NewDeviceQuestion q{tenant, a.other_devices, false};
  std::vector<const storage::DeviceRecord*> candidates;
  for (const auto& d : live) {
    // A primary that is pending again (X-AC-1 step-up) still holds the role:
    // a newcomer does not take it.
    if (d.is_primary) q.has_active_primary = true;
    if (!d.is_primary) candidates.push_back(&d);
  }
  std::sort(candidates.begin(), candidates.end(), [](const auto* x, const auto* y) {
    auto seen = [](const storage::DeviceRecord* d) {
      return std::pair{d->last_seen_ts.value_or(d->created_ts), d->created_ts};
    };
    return seen(x) < seen(y);
  });
  a.decision = policy.Evaluate(q);
  std::size_t victims = 0;
  while (a.decision.allowed() && a.decision.evict_oldest) {
    if (victims == candidates.size()) {
      a.decision.verdict = policy::Decision::Verdict::kDeny;
      a.decision.requirement = "X-IM-1";
      a.decision.reason =
          "You already have the maximum number of devices and none of them can be signed out "
          "to make room; log out of one first";
      break;
    }
    ++victims;
    q.devices = a.other_devices - static_cast<std::int64_t>(victims);
    a.decision = policy.Evaluate(q);
  }
  if (!a.decision.allowed()) {
    Audit(tx, user_id, tenant, "device.refuse", user_id,
          {{"requirement", a.decision.requirement},
           {"device_id", device_id},
           {"devices", a.other_devices},
           {"reason", a.decision.reason}});
    return a;
  }
  for (std::size_t i = 0; i < victims; ++i) {
    const auto& v = *candidates[i];
    AccountStore::DeleteDevice(tx, user_id, v.device_id);
    Audit(tx, user_id, tenant, "device.evict", user_id,
          {{"requirement", "X-IM-1"}, {"device_id", v.device_id}, {"for_device", device_id}});
    a.evicted_ids.push_back(v.device_id);
    a.evicted_labels.push_back(DeviceLabel(v.device_id, v.display_name));
  }
  const char* action = a.decision.pending   ? "device.pending"
                       : a.decision.primary ? "device.primary"
                                            : "device.new";
  Audit(tx, user_id, tenant, action, user_id,
        {{"requirement", a.decision.pending || a.decision.primary ? "X-IM-2" : "X-IM-1"},
         {"device_id", device_id},
         {"devices", a.other_devices - static_cast<std::int64_t>(victims)}});
  return a;
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
  std::string localpart = ascii::Lower(req.username.value_or(""));
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

  if (localpart.empty()) localpart = ascii::Lower("u" + crypto::RandomAlnum(12));
  const std::string user_id = ids::MakeUserId(localpart, ctx_.config.server_name);
  std::string hash =
      co_await Offload(ctx_.hash_pool, [&] { return ctx_.hasher.Hash(*req.password); });
  const std::string device_id = req.device_id.value_or(ids::NewDeviceId());
  const std::int64_t now = NowMs();
  Session s =
      co_await stream_.Submit([&](sql::Tx& tx, const Stream::NextPos& next, Stream::Effects& fx) {
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
          // X-IM-1 / X-IM-2 are asked even of the first device, which
          // becomes the primary.
          auto admission = AdmitNewDevice(tx, policy_, user_id, kDefaultTenant, device_id);
          if (!admission.decision.allowed()) {
            throw Forbidden(admission.decision.reason)
                .with("io.vigie.requirement", boost::json::string(admission.decision.requirement));
          }
          d.state = admission.decision.pending ? storage::DeviceState::kPending
                                               : storage::DeviceState::kActive;
          d.is_primary = admission.decision.primary;
          AccountStore::UpsertDevice(tx, d);
          NoteDeviceListChange(tx, user_id, next, fx);
          out.access_token = AuthService::IssueToken(tx, user_id, device_id);
        }
        return out;
      });
  co_return s;
}

boost::asio::awaitable<CreatedUser> AccountService::CreateUser(const std::string& localpart,
                                                               const std::string& password,
                                                               bool admin, const std::string& actor,
                                                               NewAccountOptions options) {
  if (!ids::IsValidLocalpart(localpart)) {
    throw Error(ErrorCode::kInvalidUsername,
                "User ID may only contain a-z, 0-9, and the characters . _ = - / +");
  }
  CheckPasswordStrength(password);
  if (!policy_.snapshot()->tenant(options.tenant)) throw InvalidParam("Unknown tenant");
  if (options.person_id && (options.person_id->empty() || options.person_id->size() > 255)) {
    throw InvalidParam("person_id must be 1-255 bytes");
  }
  const std::string user_id = ids::MakeUserId(localpart, ctx_.config.server_name);
  std::string hash = co_await Offload(ctx_.hash_pool, [&] { return ctx_.hasher.Hash(password); });
  co_await Offload(ctx_.db_pool, [&] {
    ctx_.db.Write([&](sql::Tx& tx) {
      storage::UserRecord u{user_id, options.tenant, hash, admin, false, NowMs()};
      u.person_id = options.person_id;
      try {
        AccountStore::CreateUser(tx, u);
      } catch (const sql::UniqueViolation&) {
        throw Error(ErrorCode::kUserInUse, "User ID already taken");
      }
      AccountStore::SetDisplayName(tx, user_id, localpart);
      boost::json::object details{{"admin", admin}};
      if (options.person_id) details["person_id"] = *options.person_id;
      Audit(tx, actor, options.tenant, "user.create", user_id, details);
    });
  });
  CreatedUser out{user_id, std::nullopt};
  if (options.person_id) out.warning = co_await CheckPasswordReuse(user_id, password, actor);
  co_return out;
}

boost::asio::awaitable<Session> AccountService::Login(LoginRequest req) {
  ValidateDeviceId(req.device_id);
  ValidateDisplayName(req.initial_device_display_name);
  const std::string user_id = ascii::Lower(
      req.user.starts_with("@") ? req.user : ids::MakeUserId(req.user, ctx_.config.server_name));
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
  // C4 (tenant suspended) and X-AC-3 (trusted networks), after the password
  // so that the answer does not reveal which accounts exist.
  policy_.Require(policy::AccessQuestion{user->tenant_id, req.ip});

  const std::string device_id = req.device_id.value_or(ids::NewDeviceId());
  // X-AC-1/X-AC-2: where this login comes from, against the user's recent
  // sessions. Block refuses; step-up makes the device wait for the primary.
  const policy::Decision location =
      co_await access_.CheckLogin(user_id, user->tenant_id, device_id, req.ip, req.client);
  if (location.verdict == policy::Decision::Verdict::kDeny) {
    co_await access_.Notify(user_id, device_id, req.ip, location);
    throw Forbidden(location.reason)
        .with("io.vigie.requirement", boost::json::string(location.requirement));
  }
  const bool step_up = location.verdict == policy::Decision::Verdict::kStepUp;
  const std::int64_t now = NowMs();
  struct Outcome {
    std::string token;
    std::optional<DeviceAdmission> admission;  // for a device new to the user
  };
  Outcome o =
      co_await stream_.Submit([&](sql::Tx& tx, const Stream::NextPos& next, Stream::Effects& fx) {
        Outcome out;
        auto existing = AccountStore::GetDevice(tx, user_id, device_id);
        if (existing && existing->state == storage::DeviceState::kBanned) {
          throw Forbidden("This device has been banned").with("io.vigie.requirement", "X-IM-4");
        }
        storage::DeviceRecord d;
        d.user_id = user_id;
        d.device_id = device_id;
        d.display_name = req.initial_device_display_name;
        d.created_ts = now;
        d.last_seen_ts = now;
        d.last_seen_ip = req.ip;
        d.last_seen_user_agent = req.user_agent;
        if (existing) {
          // Reusing a device id replaces that device's previous token and
          // keeps its state (a pending device stays pending).
          AccountStore::DeleteTokensOfDevice(tx, user_id, device_id);
          if (step_up) {
            // X-AC-1 step-up: the device must be confirmed again.
            if (existing->is_primary) {
              throw Forbidden(
                  "Unusual sign-in location for your primary device; ask your "
                  "administrator")
                  .with("io.vigie.requirement", boost::json::string(location.requirement));
            }
            AccountStore::SetDeviceState(tx, user_id, device_id, storage::DeviceState::kPending);
          }
        } else {
          out.admission = AdmitNewDevice(tx, policy_, user_id, user->tenant_id, device_id);
          if (!out.admission->decision.allowed()) return out;  // only the audit entry commits
          d.state = out.admission->decision.pending ? storage::DeviceState::kPending
                                                    : storage::DeviceState::kActive;
          d.is_primary = out.admission->decision.primary;
          if (step_up) {
            // X-AC-1 step-up: the primary must confirm; without one to ask,
            // the login is refused.
            if (d.is_primary) {
              // Thrown, not returned: nothing of this login (evictions
              // included) may commit.
              throw Forbidden(
                  "Unusual sign-in location and no primary device to confirm it; ask your "
                  "administrator")
                  .with("io.vigie.requirement", boost::json::string(location.requirement));
            }
            d.state = storage::DeviceState::kPending;
            out.admission->decision.pending = true;
          }
        }
        AccountStore::UpsertDevice(tx, d);
        if (!existing) NoteDeviceListChange(tx, user_id, next, fx);
        out.token = AuthService::IssueToken(tx, user_id, device_id);
        return out;
      });
  if (o.admission && !o.admission->decision.allowed()) {
    throw Forbidden(o.admission->decision.reason)
        .with("io.vigie.requirement", boost::json::string(o.admission->decision.requirement));
  }
  auth_.Forget(user_id, device_id);
  if (location.notify) co_await access_.Notify(user_id, device_id, req.ip, location);
  if (o.admission) {
    // X-IM-3: the user's other devices learn of the change (the device-list
    // change went with the transaction).
    const DeviceAdmission& a = *o.admission;
    for (const auto& id : a.evicted_ids) auth_.Forget(user_id, id);
    const std::string label = DeviceLabel(device_id, req.initial_device_display_name);
    for (std::size_t i = 0; i < a.evicted_ids.size(); ++i) {
      boost::json::object details{
          {"device_id", a.evicted_ids[i]}, {"for_device", device_id}, {"requirement", "X-IM-1"}};
      co_await NoticeDeviceChange(
          notices_, user_id, "device.evicted",
          "Your device " + a.evicted_labels[i] +
              " was signed out to make room for the new device " + label +
              ": your organisation limits how many devices you may use at once.",
          std::move(details));
    }
    if (a.decision.pending) {
      boost::json::object details{
          {"device_id", device_id}, {"ip", req.ip}, {"requirement", "X-IM-2"}};
      co_await NoticeDeviceChange(
          notices_, user_id, "device.pending",
          "A new device " + label + " signed in to your account from " + req.ip +
              " and is waiting for your approval. Approve or deny it from your primary device.",
          std::move(details));
    } else if (a.other_devices > 0) {
      boost::json::object details{
          {"device_id", device_id}, {"ip", req.ip}, {"requirement", "X-IM-3"}};
      co_await NoticeDeviceChange(
          notices_, user_id, "device.new",
          "A new device " + label + " signed in to your account from " + req.ip + ".",
          std::move(details));
    }
  }
  co_return Session{user_id, device_id, o.token};
}

boost::asio::awaitable<void> AccountService::Logout(const Requester& who) {
  struct Out {
    std::optional<std::string> label;  // set if the device existed
    std::optional<std::string> promoted;
    bool others = false;  // other devices remain to be told
  };
  Out out =
      co_await stream_.Submit([&](sql::Tx& tx, const Stream::NextPos& next, Stream::Effects& fx) {
        Out o;
        auto d = AccountStore::GetDevice(tx, who.user_id, who.device_id);
        if (!d) return o;
        AccountStore::DeleteDevice(tx, who.user_id, who.device_id);
        NoteDeviceListChange(tx, who.user_id, next, fx);
        o.label = DeviceLabel(d->device_id, d->display_name);
        o.promoted = PromotePrimaryIfGone(tx, who.user_id, who.tenant_id, who.user_id);
        for (const auto& other : AccountStore::ListDevices(tx, who.user_id)) {
          o.others |= other.state != storage::DeviceState::kBanned;
        }
        return o;
      });
  auth_.Forget(who.user_id, who.device_id);
  if (out.promoted) auth_.Forget(who.user_id);
  if (out.label && out.others) {
    boost::json::object details{{"device_id", who.device_id}, {"requirement", "X-IM-3"}};
    co_await NoticeDeviceChange(notices_, who.user_id, "device.removed",
                                "Your device " + *out.label + " signed out.", std::move(details));
  }
}

boost::asio::awaitable<void> AccountService::LogoutAll(const Requester& who) {
  co_await stream_.Submit([&](sql::Tx& tx, const Stream::NextPos& next, Stream::Effects& fx) {
    bool any = false;
    for (const auto& d : AccountStore::ListDevices(tx, who.user_id)) {
      // A banned device's record is its ban (X-IM-4): it stays.
      if (d.state == storage::DeviceState::kBanned) continue;
      AccountStore::DeleteDevice(tx, who.user_id, d.device_id);
      any = true;
    }
    if (any) NoteDeviceListChange(tx, who.user_id, next, fx);
  });
  auth_.Forget(who.user_id);
}

boost::asio::awaitable<PasswordChangeResult> AccountService::ChangePassword(
    const Requester& who, const boost::json::object* auth, const std::string& new_password,
    bool logout_devices) {
  CheckPasswordStrength(new_password);
  UiaSpec spec{"POST /account/password", {{kStagePassword}}, who.user_id};
  co_await uia_.Require(spec, auth);
  std::string hash =
      co_await Offload(ctx_.hash_pool, [&] { return ctx_.hasher.Hash(new_password); });
  co_await stream_.Submit([&](sql::Tx& tx, const Stream::NextPos& next, Stream::Effects& fx) {
    AccountStore::SetPasswordHash(tx, who.user_id, hash);
    bool any = false;
    if (logout_devices) {
      for (const auto& d : AccountStore::ListDevices(tx, who.user_id)) {
        // A banned device's record is its ban (X-IM-4): it stays.
        if (d.device_id == who.device_id || d.state == storage::DeviceState::kBanned) continue;
        AccountStore::DeleteDevice(tx, who.user_id, d.device_id);
        any = true;
      }
    }
    Audit(tx, who.user_id, who.tenant_id, "user.password_change", who.user_id,
          {{"logout_devices", logout_devices}});
    if (any) {
      NoteDeviceListChange(tx, who.user_id, next, fx);
      PromotePrimaryIfGone(tx, who.user_id, who.tenant_id, who.user_id);
    }
  });
  if (logout_devices) {
    // The requester's own token stays valid; drop every other cached one.
    auth_.Forget(who.user_id);
  }
  PasswordChangeResult result;
  result.warning = co_await CheckPasswordReuse(who.user_id, new_password, who.user_id);
  co_return result;
}

boost::asio::awaitable<std::optional<PasswordWarning>> AccountService::CheckPasswordReuse(
    const std::string& user_id, const std::string& password, const std::string& actor) {
  struct Facts {
    std::string tenant;
    std::vector<std::string> hashes;  // of the person's accounts in other tenants
  };
  std::optional<Facts> facts = co_await Offload(ctx_.db_pool, [&] {
    return ctx_.db.Read([&](sql::Tx& tx) -> std::optional<Facts> {
      auto user = AccountStore::GetUser(tx, user_id);
      if (!user || !user->person_id) return std::nullopt;
      Facts f{user->tenant_id, {}};
      for (auto& other : AccountStore::OtherAccountsOfPerson(tx, *user->person_id, user_id)) {
        if (f.hashes.size() >= kMaxReuseChecks) break;
        if (other.tenant_id == user->tenant_id || !other.password_hash) continue;
        f.hashes.push_back(std::move(*other.password_hash));
      }
      return f;
    });
  });
  if (!facts || facts->hashes.empty()) co_return std::nullopt;
  if (!policy_.Evaluate(policy::PasswordQuestion{facts->tenant}).check) co_return std::nullopt;
  // Only the stored salted hashes are compared: the password is verified
  // against each, as a login would, and kept nowhere.
  const std::int64_t matches = co_await Offload(ctx_.hash_pool, [&] {
    std::int64_t n = 0;
    for (const auto& h : facts->hashes) {
      if (ctx_.hasher.Verify(h, password)) ++n;
    }
    return n;
  });
  if (matches == 0) co_return std::nullopt;
  PasswordWarning w{"X-IM-5",
                    "This password is also used by your account in another organisation. Use "
                    "a different password for each organisation."};
  co_await Offload(ctx_.db_pool, [&] {
    ctx_.db.Write([&](sql::Tx& tx) {
      Audit(tx, actor, facts->tenant, "password.reuse", user_id,
            {{"requirement", w.requirement},
             {"matching_accounts", matches},
             {"checked_accounts", static_cast<std::int64_t>(facts->hashes.size())}});
    });
  });
  // The password is set either way: a failed notice must not fail the call.
  boost::json::object details{{"requirement", w.requirement}};
  try {
    co_await notices_.Send(user_id, "password.reuse", w.message, std::move(details));
  } catch (const std::exception& e) {
    spdlog::warn("server notice password.reuse to {} failed: {}", user_id, e.what());
  }
  co_return w;
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
  co_await stream_.Submit([&](sql::Tx& tx, const Stream::NextPos& next, Stream::Effects& fx) {
    auto user = AccountStore::GetUser(tx, user_id);
    if (!user) throw NotFound("Unknown user");
    DeactivateInTx(tx, user_id, erase, next, fx);
    Audit(tx, actor, user->tenant_id, "user.deactivate", user_id, {{"erase", erase}});
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
