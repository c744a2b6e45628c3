// Profiles: display name and avatar URL.
#pragma once

#include <boost/asio/awaitable.hpp>

#include "service/auth_service.h"
#include "storage/account_store.h"

namespace vigie::service {

class ProfileService {
 public:
  explicit ProfileService(ServiceContext& ctx) : ctx_(ctx) {}

  // Throws M_NOT_FOUND if the user does not exist.
  boost::asio::awaitable<storage::ProfileRecord> Get(const std::string& user_id);
  // Only the user may change their own profile (M_FORBIDDEN otherwise).
  boost::asio::awaitable<void> SetDisplayName(const Requester& who, const std::string& user_id,
                                              const std::optional<std::string>& v);
  boost::asio::awaitable<void> SetAvatarUrl(const Requester& who, const std::string& user_id,
                                            const std::optional<std::string>& v);

 private:
  ServiceContext& ctx_;
};

}  // namespace vigie::service
