#include "service/keys_service.h"

#include <gtest/gtest.h>

#include <boost/json/serialize.hpp>
#include <set>
#include <thread>

#include "common/canonical_json.h"
#include "events/signing.h"
#include "service/engine_test_util.h"

namespace vigie::service {
namespace {

namespace bj = boost::json;
using events::SigningKey;

class KeysTest : public EngineHomeserverTest {
 protected:
  Requester Login(const std::string& name) {
    LoginRequest r;
    r.user = name;
    r.password = "password1";
    auto s = hs_->RunSync(hs_->accounts.Login(r));
    return hs_->RunSync(hs_->auth.Authenticate(*s.access_token, "127.0.0.1", "t"));
  }
  // Device keys for `who`, signed by `key` (whose version is the device id).
  static bj::object DeviceKeys(const Requester& who, const SigningKey& key) {
    bj::object o{{"user_id", who.user_id},
                 {"device_id", who.device_id},
                 {"algorithms", bj::array{"m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"}},
                 {"keys",
                  {{"curve25519:" + who.device_id, "curvekey" + who.device_id},
                   {"ed25519:" + who.device_id, key.PublicKeyBase64()}}}};
    events::SignJson(o, who.user_id, key);
    return o;
  }
  bj::object Upload(const Requester& who, bj::object body) {
    return hs_->RunSync(hs_->keys.Upload(who, body));
  }
  bj::object UploadDevice(const Requester& who) {
    auto key = SigningKey::Generate(who.device_id);
    return Upload(who, {{"device_keys", DeviceKeys(who, key)}});
  }
  SyncResult Sync(const Requester& who, std::optional<std::string> since = std::nullopt) {
    SyncRequest req;
    req.since = std::move(since);
    return hs_->RunSync(hs_->sync.Sync(who, req));
  }
  static std::set<std::string> Strings(const bj::array& a) {
    std::set<std::string> out;
    for (const auto& v : a) out.emplace(v.as_string());
    return out;
  }
  // SignJson names keys by version; cross-signing keys are named by their
  // public key, so sign by hand.
  static void SignAs(bj::object& o, const std::string& user, const SigningKey& key) {
    auto msg = CanonicalJsonWithout(o, {"signatures", "unsigned"});
    auto sig = crypto::Base64(key.Sign(msg));
    auto& sigs = o["signatures"];
    if (!sigs.is_object()) sigs = bj::object{};
    auto& mine = sigs.as_object()[user];
    if (!mine.is_object()) mine = bj::object{};
    mine.as_object()["ed25519:" + key.PublicKeyBase64()] = sig;
  }
  // A cross-signing key object for `usage`, signed by `signer` if given.
  static bj::object Cross(const std::string& user, const std::string& usage, const SigningKey& key,
                          const SigningKey* signer) {
    bj::object o{{"user_id", user},
                 {"usage", bj::array{bj::string(usage)}},
                 {"keys", {{"ed25519:" + key.PublicKeyBase64(), key.PublicKeyBase64()}}}};
    if (signer) SignAs(o, user, *signer);
    return o;
  }
};

TEST_P(KeysTest, UploadChecksOwnerAndSignatureThenQueryShowsKeys) {
  auto alice = Register("alice");
  auto bob = Register("bob");
  auto key = SigningKey::Generate(alice.device_id);

  // For another device, or badly signed: refused.
  auto other = alice;
  other.device_id = "OTHERDEVICE";
  EXPECT_EQ(CodeOf([&] {
              Upload(alice, {{"device_keys", DeviceKeys(other, key)}});
            }),
            ErrorCode::kInvalidParam);
  auto forged = DeviceKeys(alice, key);
  forged["algorithms"] = bj::array{"m.megolm.v1.aes-sha2"};
  EXPECT_EQ(CodeOf([&] {
              Upload(alice, {{"device_keys", forged}});
            }),
            ErrorCode::kInvalidSignature);

  hs_->RunSync(hs_->devices.Rename(alice, alice.device_id, std::string("Phone")));
  auto counts = Upload(
      alice,
      {{"device_keys", DeviceKeys(alice, key)},
       {"one_time_keys",
        {{"signed_curve25519:AAA", {{"key", "k1"}}}, {"signed_curve25519:AAB", {{"key", "k2"}}}}}});
  EXPECT_EQ(counts.at("signed_curve25519").as_int64(), 2);

  auto q = hs_->RunSync(hs_->keys.Query(bob, {{alice.user_id, bj::array{}}}));
  const auto& dev = q.at("device_keys").at(alice.user_id).at(alice.device_id).as_object();
  EXPECT_EQ(dev.at("unsigned").at("device_display_name").as_string(), "Phone");
  EXPECT_TRUE(events::VerifyJsonSignature(dev, alice.user_id, "ed25519:" + alice.device_id,
                                          key.PublicKey()));
  // A list naming other devices only: none of alice's.
  q = hs_->RunSync(hs_->keys.Query(bob, {{alice.user_id, bj::array{"NOPE"}}}));
  EXPECT_TRUE(q.at("device_keys").at(alice.user_id).as_object().empty());
}

TEST_P(KeysTest, ClaimHandsEachOneTimeKeyOutOnceThenTheFallback) {
  auto alice = Register("alice");
  auto bob = Register("bob");
  constexpr int kKeys = 40;
  bj::object otks;
  for (int i = 0; i < kKeys; ++i) {
    otks["signed_curve25519:K" + std::to_string(i)] = bj::object{{"key", "k" + std::to_string(i)}};
  }
  Upload(alice,
         {{"one_time_keys", otks},
          {"fallback_keys", {{"signed_curve25519:FB", {{"key", "fb"}, {"fallback", true}}}}}});

  // Claimers race on the same device.
  constexpr int kThreads = 8;
  constexpr int kClaimsEach = 8;
  std::vector<std::vector<std::string>> got(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kClaimsEach; ++i) {
        auto r = hs_->RunSync(
            hs_->keys.Claim(bob, {{alice.user_id, {{alice.device_id, "signed_curve25519"}}}}));
        const auto& keys = r.at("one_time_keys").at(alice.user_id).at(alice.device_id).as_object();
        ASSERT_EQ(keys.size(), 1u);
        got[t].push_back(std::string(keys.begin()->key()));
      }
    });
  }
  for (auto& th : threads) th.join();
  std::set<std::string> unique;
  int fallbacks = 0;
  for (const auto& v : got) {
    for (const auto& id : v) {
      if (id == "signed_curve25519:FB") {
        ++fallbacks;
      } else {
        EXPECT_TRUE(unique.insert(id).second) << id << " was claimed twice";
      }
    }
  }
  EXPECT_EQ(static_cast<int>(unique.size()), kKeys);
  EXPECT_EQ(fallbacks, kThreads * kClaimsEach - kKeys);

  // Counts in /sync: no one-time keys left, the fallback key used.
  auto s = Sync(alice);
  EXPECT_EQ(s.one_time_keys_count.at("signed_curve25519").as_int64(), 0);
  EXPECT_TRUE(s.unused_fallback_key_types.empty());
  // A new fallback key is unused again.
  Upload(alice, {{"fallback_keys", {{"signed_curve25519:FB2", {{"key", "fb2"}}}}}});
  s = Sync(alice);
  EXPECT_EQ(Strings(s.unused_fallback_key_types), std::set<std::string>{"signed_curve25519"});
}

