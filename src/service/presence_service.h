// Presence (online, unavailable, offline, with a status message). Stored
// with a stream position so that /sync delivers changes to the users who
// share a room with the subject.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "service/auth_service.h"
#include "service/policy_service.h"
#include "service/stream.h"
#include "storage/user_data_store.h"

namespace vigie::service {

class PresenceService {
 public:
  PresenceService(ServiceContext& ctx, Stream& stream, PolicyService& policy)
      : ctx_(ctx), stream_(stream), policy_(policy) {}

  // PUT /presence/{userId}/status: only the user themself.
  boost::asio::awaitable<void> Set(const Requester& who, const std::string& user_id,
                                   const std::string& state,
                                   const std::optional<std::string>& status_msg);
  // Throws M_FORBIDDEN (with "io.vigie.requirement": "C4") for a user of
  // a tenant `who` may not contact, even one sharing a room since before
  // a link was removed; M_FORBIDDEN unless `who` shares a room with
  // `user_id` (or is them); M_NOT_FOUND if nothing is known.
  boost::asio::awaitable<storage::PresenceRecord> Get(const Requester& who,
                                                      const std::string& user_id);
  // A /sync with set_presence: a state that differs from the stored one is
  // written and sent to those who share a room; the same state only has
  // its last-active time refreshed (at most once a minute), unseen by
  // /sync. So syncing clients cost no writes, and staying online no one's
  // wake-ups.
  boost::asio::awaitable<void> OnSync(const Requester& who, const std::string& state);

 private:
  boost::asio::awaitable<void> Write(const std::string& user_id, const std::string& state,
                                     std::optional<std::string> status_msg, bool from_sync);
  ServiceContext& ctx_;
  Stream& stream_;
  PolicyService& policy_;
  struct Last {
    std::string state;
    std::int64_t written_ms = 0;
  };
  std::mutex mu_;
  std::unordered_map<std::string, Last> last_;  // guarded by mu_
};

}  // namespace vigie::service
