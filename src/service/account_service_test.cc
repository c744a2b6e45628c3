#include "service/account_service.h"

#include <gtest/gtest.h>

#include "service/service_test_util.h"
#include "storage/audit_store.h"

namespace vigie::service {
namespace {

class AccountTest : public ::testing::Test {
 protected:
  void SetUp() override {
    crypto::Init();
    hs_ = std::make_unique<Homeserver>(TestConfig());
  }
  Session Login(const std::string& user, const std::string& pw,
                std::optional<std::string> device = std::nullopt) {
    LoginRequest r;
    r.user = user;
    r.password = pw;
    r.device_id = device;
    return hs_->RunSync(hs_->accounts.Login(r));
  }
  Requester Auth(const Session& s) {
    return hs_->RunSync(hs_->auth.Authenticate(*s.access_token, "127.0.0.1", "test"));
  }
  std::unique_ptr<Homeserver> hs_;
};

TEST_F(AccountTest, TokensAreRandomAndStoredHashed) {
  std::string a = AuthService::NewToken(), b = AuthService::NewToken();
  EXPECT_NE(a, b);
  EXPECT_EQ(a.size(), 3u + 43u);  // "vg_" + 256 bits in unpadded base64url
  hs_->RunSync(hs_->accounts.CreateUser("alice", "password1", false, "t"));
  Session s = Login("alice", "password1");
  auto found = hs_->db().Read([&](sql::Tx& tx) {
    return storage::AccountStore::FindToken(tx, AuthService::HashToken(*s.access_token));
  });
  ASSERT_TRUE(found);
  EXPECT_EQ(found->token_hash.size(), 64u);
  EXPECT_EQ(found->token_hash.find(*s.access_token), std::string::npos);
  auto raw = hs_->db().Read(
      [&](sql::Tx& tx) { return storage::AccountStore::FindToken(tx, *s.access_token); });
  EXPECT_FALSE(raw);
}

TEST_F(AccountTest, AuthenticateAndLogout) {
  hs_->RunSync(hs_->accounts.CreateUser("alice", "password1", false, "t"));
  Session s = Login("@alice:test.local", "password1", "DEV1");
  EXPECT_EQ(s.device_id, "DEV1");
  Requester who = Auth(s);
  EXPECT_EQ(who.user_id, "@alice:test.local");
  EXPECT_EQ(who.device_id, "DEV1");
  EXPECT_EQ(who.tenant_id, "default");
  hs_->RunSync(hs_->accounts.Logout(who));
  Error e = ErrorOf([&] { Auth(s); });
  EXPECT_EQ(e.code(), ErrorCode::kUnknownToken);
  EXPECT_EQ(e.extra().at("soft_logout").as_bool(), false);
}

TEST_F(AccountTest, WrongPasswordAndUnknownUserLookAlike) {
  hs_->RunSync(hs_->accounts.CreateUser("alice", "password1", false, "t"));
  Error a = ErrorOf([&] { Login("alice", "nope"); });
  Error b = ErrorOf([&] { Login("nobody", "nope"); });
  EXPECT_EQ(a.code(), ErrorCode::kForbidden);
  EXPECT_EQ(b.code(), ErrorCode::kForbidden);
  EXPECT_EQ(a.message(), b.message());
}

TEST_F(AccountTest, DeviceIdReuseReplacesItsToken) {
  hs_->RunSync(hs_->accounts.CreateUser("alice", "password1", false, "t"));
  Session s1 = Login("alice", "password1", "DEV");
  Auth(s1);  // cached
  Session s2 = Login("alice", "password1", "DEV");
  EXPECT_EQ(ErrorOf([&] { Auth(s1); }).code(), ErrorCode::kUnknownToken);
  EXPECT_EQ(Auth(s2).device_id, "DEV");
  auto devices = hs_->RunSync(hs_->devices.List("@alice:test.local"));
  EXPECT_EQ(devices.size(), 1u);
}

TEST_F(AccountTest, PasswordChangeLogsOutOtherDevices) {
  hs_->RunSync(hs_->accounts.CreateUser("alice", "password1", false, "t"));
  Session keep = Login("alice", "password1", "KEEP");
  Session other = Login("alice", "password1", "OTHER");
  Requester who = Auth(keep);
  Auth(other);
  boost::json::object auth{{"type", kStagePassword}, {"user", "alice"}, {"password", "password1"}};
  hs_->RunSync(hs_->accounts.ChangePassword(who, &auth, "password2", true));
  EXPECT_NO_THROW(Auth(keep));
  EXPECT_EQ(ErrorOf([&] { Auth(other); }).code(), ErrorCode::kUnknownToken);
  EXPECT_EQ(ErrorOf([&] { Login("alice", "password1"); }).code(), ErrorCode::kForbidden);
  EXPECT_NO_THROW(Login("alice", "password2"));
}

TEST_F(AccountTest, WeakPasswordRefused) {
  EXPECT_EQ(
      ErrorOf([&] { hs_->RunSync(hs_->accounts.CreateUser("bob", "short", false, "t")); }).code(),
      ErrorCode::kWeakPassword);
}

TEST_F(AccountTest, RegisterChecksUsernameFirst) {
  hs_->RunSync(hs_->accounts.CreateUser("taken", "password1", false, "t"));
  RegisterRequest r;
  r.username = "taken";
  r.password = "password1";
  EXPECT_EQ(ErrorOf([&] { hs_->RunSync(hs_->accounts.Register(r)); }).code(),
            ErrorCode::kUserInUse);
  r.username = "Bad Name!";
  EXPECT_EQ(ErrorOf([&] { hs_->RunSync(hs_->accounts.Register(r)); }).code(),
            ErrorCode::kInvalidUsername);
  r.username = "fresh";
  EXPECT_EQ(ErrorOf([&] { hs_->RunSync(hs_->accounts.Register(r)); }).code(),
            ErrorCode::kUiaRequired);
  boost::json::object dummy{{"type", kStageDummy}};
  r.auth = &dummy;
  Session s = hs_->RunSync(hs_->accounts.Register(r));
  EXPECT_EQ(s.user_id, "@fresh:test.local");
  EXPECT_TRUE(s.access_token);
}

TEST_F(AccountTest, DeactivationRevokesEverythingAndIsAudited) {
  hs_->RunSync(hs_->accounts.CreateUser("alice", "password1", false, "t"));
  Session s = Login("alice", "password1");
  Requester who = Auth(s);
  boost::json::object auth{{"type", kStagePassword}, {"user", "alice"}, {"password", "password1"}};
  hs_->RunSync(hs_->accounts.Deactivate(who, &auth, true));
  EXPECT_EQ(ErrorOf([&] { Auth(s); }).code(), ErrorCode::kUnknownToken);
  EXPECT_EQ(ErrorOf([&] { Login("alice", "password1"); }).code(), ErrorCode::kUserDeactivated);
  EXPECT_TRUE(hs_->RunSync(hs_->devices.List("@alice:test.local")).empty());
  auto log = hs_->db().Read([](sql::Tx& tx) { return storage::AuditStore::List(tx, 1, 100); });
  ASSERT_FALSE(log.empty());
  EXPECT_EQ(log.back().action, "user.deactivate");
  auto verify = hs_->db().Read([](sql::Tx& tx) { return storage::AuditStore::Verify(tx); });
  EXPECT_TRUE(verify.ok);
}

TEST_F(AccountTest, SingleUseRegistrationToken) {
  Config c = TestConfig();
  c.registration_mode = "token";
  hs_ = std::make_unique<Homeserver>(c);
  std::string token = hs_->RunSync(hs_->accounts.CreateRegistrationToken(1, std::nullopt, "t"));
  boost::json::object auth{{"type", kStageRegistrationToken}, {"token", token}};
  RegisterRequest r;
  r.username = "one";
  r.password = "password1";
  r.auth = &auth;
  EXPECT_NO_THROW(hs_->RunSync(hs_->accounts.Register(r)));
  r.username = "two";
  Error e = ErrorOf([&] { hs_->RunSync(hs_->accounts.Register(r)); });
  EXPECT_EQ(e.code(), ErrorCode::kUiaRequired);
  EXPECT_FALSE(hs_->RunSync(hs_->accounts.RegistrationTokenValid(token)));
}

}  // namespace
}  // namespace vigie::service