// A woken sync reads no key table while nothing changed the device's keys:
// the counts it reports are the kept ones, and every upload, claim and
// to-device message still shows in the next sync.
TEST_P(KeysTest, SyncKeepsKeyCountsUntilAnUploadOrClaimChangesThem) {
  auto alice = Register("alice");
  auto bob = Register("bob");
  CreateRoomOptions o;
  o.preset = "public_chat";
  auto room = CreateRoom(alice, o);
  Join(bob, room);
  Upload(alice,
         {{"one_time_keys",
           {{"signed_curve25519:A", {{"key", "a"}}}, {"signed_curve25519:B", {{"key", "b"}}}}},
          {"fallback_keys", {{"signed_curve25519:FB", {{"key", "fb"}}}}}});
  auto s = Sync(alice);
  EXPECT_EQ(s.one_time_keys_count.at("signed_curve25519").as_int64(), 2);
  auto send = [&, n = 0]() mutable {
    hs_->RunSync(hs_->rooms.Send(bob, room, "m.room.message",
                                 {{"msgtype", "m.text"}, {"body", "hi"}},
                                 "t" + std::to_string(++n)));
  };

  // Messages alone: the counts come from memory.
  send();
  s = Sync(alice, s.next_batch);
  const auto reads = hs_->sync.DeviceStateReads();
  for (int i = 0; i < 3; ++i) {
    send();
    s = Sync(alice, s.next_batch);
    ASSERT_EQ(s.join.size(), 1u);
    EXPECT_EQ(s.one_time_keys_count.at("signed_curve25519").as_int64(), 2);
    EXPECT_EQ(Strings(s.unused_fallback_key_types), std::set<std::string>{"signed_curve25519"});
  }
  EXPECT_EQ(hs_->sync.DeviceStateReads(), reads) << "messages alone re-read the key counts";

  // A claim (by someone else) shows in the next sync.
  hs_->RunSync(hs_->keys.Claim(bob, {{alice.user_id, {{alice.device_id, "signed_curve25519"}}}}));
  send();
  s = Sync(alice, s.next_batch);
  EXPECT_EQ(s.one_time_keys_count.at("signed_curve25519").as_int64(), 1);
  // So does an upload.
  Upload(alice,
         {{"one_time_keys",
           {{"signed_curve25519:C", {{"key", "c"}}}, {"signed_curve25519:D", {{"key", "d"}}}}}});
  send();
  s = Sync(alice, s.next_batch);
  EXPECT_EQ(s.one_time_keys_count.at("signed_curve25519").as_int64(), 3);
  // Claims down to the fallback key, which is then used.
  for (int i = 0; i < 4; ++i) {
    hs_->RunSync(hs_->keys.Claim(bob, {{alice.user_id, {{alice.device_id, "signed_curve25519"}}}}));
  }
  send();
  s = Sync(alice, s.next_batch);
  EXPECT_EQ(s.one_time_keys_count.at("signed_curve25519").as_int64(), 0);
  EXPECT_TRUE(s.unused_fallback_key_types.empty());

  // A to-device message is delivered, then deleted once acknowledged, with
  // the counts still right around it.
  const auto before_message = s.next_batch;
  hs_->RunSync(hs_->to_device.Send(bob, "m.test", "td1",
                                   bj::object{{alice.user_id, {{alice.device_id, {{"n", 1}}}}}}));
  s = Sync(alice, s.next_batch);
  ASSERT_EQ(s.to_device.size(), 1u);
  const auto delivered = s.next_batch;
  send();
  s = Sync(alice, s.next_batch);
  EXPECT_TRUE(s.to_device.empty());
  EXPECT_TRUE(Sync(alice, before_message).to_device.empty()) << "the acknowledged message was kept";
  EXPECT_EQ(s.one_time_keys_count.at("signed_curve25519").as_int64(), 0);
}

