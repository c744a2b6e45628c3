#include "service/profile_service.h"

#include "common/error.h"
#include "common/offload.h"

namespace vigie::service {

using storage::AccountStore;

boost::asio::awaitable<storage::ProfileRecord> ProfileService::Get(
    const std::optional<Requester>& who, const std::string& user_id) {
  std::optional<std::string> from_tenant;
  if (who) from_tenant = who->tenant_id;
  auto p = co_await Offload(ctx_.db_pool, [&] {
    return ctx_.db.Read([&](sql::Tx& tx) -> std::optional<storage::ProfileRecord> {
      auto u = AccountStore::GetUser(tx, user_id);
      if (!u) return std::nullopt;
      // C4: another organisation's users are not looked up.
      policy_.RequireReach(from_tenant, u->tenant_id);
      return AccountStore::GetProfile(tx, user_id);
    });
  });
  if (!p) throw NotFound("Profile not found");
  co_return *p;
}

boost::asio::awaitable<void> ProfileService::SetDisplayName(const Requester& who,
                                                            const std::string& user_id,
                                                            const std::optional<std::string>& v) {
  if (who.user_id != user_id) throw Forbidden("Cannot set another user's display name");
  if (v && v->size() > 256) throw InvalidParam("displayname is too long (256 bytes at most)");
  co_await Offload(ctx_.db_pool, [&] {
    ctx_.db.Write([&](sql::Tx& tx) { AccountStore::SetDisplayName(tx, user_id, v); });
  });
}

boost::asio::awaitable<void> ProfileService::SetAvatarUrl(const Requester& who,
                                                          const std::string& user_id,
                                                          const std::optional<std::string>& v) {
  if (who.user_id != user_id) throw Forbidden("Cannot set another user's avatar");
  if (v && (v->size() > 1024 || (!v->empty() && !v->starts_with("mxc://")))) {
    throw InvalidParam("avatar_url must be an mxc:// URI of at most 1024 bytes");
  }
  co_await Offload(ctx_.db_pool, [&] {
    ctx_.db.Write([&](sql::Tx& tx) { AccountStore::SetAvatarUrl(tx, user_id, v); });
  });
}

}  // namespace vigie::service
