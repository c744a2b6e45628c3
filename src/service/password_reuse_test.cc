// X-IM-5: a person with accounts in several tenants is warned (not refused)
// when one account's new password is the password of another, found by
// verifying it against the stored Argon2id hashes.
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include "service/engine_test_util.h"
#include "storage/account_store.h"
#include "storage/audit_store.h"

namespace vigie::service {
namespace {

constexpr const char* kShared = "correct horse battery";

class PasswordReuseTest : public EngineHomeserverTest {
 protected:
  void SetUp() override {
    EngineHomeserverTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    provider_ = Register("provider", /*admin=*/true);
    hs_->RunSync(hs_->policy.CreateTenant(provider_, "a", "A"));
    hs_->RunSync(hs_->policy.CreateTenant(provider_, "b", "B"));
  }

  CreatedUser Create(const std::string& name, const std::string& password,
                     const std::string& tenant, std::optional<std::string> person) {
    NewAccountOptions o;
    o.tenant = tenant;
    o.person_id = std::move(person);
    return hs_->RunSync(hs_->accounts.CreateUser(name, password, false, "t", o));
  }

  Requester LoginAs(const std::string& name, const std::string& password) {
    LoginRequest r;
    r.user = name;
    r.password = password;
    auto s = hs_->RunSync(hs_->accounts.Login(r));
    return hs_->RunSync(hs_->auth.Authenticate(*s.access_token, "127.0.0.1", "t"));
  }

  PasswordChangeResult Change(const Requester& who, const std::string& old_password,
                              const std::string& new_password) {
    boost::json::object auth{
        {"type", kStagePassword}, {"user", who.user_id}, {"password", old_password}};
    return hs_->RunSync(hs_->accounts.ChangePassword(who, &auth, new_password, false));
  }

  std::vector<storage::AuditEntry> ReuseEntries() {
    auto all = hs_->db().Read([](sql::Tx& tx) { return storage::AuditStore::List(tx, 0, 10000); });
    std::erase_if(all, [](const auto& e) { return e.action != "password.reuse"; });
    return all;
  }

  Requester provider_;
};

TEST_P(PasswordReuseTest, WarnsWhenCreatingWithAnotherTenantsPassword) {
  EXPECT_FALSE(Create("ann-a", kShared, "a", "person-1").warning);
  auto created = Create("ann-b", kShared, "b", "person-1");
  ASSERT_TRUE(created.warning);
  EXPECT_EQ(created.warning->requirement, "X-IM-5");
  EXPECT_FALSE(created.warning->message.empty());
  // Audited without password material; the user gets a notice.
  auto entries = ReuseEntries();
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].target, "@ann-b:test.local");
  EXPECT_EQ(entries[0].tenant_id, "b");
  EXPECT_EQ(entries[0].details.find(kShared), std::string::npos);
  EXPECT_EQ(entries[0].details.find("$argon2"), std::string::npos);
  EXPECT_TRUE(hs_->RunSync(hs_->notices.RoomOf("@ann-b:test.local")));
  // The account exists and works: a warning, not a refusal.
  EXPECT_EQ(LoginAs("ann-b", kShared).tenant_id, "b");
}

TEST_P(PasswordReuseTest, WarnsOnPasswordChange) {
  Create("ann-a", kShared, "a", "person-1");
  Create("ann-b", "another password", "b", "person-1");
  Requester ann_b = LoginAs("ann-b", "another password");
  EXPECT_FALSE(Change(ann_b, "another password", "a third password").warning);
  auto result = Change(ann_b, "a third password", kShared);
  ASSERT_TRUE(result.warning);
  EXPECT_EQ(result.warning->requirement, "X-IM-5");
  EXPECT_EQ(ReuseEntries().size(), 1u);
  EXPECT_NO_THROW(LoginAs("ann-b", kShared));
}

TEST_P(PasswordReuseTest, NoWarningWithoutAPersonOrWithinOneTenant) {
  Create("ann-a", kShared, "a", "person-1");
  EXPECT_FALSE(Create("bob-b", kShared, "b", std::nullopt).warning);  // another person
  EXPECT_FALSE(Create("carl-b", kShared, "b", "person-2").warning);
  EXPECT_FALSE(Create("ann-a2", kShared, "a", "person-1").warning);  // same tenant
  EXPECT_TRUE(ReuseEntries().empty());
}

TEST_P(PasswordReuseTest, PolicyCanTurnTheCheckOff) {
  Requester admin_b = [&] {
    Create("admin-b", "admin password", "b", std::nullopt);
    hs_->db().Write([](sql::Tx& tx) {
      storage::AccountStore::SetTenantAdmin(tx, "@admin-b:test.local", true);
    });
    return LoginAs("admin-b", "admin password");
  }();
  // Turning the warning off weakens the policy: provider and tenant approve.
  auto proposed = hs_->RunSync(hs_->policy.ProposePolicy(
      provider_, "b", boost::json::object{{"password_reuse_warning", false}}));
  ASSERT_EQ(proposed.change.state, "pending");
  ASSERT_EQ(hs_->RunSync(hs_->policy.Approve(admin_b, proposed.change.change_id)).change.state,
            "applied");
  Create("ann-a", kShared, "a", "person-1");
  EXPECT_FALSE(Create("ann-b", kShared, "b", "person-1").warning);
  EXPECT_TRUE(ReuseEntries().empty());
}

TEST_P(PasswordReuseTest, ChecksAtMostEightAccounts) {
  for (int i = 0; i < 9; ++i) {
    const std::string t = "t" + std::to_string(i);
    hs_->RunSync(hs_->policy.CreateTenant(provider_, t, t));
    // The reused password is the ninth account's only (ids sort t0..t8).
    Create("p-" + t, i == 8 ? kShared : "distinct password " + t, t, "person-1");
  }
  EXPECT_FALSE(Create("p-a", kShared, "a", "person-1").warning);
}

VIGIE_INSTANTIATE_ENGINE_TEST_SUITE(PasswordReuseTest);

}  // namespace
}  // namespace vigie::service
