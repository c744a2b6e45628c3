// X.1606 device controls at the service level: the device limit (X-IM-1),
// the primary device and approval of new devices (X-IM-2), notices and
// device-list changes for every change (X-IM-3), and forced logout, ban
// and remote wipe (X-IM-4).
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <set>

#include "common/time.h"
#include "events/signing.h"
#include "service/device_service.h"
#include "service/engine_test_util.h"
#include "storage/audit_store.h"
#include "storage/e2e_store.h"

namespace vigie::service {
namespace {

namespace bj = boost::json;
using events::SigningKey;
using storage::AccountStore;
using storage::DeviceState;

class DeviceControlsTest : public EngineHomeserverTest {
 protected:
  void SetUp() override {
    EngineHomeserverTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    hs_->RunSync(hs_->accounts.CreateUser("alice", "password1", false, "t"));
    provider_ = Requester{"@provider:test.local", "P", "default", true, ""};
    tenant_admin_ = Requester{"@tadmin:test.local", "T", "default", false, ""};
    tenant_admin_.tenant_admin = true;
  }

  // Sets the default tenant's policy; a weakening change is approved by
  // the tenant admin too (X-OR-1).
  void SetPolicy(bj::object doc) {
    auto out = hs_->RunSync(hs_->policy.ProposePolicy(provider_, "default", doc));
    if (out.change.state == "pending") {
      out = hs_->RunSync(hs_->policy.Approve(tenant_admin_, out.change.change_id));
    }
    ASSERT_EQ(out.change.state, "applied");
  }

  Session LoginAs(const std::string& device, const std::string& user = "alice") {
    LoginRequest r;
    r.user = user;
    r.password = "password1";
    r.device_id = device;
    r.initial_device_display_name = "Device " + device;
    r.ip = "192.0.2.1";
    return hs_->RunSync(hs_->accounts.Login(r));
  }
  Requester Auth(const Session& s) {
    return hs_->RunSync(hs_->auth.Authenticate(*s.access_token, "127.0.0.1", "t"));
  }
  Requester Device(const std::string& device) { return Auth(LoginAs(device)); }

  std::optional<storage::DeviceRecord> Row(const std::string& device) {
    return hs_->db().Read([&](sql::Tx& tx) { return AccountStore::GetDevice(tx, kAlice, device); });
  }
  std::set<std::string> DeviceIds() {
    std::set<std::string> out;
    for (const auto& d : hs_->RunSync(hs_->devices.List(kAlice, true))) out.insert(d.device_id);
    return out;
  }
  std::vector<storage::AuditEntry> AuditEntries(const std::string& action) {
    auto all = hs_->db().Read([](sql::Tx& tx) { return storage::AuditStore::List(tx, 0, 10000); });
    std::vector<storage::AuditEntry> out;
    for (auto& e : all) {
      if (e.action == action) out.push_back(std::move(e));
    }
    return out;
  }
  // The io.vigie.notice kinds in the user's server-notices room, oldest first.
  std::vector<std::string> NoticeKinds(const Requester& reader) {
    auto room = hs_->RunSync(hs_->notices.RoomOf(reader.user_id));
    if (!room) return {};
    MessagesRequest req;
    req.limit = 100;
    auto page = hs_->RunSync(hs_->history.Messages(reader, *room, req));
    std::vector<std::string> out;
    for (auto it = page.chunk.rbegin(); it != page.chunk.rend(); ++it) {
      auto v = bj::parse(it->json);
      auto* n = v.at("content").as_object().if_contains("io.vigie.notice");
      if (n) out.emplace_back(n->at("kind").as_string());
    }
    return out;
  }
  // The positions of alice's device-list changes.
  bool DeviceListChangedSince(std::int64_t from) {
    auto users = hs_->db().Read([&](sql::Tx& tx) {
      return storage::E2eStore::DeviceListChangesVisibleTo(tx, kAlice, from, hs_->stream.Current());
    });
    return std::find(users.begin(), users.end(), kAlice) != users.end();
  }
  bj::object PasswordAuth(const Error& challenge) {
    return {{"type", kStagePassword},
            {"session", challenge.extra().at("session")},
            {"identifier", {{"type", "m.id.user"}, {"user", "alice"}}},
            {"password", "password1"}};
  }
  // Signed device keys for `who` with `key` (whose version is the device id).
  static bj::object DeviceKeys(const Requester& who, const SigningKey& key,
                               const std::string& curve) {
    bj::object o{{"user_id", who.user_id},
                 {"device_id", who.device_id},
                 {"algorithms", bj::array{"m.olm.v1.curve25519-aes-sha2"}},
                 {"keys",
                  {{"curve25519:" + who.device_id, curve},
                   {"ed25519:" + who.device_id, key.PublicKeyBase64()}}}};
    events::SignJson(o, who.user_id, key);
    return o;
  }

