// Profiles: display name and avatar URL.
#pragma once

#include <boost/asio/awaitable.hpp>

#include "service/auth_service.h"
#include "service/policy_service.h"
#include "storage/account_store.h"

namespace vigie::service {

class ProfileService {
 public:
  ProfileService(ServiceContext& ctx, PolicyService& policy) : ctx_(ctx), policy_(policy) {}

  // Throws M_NOT_FOUND if the user does not exist, M_FORBIDDEN (with
  // "io.vigie.requirement": "C4") if `who` may not contact the user's
  // tenant; without an access token (`who` nullopt) only users of the
  // default tenant are visible.
  boost::asio::awaitable<storage::ProfileRecord> Get(const std::optional<Requester>& who,
                                                     const std::string& user_id);
  // Only the user may change their own profile (M_FORBIDDEN otherwise).
  boost::asio::awaitable<void> SetDisplayName(const Requester& who, const std::string& user_id,
                                              const std::optional<std::string>& v);
  boost::asio::awaitable<void> SetAvatarUrl(const Requester& who, const std::string& user_id,
                                            const std::optional<std::string>& v);

 private:
  ServiceContext& ctx_;
  PolicyService& policy_;
};

}  // namespace vigie::service
