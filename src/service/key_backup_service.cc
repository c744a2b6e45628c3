#include "service/key_backup_service.h"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <vector>

#include "common/error.h"
#include "common/json.h"
#include "common/offload.h"
#include "common/time.h"
#include "storage/key_backup_store.h"

namespace vigie::service {

using storage::BackupKey;
using storage::BackupVersion;
using storage::KeyBackupStore;
namespace bj = boost::json;

namespace {

constexpr std::size_t kMaxKeysPerRequest = 10000;
constexpr std::size_t kMaxIdBytes = 255;

Error UnknownVersion() { return NotFound("Unknown backup version"); }

// Versions are the decimal numbers this server hands out; anything else
// names no backup.
std::int64_t ParseVersion(const std::string& v) {
  if (v.empty() || v.size() > 18) throw UnknownVersion();
  std::int64_t n = 0;
  for (char c : v) {
    if (c < '0' || c > '9') throw UnknownVersion();
    n = n * 10 + (c - '0');
  }
  return n;
}

// The algorithm and auth_data of a version body.
std::pair<std::string, std::string> ParseVersionBody(const bj::object& body) {
  auto* alg = body.if_contains("algorithm");
  if (!alg || !alg->is_string()) throw MissingParam("algorithm is required");
  if (alg->as_string() != kMegolmBackupV1) throw InvalidParam("Unsupported backup algorithm");
  auto* auth = body.if_contains("auth_data");
  if (!auth || !auth->is_object()) throw MissingParam("auth_data must be an object");
  return {std::string(alg->as_string()), bj::serialize(*auth)};
}

std::int64_t NonNegative(const bj::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  if (!v || !v->is_int64() || v->as_int64() < 0) {
    if (v && v->is_uint64()) throw BadJson(std::string(key) + " is too large");
    throw BadJson(std::string(key) + " must be a non-negative integer");
  }
  return v->as_int64();
}

BackupKey ParseKey(std::string room_id, std::string session_id, const bj::value& v) {
  if (!v.is_object()) throw BadJson("Key data must be an object");
  const auto& o = v.as_object();
  BackupKey k;
  k.room_id = std::move(room_id);
  k.session_id = std::move(session_id);
  k.first_message_index = NonNegative(o, "first_message_index");
  k.forwarded_count = NonNegative(o, "forwarded_count");
  auto* verified = o.if_contains("is_verified");
  if (!verified || !verified->is_bool()) throw BadJson("is_verified must be a boolean");
  k.is_verified = verified->as_bool();
  auto* data = o.if_contains("session_data");
  if (!data || !data->is_object()) throw BadJson("session_data must be an object");
  k.session_data = bj::serialize(*data);
  return k;
}

void CheckIds(std::string_view room_id, std::string_view session_id) {
  if (!room_id.starts_with('!') || room_id.size() > kMaxIdBytes) {
    throw InvalidParam("Invalid room id");
  }
  if (session_id.empty() || session_id.size() > kMaxIdBytes) {
    throw InvalidParam("Invalid session id");
  }
}

std::vector<BackupKey> ParseRooms(const bj::object& rooms) {
  std::vector<BackupKey> keys;
  for (const auto& [room_id, room] : rooms) {
    if (!room.is_object()) throw BadJson("Room backup data must be an object");
    auto* sessions = room.as_object().if_contains("sessions");
    if (!sessions || !sessions->is_object()) throw BadJson("sessions must be an object");
    for (const auto& [session_id, data] : sessions->as_object()) {
      CheckIds(room_id, session_id);
      if (keys.size() == kMaxKeysPerRequest) throw InvalidParam("Too many keys in one request");
      keys.push_back(ParseKey(std::string(room_id), std::string(session_id), data));
    }
  }
  return keys;
}

// Whether `candidate` should replace the stored `current` (spec order).
bool Better(const BackupKey& candidate, const BackupKey& current) {
  if (candidate.is_verified != current.is_verified) return candidate.is_verified;
  if (candidate.first_message_index != current.first_message_index) {
    return candidate.first_message_index < current.first_message_index;
  }
  return candidate.forwarded_count < current.forwarded_count;
}

// A version that exists and is not deleted.
BackupVersion Live(sql::Tx& tx, const std::string& user_id, std::int64_t version) {
  auto v = KeyBackupStore::Get(tx, user_id, version);
  if (!v || v->deleted) throw UnknownVersion();
  return *v;
}

bj::object Summary(sql::Tx& tx, const std::string& user_id, const BackupVersion& v) {
  return bj::object{{"etag", std::to_string(v.etag)},
                    {"count", KeyBackupStore::Count(tx, user_id, v.version)}};
}

bj::object KeyJson(const BackupKey& k) {
  return bj::object{{"first_message_index", k.first_message_index},
                    {"forwarded_count", k.forwarded_count},
                    {"is_verified", k.is_verified},
                    {"session_data", json::ParseStored(k.session_data)}};
}

}  // namespace

boost::asio::awaitable<std::string> KeyBackupService::CreateVersion(const Requester& who,
                                                                    const bj::object& body) {
  auto [algorithm, auth_data] = ParseVersionBody(body);
  auto version = co_await Offload(ctx_.db_pool, [&] {
    return ctx_.db.Write([&](sql::Tx& tx) {
      return KeyBackupStore::Create(tx, who.user_id, algorithm, auth_data, NowMs());
    });
  });
  co_return std::to_string(version);
}

boost::asio::awaitable<bj::object> KeyBackupService::GetVersion(
    const Requester& who, std::optional<std::string> version) {
  std::optional<std::int64_t> wanted;
  if (version) wanted = ParseVersion(*version);
  co_return co_await Offload(ctx_.db_pool, [&] {
    return ctx_.db.Read([&](sql::Tx& tx) {
      std::optional<BackupVersion> v;
      if (wanted) {
        v = Live(tx, who.user_id, *wanted);
      } else {
        v = KeyBackupStore::Current(tx, who.user_id);
        if (!v) throw NotFound("No current backup version");
      }
      auto out = Summary(tx, who.user_id, *v);
      out["algorithm"] = v->algorithm;
      out["auth_data"] = json::ParseStored(v->auth_data);
      out["version"] = std::to_string(v->version);
      return out;
    });
  });
}

boost::asio::awaitable<void> KeyBackupService::UpdateVersion(const Requester& who,
                                                             const std::string& version,
                                                             const bj::object& body) {
  const std::int64_t n = ParseVersion(version);
  if (auto* v = body.if_contains("version"); v && (!v->is_string() || v->as_string() != version)) {
    throw InvalidParam("version does not match the path");
  }
  auto [algorithm, auth_data] = ParseVersionBody(body);
  co_await Offload(ctx_.db_pool, [&] {
    ctx_.db.Write([&](sql::Tx& tx) {
      auto v = Live(tx, who.user_id, n);
      if (v.algorithm != algorithm) throw InvalidParam("Algorithm does not match");
      KeyBackupStore::SetAuthData(tx, who.user_id, n, auth_data);
    });
  });
}

boost::asio::awaitable<void> KeyBackupService::DeleteVersion(const Requester& who,
                                                             const std::string& version) {
  const std::int64_t n = ParseVersion(version);
  co_await Offload(ctx_.db_pool, [&] {
    ctx_.db.Write([&](sql::Tx& tx) {
      auto v = KeyBackupStore::Get(tx, who.user_id, n);
      if (!v) throw UnknownVersion();
      if (!v->deleted) KeyBackupStore::MarkDeleted(tx, who.user_id, n);
    });
  });
}

boost::asio::awaitable<bj::object> KeyBackupService::PutKeys(const Requester& who,
                                                             const std::string& version,
                                                             const bj::object& rooms) {
  const std::int64_t n = ParseVersion(version);
  auto keys = ParseRooms(rooms);
  co_return co_await Offload(ctx_.db_pool, [&] {
    return ctx_.db.Write([&](sql::Tx& tx) {
      auto current = KeyBackupStore::Current(tx, who.user_id);
      if (!current) throw UnknownVersion();
      if (current->version != n) {
        throw Error(ErrorCode::kWrongRoomKeysVersion, "Wrong backup version")
            .with("current_version", bj::string(std::to_string(current->version)));
      }
      bool changed = false;
      for (const auto& k : keys) {
        auto old = KeyBackupStore::Keys(tx, who.user_id, n, k.room_id, k.session_id);
        if (!old.empty() && !Better(k, old.front())) continue;
        KeyBackupStore::PutKey(tx, who.user_id, n, k);
        changed = true;
      }
      if (changed) current->etag = KeyBackupStore::BumpEtag(tx, who.user_id, n);
      return Summary(tx, who.user_id, *current);
    });
  });
}

boost::asio::awaitable<bj::object> KeyBackupService::GetKeys(const Requester& who,
                                                             const std::string& version,
                                                             const BackupKeyScope& scope) {
  const std::int64_t n = ParseVersion(version);
  co_return co_await Offload(ctx_.db_pool, [&] {
    return ctx_.db.Read([&](sql::Tx& tx) {
      Live(tx, who.user_id, n);
      bj::object rooms;
      for (const auto& k :
           KeyBackupStore::Keys(tx, who.user_id, n, scope.room_id, scope.session_id)) {
        auto& room = rooms[k.room_id];
        if (!room.is_object()) room = bj::object{{"sessions", bj::object{}}};
        room.as_object()["sessions"].as_object()[k.session_id] = KeyJson(k);
      }
      return rooms;
    });
  });
}

boost::asio::awaitable<bj::object> KeyBackupService::DeleteKeys(const Requester& who,
                                                                const std::string& version,
                                                                const BackupKeyScope& scope) {
  const std::int64_t n = ParseVersion(version);
  co_return co_await Offload(ctx_.db_pool, [&] {
    return ctx_.db.Write([&](sql::Tx& tx) {
      auto v = Live(tx, who.user_id, n);
      if (KeyBackupStore::DeleteKeys(tx, who.user_id, n, scope.room_id, scope.session_id) > 0) {
        v.etag = KeyBackupStore::BumpEtag(tx, who.user_id, n);
      }
      return Summary(tx, who.user_id, v);
    });
  });
}

}  // namespace vigie::service
