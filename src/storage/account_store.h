// Accounts: users, their profiles, devices, access tokens and registration
// tokens. Stateless: every method runs inside the caller's transaction.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "storage/sql.h"

namespace vigie::storage {

struct UserRecord {
  std::string user_id;
  std::string tenant_id;
  std::optional<std::string> password_hash;
  bool is_admin = false;
  bool deactivated = false;
  std::int64_t created_ts = 0;
  bool tenant_admin = false;             // administers its own tenant only
  std::optional<std::string> person_id;  // links one person's accounts across tenants (X-IM-5)
};

enum class DeviceState { kPending, kActive, kBanned };
const char* ToString(DeviceState s);
DeviceState DeviceStateFromString(std::string_view s);

struct DeviceRecord {
  std::string user_id;
  std::string device_id;
  std::optional<std::string> display_name;
  DeviceState state = DeviceState::kActive;
  bool is_primary = false;
  std::int64_t created_ts = 0;
  std::optional<std::int64_t> last_seen_ts;
  std::optional<std::string> last_seen_ip;
  std::optional<std::string> last_seen_user_agent;
  std::optional<std::int64_t> wipe_requested_ts;  // X-IM-4: told to wipe at next contact
};

struct TokenRecord {
  std::string user_id;
  std::string device_id;
  std::string token_hash;
};

struct ProfileRecord {
  std::optional<std::string> displayname;
  std::optional<std::string> avatar_url;
};

struct RegistrationTokenRecord {
  std::string token;
  std::optional<std::int64_t> uses_allowed;
  std::int64_t pending = 0;
  std::int64_t completed = 0;
  std::optional<std::int64_t> expiry_ts;
};

class AccountStore {
 public:
  // Users. CreateUser throws sql::UniqueViolation if the id is taken.
  static void CreateUser(sql::Tx& tx, const UserRecord& u);
  static std::optional<UserRecord> GetUser(sql::Tx& tx, std::string_view user_id);
  static std::vector<UserRecord> ListUsers(sql::Tx& tx, std::int64_t from, std::int64_t limit);
  static std::int64_t CountUsers(sql::Tx& tx);
  static void SetPasswordHash(sql::Tx& tx, std::string_view user_id,
                              const std::optional<std::string>& hash);
  static void SetDeactivated(sql::Tx& tx, std::string_view user_id, bool deactivated);
  static void SetAdmin(sql::Tx& tx, std::string_view user_id, bool admin);
  static void SetTenantAdmin(sql::Tx& tx, std::string_view user_id, bool admin);
  static void SetTenant(sql::Tx& tx, std::string_view user_id, std::string_view tenant_id);
  static void SetPersonId(sql::Tx& tx, std::string_view user_id,
                          const std::optional<std::string>& person_id);
  // Other accounts of the same person (same person_id), excluding `user_id`.
  static std::vector<UserRecord> OtherAccountsOfPerson(sql::Tx& tx, std::string_view person_id,
                                                       std::string_view user_id);
  // Users of a tenant, ordered by id.
  static std::vector<UserRecord> ListTenantUsers(sql::Tx& tx, std::string_view tenant_id,
                                                 std::int64_t from, std::int64_t limit);
  static std::int64_t CountTenantUsers(sql::Tx& tx, std::string_view tenant_id);

  // Profiles: absent fields are NULL.
  static ProfileRecord GetProfile(sql::Tx& tx, std::string_view user_id);
  static void SetDisplayName(sql::Tx& tx, std::string_view user_id,
                             const std::optional<std::string>& v);
  static void SetAvatarUrl(sql::Tx& tx, std::string_view user_id,
                           const std::optional<std::string>& v);

  // Devices. UpsertDevice creates the device or, if it exists, keeps its
  // state and primary flag and updates the display name when given.
  static void UpsertDevice(sql::Tx& tx, const DeviceRecord& d);
  static std::optional<DeviceRecord> GetDevice(sql::Tx& tx, std::string_view user_id,
                                               std::string_view device_id);
  static std::vector<DeviceRecord> ListDevices(sql::Tx& tx, std::string_view user_id);
  static void SetDeviceDisplayName(sql::Tx& tx, std::string_view user_id,
                                   std::string_view device_id,
                                   const std::optional<std::string>& name);
  static void TouchDevice(sql::Tx& tx, std::string_view user_id, std::string_view device_id,
                          std::int64_t ts, std::string_view ip, std::string_view user_agent);
  // Deletes the device, its access tokens and its end-to-end keys and
  // to-device inbox (E2eStore::DeleteDevice). Returns false if absent.
  static bool DeleteDevice(sql::Tx& tx, std::string_view user_id, std::string_view device_id);
  static void SetDeviceState(sql::Tx& tx, std::string_view user_id, std::string_view device_id,
                             DeviceState state);
  // Makes `device_id` the user's only primary device (nullopt: none).
  static void SetPrimaryDevice(sql::Tx& tx, std::string_view user_id,
                               const std::optional<std::string>& device_id);
  static void SetWipeRequested(sql::Tx& tx, std::string_view user_id, std::string_view device_id,
                               std::int64_t ts);

  // Access tokens, by SHA-256 hash only: the token itself is never stored.
  static void InsertToken(sql::Tx& tx, const TokenRecord& t, std::int64_t ts);
  static std::optional<TokenRecord> FindToken(sql::Tx& tx, std::string_view token_hash);
  static void DeleteTokensOfDevice(sql::Tx& tx, std::string_view user_id,
                                   std::string_view device_id);
  static std::vector<std::string> TokenHashesOfDevice(sql::Tx& tx, std::string_view user_id,
                                                      std::string_view device_id);

  // Registration tokens (MSC3231 / spec m.login.registration_token).
  static void CreateRegistrationToken(sql::Tx& tx, const RegistrationTokenRecord& r,
                                      std::int64_t ts);
  static std::optional<RegistrationTokenRecord> GetRegistrationToken(sql::Tx& tx,
                                                                     std::string_view token);
  static std::vector<RegistrationTokenRecord> ListRegistrationTokens(sql::Tx& tx);
  // True if the token exists, has not expired at `now_ms` and has uses left.
  static bool RegistrationTokenUsable(sql::Tx& tx, std::string_view token, std::int64_t now_ms);
  // Counts a completed registration against the token if it is still
  // valid at `now_ms` (not expired, uses left). Returns false otherwise.
  // Atomic: two registrations cannot both take a token's last use.
  static bool UseRegistrationToken(sql::Tx& tx, std::string_view token, std::int64_t now_ms);
};

}  // namespace vigie::storage
