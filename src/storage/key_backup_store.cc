#include "storage/key_backup_store.h"

namespace vigie::storage {
namespace {

using sql::Str;

constexpr const char* kVersionColumns = "version, algorithm, auth_data, etag, deleted";

BackupVersion VersionOf(const sql::Row& r) {
  return BackupVersion{r.Int(0), r.Text(1), r.Text(2), r.Int(3), r.Bool(4)};
}

// " AND room_id = $3 [AND session_id = $4]" for the filters given, with
// their values appended to `params`.
std::string KeyFilter(const std::optional<std::string>& room_id,
                      const std::optional<std::string>& session_id,
                      std::vector<sql::Value>& params) {
  std::string where;
  if (room_id) {
    params.emplace_back(*room_id);
    where += " AND room_id = $" + std::to_string(params.size());
    if (session_id) {
      params.emplace_back(*session_id);
      where += " AND session_id = $" + std::to_string(params.size());
    }
  }
  return where;
}

}  // namespace

std::optional<BackupVersion> KeyBackupStore::Current(sql::Tx& tx, std::string_view user_id) {
  auto row = tx.QueryOne(std::string("SELECT ") + kVersionColumns +
                             " FROM key_backup_versions WHERE user_id = $1 AND deleted = 0 "
                             "ORDER BY version DESC LIMIT 1",
                         {Str(user_id)});
  if (!row) return std::nullopt;
  return VersionOf(*row);
}

std::optional<BackupVersion> KeyBackupStore::Get(sql::Tx& tx, std::string_view user_id,
                                                 std::int64_t version) {
  auto row = tx.QueryOne(std::string("SELECT ") + kVersionColumns +
                             " FROM key_backup_versions WHERE user_id = $1 AND version = $2",
                         {Str(user_id), version});
  if (!row) return std::nullopt;
  return VersionOf(*row);
}

std::int64_t KeyBackupStore::Create(sql::Tx& tx, std::string_view user_id,
                                    std::string_view algorithm, std::string_view auth_data,
                                    std::int64_t ts) {
  // One writer at a time on SQLite; on PostgreSQL a concurrent creator of
  // the same number hits the primary key and its transaction fails whole.
  auto row = tx.QueryOne(
      "SELECT COALESCE(MAX(version), 0) + 1 FROM key_backup_versions WHERE user_id = $1",
      {Str(user_id)});
  const std::int64_t version = row->Int(0);
  tx.Query(
      "INSERT INTO key_backup_versions (user_id, version, algorithm, auth_data, etag, deleted, "
      "created_ts) VALUES ($1, $2, $3, $4, 0, 0, $5)",
      {Str(user_id), version, Str(algorithm), Str(auth_data), ts});
  return version;
}

void KeyBackupStore::SetAuthData(sql::Tx& tx, std::string_view user_id, std::int64_t version,
                                 std::string_view auth_data) {
  tx.Query("UPDATE key_backup_versions SET auth_data = $3 WHERE user_id = $1 AND version = $2",
           {Str(user_id), version, Str(auth_data)});
}

void KeyBackupStore::MarkDeleted(sql::Tx& tx, std::string_view user_id, std::int64_t version) {
  tx.Query("DELETE FROM key_backup_keys WHERE user_id = $1 AND version = $2",
           {Str(user_id), version});
  tx.Query("UPDATE key_backup_versions SET deleted = 1 WHERE user_id = $1 AND version = $2",
           {Str(user_id), version});
}

void KeyBackupStore::DeleteAllOf(sql::Tx& tx, std::string_view user_id) {
  tx.Query("DELETE FROM key_backup_keys WHERE user_id = $1", {Str(user_id)});
  tx.Query("UPDATE key_backup_versions SET deleted = 1, auth_data = '{}' WHERE user_id = $1",
           {Str(user_id)});
}

std::vector<BackupKey> KeyBackupStore::Keys(sql::Tx& tx, std::string_view user_id,
                                            std::int64_t version,
                                            const std::optional<std::string>& room_id,
                                            const std::optional<std::string>& session_id) {
  std::vector<sql::Value> params{Str(user_id), version};
  const std::string where = KeyFilter(room_id, session_id, params);
  auto res = tx.Query(
      "SELECT room_id, session_id, first_message_index, forwarded_count, is_verified, "
      "session_data FROM key_backup_keys WHERE user_id = $1 AND version = $2" +
          where + " ORDER BY room_id, session_id",
      params);
  std::vector<BackupKey> out;
  out.reserve(res.rows.size());
  for (const auto& r : res.rows) {
    out.push_back({r.Text(0), r.Text(1), r.Int(2), r.Int(3), r.Bool(4), r.Text(5)});
  }
  return out;
}

void KeyBackupStore::PutKey(sql::Tx& tx, std::string_view user_id, std::int64_t version,
                            const BackupKey& k) {
  tx.Query(
      "INSERT INTO key_backup_keys (user_id, version, room_id, session_id, first_message_index, "
      "forwarded_count, is_verified, session_data) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
      "ON CONFLICT (user_id, version, room_id, session_id) DO UPDATE SET "
      "first_message_index = excluded.first_message_index, "
      "forwarded_count = excluded.forwarded_count, is_verified = excluded.is_verified, "
      "session_data = excluded.session_data",
      {Str(user_id), version, k.room_id, k.session_id, k.first_message_index, k.forwarded_count,
       std::int64_t{k.is_verified ? 1 : 0}, k.session_data});
}

std::int64_t KeyBackupStore::DeleteKeys(sql::Tx& tx, std::string_view user_id, std::int64_t version,
                                        const std::optional<std::string>& room_id,
                                        const std::optional<std::string>& session_id) {
  std::vector<sql::Value> params{Str(user_id), version};
  const std::string where = KeyFilter(room_id, session_id, params);
  return tx.Query("DELETE FROM key_backup_keys WHERE user_id = $1 AND version = $2" + where, params)
      .affected;
}

std::int64_t KeyBackupStore::Count(sql::Tx& tx, std::string_view user_id, std::int64_t version) {
  return tx
      .QueryOne("SELECT COUNT(*) FROM key_backup_keys WHERE user_id = $1 AND version = $2",
                {Str(user_id), version})
      ->Int(0);
}

std::int64_t KeyBackupStore::BumpEtag(sql::Tx& tx, std::string_view user_id, std::int64_t version) {
  auto res = tx.Query(
      "UPDATE key_backup_versions SET etag = etag + 1 WHERE user_id = $1 AND version = $2 "
      "RETURNING etag",
      {Str(user_id), version});
  return res.rows.empty() ? 0 : res.rows[0].Int(0);
}

}  // namespace vigie::storage
