#include "service/server_notices.h"

#include "common/crypto.h"
#include "common/error.h"
#include "common/ids.h"
#include "common/offload.h"
#include "common/time.h"
#include "storage/account_store.h"
#include "storage/user_data_store.h"

namespace vigie::service {

using storage::AccountStore;
using storage::UserDataStore;

ServerNoticeService::ServerNoticeService(ServiceContext& ctx, RoomService& rooms,
                                         AccountDataService& account_data)
    : ctx_(ctx),
      rooms_(rooms),
      account_data_(account_data),
      sender_(ids::MakeUserId("vigie-notices", ctx.config.server_name)) {}

void ServerNoticeService::EnsureSender() {
  ctx_.db.Write([&](sql::Tx& tx) {
    if (AccountStore::GetUser(tx, sender_)) return;
    storage::UserRecord u;
    u.user_id = sender_;
    u.tenant_id = "default";
    u.created_ts = NowMs();
    AccountStore::CreateUser(tx, u);  // no password: nobody can log in as it
    AccountStore::SetDisplayName(tx, sender_, std::string("Server notices"));
  });
}

boost::asio::awaitable<std::optional<std::string>> ServerNoticeService::RoomOf(
    const std::string& user_id) {
  co_return co_await Offload(ctx_.db_pool, [&] {
    return ctx_.db.Read([&](sql::Tx& tx) { return UserDataStore::NoticeRoom(tx, user_id); });
  });
}

boost::asio::awaitable<std::string> ServerNoticeService::Send(const std::string& user_id,
                                                              const std::string& kind,
                                                              const std::string& body,
                                                              boost::json::object details) {
  struct Lookup {
    std::optional<storage::UserRecord> user;
    std::optional<std::string> room;
  };
  Lookup l = co_await Offload(ctx_.db_pool, [&] {
    return ctx_.db.Read([&](sql::Tx& tx) {
      return Lookup{AccountStore::GetUser(tx, user_id), UserDataStore::NoticeRoom(tx, user_id)};
    });
  });
  if (!l.user || l.user->deactivated || user_id == sender_) co_return std::string();
  // The server acts within the user's tenant, so isolation allows it.
  Requester server{sender_, std::string("VIGIE"), l.user->tenant_id, true, std::string()};
  Requester target{user_id, std::string("VIGIE"), l.user->tenant_id, false, std::string()};
  std::string room_id;
  if (l.room) {
    room_id = *l.room;
  } else {
    CreateRoomOptions opts;
    opts.preset = "private_chat";
    opts.name = "Server notices";
    opts.topic = "Security notices from your homeserver";
    opts.invite = {user_id};
    CreatedRoom created = co_await rooms_.CreateRoom(server, std::move(opts));
    co_await rooms_.Join(target, created.room_id, std::nullopt);
    room_id = co_await Offload(ctx_.db_pool, [&] {
      return ctx_.db.Write(
          [&](sql::Tx& tx) { return UserDataStore::SetNoticeRoom(tx, user_id, created.room_id); });
    });
    const std::string tag = "m.server_notice";
    co_await account_data_.SetTag(target, user_id, room_id, tag, boost::json::object{});
  }
  details["kind"] = kind;
  boost::json::object content{
      {"msgtype", "m.notice"}, {"body", body}, {"io.vigie.notice", std::move(details)}};
  const std::string type = "m.room.message";
  const std::string txn_id = "notice-" + crypto::RandomAlnum(16);
  std::string event_id = co_await rooms_.Send(server, room_id, type, std::move(content), txn_id);
  co_return event_id;
}

}  // namespace vigie::service