  static constexpr const char* kAlice = "@alice:test.local";
  Requester provider_;
  Requester tenant_admin_;
};

TEST_P(DeviceControlsTest, FirstDeviceIsPrimaryLaterOnesAreNot) {
  auto d1 = Device("D1");
  auto d2 = Device("D2");
  EXPECT_TRUE(d1.device_primary);
  EXPECT_FALSE(d2.device_primary);
  EXPECT_FALSE(d2.device_pending);
  EXPECT_EQ(AuditEntries("device.primary").size(), 1u);
  EXPECT_EQ(AuditEntries("device.new").size(), 1u);
}

TEST_P(DeviceControlsTest, X_IM_1_DeviceBeyondTheLimitIsRefused) {
  SetPolicy({{"max_devices", 2}});
  Device("D1");
  Device("D2");
  Error e = ErrorOf([&] { LoginAs("D3"); });
  EXPECT_EQ(e.code(), ErrorCode::kForbidden);
  EXPECT_EQ(e.extra().at("io.vigie.requirement").as_string(), "X-IM-1");
  EXPECT_NE(e.message().find("maximum of 2"), std::string::npos) << e.message();
  EXPECT_EQ(DeviceIds(), (std::set<std::string>{"D1", "D2"}));
  // The refusal is audited; logging in again on a known device is no new device.
  ASSERT_EQ(AuditEntries("device.refuse").size(), 1u);
  EXPECT_NE(AuditEntries("device.refuse")[0].details.find("X-IM-1"), std::string::npos);
  EXPECT_NO_THROW(LoginAs("D2"));
}

TEST_P(DeviceControlsTest, X_IM_1_EvictOldestRemovesTheLeastRecentlySeenNonPrimary) {
  SetPolicy({{"max_devices", 3}, {"device_limit_action", "evict_oldest"}});
  auto s1 = LoginAs("D1");  // primary, and the oldest
  auto s2 = LoginAs("D2");
  auto s3 = LoginAs("D3");
  // D2 was seen more recently than D3.
  hs_->db().Write(
      [&](sql::Tx& tx) { AccountStore::TouchDevice(tx, kAlice, "D2", NowMs() + 1000, "", ""); });
  auto alice = Auth(s1);
  auto s4 = LoginAs("D4");
  EXPECT_EQ(DeviceIds(), (std::set<std::string>{"D1", "D2", "D4"}));
  EXPECT_EQ(ErrorOf([&] { Auth(s3); }).code(), ErrorCode::kUnknownToken);
  EXPECT_TRUE(Row("D1")->is_primary);
  ASSERT_EQ(AuditEntries("device.evict").size(), 1u);
  EXPECT_NE(AuditEntries("device.evict")[0].details.find("\"D3\""), std::string::npos);
  auto kinds = NoticeKinds(alice);
  EXPECT_NE(std::find(kinds.begin(), kinds.end(), "device.evicted"), kinds.end());
}

TEST_P(DeviceControlsTest, X_IM_1_EvictOldestNeverEvictsThePrimary) {
  SetPolicy({{"max_devices", 1}, {"device_limit_action", "evict_oldest"}});
  Device("D1");
  Error e = ErrorOf([&] { LoginAs("D2"); });
  EXPECT_EQ(e.code(), ErrorCode::kForbidden);
  EXPECT_EQ(e.extra().at("io.vigie.requirement").as_string(), "X-IM-1");
  EXPECT_EQ(DeviceIds(), (std::set<std::string>{"D1"}));
}

TEST_P(DeviceControlsTest, X_IM_2_NewDeviceIsPendingUntilThePrimaryApproves) {
  auto d1 = Device("D1");
  SetPolicy({{"require_primary_approval", true}});
  auto s2 = LoginAs("D2");
  auto d2 = Auth(s2);
  EXPECT_TRUE(d2.device_pending);
  EXPECT_EQ(Row("D2")->state, DeviceState::kPending);
  EXPECT_EQ(AuditEntries("device.pending").size(), 1u);
  auto kinds = NoticeKinds(d1);
  EXPECT_NE(std::find(kinds.begin(), kinds.end(), "device.pending"), kinds.end());

  // Nobody but the primary approves: not the pending device itself.
  Error e = ErrorOf([&] { hs_->RunSync(hs_->devices.Approve(d2, "D2")); });
  EXPECT_EQ(e.code(), ErrorCode::kForbidden);
  EXPECT_EQ(e.extra().at("io.vigie.requirement").as_string(), "X-IM-2");

  std::int64_t before = hs_->stream.Current();
  hs_->RunSync(hs_->devices.Approve(d1, "D2"));
  EXPECT_EQ(Row("D2")->state, DeviceState::kActive);
  EXPECT_FALSE(Auth(s2).device_pending);  // the cached requester was dropped
  EXPECT_TRUE(DeviceListChangedSince(before));
  EXPECT_EQ(AuditEntries("device.approve").size(), 1u);
  // Approving twice is an error.
  EXPECT_EQ(ErrorOf([&] { hs_->RunSync(hs_->devices.Approve(d1, "D2")); }).code(),
            ErrorCode::kInvalidParam);
}

TEST_P(DeviceControlsTest, X_IM_2_OnlyThePrimaryApproves) {
  auto d1 = Device("D1");
  auto d2 = Device("D2");
  SetPolicy({{"require_primary_approval", true}});
  LoginAs("D3");
  Error e = ErrorOf([&] { hs_->RunSync(hs_->devices.Approve(d2, "D3")); });
  EXPECT_EQ(e.code(), ErrorCode::kForbidden);
  EXPECT_NE(e.message().find("primary"), std::string::npos);
  EXPECT_EQ(Row("D3")->state, DeviceState::kPending);
}

TEST_P(DeviceControlsTest, X_IM_2_DenyDeletesThePendingDevice) {
  auto d1 = Device("D1");
  SetPolicy({{"require_primary_approval", true}});
  auto s2 = LoginAs("D2");
  // Deny only applies to pending devices.
  EXPECT_EQ(ErrorOf([&] { hs_->RunSync(hs_->devices.Deny(d1, "D1")); }).code(),
            ErrorCode::kInvalidParam);
  hs_->RunSync(hs_->devices.Deny(d1, "D2"));
  EXPECT_FALSE(Row("D2"));
  EXPECT_EQ(ErrorOf([&] { Auth(s2); }).code(), ErrorCode::kUnknownToken);
  EXPECT_EQ(AuditEntries("device.deny").size(), 1u);
}

TEST_P(DeviceControlsTest, X_IM_2_PrimaryHandsOverAndIsReplacedWhenItLeaves) {
  auto s1 = LoginAs("D1");
  auto d1 = Auth(s1);
  auto s2 = LoginAs("D2");
  auto s3 = LoginAs("D3");
  // Only to an existing active device, only from the primary.
  EXPECT_EQ(ErrorOf([&] { hs_->RunSync(hs_->devices.SetPrimary(d1, "NOPE")); }).code(),
            ErrorCode::kNotFound);
  EXPECT_EQ(ErrorOf([&] { hs_->RunSync(hs_->devices.SetPrimary(Auth(s2), "D2")); }).code(),
            ErrorCode::kForbidden);
  hs_->RunSync(hs_->devices.SetPrimary(d1, "D2"));
  EXPECT_FALSE(Row("D1")->is_primary);
  EXPECT_TRUE(Row("D2")->is_primary);
  EXPECT_TRUE(Auth(s2).device_primary);
  EXPECT_FALSE(Auth(s1).device_primary);

  // The primary logs out: the oldest remaining active device takes over.
  hs_->RunSync(hs_->accounts.Logout(Auth(s2)));
  EXPECT_TRUE(Row("D1")->is_primary);
  EXPECT_FALSE(Row("D3")->is_primary);
  EXPECT_EQ(AuditEntries("device.primary.promote").size(), 1u);
}

TEST_P(DeviceControlsTest, X_IM_3_NewDeviceIsANoticeAndADeviceListChange) {
  auto d1 = Device("D1");
  std::int64_t before = hs_->stream.Current();
  EXPECT_TRUE(NoticeKinds(d1).empty());  // the first device tells nobody
  Device("D2");
  EXPECT_TRUE(DeviceListChangedSince(before));
  EXPECT_EQ(NoticeKinds(d1), (std::vector<std::string>{"device.new"}));
}

TEST_P(DeviceControlsTest, X_IM_4_ForceLogoutFromThePrimary) {
  auto d1 = Device("D1");
  auto s2 = LoginAs("D2");
  std::int64_t before = hs_->stream.Current();
  hs_->RunSync(hs_->devices.ForceLogout(d1, "D2", nullptr));
  EXPECT_FALSE(Row("D2"));
  EXPECT_EQ(ErrorOf([&] { Auth(s2); }).code(), ErrorCode::kUnknownToken);
  EXPECT_TRUE(DeviceListChangedSince(before));
  ASSERT_EQ(AuditEntries("device.logout").size(), 1u);
  EXPECT_NE(AuditEntries("device.logout")[0].details.find("X-IM-4"), std::string::npos);
  auto kinds = NoticeKinds(d1);
  EXPECT_NE(std::find(kinds.begin(), kinds.end(), "device.logout"), kinds.end());
}

TEST_P(DeviceControlsTest, X_IM_4_OtherDevicesNeedThePasswordAgain) {
  Device("D1");
  auto d2 = Device("D2");
  auto s3 = LoginAs("D3");
  Error challenge = ErrorOf([&] { hs_->RunSync(hs_->devices.ForceLogout(d2, "D3", nullptr)); });
  ASSERT_EQ(challenge.code(), ErrorCode::kUiaRequired);
  EXPECT_TRUE(Row("D3"));
  auto auth = PasswordAuth(challenge);
  hs_->RunSync(hs_->devices.ForceLogout(d2, "D3", &auth));
  EXPECT_FALSE(Row("D3"));
  EXPECT_NE(AuditEntries("device.logout")[0].details.find("reauth"), std::string::npos);
}

TEST_P(DeviceControlsTest, X_IM_4_PendingDeviceControlsNothing) {
  Device("D1");
  SetPolicy({{"require_primary_approval", true}});
  auto d2 = Auth(LoginAs("D2"));
  Error e = ErrorOf([&] { hs_->RunSync(hs_->devices.ForceLogout(d2, "D1", nullptr)); });
  EXPECT_EQ(e.code(), ErrorCode::kForbidden);
}

TEST_P(DeviceControlsTest, X_IM_4_BannedDeviceAndItsKeysStayOut) {
  auto d1 = Device("D1");
  auto s2 = LoginAs("D2");
  auto d2 = Auth(s2);
  auto key = SigningKey::Generate("D2");
  hs_->RunSync(hs_->keys.Upload(d2, {{"device_keys", DeviceKeys(d2, key, "curveD2")}}));

  EXPECT_EQ(ErrorOf([&] { hs_->RunSync(hs_->devices.Ban(d1, "D1", nullptr)); }).code(),
            ErrorCode::kInvalidParam);  // never oneself
  hs_->RunSync(hs_->devices.Ban(d1, "D2", nullptr));
  EXPECT_EQ(Row("D2")->state, DeviceState::kBanned);
  EXPECT_EQ(ErrorOf([&] { Auth(s2); }).code(), ErrorCode::kUnknownToken);
  EXPECT_FALSE(hs_->db().Read(
      [&](sql::Tx& tx) { return storage::E2eStore::GetDeviceKeys(tx, kAlice, "D2"); }));

  // The device id may not log in again...
  Error e = ErrorOf([&] { LoginAs("D2"); });
  EXPECT_EQ(e.code(), ErrorCode::kForbidden);
  EXPECT_EQ(e.extra().at("io.vigie.requirement").as_string(), "X-IM-4");
  // ... nor its key come back under another id.
  auto d3 = Device("D3");
  auto same = SigningKey::FromSeed(key.Seed(), "D3");
  e = ErrorOf([&] {
    hs_->RunSync(hs_->keys.Upload(d3, {{"device_keys", DeviceKeys(d3, same, "x")}}));
  });
  EXPECT_EQ(e.code(), ErrorCode::kForbidden);
  e = ErrorOf([&] {
    auto fresh = SigningKey::Generate("D3");
    hs_->RunSync(hs_->keys.Upload(d3, {{"device_keys", DeviceKeys(d3, fresh, "curveD2")}}));
  });
  EXPECT_EQ(e.code(), ErrorCode::kForbidden);  // the curve25519 key is banned too
  auto fresh = SigningKey::Generate("D3");
  EXPECT_NO_THROW(
      hs_->RunSync(hs_->keys.Upload(d3, {{"device_keys", DeviceKeys(d3, fresh, "curveD3")}})));

  // The ban outlives deletion through the standard API and logout/all.
  auto auth = bj::object{};
  Error challenge = ErrorOf([&] {
    std::vector<std::string> ids{"D2"};
    hs_->RunSync(hs_->devices.Delete(d1, ids, nullptr));
  });
  auth = PasswordAuth(challenge);
  std::vector<std::string> ids{"D2"};
  hs_->RunSync(hs_->devices.Delete(d1, ids, &auth));
  EXPECT_EQ(Row("D2")->state, DeviceState::kBanned);
  hs_->RunSync(hs_->accounts.LogoutAll(d1));
  EXPECT_EQ(Row("D2")->state, DeviceState::kBanned);
  EXPECT_EQ(ErrorOf([&] { LoginAs("D2"); }).code(), ErrorCode::kForbidden);
  // Banned devices are not in the standard device list.
  for (const auto& d : hs_->RunSync(hs_->devices.List(kAlice))) EXPECT_NE(d.device_id, "D2");
}

TEST_P(DeviceControlsTest, X_IM_4_WipedDeviceIsToldOnceThenGone) {
  auto d1 = Device("D1");
  auto s2 = LoginAs("D2");
  auto d2 = Auth(s2);
  auto key = SigningKey::Generate("D2");
  hs_->RunSync(hs_->keys.Upload(d2, {{"device_keys", DeviceKeys(d2, key, "curveD2")}}));
  bj::object messages{{kAlice, {{"D2", {{"secret", "s"}}}}}};
  hs_->RunSync(hs_->to_device.Send(d1, "m.test", "txn1", messages));
  auto inbox = [&] {
    return hs_->db().Read([&](sql::Tx& tx) {
      return storage::E2eStore::ToDeviceFor(tx, kAlice, "D2", 0, hs_->stream.Current()).size();
    });
  };
  ASSERT_EQ(inbox(), 1u);

  EXPECT_EQ(ErrorOf([&] { hs_->RunSync(hs_->devices.Wipe(d1, "D1", nullptr)); }).code(),
            ErrorCode::kInvalidParam);  // never oneself
  hs_->RunSync(hs_->devices.Wipe(d1, "D2", nullptr));
  // Keys and inbox are gone at once; the device still exists, told to wipe.
  EXPECT_EQ(inbox(), 0u);
  EXPECT_FALSE(hs_->db().Read(
      [&](sql::Tx& tx) { return storage::E2eStore::GetDeviceKeys(tx, kAlice, "D2"); }));
  ASSERT_TRUE(Row("D2"));
  EXPECT_TRUE(Row("D2")->wipe_requested_ts);
  // Nothing new is queued for it.
  bj::object again{{kAlice, {{"*", {{"secret", "t"}}}}}};
  hs_->RunSync(hs_->to_device.Send(d1, "m.test", "txn2", again));
  EXPECT_EQ(inbox(), 0u);

  Error told = ErrorOf([&] { Auth(s2); });
  EXPECT_EQ(told.code(), ErrorCode::kUnknownToken);
  EXPECT_EQ(told.extra().at("soft_logout").as_bool(), false);
  EXPECT_EQ(told.extra().at("io.vigie.wipe").as_bool(), true);
  // Once: the device and its token are gone now.
  Error after = ErrorOf([&] { Auth(s2); });
  EXPECT_EQ(after.code(), ErrorCode::kUnknownToken);
  EXPECT_FALSE(after.extra().contains("io.vigie.wipe"));
  EXPECT_FALSE(Row("D2"));
  EXPECT_EQ(AuditEntries("device.wipe").size(), 1u);
  EXPECT_EQ(AuditEntries("device.wiped").size(), 1u);
}

TEST_P(DeviceControlsTest, Issue4_LogoutPathsAreDeviceListChanges) {
  auto d1 = Device("D1");
  auto d2 = Device("D2");
  std::int64_t before = hs_->stream.Current();
  hs_->RunSync(hs_->accounts.Logout(d2));
  EXPECT_TRUE(DeviceListChangedSince(before));

  Device("D3");
  before = hs_->stream.Current();
  Error challenge =
      ErrorOf([&] { hs_->RunSync(hs_->accounts.ChangePassword(d1, nullptr, "password1", true)); });
  auto auth = PasswordAuth(challenge);
  hs_->RunSync(hs_->accounts.ChangePassword(d1, &auth, "password1", true));
  EXPECT_TRUE(DeviceListChangedSince(before));
  EXPECT_EQ(DeviceIds(), (std::set<std::string>{"D1"}));

  Device("D4");
  before = hs_->stream.Current();
  hs_->RunSync(hs_->accounts.LogoutAll(d1));
  EXPECT_TRUE(DeviceListChangedSince(before));
  EXPECT_TRUE(DeviceIds().empty());

  Device("D5");
  before = hs_->stream.Current();
  hs_->RunSync(hs_->accounts.DeactivateUser(kAlice, false, "t"));
  EXPECT_TRUE(DeviceListChangedSince(before));
}

VIGIE_INSTANTIATE_ENGINE_TEST_SUITE(DeviceControlsTest);

}  // namespace
}  // namespace vigie::service
