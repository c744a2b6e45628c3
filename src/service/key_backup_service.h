// Server-side key backups (spec: client-server API, "Server-side key
// backups"; /room_keys/...). Clients store their megolm session keys,
// encrypted to a backup key the server never sees, so that a new device
// can read old history (X.1606 C3, multi-device).
//
// Rules kept here:
// - a user's current backup is its newest version not deleted; keys can be
//   stored only in the current one (M_WRONG_ROOM_KEYS_VERSION, with
//   `current_version`, otherwise);
// - a stored key is replaced only by a better one: verified beats not
//   verified, then the lower first_message_index, then the lower
//   forwarded_count;
// - every change to a version's keys changes its etag.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>
#include <optional>
#include <string>

#include "service/auth_service.h"
#include "service/context.h"

namespace vigie::service {

inline constexpr const char* kMegolmBackupV1 = "m.megolm_backup.v1.curve25519-aes-sha2";

// Which keys a /room_keys/keys request addresses: all of the version's,
// a room's, or one session's.
struct BackupKeyScope {
  std::optional<std::string> room_id;
  std::optional<std::string> session_id;  // only with room_id
};

class KeyBackupService {
 public:
  explicit KeyBackupService(ServiceContext& ctx) : ctx_(ctx) {}

  // POST /room_keys/version: `body` has algorithm and auth_data. Returns
  // the new version.
  boost::asio::awaitable<std::string> CreateVersion(const Requester& who,
                                                    const boost::json::object& body);
  // GET /room_keys/version[/{version}]: nullopt means the current one.
  // Returns algorithm, auth_data, count, etag and version.
  boost::asio::awaitable<boost::json::object> GetVersion(const Requester& who,
                                                         std::optional<std::string> version);
  // PUT /room_keys/version/{version}: only auth_data changes.
  boost::asio::awaitable<void> UpdateVersion(const Requester& who, const std::string& version,
                                             const boost::json::object& body);
  // DELETE /room_keys/version/{version}: deleting a deleted version succeeds.
  boost::asio::awaitable<void> DeleteVersion(const Requester& who, const std::string& version);

  // PUT /room_keys/keys...: `rooms` maps room id -> {"sessions": {session
  // id -> key data}}. Returns {etag, count}.
  boost::asio::awaitable<boost::json::object> PutKeys(const Requester& who,
                                                      const std::string& version,
                                                      const boost::json::object& rooms);
  // GET /room_keys/keys...: the keys in `scope`, as room id -> {"sessions":
  // {session id -> key data}}.
  boost::asio::awaitable<boost::json::object> GetKeys(const Requester& who,
                                                      const std::string& version,
                                                      const BackupKeyScope& scope);
  // DELETE /room_keys/keys...: returns {etag, count}.
  boost::asio::awaitable<boost::json::object> DeleteKeys(const Requester& who,
                                                         const std::string& version,
                                                         const BackupKeyScope& scope);

 private:
  ServiceContext& ctx_;
};

}  // namespace vigie::service
