#include "storage/account_store.h"

#include "storage/e2e_store.h"

namespace vigie::storage {
namespace {

using sql::Opt;
using sql::Str;

constexpr const char* kUserCols =
    "user_id, tenant_id, password_hash, is_admin, deactivated, created_ts, tenant_admin, "
    "person_id";

UserRecord ReadUser(const sql::Row& r) {
  return {r.Text(0), r.Text(1), r.OptText(2), r.Bool(3),
          r.Bool(4), r.Int(5),  r.Bool(6),    r.OptText(7)};
}

constexpr const char* kDeviceCols =
    "user_id, device_id, display_name, state, is_primary, created_ts, last_seen_ts, "
    "last_seen_ip, last_seen_user_agent, wipe_requested_ts";

DeviceRecord ReadDevice(const sql::Row& r) {
  return {r.Text(0),    r.Text(1),  r.OptText(2), DeviceStateFromString(r.Text(3)),
          r.Bool(4),    r.Int(5),   r.OptInt(6),  r.OptText(7),
          r.OptText(8), r.OptInt(9)};
}

}  // namespace

const char* ToString(DeviceState s) {
  switch (s) {
    case DeviceState::kPending:
      return "pending";
    case DeviceState::kBanned:
      return "banned";
    case DeviceState::kActive:
      break;
  }
  return "active";
}

DeviceState DeviceStateFromString(std::string_view s) {
  if (s == "pending") return DeviceState::kPending;
  if (s == "banned") return DeviceState::kBanned;
  return DeviceState::kActive;
}

void AccountStore::CreateUser(sql::Tx& tx, const UserRecord& u) {
  tx.Query(
      "INSERT INTO users (user_id, tenant_id, password_hash, is_admin, deactivated, created_ts, "
      "tenant_admin, person_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
      {u.user_id, u.tenant_id, Opt(u.password_hash), std::int64_t{u.is_admin},
       std::int64_t{u.deactivated}, u.created_ts, std::int64_t{u.tenant_admin}, Opt(u.person_id)});
  tx.Query("INSERT INTO profiles (user_id) VALUES ($1)", {u.user_id});
}

std::optional<UserRecord> AccountStore::GetUser(sql::Tx& tx, std::string_view user_id) {
  auto row = tx.QueryOne(std::string("SELECT ") + kUserCols + " FROM users WHERE user_id = $1",
                         {Str(user_id)});
  if (!row) return std::nullopt;
  return ReadUser(*row);
}

std::vector<UserRecord> AccountStore::ListUsers(sql::Tx& tx, std::int64_t from,
                                                std::int64_t limit) {
  auto res = tx.Query(
      std::string("SELECT ") + kUserCols + " FROM users ORDER BY user_id LIMIT $1 OFFSET $2",
      {limit, from});
  std::vector<UserRecord> out;
  for (const auto& r : res.rows) out.push_back(ReadUser(r));
  return out;
}

std::int64_t AccountStore::CountUsers(sql::Tx& tx) {
  return tx.QueryOne("SELECT COUNT(*) FROM users")->Int(0);
}

void AccountStore::SetPasswordHash(sql::Tx& tx, std::string_view user_id,
                                   const std::optional<std::string>& hash) {
  tx.Query("UPDATE users SET password_hash = $1 WHERE user_id = $2", {Opt(hash), Str(user_id)});
}

void AccountStore::SetDeactivated(sql::Tx& tx, std::string_view user_id, bool deactivated) {
  tx.Query("UPDATE users SET deactivated = $1 WHERE user_id = $2",
           {std::int64_t{deactivated}, Str(user_id)});
}

void AccountStore::SetAdmin(sql::Tx& tx, std::string_view user_id, bool admin) {
  tx.Query("UPDATE users SET is_admin = $1 WHERE user_id = $2",
           {std::int64_t{admin}, Str(user_id)});
}

void AccountStore::SetTenantAdmin(sql::Tx& tx, std::string_view user_id, bool admin) {
  tx.Query("UPDATE users SET tenant_admin = $1 WHERE user_id = $2",
           {std::int64_t{admin}, Str(user_id)});
}

void AccountStore::SetTenant(sql::Tx& tx, std::string_view user_id, std::string_view tenant_id) {
  tx.Query("UPDATE users SET tenant_id = $1 WHERE user_id = $2", {Str(tenant_id), Str(user_id)});
}

void AccountStore::SetPersonId(sql::Tx& tx, std::string_view user_id,
                               const std::optional<std::string>& person_id) {
  tx.Query("UPDATE users SET person_id = $1 WHERE user_id = $2", {Opt(person_id), Str(user_id)});
}

std::vector<UserRecord> AccountStore::OtherAccountsOfPerson(sql::Tx& tx, std::string_view person_id,
                                                            std::string_view user_id) {
  auto res = tx.Query(std::string("SELECT ") + kUserCols +
                          " FROM users WHERE person_id = $1 AND user_id <> $2 ORDER BY user_id",
                      {Str(person_id), Str(user_id)});
  std::vector<UserRecord> out;
  for (const auto& r : res.rows) out.push_back(ReadUser(r));
  return out;
}

std::vector<UserRecord> AccountStore::ListTenantUsers(sql::Tx& tx, std::string_view tenant_id,
                                                      std::int64_t from, std::int64_t limit) {
  auto res = tx.Query(std::string("SELECT ") + kUserCols +
                          " FROM users WHERE tenant_id = $1 ORDER BY user_id LIMIT $2 OFFSET $3",
                      {Str(tenant_id), limit, from});
  std::vector<UserRecord> out;
  for (const auto& r : res.rows) out.push_back(ReadUser(r));
  return out;
}

std::int64_t AccountStore::CountTenantUsers(sql::Tx& tx, std::string_view tenant_id) {
  return tx.QueryOne("SELECT COUNT(*) FROM users WHERE tenant_id = $1", {Str(tenant_id)})->Int(0);
}

ProfileRecord AccountStore::GetProfile(sql::Tx& tx, std::string_view user_id) {
  auto row = tx.QueryOne("SELECT displayname, avatar_url FROM profiles WHERE user_id = $1",
                         {Str(user_id)});
  if (!row) return {};
  return {row->OptText(0), row->OptText(1)};
}

void AccountStore::SetDisplayName(sql::Tx& tx, std::string_view user_id,
                                  const std::optional<std::string>& v) {
  tx.Query("UPDATE profiles SET displayname = $1 WHERE user_id = $2", {Opt(v), Str(user_id)});
}

void AccountStore::SetAvatarUrl(sql::Tx& tx, std::string_view user_id,
                                const std::optional<std::string>& v) {
  tx.Query("UPDATE profiles SET avatar_url = $1 WHERE user_id = $2", {Opt(v), Str(user_id)});
}

void AccountStore::UpsertDevice(sql::Tx& tx, const DeviceRecord& d) {
  tx.Query(
      "INSERT INTO devices (user_id, device_id, display_name, state, is_primary, created_ts, "
      "last_seen_ts, last_seen_ip, last_seen_user_agent) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, "
      "$9) ON CONFLICT (user_id, device_id) DO UPDATE SET display_name = "
      "COALESCE(excluded.display_name, devices.display_name), last_seen_ts = "
      "excluded.last_seen_ts, last_seen_ip = excluded.last_seen_ip, last_seen_user_agent = "
      "excluded.last_seen_user_agent",
      {d.user_id, d.device_id, Opt(d.display_name), std::string(ToString(d.state)),
       std::int64_t{d.is_primary}, d.created_ts, Opt(d.last_seen_ts), Opt(d.last_seen_ip),
       Opt(d.last_seen_user_agent)});
}

std::optional<DeviceRecord> AccountStore::GetDevice(sql::Tx& tx, std::string_view user_id,
                                                    std::string_view device_id) {
  auto row = tx.QueryOne(
      std::string("SELECT ") + kDeviceCols + " FROM devices WHERE user_id = $1 AND device_id = $2",
      {Str(user_id), Str(device_id)});
  if (!row) return std::nullopt;
  return ReadDevice(*row);
}

std::vector<DeviceRecord> AccountStore::ListDevices(sql::Tx& tx, std::string_view user_id) {
  auto res = tx.Query(std::string("SELECT ") + kDeviceCols +
                          " FROM devices WHERE user_id = $1 ORDER BY created_ts, device_id",
                      {Str(user_id)});
  std::vector<DeviceRecord> out;
  for (const auto& r : res.rows) out.push_back(ReadDevice(r));
  return out;
}

void AccountStore::SetDeviceDisplayName(sql::Tx& tx, std::string_view user_id,
                                        std::string_view device_id,
                                        const std::optional<std::string>& name) {
  tx.Query("UPDATE devices SET display_name = $1 WHERE user_id = $2 AND device_id = $3",
           {Opt(name), Str(user_id), Str(device_id)});
}

void AccountStore::TouchDevice(sql::Tx& tx, std::string_view user_id, std::string_view device_id,
                               std::int64_t ts, std::string_view ip, std::string_view user_agent) {
  tx.Query(
      "UPDATE devices SET last_seen_ts = $1, last_seen_ip = $2, last_seen_user_agent = $3 "
      "WHERE user_id = $4 AND device_id = $5",
      {ts, Str(ip), Str(user_agent), Str(user_id), Str(device_id)});
}

bool AccountStore::DeleteDevice(sql::Tx& tx, std::string_view user_id, std::string_view device_id) {
  DeleteTokensOfDevice(tx, user_id, device_id);
  E2eStore::DeleteDevice(tx, user_id, device_id);
  return tx.Query("DELETE FROM devices WHERE user_id = $1 AND device_id = $2",
                  {Str(user_id), Str(device_id)})
             .affected > 0;
}

void AccountStore::SetDeviceState(sql::Tx& tx, std::string_view user_id, std::string_view device_id,
                                  DeviceState state) {
  tx.Query("UPDATE devices SET state = $1 WHERE user_id = $2 AND device_id = $3",
           {std::string(ToString(state)), Str(user_id), Str(device_id)});
}

void AccountStore::SetPrimaryDevice(sql::Tx& tx, std::string_view user_id,
                                    const std::optional<std::string>& device_id) {
  tx.Query("UPDATE devices SET is_primary = 0 WHERE user_id = $1 AND is_primary <> 0",
           {Str(user_id)});
  if (device_id) {
    tx.Query("UPDATE devices SET is_primary = 1 WHERE user_id = $1 AND device_id = $2",
             {Str(user_id), *device_id});
  }
}

void AccountStore::SetWipeRequested(sql::Tx& tx, std::string_view user_id,
                                    std::string_view device_id, std::int64_t ts) {
  tx.Query("UPDATE devices SET wipe_requested_ts = $1 WHERE user_id = $2 AND device_id = $3",
           {ts, Str(user_id), Str(device_id)});
}

void AccountStore::InsertToken(sql::Tx& tx, const TokenRecord& t, std::int64_t ts) {
  tx.Query(
      "INSERT INTO access_tokens (token_hash, user_id, device_id, created_ts) VALUES ($1, $2, "
      "$3, $4)",
      {t.token_hash, t.user_id, t.device_id, ts});
}

std::optional<TokenRecord> AccountStore::FindToken(sql::Tx& tx, std::string_view token_hash) {
  auto row =
      tx.QueryOne("SELECT user_id, device_id, token_hash FROM access_tokens WHERE token_hash = $1",
                  {Str(token_hash)});
  if (!row) return std::nullopt;
  return TokenRecord{row->Text(0), row->Text(1), row->Text(2)};
}

void AccountStore::DeleteTokensOfDevice(sql::Tx& tx, std::string_view user_id,
                                        std::string_view device_id) {
  tx.Query("DELETE FROM access_tokens WHERE user_id = $1 AND device_id = $2",
           {Str(user_id), Str(device_id)});
}

std::vector<std::string> AccountStore::TokenHashesOfDevice(sql::Tx& tx, std::string_view user_id,
                                                           std::string_view device_id) {
  auto res = tx.Query("SELECT token_hash FROM access_tokens WHERE user_id = $1 AND device_id = $2",
                      {Str(user_id), Str(device_id)});
  std::vector<std::string> out;
  for (const auto& r : res.rows) out.push_back(r.Text(0));
  return out;
}

void AccountStore::CreateRegistrationToken(sql::Tx& tx, const RegistrationTokenRecord& r,
                                           std::int64_t ts) {
  tx.Query(
      "INSERT INTO registration_tokens (token, uses_allowed, pending, completed, expiry_ts, "
      "created_ts) VALUES ($1, $2, 0, 0, $3, $4)",
      {r.token, Opt(r.uses_allowed), Opt(r.expiry_ts), ts});
}

std::optional<RegistrationTokenRecord> AccountStore::GetRegistrationToken(sql::Tx& tx,
                                                                          std::string_view token) {
  auto row = tx.QueryOne(
      "SELECT token, uses_allowed, pending, completed, expiry_ts FROM registration_tokens "
      "WHERE token = $1",
      {Str(token)});
  if (!row) return std::nullopt;
  return RegistrationTokenRecord{row->Text(0), row->OptInt(1), row->Int(2), row->Int(3),
                                 row->OptInt(4)};
}

std::vector<RegistrationTokenRecord> AccountStore::ListRegistrationTokens(sql::Tx& tx) {
  auto res = tx.Query(
      "SELECT token, uses_allowed, pending, completed, expiry_ts FROM registration_tokens "
      "ORDER BY created_ts");
  std::vector<RegistrationTokenRecord> out;
  for (const auto& r : res.rows) {
    out.push_back({r.Text(0), r.OptInt(1), r.Int(2), r.Int(3), r.OptInt(4)});
  }
  return out;
}

bool AccountStore::RegistrationTokenUsable(sql::Tx& tx, std::string_view token,
                                           std::int64_t now_ms) {
  auto t = GetRegistrationToken(tx, token);
  return t && (!t->expiry_ts || *t->expiry_ts > now_ms) &&
         (!t->uses_allowed || t->completed < *t->uses_allowed);
}

bool AccountStore::UseRegistrationToken(sql::Tx& tx, std::string_view token, std::int64_t now_ms) {
  return tx.Query(
               "UPDATE registration_tokens SET completed = completed + 1 WHERE token = $1 AND "
               "(uses_allowed IS NULL OR completed < uses_allowed) AND (expiry_ts IS NULL OR "
               "expiry_ts > $2)",
               {Str(token), now_ms})
             .affected == 1;
}

}  // namespace vigie::storage
