// Access tokens: issuing, authenticating and revoking. Tokens are 256
// random bits; only their SHA-256 is stored. A small in-memory cache in
// front of the database makes authentication cost one hash and one map
// lookup on the hot path.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>

#include "service/context.h"
#include "service/stream.h"
#include "storage/sql.h"

namespace vigie::service {

// The authenticated user and device behind a request.
struct Requester {
  std::string user_id;
  std::string device_id;
  std::string tenant_id;
  bool is_admin = false;  // provider (server) admin
  std::string token_hash;
  bool tenant_admin = false;    // administers `tenant_id` only
  bool device_pending = false;  // X-IM-2: waiting for the primary's approval
  bool device_primary = false;  // X-IM-2: the user's primary device
};

class AuthService {
 public:
  AuthService(ServiceContext& ctx, Stream& stream) : ctx_(ctx), stream_(stream) {}

  // A fresh token ("vg_" + 43 characters of URL-safe base64).
  static std::string NewToken();
  static std::string HashToken(std::string_view token);

  // Stores a new token for (user, device) in `tx`; returns the token.
  static std::string IssueToken(sql::Tx& tx, std::string_view user_id, std::string_view device_id);

  // Resolves a token. Throws Error(kUnknownToken) (soft_logout false) if
  // it is unknown or its user deactivated. Records the device's last-seen
  // IP and user agent at most once a minute. X-IM-4: the first request of
  // a device whose wipe was ordered gets kUnknownToken with
  // "io.vigie.wipe": true, and the device and its tokens are deleted, so
  // that the order is given once; standard clients then log out and drop
  // their store.
  boost::asio::awaitable<Requester> Authenticate(std::string_view token, std::string ip,
                                                 std::string user_agent);

  // Drops cached tokens of a user (all devices, or one). Call after any
  // change that revokes tokens, once the transaction has committed.
  void Forget(std::string_view user_id, std::optional<std::string_view> device_id = std::nullopt);

 private:
  struct Cached {
    Requester who;
    std::int64_t last_touch_ms = 0;
  };
  ServiceContext& ctx_;
  Stream& stream_;
  std::shared_mutex mu_;
  std::unordered_map<std::string, Cached> cache_;  // token hash -> entry; guarded by mu_
  // Bumped by Forget, so that a lookup that raced with a revocation does
  // not put the revoked token back into the cache. Guarded by mu_.
  std::uint64_t generation_ = 0;
};

}  // namespace vigie::service
