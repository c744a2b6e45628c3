// End-to-end encryption data: device keys, one-time and fallback keys,
// cross-signing keys and signatures, device-list changes and to-device
// messages. JSON columns hold the objects exactly as clients uploaded them.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "storage/sql.h"

namespace vigie::storage {

struct ClaimedKey {
  std::string key_id;  // "<algorithm>:<id>"
  std::string json;    // the key object (or string) as uploaded
};

struct ToDeviceRecord {
  std::int64_t stream_pos = 0;
  std::string sender;
  std::string type;
  std::string content;  // JSON object text
};

struct SignatureRecord {
  std::string target_user_id;
  std::string target_key_id;  // a device id or a cross-signing public key
  std::string signer_user_id;
  std::string signer_key_id;  // "ed25519:<key>"
  std::string signature;
};

class E2eStore {
 public:
  // Device keys.
  static std::optional<std::string> GetDeviceKeys(sql::Tx& tx, std::string_view user_id,
                                                  std::string_view device_id);
  static void SetDeviceKeys(sql::Tx& tx, std::string_view user_id, std::string_view device_id,
                            std::string_view json, std::int64_t ts);
  // device_id -> key JSON, for every device of `user_id` that has keys.
  static std::map<std::string, std::string> DeviceKeysOfUser(sql::Tx& tx, std::string_view user_id);
  // Removes the device's keys, one-time keys, fallback keys, signatures on
  // it and its to-device inbox.
  static void DeleteDevice(sql::Tx& tx, std::string_view user_id, std::string_view device_id);

  // One-time keys. Returns false if the key id already exists (with any
  // content); the caller compares.
  static std::optional<std::string> GetOneTimeKey(sql::Tx& tx, std::string_view user_id,
                                                  std::string_view device_id,
                                                  std::string_view algorithm,
                                                  std::string_view key_id);
  static void AddOneTimeKey(sql::Tx& tx, std::string_view user_id, std::string_view device_id,
                            std::string_view algorithm, std::string_view key_id,
                            std::string_view json);
  // algorithm -> count of unclaimed keys.
  static std::map<std::string, std::int64_t> OneTimeKeyCounts(sql::Tx& tx, std::string_view user_id,
                                                              std::string_view device_id);
  // Removes and returns one unclaimed key of `algorithm`. Safe against
  // concurrent claims on both engines: a key is returned to one caller only.
  static std::optional<ClaimedKey> ClaimOneTimeKey(sql::Tx& tx, std::string_view user_id,
                                                   std::string_view device_id,
                                                   std::string_view algorithm);

  // Fallback keys: one per algorithm; a new one replaces the old.
  static void SetFallbackKey(sql::Tx& tx, std::string_view user_id, std::string_view device_id,
                             std::string_view algorithm, std::string_view key_id,
                             std::string_view json);
  // Returns the fallback key of `algorithm` and marks it used.
  static std::optional<ClaimedKey> ClaimFallbackKey(sql::Tx& tx, std::string_view user_id,
                                                    std::string_view device_id,
                                                    std::string_view algorithm);

  // What every /sync tells a device, read in one statement: its unclaimed
  // one-time keys per algorithm, its unused fallback key algorithms
  // (sorted), and whether it has to-device messages at or below `acked`
  // (delivered by an earlier sync, so now deletable).
  struct DeviceSyncState {
    std::map<std::string, std::int64_t> one_time_keys;
    std::vector<std::string> unused_fallback;
    bool acked_to_device = false;
  };
  static DeviceSyncState SyncStateOf(sql::Tx& tx, std::string_view user_id,
                                     std::string_view device_id, std::int64_t acked);

  // Cross-signing keys: key_type is master, self_signing or user_signing.
  struct CrossSigningKey {
    std::string public_key;  // unpadded base64
    std::string json;
  };
  static std::optional<CrossSigningKey> GetCrossSigningKey(sql::Tx& tx, std::string_view user_id,
                                                           std::string_view key_type);
  static void SetCrossSigningKey(sql::Tx& tx, std::string_view user_id, std::string_view key_type,
                                 std::string_view public_key, std::string_view json);

  // Signatures uploaded separately from the object they sign.
  static void AddSignature(sql::Tx& tx, const SignatureRecord& s);
  static std::vector<SignatureRecord> SignaturesOn(sql::Tx& tx, std::string_view target_user_id);

  // Device-list changes: `user_id`'s devices or keys changed at `pos`.
  static void AddDeviceListChange(sql::Tx& tx, std::string_view user_id, std::int64_t pos);
  // Users whose device lists changed in (from, to] among the users sharing
  // a joined room with `user_id` (including itself).
  static std::vector<std::string> DeviceListChangesVisibleTo(sql::Tx& tx, std::string_view user_id,
                                                             std::int64_t from, std::int64_t to);
  // Users whose membership in a room `user_id` is or was in changed in
  // (from, to], or who are in a room whose membership of `user_id` changed
  // then (the candidates for "joined" and "left").
  static std::vector<std::string> MembershipPeersChanged(sql::Tx& tx, std::string_view user_id,
                                                         std::int64_t from, std::int64_t to);

  // To-device messages.
  static void AddToDevice(sql::Tx& tx, std::string_view user_id, std::string_view device_id,
                          std::int64_t pos, std::string_view sender, std::string_view type,
                          std::string_view content);
  // Messages for the device at positions in (from, to], oldest first.
  static std::vector<ToDeviceRecord> ToDeviceFor(sql::Tx& tx, std::string_view user_id,
                                                 std::string_view device_id, std::int64_t from,
                                                 std::int64_t to);
  // Deletes the messages at or below `upto`; returns how many.
  static std::int64_t DeleteToDeviceUpTo(sql::Tx& tx, std::string_view user_id,
                                         std::string_view device_id, std::int64_t upto);
  // Records a send's transaction id; false if it was already recorded.
  static bool AddToDeviceTxn(sql::Tx& tx, std::string_view user_id, std::string_view device_id,
                             std::string_view txn_id, std::int64_t ts);

  // X-IM-4: identity keys of banned devices, `banned_device_keys(user_id,
  // key) -> key_id, ts`. Banning a key twice keeps the first record.
  static void BanKey(sql::Tx& tx, std::string_view user_id, std::string_view key_id,
                     std::string_view key, std::int64_t ts);
  static bool KeyBanned(sql::Tx& tx, std::string_view user_id, std::string_view key);
};

}  // namespace vigie::storage
