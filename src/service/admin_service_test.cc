// AdminService's role rules (provider admin, tenant admin, everyone else)
// and what its changes leave behind.
#include "service/admin_service.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "service/service_test_util.h"
#include "storage/audit_store.h"
#include "storage/tenant_store.h"

namespace vigie::service {
namespace {

class AdminTest : public ::testing::Test {
 protected:
  void SetUp() override {
    crypto::Init();
    hs_ = std::make_unique<Homeserver>(TestConfig());
    hs_->db().Write([](sql::Tx& tx) {
      storage::TenantStore::CreateTenant(tx, {"acme", "Acme", "active", 0});
    });
    root_ = Who("@root:test.local", "default", true, false);
    boss_ = Who("@boss:test.local", "acme", false, true);
    nobody_ = Who("@nobody:test.local", "acme", false, false);
    Put(root_, "@inside:test.local", {.password = "password1", .tenant = "acme"});
    Put(root_, "@outside:test.local", {.password = "password1"});
  }

  static Requester Who(std::string user_id, std::string tenant, bool admin, bool tenant_admin) {
    Requester r;
    r.user_id = std::move(user_id);
    r.device_id = "D";
    r.tenant_id = std::move(tenant);
    r.is_admin = admin;
    r.tenant_admin = tenant_admin;
    return r;
  }
  AdminPutResult Put(const Requester& who, const std::string& user_id, AdminUserChanges c) {
    return hs_->RunSync(hs_->admin.PutUser(who, user_id, std::move(c)));
  }
  std::vector<std::string> Names(const Requester& who, AdminUserQuery q = {}) {
    std::vector<std::string> out;
    for (const auto& u : hs_->RunSync(hs_->admin.ListUsers(who, q)).users) {
      out.push_back(u.user.user_id);
    }
    return out;
  }
  // The admin.* actions of the audit log, oldest first.
  std::vector<std::string> AuditActions() {
    return hs_->db().Read([](sql::Tx& tx) {
      std::vector<std::string> out;
      for (const auto& e : storage::AuditStore::List(tx, 0, 1000)) {
        if (e.action.starts_with("admin.")) out.push_back(e.action);
      }
      return out;
    });
  }

  std::unique_ptr<Homeserver> hs_;
  Requester root_, boss_, nobody_;
};

TEST_F(AdminTest, OthersAreNotAdmins) {
  auto e = ErrorOf([&] { Names(nobody_); });
  EXPECT_EQ(e.code(), ErrorCode::kForbidden);
  EXPECT_EQ(e.message(), "You are not a server admin");
  EXPECT_EQ(
      ErrorOf([&] { hs_->RunSync(hs_->admin.GetUser(nobody_, "@inside:test.local")); }).code(),
      ErrorCode::kForbidden);
  EXPECT_EQ(ErrorOf([&] { Put(nobody_, "@nobody:test.local", {.admin = true}); }).code(),
            ErrorCode::kForbidden);
}

TEST_F(AdminTest, TenantAdminSeesItsTenantOnly) {
  EXPECT_EQ(Names(boss_), std::vector<std::string>{"@inside:test.local"});
  EXPECT_EQ(hs_->RunSync(hs_->admin.ListUsers(boss_, {})).total, 1);
  auto all = Names(root_);
  EXPECT_NE(std::find(all.begin(), all.end(), "@outside:test.local"), all.end());
  EXPECT_EQ(ErrorOf([&] { hs_->RunSync(hs_->admin.GetUser(boss_, "@outside:test.local")); }).code(),
            ErrorCode::kNotFound);
  EXPECT_EQ(ErrorOf([&] {
              hs_->RunSync(hs_->admin.DeactivateUser(boss_, "@outside:test.local", true));
            }).code(),
            ErrorCode::kNotFound);
  EXPECT_EQ(ErrorOf([&] { Put(boss_, "@outside:test.local", {.displayname = "x"}); }).code(),
            ErrorCode::kUserInUse);
  auto created = Put(boss_, "@new:test.local", {.password = "password1"});
  EXPECT_TRUE(created.created);
  EXPECT_EQ(created.user.user.tenant_id, "acme");
}

TEST_F(AdminTest, TenantAdminCannotRaisePrivileges) {
  EXPECT_EQ(ErrorOf([&] { Put(boss_, "@inside:test.local", {.admin = true}); }).code(),
            ErrorCode::kForbidden);
  EXPECT_EQ(ErrorOf([&] { Put(boss_, "@inside:test.local", {.tenant = "default"}); }).code(),
            ErrorCode::kForbidden);
  EXPECT_EQ(
      ErrorOf([&] { Put(boss_, "@inside:test.local", {.person_id = std::string("p")}); }).code(),
      ErrorCode::kForbidden);
  // Restating current values is not a change.
  EXPECT_FALSE(Put(boss_, "@inside:test.local", {.admin = false, .tenant = "acme"}).created);
  // A provider admin in the tenant is visible but not manageable.
  Put(root_, "@padmin:test.local", {.admin = true, .tenant = "acme"});
  EXPECT_TRUE(hs_->RunSync(hs_->admin.GetUser(boss_, "@padmin:test.local")).user.is_admin);
  EXPECT_EQ(ErrorOf([&] { Put(boss_, "@padmin:test.local", {.password = "password2"}); }).code(),
            ErrorCode::kForbidden);
}

TEST_F(AdminTest, ValidatesInput) {
  EXPECT_EQ(ErrorOf([&] { Names(root_, {.limit = 0}); }).code(), ErrorCode::kInvalidParam);
  EXPECT_EQ(ErrorOf([&] { Names(root_, {.limit = 1001}); }).code(), ErrorCode::kInvalidParam);
  EXPECT_EQ(ErrorOf([&] { hs_->RunSync(hs_->admin.GetUser(root_, "@a:elsewhere")); }).code(),
            ErrorCode::kInvalidParam);
  EXPECT_EQ(ErrorOf([&] { Put(root_, "@b:test.local", {.tenant = "nope"}); }).code(),
            ErrorCode::kInvalidParam);
  EXPECT_EQ(ErrorOf([&] { Put(root_, "@UPPER:test.local", {}); }).code(),
            ErrorCode::kInvalidUsername);
}

TEST_F(AdminTest, ChangesAreAuditedAndRevokeSessions) {
  LoginRequest r;
  r.user = "outside";
  r.password = "password1";
  auto s = hs_->RunSync(hs_->accounts.Login(r));
  auto auth = [&] { hs_->RunSync(hs_->auth.Authenticate(*s.access_token, "127.0.0.1", "t")); };
  auth();  // cached from now on
  hs_->RunSync(hs_->admin.DeleteDevice(root_, "@outside:test.local", s.device_id));
  EXPECT_EQ(ErrorOf(auth).code(), ErrorCode::kUnknownToken);
  EXPECT_EQ(ErrorOf([&] {
              hs_->RunSync(hs_->admin.DeleteDevice(root_, "@outside:test.local", s.device_id));
            }).code(),
            ErrorCode::kNotFound);
  hs_->RunSync(hs_->admin.DeactivateUser(boss_, "@inside:test.local", true));
  auto v = hs_->RunSync(hs_->admin.GetUser(root_, "@inside:test.local"));
  EXPECT_TRUE(v.user.deactivated);
  EXPECT_FALSE(v.user.password_hash);
  EXPECT_FALSE(v.profile.displayname);
  EXPECT_EQ(AuditActions(),
            (std::vector<std::string>{"admin.user.create", "admin.user.create",
                                      "admin.device.delete", "admin.user.deactivate"}));
}

}  // namespace
}  // namespace vigie::service
