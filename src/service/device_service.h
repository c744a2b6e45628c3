// A user's devices: listing, renaming, deleting (with UIA), and the
// X.1606 device controls: approval of pending devices by the primary
// (X-IM-2), notices of every change (X-IM-3), and forced logout, ban and
// remote wipe (X-IM-4).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>
#include <optional>
#include <string>
#include <vector>

#include "service/auth_service.h"
#include "service/stream.h"
#include "service/uia_service.h"
#include "storage/account_store.h"

namespace vigie::service {

class ServerNoticeService;

// X-IM-2: if the user has no primary device any more (none, or it is banned
// or being wiped), makes the oldest active device (by created_ts) the
// primary and audits it. A primary that is pending again (step-up) keeps
// its role. Returns the promoted device, nullopt if a primary exists or no
// device is active. Runs inside the caller's write transaction.
std::optional<std::string> PromotePrimaryIfGone(sql::Tx& tx, const std::string& user_id,
                                                const std::optional<std::string>& tenant_id,
                                                std::string_view actor);

// X-IM-3: posts a server notice about a change in the user's device set.
// Call after the change committed (its device-list change goes in the
// change's own transaction). Never throws: a notice that cannot be sent
// does not undo the change.
boost::asio::awaitable<void> NoticeDeviceChange(ServerNoticeService& notices,
                                                const std::string& user_id, const std::string& kind,
                                                const std::string& body,
                                                boost::json::object details);

// What the user may learn about one device, for messages: its display
// name and id ("Phone (ABCDEF)"), or the id alone.
std::string DeviceLabel(const std::string& device_id, const std::optional<std::string>& name);

class DeviceService {
 public:
  DeviceService(ServiceContext& ctx, AuthService& auth, UiaService& uia, Stream& stream,
                ServerNoticeService& notices)
      : ctx_(ctx), auth_(auth), uia_(uia), stream_(stream), notices_(notices) {}

  // The user's devices; banned ones (X-IM-4) only with `include_banned`.
  boost::asio::awaitable<std::vector<storage::DeviceRecord>> List(const std::string& user_id,
                                                                  bool include_banned = false);
  // Throws M_NOT_FOUND if the user has no such device (or it is banned and
  // `include_banned` is false).
  boost::asio::awaitable<storage::DeviceRecord> Get(const std::string& user_id,
                                                    const std::string& device_id,
                                                    bool include_banned = false);
  boost::asio::awaitable<void> Rename(const Requester& who, const std::string& device_id,
                                      const std::optional<std::string>& name);
  // Deletes devices after UIA (m.login.password), with their end-to-end
  // keys and to-device inboxes; ids the user does not have, and banned
  // devices (whose record is the ban), are ignored, as the spec asks.
  // Renames and deletions are device-list changes. Deleting the primary
  // promotes another device (PromotePrimaryIfGone).
  boost::asio::awaitable<void> Delete(const Requester& who, const std::vector<std::string>& ids,
                                      const boost::json::object* auth);

  // X-IM-2, from the primary device only (M_FORBIDDEN otherwise). Approve
  // makes a pending device active; Deny deletes it (its token dies);
  // both throw M_INVALID_PARAM unless the device is pending. SetPrimary
  // hands the primary role to another active device.
  boost::asio::awaitable<void> Approve(const Requester& who, const std::string& device_id);
  boost::asio::awaitable<void> Deny(const Requester& who, const std::string& device_id);
  boost::asio::awaitable<void> SetPrimary(const Requester& who, const std::string& device_id);

  // X-IM-4, from the primary device, or from another active device after
  // UIA (m.login.password). ForceLogout deletes the device with its
  // tokens, keys and to-device inbox. Ban keeps the device as "banned"
  // (its id cannot log in again), deletes its tokens, keys and inbox and
  // bans its identity keys (KeysService refuses them on upload). Wipe
  // deletes its keys and inbox now and keeps its token, so that at its
  // next request the device is told to erase its data
  // (AuthService::Authenticate) and then deleted. Ban and Wipe refuse the
  // requesting device itself (M_INVALID_PARAM).
  boost::asio::awaitable<void> ForceLogout(const Requester& who, const std::string& device_id,
                                           const boost::json::object* auth);
  boost::asio::awaitable<void> Ban(const Requester& who, const std::string& device_id,
                                   const boost::json::object* auth);
  boost::asio::awaitable<void> Wipe(const Requester& who, const std::string& device_id,
                                    const boost::json::object* auth);

 private:
  // Approve (pending -> active) or deny (delete) a pending device.
  boost::asio::awaitable<void> DecidePending(const Requester& who, const std::string& device_id,
                                             bool approve);
  // Throws M_FORBIDDEN ("io.vigie.requirement": X-IM-2) unless the
  // requesting device is the user's active primary.
  void RequirePrimary(sql::Tx& tx, const Requester& who) const;
  // X-IM-4 authorisation: returns "primary" or, after UIA, "reauth".
  boost::asio::awaitable<std::string> RequireControl(const Requester& who,
                                                     const std::string& operation,
                                                     const boost::json::object* auth);

  ServiceContext& ctx_;
  AuthService& auth_;
  UiaService& uia_;
  Stream& stream_;
  ServerNoticeService& notices_;
};

}  // namespace vigie::service
