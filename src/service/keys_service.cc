#include "service/keys_service.h"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <set>

#include "common/canonical_json.h"
#include "common/crypto.h"
#include "common/error.h"
#include "common/ids.h"
#include "common/json.h"
#include "common/offload.h"
#include "common/time.h"
#include "events/signing.h"
#include "service/sync_service.h"
#include "storage/account_store.h"
#include "storage/e2e_store.h"
#include "storage/room_store.h"

namespace vigie::service {

using storage::E2eStore;
namespace bj = boost::json;

namespace {

constexpr std::size_t kMaxUsersPerRequest = 1000;
constexpr std::size_t kMaxKeysPerUpload = 1000;
constexpr std::size_t kMaxTargetsPerRequest = 10000;

Error InvalidSignature(std::string m) { return {ErrorCode::kInvalidSignature, std::move(m)}; }

// "<algorithm>:<id>" split at the first colon; nullopt if malformed.
std::optional<std::pair<std::string, std::string>> SplitKeyId(std::string_view key_id) {
  auto c = key_id.find(':');
  if (c == std::string_view::npos || c == 0 || c + 1 == key_id.size() || key_id.size() > 255) {
    return std::nullopt;
  }
  return std::pair{std::string(key_id.substr(0, c)), std::string(key_id.substr(c + 1))};
}

// The raw Ed25519 public key `keys["ed25519:<id>"]` of a key object.
std::optional<std::string> Ed25519Key(const bj::object& key_object, std::string_view id) {
  auto* keys = key_object.if_contains("keys");
  if (!keys || !keys->is_object()) return std::nullopt;
  auto* k = keys->as_object().if_contains("ed25519:" + std::string(id));
  if (!k || !k->is_string()) return std::nullopt;
  std::string raw;
  if (!crypto::Base64Decode(k->as_string(), &raw) || raw.size() != 32) return std::nullopt;
  return raw;
}

bool SameSignedContent(const bj::object& a, const bj::object& b) {
  try {
    return CanonicalJsonWithout(a, {"signatures", "unsigned"}) ==
           CanonicalJsonWithout(b, {"signatures", "unsigned"});
  } catch (const Error&) {
    return false;
  }
}

// A cross-signing key object after the checks every one needs: it is the
// requester's, has `usage`, and exactly one ed25519 key whose id is its
// public key. Returns the unpadded base64 public key.
std::string CheckCrossSigningKey(const bj::value& v, const std::string& user_id,
                                 std::string_view usage) {
  if (!v.is_object()) throw BadJson(std::string(usage) + " key must be an object");
  const auto& o = v.as_object();
  auto* uid = o.if_contains("user_id");
  if (!uid || !uid->is_string() || uid->as_string() != user_id) {
    throw InvalidParam(std::string(usage) + " key is not for this user");
  }
  auto* u = o.if_contains("usage");
  bool has_usage = false;
  if (u && u->is_array()) {
    for (const auto& x : u->as_array()) has_usage |= x.is_string() && x.as_string() == usage;
  }
  if (!has_usage) throw InvalidParam(std::string(usage) + " key lacks its usage");
  auto* keys = o.if_contains("keys");
  if (!keys || !keys->is_object() || keys->as_object().size() != 1) {
    throw InvalidParam(std::string(usage) + " key must have exactly one key");
  }
  const auto& [id, pub] = *keys->as_object().begin();
  auto split = SplitKeyId(id);
  std::string raw;
  if (!split || split->first != "ed25519" || !pub.is_string() || pub.as_string() != split->second ||
      !crypto::Base64Decode(pub.as_string(), &raw) || raw.size() != 32) {
    throw InvalidParam(std::string(usage) + " key must be one ed25519 key named by itself");
  }
  return split->second;
}

std::string RawKey(const std::string& b64) {
  std::string raw;
  crypto::Base64Decode(b64, &raw);
  return raw;
}

// Adds stored signatures on `target_key_id` to `object`, keeping only
// those `viewer` may see: the owner's own, and the viewer's.
void MergeSignatures(bj::object& object, const std::vector<storage::SignatureRecord>& sigs,
                     const std::string& target_key_id, const std::string& viewer) {
  for (const auto& s : sigs) {
    if (s.target_key_id != target_key_id) continue;
    if (s.signer_user_id != s.target_user_id && s.signer_user_id != viewer) continue;
    auto& all = object["signatures"];
    if (!all.is_object()) all = bj::object{};
    auto& by_user = all.as_object()[s.signer_user_id];
    if (!by_user.is_object()) by_user = bj::object{};
    by_user.as_object()[s.signer_key_id] = s.signature;
  }
}

bj::object CountsJson(const std::map<std::string, std::int64_t>& counts) {
  bj::object o{{"signed_curve25519", 0}};
  for (const auto& [alg, n] : counts) o[alg] = n;
  return o;
}

bool IsLocal(const ServiceContext& ctx, std::string_view user_id) {
  auto id = ids::ParseUserId(user_id);
  return id && id->server_name == ctx.config.server_name;
}

}  // namespace

DeviceListDelta DeviceListChanges(sql::Tx& tx, const std::string& user_id, std::int64_t from,
                                  std::int64_t to) {
  DeviceListDelta out;
  if (to <= from) return out;
  std::set<std::string> changed;
  for (auto& u : E2eStore::DeviceListChangesVisibleTo(tx, user_id, from, to)) changed.insert(u);
  auto peers = E2eStore::MembershipPeersChanged(tx, user_id, from, to);
  std::set<std::string> sharing;
  if (!peers.empty()) {
    auto sharing_list = storage::RoomStore::UsersSharingRooms(tx, user_id);
    sharing.insert(sharing_list.begin(), sharing_list.end());
  }
  for (auto& u : peers) {
    if (sharing.count(u)) {
      changed.insert(u);
    } else {
      out.left.push_back(u);
    }
  }
  out.changed.assign(changed.begin(), changed.end());
  return out;
}

void NoteDeviceListChange(sql::Tx& tx, const std::string& user_id, const Stream::NextPos& next_pos,
                          Stream::Effects& effects) {
  E2eStore::AddDeviceListChange(tx, user_id, next_pos());
  effects.Changed(Change::kDeviceList);
  effects.Changed(Change::kKeys, user_id);  // a device came, went or changed keys
  for (auto& u : storage::RoomStore::UsersSharingRooms(tx, user_id)) effects.wake.insert(u);
  effects.wake.insert(user_id);
}

boost::asio::awaitable<bj::object> KeysService::Upload(const Requester& who,
                                                       const bj::object& body) {
  if (who.device_id.empty()) throw InvalidParam("This access token has no device");
  std::optional<std::string> device_keys;
  std::vector<std::string> identity_keys;  // the values of device_keys.keys
  if (auto* dk = body.if_contains("device_keys"); dk && !dk->is_null()) {
    if (!dk->is_object()) throw BadJson("device_keys must be an object");
    const auto& o = dk->as_object();
    auto* uid = o.if_contains("user_id");
    auto* did = o.if_contains("device_id");
    if (!uid || !uid->is_string() || uid->as_string() != who.user_id || !did || !did->is_string() ||
        did->as_string() != who.device_id) {
      throw InvalidParam("device_keys must be for the requesting user and device");
    }
    auto* algs = o.if_contains("algorithms");
    if (!algs || !algs->is_array()) throw BadJson("device_keys.algorithms must be an array");
    auto pub = Ed25519Key(o, who.device_id);
    if (!pub) throw InvalidParam("device_keys lacks the device's ed25519 key");
    if (!events::VerifyJsonSignature(o, who.user_id, "ed25519:" + who.device_id, *pub)) {
      throw InvalidSignature("device_keys is not signed by the device's ed25519 key");
    }
    for (const auto& [id, key] : o.at("keys").as_object()) {
      if (key.is_string()) identity_keys.emplace_back(key.as_string());
    }
    device_keys = bj::serialize(o);
  }
  // algorithm, key id, JSON
  using Key = std::tuple<std::string, std::string, std::string>;
  auto parse_keys = [](const bj::object& body, std::initializer_list<const char*> names) {
    std::vector<Key> out;
    for (const char* name : names) {
      auto* v = body.if_contains(name);
      if (!v || v->is_null()) continue;
      if (!v->is_object()) throw BadJson(std::string(name) + " must be an object");
      if (v->as_object().size() > kMaxKeysPerUpload) throw InvalidParam("Too many keys");
      for (const auto& [id, key] : v->as_object()) {
        auto split = SplitKeyId(id);
        if (!split) throw InvalidParam("Malformed key id: " + std::string(id));
        if (!key.is_object() && !key.is_string()) throw BadJson("A key must be an object");
        out.emplace_back(split->first, split->second, bj::serialize(key));
      }
    }
    return out;
  };
  const auto otks = parse_keys(body, {"one_time_keys"});
  const auto fallbacks = parse_keys(body, {"fallback_keys", "org.matrix.msc2732.fallback_keys"});

  auto counts =
      co_await stream_.Submit([&](sql::Tx& tx, const Stream::NextPos& next, Stream::Effects& fx) {
        if (device_keys) {
          // X-IM-4: the keys of a banned device may not come back on any
          // device of the user.
          for (const auto& key : identity_keys) {
            if (E2eStore::KeyBanned(tx, who.user_id, key)) {
              throw Forbidden("This key belongs to a banned device")
                  .with("io.vigie.requirement", "X-IM-4");
            }
          }
          auto old = E2eStore::GetDeviceKeys(tx, who.user_id, who.device_id);
          if (!old || *old != *device_keys) {
            E2eStore::SetDeviceKeys(tx, who.user_id, who.device_id, *device_keys, NowMs());
            NoteDeviceListChange(tx, who.user_id, next, fx);
          }
        }
        for (const auto& [alg, id, json] : otks) {
          auto old = E2eStore::GetOneTimeKey(tx, who.user_id, who.device_id, alg, id);
          if (old) {
            if (*old != json)
              throw InvalidParam("One-time key " + alg + ":" + id + " already exists");
            continue;
          }
          E2eStore::AddOneTimeKey(tx, who.user_id, who.device_id, alg, id, json);
        }
        for (const auto& [alg, id, json] : fallbacks) {
          E2eStore::SetFallbackKey(tx, who.user_id, who.device_id, alg, id, json);
        }
        if (!otks.empty() || !fallbacks.empty()) fx.Changed(Change::kKeys, who.user_id);
        return E2eStore::OneTimeKeyCounts(tx, who.user_id, who.device_id);
      });
  co_return CountsJson(counts);
}

boost::asio::awaitable<bj::object> KeysService::Query(const Requester& who,
                                                      const bj::object& device_keys) {
  if (device_keys.size() > kMaxUsersPerRequest) throw InvalidParam("Too many users");
  std::vector<std::pair<std::string, std::set<std::string>>> wanted;
  for (const auto& [user, devs] : device_keys) {
    if (!devs.is_array()) throw BadJson("device_keys values must be arrays of device ids");
    std::set<std::string> ids;
    for (const auto& d : devs.as_array()) {
      if (!d.is_string()) throw BadJson("device ids must be strings");
      ids.emplace(d.as_string());
    }
    wanted.emplace_back(std::string(user), std::move(ids));
  }
  co_return co_await Offload(ctx_.db_pool, [&] {
    return ctx_.db.Read([&](sql::Tx& tx) {
      bj::object keys_out, master, self_signing, user_signing;
      for (const auto& [user, ids] : wanted) {
        bj::object devices_out;
        auto sigs = E2eStore::SignaturesOn(tx, user);
        std::map<std::string, std::optional<std::string>> names;
        for (const auto& d : storage::AccountStore::ListDevices(tx, user)) {
          names[d.device_id] = d.display_name;
        }
        for (const auto& [device_id, json] : E2eStore::DeviceKeysOfUser(tx, user)) {
          if (!ids.empty() && !ids.count(device_id)) continue;
          auto name = names.find(device_id);
          if (name == names.end()) continue;  // the device is gone
          auto o = json::ParseStored(json).as_object();
          MergeSignatures(o, sigs, device_id, who.user_id);
          bj::object uns;
          if (name->second) uns["device_display_name"] = *name->second;
          o["unsigned"] = std::move(uns);
          devices_out[device_id] = std::move(o);
        }
        keys_out[user] = std::move(devices_out);
        struct Kind {
          const char* type;
          bj::object* out;
        };
        for (Kind k : {Kind{"master", &master}, Kind{"self_signing", &self_signing},
                       Kind{"user_signing", &user_signing}}) {
          if (k.out == &user_signing && user != who.user_id) continue;
          auto key = E2eStore::GetCrossSigningKey(tx, user, k.type);
          if (!key) continue;
          auto o = json::ParseStored(key->json).as_object();
          MergeSignatures(o, sigs, key->public_key, who.user_id);
          (*k.out)[user] = std::move(o);
        }
      }
      return bj::object{{"device_keys", std::move(keys_out)},
                        {"master_keys", std::move(master)},
                        {"self_signing_keys", std::move(self_signing)},
                        {"user_signing_keys", std::move(user_signing)},
                        {"failures", bj::object{}}};
    });
  });
}

boost::asio::awaitable<bj::object> KeysService::Claim(const Requester& who,
                                                      const bj::object& one_time_keys) {
  (void)who;
  struct Want {
    std::string user, device, algorithm;
  };
  std::vector<Want> wants;
  for (const auto& [user, devs] : one_time_keys) {
    if (!devs.is_object()) throw BadJson("one_time_keys values must be objects");
    for (const auto& [device, alg] : devs.as_object()) {
      if (!alg.is_string()) throw BadJson("Algorithms must be strings");
      wants.push_back({std::string(user), std::string(device), std::string(alg.as_string())});
      if (wants.size() > kMaxTargetsPerRequest) throw InvalidParam("Too many devices");
    }
  }
  // Through the stream: the claimed devices' key counts change, which
  // their next sync reports (Change::kKeys), though nobody is woken.
  co_return co_await stream_.Submit([&](sql::Tx& tx, const Stream::NextPos&, Stream::Effects& fx) {
    bj::object out;
    for (const auto& w : wants) {
      auto key = E2eStore::ClaimOneTimeKey(tx, w.user, w.device, w.algorithm);
      if (!key) key = E2eStore::ClaimFallbackKey(tx, w.user, w.device, w.algorithm);
      if (!key) continue;
      fx.Changed(Change::kKeys, w.user);
      auto& by_user = out[w.user];
      if (!by_user.is_object()) by_user = bj::object{};
      by_user.as_object()[w.device] = bj::object{{key->key_id, json::ParseStored(key->json)}};
    }
    return bj::object{{"one_time_keys", std::move(out)}, {"failures", bj::object{}}};
  });
}

boost::asio::awaitable<DeviceListDelta> KeysService::Changes(const Requester& who,
                                                             const std::string& from,
                                                             const std::string& to) {
  const auto f = SyncToken::Parse(from);
  const auto t = SyncToken::Parse(to);
  co_return co_await Offload(ctx_.db_pool, [&] {
    const std::int64_t upto = std::min(t.pos, stream_.Current());
    return ctx_.db.Read(
        [&](sql::Tx& tx) { return DeviceListChanges(tx, who.user_id, f.pos, upto); });
  });
}

boost::asio::awaitable<void> KeysService::UploadDeviceSigning(const Requester& who,
                                                              const bj::object& body) {
  struct NewKey {
    const char* type;
    std::string public_key;
    const bj::object* object;
  };
  std::vector<NewKey> keys;
  for (const char* type : {"master", "self_signing", "user_signing"}) {
    auto* v = body.if_contains(std::string(type) + "_key");
    if (!v || v->is_null()) continue;
    keys.push_back({type, CheckCrossSigningKey(*v, who.user_id, type), &v->as_object()});
  }
  if (keys.empty()) co_return;

  // What is stored now decides whether UIA is needed and which master key
  // signs the others.
  struct Existing {
    std::optional<E2eStore::CrossSigningKey> master, self_signing, user_signing;
  };
  auto existing = co_await Offload(ctx_.db_pool, [&] {
    return ctx_.db.Read([&](sql::Tx& tx) {
      return Existing{E2eStore::GetCrossSigningKey(tx, who.user_id, "master"),
                      E2eStore::GetCrossSigningKey(tx, who.user_id, "self_signing"),
                      E2eStore::GetCrossSigningKey(tx, who.user_id, "user_signing")};
    });
  });
  bool all_same = true;
  for (const auto& k : keys) {
    const auto& old = std::string_view(k.type) == "master"         ? existing.master
                      : std::string_view(k.type) == "self_signing" ? existing.self_signing
                                                                   : existing.user_signing;
    all_same &= old && SameSignedContent(json::ParseStored(old->json).as_object(), *k.object);
  }
  if (existing.master && !all_same) {
    UiaSpec spec{"POST /keys/device_signing/upload", {{kStagePassword}}, who.user_id};
    const bj::object* auth = nullptr;
    if (auto* a = body.if_contains("auth"); a && a->is_object()) auth = &a->as_object();
    co_await uia_.Require(spec, auth);
  }

  std::optional<std::string> master_pub;
  if (existing.master) master_pub = existing.master->public_key;
  for (const auto& k : keys) {
    if (std::string_view(k.type) != "master") continue;
    master_pub = k.public_key;
    // A master key may sign itself; if it does, the signature must hold.
    const std::string key_id = "ed25519:" + k.public_key;
    auto* sigs = k.object->if_contains("signatures");
    const bj::value* own = nullptr;
    if (sigs && sigs->is_object()) {
      if (auto* mine = sigs->as_object().if_contains(who.user_id); mine && mine->is_object()) {
        own = mine->as_object().if_contains(key_id);
      }
    }
    if (own && !events::VerifyJsonSignature(*k.object, who.user_id, key_id, RawKey(k.public_key))) {
      throw InvalidSignature("The master key's signature by itself is invalid");
    }
  }
  for (const auto& k : keys) {
    if (std::string_view(k.type) == "master") continue;
    if (!master_pub) throw InvalidParam("Upload a master key first");
    if (!events::VerifyJsonSignature(*k.object, who.user_id, "ed25519:" + *master_pub,
                                     RawKey(*master_pub))) {
      throw InvalidSignature(std::string(k.type) + " key is not signed by the master key");
    }
  }

  co_await stream_.Submit([&](sql::Tx& tx, const Stream::NextPos& next, Stream::Effects& fx) {
    for (const auto& k : keys) {
      E2eStore::SetCrossSigningKey(tx, who.user_id, k.type, k.public_key, bj::serialize(*k.object));
    }
    NoteDeviceListChange(tx, who.user_id, next, fx);
  });
}

boost::asio::awaitable<bj::object> KeysService::UploadSignatures(const Requester& who,
                                                                 const bj::object& body) {
  std::size_t n = 0;
  for (const auto& [_, v] : body) {
    if (!v.is_object()) throw BadJson("Signatures must be grouped by user in objects");
    n += v.as_object().size();
  }
  if (n > kMaxTargetsPerRequest) throw InvalidParam("Too many signatures");

  co_return co_await stream_.Submit(
      [&](sql::Tx& tx, const Stream::NextPos& next, Stream::Effects& fx) {
        bj::object failures;
        std::set<std::string> touched;
        auto fail = [&](const std::string& user, const std::string& key_id, std::string why) {
          auto& by_user = failures[user];
          if (!by_user.is_object()) by_user = bj::object{};
          by_user.as_object()[key_id] = {{"errcode", "M_INVALID_SIGNATURE"}, {"error", why}};
        };
        auto own_key = [&](const char* type) {
          return E2eStore::GetCrossSigningKey(tx, who.user_id, type);
        };
        for (const auto& [user_sv, targets] : body) {
          const std::string user(user_sv);
          auto master = E2eStore::GetCrossSigningKey(tx, user, "master");
          for (const auto& [key_id_sv, obj] : targets.as_object()) {
            const std::string key_id(key_id_sv);
            if (!obj.is_object()) {
              fail(user, key_id, "Not an object");
              continue;
            }
            const auto& o = obj.as_object();
            // The stored object the signature is about, and which of the
            // requester's keys may sign it.
            std::optional<std::string> stored;
            std::vector<std::pair<std::string, std::string>> signers;  // key id, raw key
            if (user == who.user_id && master && key_id == master->public_key) {
              stored = master->json;
              for (const auto& [dev, json] : E2eStore::DeviceKeysOfUser(tx, who.user_id)) {
                if (auto pub = Ed25519Key(json::ParseStored(json).as_object(), dev)) {
                  signers.emplace_back("ed25519:" + dev, *pub);
                }
              }
            } else if (user == who.user_id) {
              stored = E2eStore::GetDeviceKeys(tx, user, key_id);
              if (auto ssk = own_key("self_signing")) {
                signers.emplace_back("ed25519:" + ssk->public_key, RawKey(ssk->public_key));
              }
            } else if (master && key_id == master->public_key) {
              stored = master->json;
              if (auto usk = own_key("user_signing")) {
                signers.emplace_back("ed25519:" + usk->public_key, RawKey(usk->public_key));
              }
            }
            if (!stored) {
              fail(user, key_id, "Unknown key");
              continue;
            }
            if (!SameSignedContent(json::ParseStored(*stored).as_object(), o)) {
              fail(user, key_id, "The signed object differs from the stored key");
              continue;
            }
            std::vector<storage::SignatureRecord> good;
            bool bad = false;
            auto* sigs = o.if_contains("signatures");
            const bj::object* mine = nullptr;
            if (sigs && sigs->is_object()) {
              if (auto* m = sigs->as_object().if_contains(who.user_id); m && m->is_object()) {
                mine = &m->as_object();
              }
            }
            for (const auto& [sid, pub] : signers) {
              auto* sig = mine ? mine->if_contains(sid) : nullptr;
              if (!sig) continue;
              if (!sig->is_string() || !events::VerifyJsonSignature(o, who.user_id, sid, pub)) {
                bad = true;
                break;
              }
              good.push_back({user, key_id, who.user_id, sid, std::string(sig->as_string())});
            }
            if (bad || good.empty()) {
              fail(user, key_id, bad ? "Invalid signature" : "No signature by a key that may sign");
              continue;
            }
            for (const auto& s : good) E2eStore::AddSignature(tx, s);
            touched.insert(user);
          }
        }
        for (const auto& u : touched) NoteDeviceListChange(tx, u, next, fx);
        return failures;
      });
}

boost::asio::awaitable<void> ToDeviceService::Send(const Requester& who, const std::string& type,
                                                   const std::string& txn_id,
                                                   const bj::object& messages) {
  if (type.empty() || type.size() > 255) throw InvalidParam("Bad event type");
  if (txn_id.empty() || txn_id.size() > 255) throw InvalidParam("Bad transaction id");
  struct Msg {
    std::string user, device, content;
  };
  std::vector<Msg> msgs;
  for (const auto& [user, devs] : messages) {
    if (!devs.is_object()) throw BadJson("messages values must be objects");
    for (const auto& [device, content] : devs.as_object()) {
      if (!content.is_object()) throw BadJson("Message content must be an object");
      msgs.push_back({std::string(user), std::string(device), bj::serialize(content)});
      if (msgs.size() > kMaxTargetsPerRequest) throw InvalidParam("Too many messages");
    }
  }
  co_await stream_.Submit([&](sql::Tx& tx, const Stream::NextPos& next, Stream::Effects& fx) {
    if (!E2eStore::AddToDeviceTxn(tx, who.user_id, who.device_id, txn_id, NowMs())) return;
    for (const auto& m : msgs) {
      if (!IsLocal(ctx_, m.user)) continue;  // no federation yet
      std::vector<std::string> devices;
      // Banned devices and devices told to wipe (X-IM-4) receive nothing.
      auto receives = [](const storage::DeviceRecord& d) {
        return d.state != storage::DeviceState::kBanned && !d.wipe_requested_ts;
      };
      if (m.device == "*") {
        for (const auto& d : storage::AccountStore::ListDevices(tx, m.user)) {
          if (receives(d)) devices.push_back(d.device_id);
        }
      } else if (auto d = storage::AccountStore::GetDevice(tx, m.user, m.device);
                 d && receives(*d)) {
        devices.push_back(m.device);
      }
      for (const auto& d : devices) {
        E2eStore::AddToDevice(tx, m.user, d, next(), who.user_id, type, m.content);
      }
      if (!devices.empty()) fx.Changed(Change::kToDevice, m.user);
      if (!devices.empty()) fx.wake.insert(m.user);
    }
  });
}

}  // namespace vigie::service
