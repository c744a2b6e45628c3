#include "storage/media_store.h"

namespace vigie::storage {
namespace {

sql::Value OptText(const std::optional<std::string>& s) { return s ? sql::Value(*s) : sql::kNull; }

}  // namespace

void MediaStore::Insert(sql::Tx& tx, const MediaRow& r) {
  tx.Query(
      "INSERT INTO media (media_id, sha256, size, content_type, upload_name, user_id, tenant_id, "
      "created_ts, unused_expires_ts) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
      {r.media_id, OptText(r.sha256), r.size, OptText(r.content_type), OptText(r.upload_name),
       r.user_id, r.tenant_id, r.created_ts,
       r.unused_expires_ts ? sql::Value(*r.unused_expires_ts) : sql::kNull});
}

std::optional<MediaRow> MediaStore::Get(sql::Tx& tx, const std::string& media_id) {
  auto row = tx.QueryOne(
      "SELECT media_id, sha256, size, content_type, upload_name, user_id, tenant_id, created_ts, "
      "unused_expires_ts FROM media WHERE media_id = $1",
      {media_id});
  if (!row) return std::nullopt;
  return MediaRow{row->Text(0), row->OptText(1), row->Int(2), row->OptText(3), row->OptText(4),
                  row->Text(5), row->Text(6),    row->Int(7), row->OptInt(8)};
}

bool MediaStore::Complete(sql::Tx& tx, const std::string& media_id, const std::string& sha256,
                          std::int64_t size, const std::optional<std::string>& content_type,
                          const std::optional<std::string>& upload_name) {
  auto res = tx.Query(
      "UPDATE media SET sha256 = $2, size = $3, content_type = $4, upload_name = $5, "
      "unused_expires_ts = NULL WHERE media_id = $1 AND sha256 IS NULL",
      {media_id, sha256, size, OptText(content_type), OptText(upload_name)});
  return res.affected == 1;
}

std::int64_t MediaStore::UsageBytes(sql::Tx& tx, const std::string& user_id) {
  auto row = tx.QueryOne("SELECT COALESCE(SUM(size), 0) FROM media WHERE user_id = $1", {user_id});
  return row ? row->Int(0) : 0;
}

std::int64_t MediaStore::PendingCount(sql::Tx& tx, const std::string& user_id,
                                      std::int64_t now_ms) {
  auto row = tx.QueryOne(
      "SELECT COUNT(*) FROM media WHERE user_id = $1 AND sha256 IS NULL AND "
      "unused_expires_ts > $2",
      {user_id, now_ms});
  return row ? row->Int(0) : 0;
}

std::int64_t MediaStore::DeleteExpiredPending(sql::Tx& tx, std::int64_t now_ms) {
  return tx.Query("DELETE FROM media WHERE sha256 IS NULL AND unused_expires_ts <= $1", {now_ms})
      .affected;
}

bool MediaStore::Delete(sql::Tx& tx, const std::string& media_id) {
  return tx.Query("DELETE FROM media WHERE media_id = $1", {media_id}).affected == 1;
}

bool MediaStore::IsReferenced(sql::Tx& tx, const std::string& sha256) {
  return tx.QueryOne("SELECT 1 FROM media WHERE sha256 = $1 LIMIT 1", {sha256}).has_value();
}

std::set<std::string> MediaStore::ReferencedWithPrefix(sql::Tx& tx, const std::string& prefix) {
  // A range rather than LIKE, so that the sha256 index serves it. The
  // upper bound appends 'g', above every hex digit in byte order and in
  // the usual locale collations alike.
  auto rows = tx.Query(
      "SELECT DISTINCT sha256 FROM media WHERE sha256 >= CAST($1 AS TEXT) AND "
      "sha256 < CAST($2 AS TEXT)",
      {prefix, prefix + "g"});
  std::set<std::string> out;
  for (const auto& r : rows.rows) out.insert(r.Text(0));
  return out;
}

}  // namespace vigie::storage
