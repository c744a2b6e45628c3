#include "storage/e2e_store.h"

#include <algorithm>

namespace vigie::storage {

using sql::Str;

std::optional<std::string> E2eStore::GetDeviceKeys(sql::Tx& tx, std::string_view user_id,
                                                   std::string_view device_id) {
  auto row = tx.QueryOne("SELECT json FROM e2e_device_keys WHERE user_id = $1 AND device_id = $2",
                         {Str(user_id), Str(device_id)});
  if (!row) return std::nullopt;
  return row->Text(0);
}

void E2eStore::SetDeviceKeys(sql::Tx& tx, std::string_view user_id, std::string_view device_id,
                             std::string_view json, std::int64_t ts) {
  tx.Query(
      "INSERT INTO e2e_device_keys (user_id, device_id, json, ts) VALUES ($1, $2, $3, $4) "
      "ON CONFLICT (user_id, device_id) DO UPDATE SET json = excluded.json, ts = excluded.ts",
      {Str(user_id), Str(device_id), Str(json), ts});
}

std::map<std::string, std::string> E2eStore::DeviceKeysOfUser(sql::Tx& tx,
                                                              std::string_view user_id) {
  auto res =
      tx.Query("SELECT device_id, json FROM e2e_device_keys WHERE user_id = $1", {Str(user_id)});
  std::map<std::string, std::string> out;
  for (const auto& r : res.rows) out.emplace(r.Text(0), r.Text(1));
  return out;
}

void E2eStore::BanKey(sql::Tx& tx, std::string_view user_id, std::string_view key_id,
                      std::string_view key, std::int64_t ts) {
  tx.Query(
      "INSERT INTO banned_device_keys (user_id, key_id, key, ts) VALUES ($1, $2, $3, $4) "
      "ON CONFLICT (user_id, key) DO NOTHING",
      {Str(user_id), Str(key_id), Str(key), ts});
}

bool E2eStore::KeyBanned(sql::Tx& tx, std::string_view user_id, std::string_view key) {
  return tx
      .QueryOne("SELECT 1 FROM banned_device_keys WHERE user_id = $1 AND key = $2",
                {Str(user_id), Str(key)})
      .has_value();
}

void E2eStore::DeleteDevice(sql::Tx& tx, std::string_view user_id, std::string_view device_id) {
  for (const char* table : {"e2e_device_keys", "e2e_one_time_keys", "e2e_fallback_keys",
                            "to_device_messages", "to_device_txns"}) {
    tx.Query(std::string("DELETE FROM ") + table + " WHERE user_id = $1 AND device_id = $2",
             {Str(user_id), Str(device_id)});
  }
  tx.Query("DELETE FROM e2e_signatures WHERE target_user_id = $1 AND target_key_id = $2",
           {Str(user_id), Str(device_id)});
}

std::optional<std::string> E2eStore::GetOneTimeKey(sql::Tx& tx, std::string_view user_id,
                                                   std::string_view device_id,
                                                   std::string_view algorithm,
                                                   std::string_view key_id) {
  auto row = tx.QueryOne(
      "SELECT json FROM e2e_one_time_keys WHERE user_id = $1 AND device_id = $2 AND algorithm = "
      "$3 AND key_id = $4",
      {Str(user_id), Str(device_id), Str(algorithm), Str(key_id)});
  if (!row) return std::nullopt;
  return row->Text(0);
}

void E2eStore::AddOneTimeKey(sql::Tx& tx, std::string_view user_id, std::string_view device_id,
                             std::string_view algorithm, std::string_view key_id,
                             std::string_view json) {
  tx.Query(
      "INSERT INTO e2e_one_time_keys (user_id, device_id, algorithm, key_id, json) VALUES ($1, "
      "$2, $3, $4, $5)",
      {Str(user_id), Str(device_id), Str(algorithm), Str(key_id), Str(json)});
}

std::map<std::string, std::int64_t> E2eStore::OneTimeKeyCounts(sql::Tx& tx,
                                                               std::string_view user_id,
                                                               std::string_view device_id) {
  auto res = tx.Query(
      "SELECT algorithm, COUNT(*) FROM e2e_one_time_keys WHERE user_id = $1 AND device_id = $2 "
      "GROUP BY algorithm",
      {Str(user_id), Str(device_id)});
  std::map<std::string, std::int64_t> out;
  for (const auto& r : res.rows) out[r.Text(0)] = r.Int(1);
  return out;
}

std::optional<ClaimedKey> E2eStore::ClaimOneTimeKey(sql::Tx& tx, std::string_view user_id,
                                                    std::string_view device_id,
                                                    std::string_view algorithm) {
  // One statement picks and deletes a key. SQLite has one writer, so the
  // pick cannot race. PostgreSQL writes run at READ COMMITTED: SKIP LOCKED
  // lets concurrent claimers pick different rows, and a claimer whose row
  // was deleted under it re-checks the row, finds it gone and deletes
  // nothing, so it tries again.
  const std::string pick =
      tx.dialect() == sql::Dialect::kPostgres
          ? "SELECT key_id FROM e2e_one_time_keys WHERE user_id = $1 AND device_id = $2 AND "
            "algorithm = $3 ORDER BY key_id LIMIT 1 FOR UPDATE SKIP LOCKED"
          : "SELECT key_id FROM e2e_one_time_keys WHERE user_id = $1 AND device_id = $2 AND "
            "algorithm = $3 ORDER BY key_id LIMIT 1";
  const std::string sql =
      "DELETE FROM e2e_one_time_keys WHERE user_id = $1 AND device_id = $2 AND algorithm = $3 AND "
      "key_id = (" +
      pick + ") RETURNING key_id, json";
  for (int attempt = 0; attempt < 16; ++attempt) {
    auto res = tx.Query(sql, {Str(user_id), Str(device_id), Str(algorithm)});
    if (!res.rows.empty()) {
      return ClaimedKey{std::string(algorithm) + ":" + res.rows[0].Text(0), res.rows[0].Text(1)};
    }
    auto left = tx.QueryOne(
        "SELECT 1 FROM e2e_one_time_keys WHERE user_id = $1 AND device_id = $2 AND algorithm = $3 "
        "LIMIT 1",
        {Str(user_id), Str(device_id), Str(algorithm)});
    if (!left) return std::nullopt;
  }
  return std::nullopt;
}

void E2eStore::SetFallbackKey(sql::Tx& tx, std::string_view user_id, std::string_view device_id,
                              std::string_view algorithm, std::string_view key_id,
                              std::string_view json) {
  tx.Query(
      "INSERT INTO e2e_fallback_keys (user_id, device_id, algorithm, key_id, json, used) VALUES "
      "($1, $2, $3, $4, $5, 0) ON CONFLICT (user_id, device_id, algorithm) DO UPDATE SET key_id "
      "= excluded.key_id, json = excluded.json, used = CASE WHEN e2e_fallback_keys.key_id = "
      "excluded.key_id THEN e2e_fallback_keys.used ELSE 0 END",
      {Str(user_id), Str(device_id), Str(algorithm), Str(key_id), Str(json)});
}

std::optional<ClaimedKey> E2eStore::ClaimFallbackKey(sql::Tx& tx, std::string_view user_id,
                                                     std::string_view device_id,
                                                     std::string_view algorithm) {
  auto res = tx.Query(
      "UPDATE e2e_fallback_keys SET used = 1 WHERE user_id = $1 AND device_id = $2 AND algorithm "
      "= $3 RETURNING key_id, json",
      {Str(user_id), Str(device_id), Str(algorithm)});
  if (res.rows.empty()) return std::nullopt;
  return ClaimedKey{std::string(algorithm) + ":" + res.rows[0].Text(0), res.rows[0].Text(1)};
}

E2eStore::DeviceSyncState E2eStore::SyncStateOf(sql::Tx& tx, std::string_view user_id,
                                                std::string_view device_id, std::int64_t acked) {
  auto res = tx.Query(
      "SELECT 0, algorithm, COUNT(*) FROM e2e_one_time_keys WHERE user_id = $1 AND device_id = $2 "
      "GROUP BY algorithm "
      "UNION ALL SELECT 1, algorithm, 0 FROM e2e_fallback_keys WHERE user_id = $1 AND "
      "device_id = $2 AND used = 0 "
      "UNION ALL SELECT 2, '', 0 FROM (SELECT 1 FROM to_device_messages WHERE user_id = $1 AND "
      "device_id = $2 AND stream_pos <= $3 LIMIT 1) t",
      {Str(user_id), Str(device_id), acked});
  DeviceSyncState out;
  for (const auto& r : res.rows) {
    switch (r.Int(0)) {
      case 0:
        out.one_time_keys[r.Text(1)] = r.Int(2);
        break;
      case 1:
        out.unused_fallback.push_back(r.Text(1));
        break;
      default:
        out.acked_to_device = true;
    }
  }
  std::sort(out.unused_fallback.begin(), out.unused_fallback.end());
  return out;
}

std::optional<E2eStore::CrossSigningKey> E2eStore::GetCrossSigningKey(sql::Tx& tx,
                                                                      std::string_view user_id,
                                                                      std::string_view key_type) {
  auto row = tx.QueryOne(
      "SELECT public_key, json FROM e2e_cross_signing_keys WHERE user_id = $1 AND key_type = $2",
      {Str(user_id), Str(key_type)});
  if (!row) return std::nullopt;
  return CrossSigningKey{row->Text(0), row->Text(1)};
}

void E2eStore::SetCrossSigningKey(sql::Tx& tx, std::string_view user_id, std::string_view key_type,
                                  std::string_view public_key, std::string_view json) {
  tx.Query(
      "INSERT INTO e2e_cross_signing_keys (user_id, key_type, public_key, json) VALUES ($1, $2, "
      "$3, $4) ON CONFLICT (user_id, key_type) DO UPDATE SET public_key = excluded.public_key, "
      "json = excluded.json",
      {Str(user_id), Str(key_type), Str(public_key), Str(json)});
}

void E2eStore::AddSignature(sql::Tx& tx, const SignatureRecord& s) {
  tx.Query(
      "INSERT INTO e2e_signatures (target_user_id, target_key_id, signer_user_id, signer_key_id, "
      "signature) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (target_user_id, target_key_id, "
      "signer_user_id, signer_key_id) DO UPDATE SET signature = excluded.signature",
      {s.target_user_id, s.target_key_id, s.signer_user_id, s.signer_key_id, s.signature});
}

std::vector<SignatureRecord> E2eStore::SignaturesOn(sql::Tx& tx, std::string_view target_user_id) {
  auto res = tx.Query(
      "SELECT target_user_id, target_key_id, signer_user_id, signer_key_id, signature FROM "
      "e2e_signatures WHERE target_user_id = $1",
      {Str(target_user_id)});
  std::vector<SignatureRecord> out;
  for (const auto& r : res.rows) {
    out.push_back({r.Text(0), r.Text(1), r.Text(2), r.Text(3), r.Text(4)});
  }
  return out;
}

void E2eStore::AddDeviceListChange(sql::Tx& tx, std::string_view user_id, std::int64_t pos) {
  tx.Query(
      "INSERT INTO device_list_changes (user_id, stream_pos) VALUES ($1, $2) ON CONFLICT DO "
      "NOTHING",
      {Str(user_id), pos});
}

std::vector<std::string> E2eStore::DeviceListChangesVisibleTo(sql::Tx& tx, std::string_view user_id,
                                                              std::int64_t from, std::int64_t to) {
  auto res = tx.Query(
      "SELECT DISTINCT c.user_id FROM device_list_changes c WHERE c.stream_pos > $2 AND "
      "c.stream_pos <= $3 AND (c.user_id = $1 OR EXISTS (SELECT 1 FROM memberships m JOIN "
      "memberships o ON o.room_nid = m.room_nid WHERE m.user_id = $1 AND m.membership = 'join' "
      "AND o.user_id = c.user_id AND o.membership = 'join')) ORDER BY c.user_id",
      {Str(user_id), from, to});
  std::vector<std::string> out;
  for (const auto& r : res.rows) out.push_back(r.Text(0));
  return out;
}

std::vector<std::string> E2eStore::MembershipPeersChanged(sql::Tx& tx, std::string_view user_id,
                                                          std::int64_t from, std::int64_t to) {
  auto res = tx.Query(
      "SELECT DISTINCT o.user_id FROM memberships m JOIN memberships o ON o.room_nid = "
      "m.room_nid WHERE m.user_id = $1 AND o.user_id <> $1 AND ((o.stream_pos > $2 AND "
      "o.stream_pos <= $3) OR (m.stream_pos > $2 AND m.stream_pos <= $3)) ORDER BY o.user_id",
      {Str(user_id), from, to});
  std::vector<std::string> out;
  for (const auto& r : res.rows) out.push_back(r.Text(0));
  return out;
}

void E2eStore::AddToDevice(sql::Tx& tx, std::string_view user_id, std::string_view device_id,
                           std::int64_t pos, std::string_view sender, std::string_view type,
                           std::string_view content) {
  tx.Query(
      "INSERT INTO to_device_messages (user_id, device_id, stream_pos, sender, type, content) "
      "VALUES ($1, $2, $3, $4, $5, $6)",
      {Str(user_id), Str(device_id), pos, Str(sender), Str(type), Str(content)});
}

std::vector<ToDeviceRecord> E2eStore::ToDeviceFor(sql::Tx& tx, std::string_view user_id,
                                                  std::string_view device_id, std::int64_t from,
                                                  std::int64_t to) {
  auto res = tx.Query(
      "SELECT stream_pos, sender, type, content FROM to_device_messages WHERE user_id = $1 AND "
      "device_id = $2 AND stream_pos > $3 AND stream_pos <= $4 ORDER BY stream_pos",
      {Str(user_id), Str(device_id), from, to});
  std::vector<ToDeviceRecord> out;
  for (const auto& r : res.rows) out.push_back({r.Int(0), r.Text(1), r.Text(2), r.Text(3)});
  return out;
}

std::int64_t E2eStore::DeleteToDeviceUpTo(sql::Tx& tx, std::string_view user_id,
                                          std::string_view device_id, std::int64_t upto) {
  return tx
      .Query(
          "DELETE FROM to_device_messages WHERE user_id = $1 AND device_id = $2 AND stream_pos <= "
          "$3",
          {Str(user_id), Str(device_id), upto})
      .affected;
}

bool E2eStore::AddToDeviceTxn(sql::Tx& tx, std::string_view user_id, std::string_view device_id,
                              std::string_view txn_id, std::int64_t ts) {
  return tx.Query(
               "INSERT INTO to_device_txns (user_id, device_id, txn_id, ts) VALUES ($1, $2, $3, "
               "$4) ON CONFLICT DO NOTHING",
               {Str(user_id), Str(device_id), Str(txn_id), ts})
             .affected > 0;
}

}  // namespace vigie::storage
