// AdminStore's filtered user listing, on both engines.
#include "storage/admin_store.h"

#include <gtest/gtest.h>

#include "storage/migrations.h"
#include "storage/storage_test_util.h"

namespace vigie::storage {
namespace {

using sql::Tx;

class AdminStoreTest : public sql::testutil::EngineTest {
 protected:
  void SetUp() override {
    EngineTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    Migrate(db());
    db().Write([](Tx& tx) {
      tx.Query(
          "INSERT INTO tenants (tenant_id, name, state, created_ts) VALUES ('acme', 'Acme', "
          "'active', 0)");
      auto add = [&](const std::string& id, const std::string& tenant, bool deactivated,
                     std::optional<std::string> name) {
        AccountStore::CreateUser(tx, {id, tenant, std::nullopt, false, deactivated, 1});
        AccountStore::SetDisplayName(tx, id, name);
      };
      add("@alice:hs", "default", false, "Alice Liddell");
      add("@bob:hs", "acme", false, "Bob");
      add("@carol:hs", "acme", true, std::nullopt);
      add("@dave_50%:hs", "default", false, "Dave from HS");
    });
  }

  std::vector<std::string> Ids(const UserFilter& f, std::int64_t from = 0,
                               std::int64_t limit = 100) {
    return db().Read([&](Tx& tx) {
      std::vector<std::string> out;
      for (const auto& u : AdminStore::ListUsers(tx, f, from, limit)) out.push_back(u.user.user_id);
      return out;
    });
  }
  std::int64_t Count(const UserFilter& f) {
    return db().Read([&](Tx& tx) { return AdminStore::CountUsers(tx, f); });
  }
};

TEST_P(AdminStoreTest, ListsActiveUsersByDefaultWithProfiles) {
  UserFilter f;
  EXPECT_EQ(Ids(f), (std::vector<std::string>{"@alice:hs", "@bob:hs", "@dave_50%:hs"}));
  EXPECT_EQ(Count(f), 3);
  f.include_deactivated = true;
  EXPECT_EQ(Count(f), 4);
  EXPECT_EQ(Ids(f, 1, 2), (std::vector<std::string>{"@bob:hs", "@carol:hs"}));
  db().Read([&](Tx& tx) {
    auto users = AdminStore::ListUsers(tx, f, 0, 1);
    ASSERT_EQ(users.size(), 1u);
    EXPECT_EQ(users[0].profile.displayname, "Alice Liddell");
    EXPECT_EQ(users[0].user.tenant_id, "default");
  });
}

TEST_P(AdminStoreTest, FiltersByTenant) {
  UserFilter f;
  f.tenant_id = "acme";
  f.include_deactivated = true;
  EXPECT_EQ(Ids(f), (std::vector<std::string>{"@bob:hs", "@carol:hs"}));
  EXPECT_EQ(Count(f), 2);
}

TEST_P(AdminStoreTest, NameMatchesLocalpartOrDisplayNameLiterally) {
  UserFilter f;
  f.server_name = "hs";
  f.name = "LIDDELL";  // display name, any case
  EXPECT_EQ(Ids(f), (std::vector<std::string>{"@alice:hs"}));
  f.name = "hs";  // in the server name and one display name, not in a localpart
  EXPECT_EQ(Ids(f), (std::vector<std::string>{"@dave_50%:hs"}));
  f.name = "_50%";  // wildcards are literal
  EXPECT_EQ(Ids(f), (std::vector<std::string>{"@dave_50%:hs"}));
  f.name = "b";
  EXPECT_EQ(Count(f), 1);
}

TEST_P(AdminStoreTest, UserIdMatchesTheWholeId) {
  UserFilter f;
  f.user_id = "@BOB:";
  EXPECT_EQ(Ids(f), (std::vector<std::string>{"@bob:hs"}));
  f.user_id = ":hs";
  EXPECT_EQ(Count(f), 3);
}

VIGIE_INSTANTIATE_ENGINE_TEST_SUITE(AdminStoreTest);

}  // namespace
}  // namespace vigie::storage
