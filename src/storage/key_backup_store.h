// Server-side key backups (spec: "Server-side key backups"): per user, a
// sequence of backup versions, of which the newest not deleted is the
// current one, each holding encrypted megolm session keys by room and
// session. The server never sees the keys: `session_data` and `auth_data`
// are opaque JSON kept as uploaded.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "storage/sql.h"

namespace vigie::storage {

struct BackupVersion {
  std::int64_t version = 0;
  std::string algorithm;
  std::string auth_data;  // JSON object text
  std::int64_t etag = 0;  // bumped by every change to the version's keys
  bool deleted = false;
};

struct BackupKey {
  std::string room_id;
  std::string session_id;
  std::int64_t first_message_index = 0;
  std::int64_t forwarded_count = 0;
  bool is_verified = false;
  std::string session_data;  // JSON object text
};

class KeyBackupStore {
 public:
  // The newest version of `user_id` that is not deleted.
  static std::optional<BackupVersion> Current(sql::Tx& tx, std::string_view user_id);
  // Any version, deleted or not.
  static std::optional<BackupVersion> Get(sql::Tx& tx, std::string_view user_id,
                                          std::int64_t version);
  // Creates the next version (one more than any the user ever had).
  static std::int64_t Create(sql::Tx& tx, std::string_view user_id, std::string_view algorithm,
                             std::string_view auth_data, std::int64_t ts);
  static void SetAuthData(sql::Tx& tx, std::string_view user_id, std::int64_t version,
                          std::string_view auth_data);
  // Marks the version deleted and deletes its keys.
  static void MarkDeleted(sql::Tx& tx, std::string_view user_id, std::int64_t version);
  // Deletes every version and key of the user (deactivation).
  static void DeleteAllOf(sql::Tx& tx, std::string_view user_id);

  // Keys of a version, optionally only of one room, or one session in it.
  static std::vector<BackupKey> Keys(sql::Tx& tx, std::string_view user_id, std::int64_t version,
                                     const std::optional<std::string>& room_id,
                                     const std::optional<std::string>& session_id);
  static void PutKey(sql::Tx& tx, std::string_view user_id, std::int64_t version,
                     const BackupKey& key);
  // Returns how many keys were deleted.
  static std::int64_t DeleteKeys(sql::Tx& tx, std::string_view user_id, std::int64_t version,
                                 const std::optional<std::string>& room_id,
                                 const std::optional<std::string>& session_id);
  static std::int64_t Count(sql::Tx& tx, std::string_view user_id, std::int64_t version);
  // Increments the version's etag and returns the new value.
  static std::int64_t BumpEtag(sql::Tx& tx, std::string_view user_id, std::int64_t version);
};

}  // namespace vigie::storage
