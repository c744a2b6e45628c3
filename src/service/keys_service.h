// End-to-end encryption keys (spec: client-server API, "End-to-End
// Encryption"): device keys, one-time and fallback keys, cross-signing keys
// and signatures, device-list changes; and send-to-device messaging.
//
// Key objects are kept as the JSON clients uploaded, so that the
// signatures on them stay verifiable; signatures uploaded later
// (/keys/signatures/upload) are stored apart and merged in on query.
// Every change to a user's device list takes a stream position
// (`device_list_changes`), which /sync and /keys/changes read.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>
#include <string>
#include <vector>

#include "service/auth_service.h"
#include "service/context.h"
#include "service/stream.h"
#include "service/uia_service.h"

namespace vigie::service {

struct DeviceListDelta {
  std::vector<std::string> changed;
  std::vector<std::string> left;
};

// Users sharing a room with `user_id` whose device lists changed in
// (from, to] or who newly share a room (changed), and users who no longer
// share any room with it after a membership change in (from, to] (left).
// Runs inside the caller's transaction.
DeviceListDelta DeviceListChanges(sql::Tx& tx, const std::string& user_id, std::int64_t from,
                                  std::int64_t to);

// Records a device-list change of `user_id` at a new position and wakes
// the users who share a room with it. Call inside a Stream::Submit write.
void NoteDeviceListChange(sql::Tx& tx, const std::string& user_id, const Stream::NextPos& next_pos,
                          Stream::Effects& effects);

class KeysService {
 public:
  KeysService(ServiceContext& ctx, Stream& stream, UiaService& uia)
      : ctx_(ctx), stream_(stream), uia_(uia) {}

  // POST /keys/upload: `body` holds device_keys, one_time_keys,
  // fallback_keys. Returns the device's one_time_key_counts.
  boost::asio::awaitable<boost::json::object> Upload(const Requester& who,
                                                     const boost::json::object& body);
  // POST /keys/query: `device_keys` maps user ids to device id lists
  // (empty: all). Returns the response body.
  boost::asio::awaitable<boost::json::object> Query(const Requester& who,
                                                    const boost::json::object& device_keys);
  // POST /keys/claim: `one_time_keys` maps user id -> device id ->
  // algorithm. Each one-time key is handed out once; when a device has none
  // left, its fallback key (marked used). Returns the response body.
  boost::asio::awaitable<boost::json::object> Claim(const Requester& who,
                                                    const boost::json::object& one_time_keys);
  // GET /keys/changes between two sync tokens.
  boost::asio::awaitable<DeviceListDelta> Changes(const Requester& who, const std::string& from,
                                                  const std::string& to);
  // POST /keys/device_signing/upload. Throws M_INVALID_SIGNATURE when a
  // self-signing or user-signing key is not signed by the master key.
  boost::asio::awaitable<void> UploadDeviceSigning(const Requester& who,
                                                   const boost::json::object& body);
  // POST /keys/signatures/upload. Returns the `failures` map.
  boost::asio::awaitable<boost::json::object> UploadSignatures(const Requester& who,
                                                               const boost::json::object& body);

 private:
  ServiceContext& ctx_;
  Stream& stream_;
  UiaService& uia_;
};

class ToDeviceService {
 public:
  ToDeviceService(ServiceContext& ctx, Stream& stream) : ctx_(ctx), stream_(stream) {}

  // PUT /sendToDevice/{type}/{txnId}: `messages` maps user id -> device id
  // (or "*" for all the user's devices) -> content. A repeated txn_id from
  // the same device is accepted and ignored. Only local users receive.
  boost::asio::awaitable<void> Send(const Requester& who, const std::string& type,
                                    const std::string& txn_id, const boost::json::object& messages);

 private:
  ServiceContext& ctx_;
  Stream& stream_;
};

}  // namespace vigie::service
