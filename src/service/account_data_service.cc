#include "service/account_data_service.h"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "common/error.h"
#include "common/json.h"
#include "common/offload.h"
#include "storage/user_data_store.h"

namespace vigie::service {

using storage::UserDataStore;

namespace {

constexpr std::size_t kMaxTags = 256;

void CheckOwn(const Requester& who, const std::string& user_id) {
  if (who.user_id != user_id) throw Forbidden("Cannot access account data of other users");
}

void CheckRoom(const std::string& room_id) {
  if (room_id.empty()) return;  // global
  // Room ids: "!opaque:server", or "!hash" from room version 12 on.
  if (room_id.size() < 2 || room_id.size() > 255 || room_id.front() != '!') {
    throw InvalidParam(room_id + " is not a valid room ID");
  }
}

void CheckType(const std::string& type) {
  if (type.empty() || type.size() > 255) throw InvalidParam("Invalid account data type");
}

void CheckTag(const std::string& tag) {
  if (tag.empty() || tag.size() > 255) throw InvalidParam("Tag names are 1 to 255 bytes");
}

}  // namespace

boost::asio::awaitable<boost::json::object> AccountDataService::Get(const Requester& who,
                                                                    const std::string& user_id,
                                                                    const std::string& room_id,
                                                                    const std::string& type) {
  CheckOwn(who, user_id);
  CheckRoom(room_id);
  CheckType(type);
  auto row = co_await Offload(ctx_.db_pool, [&] {
    return ctx_.db.Read(
        [&](sql::Tx& tx) { return UserDataStore::GetAccountData(tx, user_id, room_id, type); });
  });
  if (!row)
    throw NotFound(room_id.empty() ? "Account data not found" : "Room account data not found");
  auto v = json::ParseStored(row->content);
  co_return v.is_object() ? v.get_object() : boost::json::object{};
}

boost::asio::awaitable<void> AccountDataService::Set(const Requester& who,
                                                     const std::string& user_id,
                                                     const std::string& room_id,
                                                     const std::string& type,
                                                     boost::json::object content) {
  CheckOwn(who, user_id);
  CheckRoom(room_id);
  CheckType(type);
  if (type == "m.fully_read" || type == "m.push_rules") {
    throw Error(ErrorCode::kBadJson, "Cannot set " + type + " through this API", 405);
  }
  const std::string text = boost::json::serialize(content);
  co_await stream_.Submit([&](sql::Tx& tx, Stream::NextPos& next, Stream::Effects& fx) {
    UserDataStore::SetAccountData(tx, user_id, {room_id, type, text, next()});
    fx.Changed(Change::kAccountData, user_id);
    fx.wake.insert(user_id);
  });
}

boost::asio::awaitable<boost::json::object> AccountDataService::Tags(const Requester& who,
                                                                     const std::string& user_id,
                                                                     const std::string& room_id) {
  CheckOwn(who, user_id);
  if (room_id.empty()) throw InvalidParam("Missing room id");
  CheckRoom(room_id);
  auto row = co_await Offload(ctx_.db_pool, [&] {
    return ctx_.db.Read(
        [&](sql::Tx& tx) { return UserDataStore::GetAccountData(tx, user_id, room_id, "m.tag"); });
  });
  if (row) {
    auto v = json::ParseStored(row->content);
    const auto* tags = v.is_object() ? v.get_object().if_contains("tags") : nullptr;
    if (tags && tags->is_object()) co_return tags->get_object();
  }
  co_return boost::json::object{};
}

boost::asio::awaitable<void> AccountDataService::SetTag(const Requester& who,
                                                        const std::string& user_id,
                                                        const std::string& room_id,
                                                        const std::string& tag,
                                                        boost::json::object body) {
  CheckOwn(who, user_id);
  if (room_id.empty()) throw InvalidParam("Missing room id");
  CheckRoom(room_id);
  CheckTag(tag);
  if (const auto* order = body.if_contains("order")) {
    if (!order->is_number()) throw InvalidParam("'order' must be a number");
    const double o = order->to_number<double>();
    if (!(o >= 0.0 && o <= 1.0)) throw InvalidParam("'order' must be between 0 and 1");
  }
  const std::optional<boost::json::object> value = std::move(body);
  co_await UpdateTags(who, room_id, tag, value);
}

boost::asio::awaitable<void> AccountDataService::DeleteTag(const Requester& who,
                                                           const std::string& user_id,
                                                           const std::string& room_id,
                                                           const std::string& tag) {
  CheckOwn(who, user_id);
  if (room_id.empty()) throw InvalidParam("Missing room id");
  CheckRoom(room_id);
  CheckTag(tag);
  const std::optional<boost::json::object> none;
  co_await UpdateTags(who, room_id, tag, none);
}

boost::asio::awaitable<void> AccountDataService::UpdateTags(
    const Requester& who, const std::string& room_id, const std::string& tag,
    const std::optional<boost::json::object>& value) {
  co_await stream_.Submit([&](sql::Tx& tx, Stream::NextPos& next, Stream::Effects& fx) {
    boost::json::object tags;
    if (auto row = UserDataStore::GetAccountData(tx, who.user_id, room_id, "m.tag")) {
      auto v = json::ParseStored(row->content);
      const auto* t = v.is_object() ? v.get_object().if_contains("tags") : nullptr;
      if (t && t->is_object()) tags = t->get_object();
    }
    if (value) {
      if (!tags.contains(tag) && tags.size() >= kMaxTags) throw InvalidParam("Too many tags");
      tags[tag] = *value;
    } else if (!tags.erase(tag)) {
      return;  // nothing to remove
    }
    boost::json::object content{{"tags", std::move(tags)}};
    UserDataStore::SetAccountData(tx, who.user_id,
                                  {room_id, "m.tag", boost::json::serialize(content), next()});
    fx.Changed(Change::kAccountData, who.user_id);
    fx.wake.insert(who.user_id);
  });
}

}  // namespace vigie::service