TEST_P(KeysTest, ToDeviceIsDeliveredExactlyOnce) {
  auto alice = Register("alice");
  auto alice2 = Login("alice");
  auto bob = Register("bob");
  auto first = Sync(alice);
  auto first2 = Sync(alice2);

  bj::object messages{{alice.user_id, {{alice.device_id, {{"n", 1}}}}}};
  hs_->RunSync(hs_->to_device.Send(bob, "m.test", "txn1", messages));
  hs_->RunSync(hs_->to_device.Send(bob, "m.test", "txn1", messages));  // a retry
  hs_->RunSync(
      hs_->to_device.Send(bob, "m.test", "txn2", bj::object{{alice.user_id, {{"*", {{"n", 2}}}}}}));

  auto s1 = Sync(alice, first.next_batch);
  ASSERT_EQ(s1.to_device.size(), 2u);
  EXPECT_EQ(s1.to_device[0].at("sender").as_string(), bob.user_id);
  EXPECT_EQ(s1.to_device[0].at("type").as_string(), "m.test");
  EXPECT_EQ(s1.to_device[0].at("content").at("n").as_int64(), 1);
  EXPECT_EQ(s1.to_device[1].at("content").at("n").as_int64(), 2);
  // The response was lost: the same token gives the same messages.
  EXPECT_EQ(Sync(alice, first.next_batch).to_device.size(), 2u);
  // Once the device syncs past them they are gone.
  auto s2 = Sync(alice, s1.next_batch);
  EXPECT_TRUE(s2.to_device.empty());
  EXPECT_TRUE(Sync(alice, first.next_batch).to_device.empty());
  // The other device got the broadcast only.
  auto o = Sync(alice2, first2.next_batch);
  ASSERT_EQ(o.to_device.size(), 1u);
  EXPECT_EQ(o.to_device[0].at("content").at("n").as_int64(), 2);
}

TEST_P(KeysTest, DeviceListsChangeWhenASecondDeviceUploadsKeysAndWhenUsersLeave) {
  auto alice = Register("alice");
  auto bob = Register("bob");
  auto carol = Register("carol");
  CreateRoomOptions o;
  o.preset = "public_chat";
  auto room = CreateRoom(alice, o);
  Join(bob, room);
  UploadDevice(bob);
  auto before = Sync(alice);

  auto bob2 = Login("bob");
  UploadDevice(bob2);
  UploadDevice(carol);  // shares no room with alice
  auto s = Sync(alice, before.next_batch);
  EXPECT_EQ(Strings(s.device_lists_changed), std::set<std::string>{bob.user_id});
  EXPECT_TRUE(s.device_lists_left.empty());
  auto d = hs_->RunSync(hs_->keys.Changes(alice, before.next_batch, s.next_batch));
  EXPECT_EQ(d.changed, std::vector<std::string>{bob.user_id});

  // Bob deletes his second device: a change too.
  bj::object auth{{"type", "m.login.password"},
                  {"identifier", {{"type", "m.id.user"}, {"user", "bob"}}},
                  {"password", "password1"}};
  hs_->RunSync(hs_->devices.Delete(bob, {bob2.device_id}, &auth));
  auto s2 = Sync(alice, s.next_batch);
  EXPECT_EQ(Strings(s2.device_lists_changed), std::set<std::string>{bob.user_id});
  auto q = hs_->RunSync(hs_->keys.Query(alice, {{bob.user_id, bj::array{}}}));
  EXPECT_EQ(q.at("device_keys").at(bob.user_id).as_object().size(), 1u);

  hs_->RunSync(hs_->rooms.Membership(bob, room, bob.user_id, "leave", std::nullopt));
  auto s3 = Sync(alice, s2.next_batch);
  EXPECT_EQ(Strings(s3.device_lists_left), std::set<std::string>{bob.user_id});
}

