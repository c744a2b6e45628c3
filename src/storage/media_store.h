// The media repository's metadata: one row per media id. The bytes live on
// disk, content-addressed by SHA-256 (service/media_service.h); several ids
// may name the same content. A row with a NULL sha256 is an id reserved by
// POST /_matrix/media/v1/create and not yet uploaded.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>

#include "storage/sql.h"

namespace vigie::storage {

struct MediaRow {
  std::string media_id;
  std::optional<std::string> sha256;  // hex; nullopt while pending
  std::int64_t size = 0;
  std::optional<std::string> content_type;
  std::optional<std::string> upload_name;
  std::string user_id;
  std::string tenant_id;
  std::int64_t created_ts = 0;
  std::optional<std::int64_t> unused_expires_ts;  // pending ids only
};

class MediaStore {
 public:
  // Throws sql::UniqueViolation if the id exists.
  static void Insert(sql::Tx& tx, const MediaRow& row);
  static std::optional<MediaRow> Get(sql::Tx& tx, const std::string& media_id);
  // Fills a pending id. Returns false (and changes nothing) if the id is not
  // pending any more.
  static bool Complete(sql::Tx& tx, const std::string& media_id, const std::string& sha256,
                       std::int64_t size, const std::optional<std::string>& content_type,
                       const std::optional<std::string>& upload_name);
  // Sum of the sizes of the user's uploaded media.
  static std::int64_t UsageBytes(sql::Tx& tx, const std::string& user_id);
  // The user's pending ids that have not expired at `now_ms`.
  static std::int64_t PendingCount(sql::Tx& tx, const std::string& user_id, std::int64_t now_ms);
  // Deletes pending ids that expired before `now_ms`; returns how many.
  static std::int64_t DeleteExpiredPending(sql::Tx& tx, std::int64_t now_ms);
  // Deletes one id; returns false if there was none.
  static bool Delete(sql::Tx& tx, const std::string& media_id);
  // Whether any id names the content `sha256`.
  static bool IsReferenced(sql::Tx& tx, const std::string& sha256);
  // The distinct content hashes named by some id that begin with `prefix`
  // (lower-case hex digits, e.g. "ab").
  static std::set<std::string> ReferencedWithPrefix(sql::Tx& tx, const std::string& prefix);
};

}  // namespace vigie::storage
