// Queries of the admin API that AccountStore's per-user methods do not
// answer in one statement: a filtered, paged list of users with their
// profiles. Stateless: every method runs inside the caller's transaction.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "storage/account_store.h"
#include "storage/sql.h"

namespace vigie::storage {

// Which users a listing covers. Absent fields do not filter. Matching is
// case-insensitive and literal (no wildcards).
struct UserFilter {
  std::optional<std::string> tenant_id;
  // Contained in the localpart or in the display name. Localparts are
  // matched as `@<localpart>:<server_name>`, so `server_name` must be set
  // with `name`.
  std::optional<std::string> name;
  std::string server_name;
  std::optional<std::string> user_id;  // contained in the full user id
  bool include_deactivated = false;
};

struct UserWithProfile {
  UserRecord user;
  ProfileRecord profile;
};

class AdminStore {
 public:
  // Users matching `f`, ordered by user id, skipping `from`, at most `limit`.
  static std::vector<UserWithProfile> ListUsers(sql::Tx& tx, const UserFilter& f, std::int64_t from,
                                                std::int64_t limit);
  // How many users match `f`.
  static std::int64_t CountUsers(sql::Tx& tx, const UserFilter& f);
};

}  // namespace vigie::storage