TEST_P(KeysTest, CrossSigningKeysMustBeSignedByTheMasterKey) {
  auto alice = Register("alice");
  auto bob = Register("bob");
  auto device_key = SigningKey::Generate(alice.device_id);
  Upload(alice, {{"device_keys", DeviceKeys(alice, device_key)}});
  auto master = SigningKey::Generate("m");
  auto ssk = SigningKey::Generate("s");
  auto usk = SigningKey::Generate("u");
  auto other = SigningKey::Generate("o");

  auto bad = bj::object{{"master_key", Cross(alice.user_id, "master", master, nullptr)},
                        {"self_signing_key", Cross(alice.user_id, "self_signing", ssk, &other)}};
  EXPECT_EQ(CodeOf([&] { hs_->RunSync(hs_->keys.UploadDeviceSigning(alice, bad)); }),
            ErrorCode::kInvalidSignature);

  auto good = bj::object{{"master_key", Cross(alice.user_id, "master", master, nullptr)},
                         {"self_signing_key", Cross(alice.user_id, "self_signing", ssk, &master)},
                         {"user_signing_key", Cross(alice.user_id, "user_signing", usk, &master)}};
  hs_->RunSync(hs_->keys.UploadDeviceSigning(alice, good));  // first upload: no UIA
  hs_->RunSync(hs_->keys.UploadDeviceSigning(alice, good));  // the same again: no UIA
  auto replace = bj::object{{"master_key", Cross(alice.user_id, "master", other, nullptr)}};
  EXPECT_EQ(CodeOf([&] { hs_->RunSync(hs_->keys.UploadDeviceSigning(alice, replace)); }),
            ErrorCode::kUiaRequired);

  // The user-signing key is visible to its owner only.
  auto mine = hs_->RunSync(hs_->keys.Query(alice, {{alice.user_id, bj::array{}}}));
  EXPECT_TRUE(mine.at("user_signing_keys").as_object().contains(alice.user_id));
  auto theirs = hs_->RunSync(hs_->keys.Query(bob, {{alice.user_id, bj::array{}}}));
  EXPECT_TRUE(theirs.at("master_keys").as_object().contains(alice.user_id));
  EXPECT_TRUE(theirs.at("self_signing_keys").as_object().contains(alice.user_id));
  EXPECT_FALSE(theirs.at("user_signing_keys").as_object().contains(alice.user_id));

  // The self-signing key signs the device; a forged signature fails.
  auto signed_device = DeviceKeys(alice, device_key);
  SignAs(signed_device, alice.user_id, ssk);
  auto forged = DeviceKeys(alice, device_key);
  SignAs(forged, alice.user_id, other);
  forged["signatures"].as_object()[alice.user_id].as_object()["ed25519:" + ssk.PublicKeyBase64()] =
      forged["signatures"].at(alice.user_id).at("ed25519:" + other.PublicKeyBase64());
  auto failures = hs_->RunSync(
      hs_->keys.UploadSignatures(alice, {{alice.user_id, {{alice.device_id, forged}}}}));
  EXPECT_EQ(failures.at(alice.user_id).at(alice.device_id).at("errcode").as_string(),
            "M_INVALID_SIGNATURE");
  failures = hs_->RunSync(
      hs_->keys.UploadSignatures(alice, {{alice.user_id, {{alice.device_id, signed_device}}}}));
  EXPECT_TRUE(failures.empty()) << bj::serialize(failures);
  auto q = hs_->RunSync(hs_->keys.Query(bob, {{alice.user_id, bj::array{}}}));
  const auto& dev = q.at("device_keys").at(alice.user_id).at(alice.device_id).as_object();
  EXPECT_TRUE(events::VerifyJsonSignature(dev, alice.user_id, "ed25519:" + ssk.PublicKeyBase64(),
                                          ssk.PublicKey()));
}

VIGIE_INSTANTIATE_ENGINE_TEST_SUITE(KeysTest);

}  // namespace
}  // namespace vigie::service
