// TenantStore (tenants, links, versioned policies, X-OR-1 changes) and
// OriginStore (X-AC-1 session origins), on both engines.
#include "storage/tenant_store.h"

#include <gtest/gtest.h>

#include "storage/migrations.h"
#include "storage/origin_store.h"
#include "storage/storage_test_util.h"

namespace vigie::storage {
namespace {

using sql::Tx;

class TenantStoreTest : public sql::testutil::EngineTest {
 protected:
  void SetUp() override {
    EngineTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    Migrate(db());
  }
};

TEST_P(TenantStoreTest, TenantsAndLinks) {
  db().Write([](Tx& tx) {
    TenantStore::CreateTenant(tx, {"b", "B", "active", 1});
    TenantStore::CreateTenant(tx, {"a", "A", "active", 2});
  });
  // In its own transaction: PostgreSQL aborts a transaction on any error.
  EXPECT_THROW(db().Write([](Tx& tx) {
    TenantStore::CreateTenant(tx, {"a", "again", "active", 3});
  }),
               sql::UniqueViolation);
  db().Write([](Tx& tx) {
    TenantStore::SetTenantState(tx, "b", "suspended");
    TenantStore::SetTenantName(tx, "a", "Alpha");
    // Links are unordered and idempotent.
    TenantStore::AddLink(tx, "b", "a", 7, 10);
    TenantStore::AddLink(tx, "a", "b", 8, 11);
  });
  db().Read([](Tx& tx) {
    auto all = TenantStore::ListTenants(tx);
    ASSERT_EQ(all.size(), 3u);  // with "default"
    EXPECT_EQ(all[0].tenant_id, "a");
    EXPECT_EQ(all[0].name, "Alpha");
    EXPECT_EQ(TenantStore::GetTenant(tx, "b")->state, "suspended");
    EXPECT_FALSE(TenantStore::GetTenant(tx, "zzz"));
    auto links = TenantStore::ListLinks(tx);
    ASSERT_EQ(links.size(), 1u);
    EXPECT_EQ(links[0].tenant_a, "a");
    EXPECT_EQ(links[0].tenant_b, "b");
    EXPECT_EQ(*links[0].change_id, 7);
  });
  db().Write([](Tx& tx) {
    EXPECT_TRUE(TenantStore::RemoveLink(tx, "b", "a"));
    EXPECT_FALSE(TenantStore::RemoveLink(tx, "a", "b"));
  });
}

TEST_P(TenantStoreTest, PoliciesAreVersionedPerScope) {
  db().Write([](Tx& tx) {
    EXPECT_EQ(TenantStore::AppendPolicy(tx, {"*", 0, R"({"max_devices":5})", "@root:x", {}, 1}), 1);
    EXPECT_EQ(TenantStore::AppendPolicy(tx, {"default", 0, "{}", "@root:x", 4, 2}), 1);
    EXPECT_EQ(TenantStore::AppendPolicy(tx, {"default", 0, R"({"max_devices":2})", "@a:x", 5, 3}),
              2);
  });
  db().Read([](Tx& tx) {
    EXPECT_EQ(TenantStore::CurrentPolicy(tx, "default")->document, R"({"max_devices":2})");
    EXPECT_FALSE(TenantStore::CurrentPolicy(tx, "nope"));
    auto current = TenantStore::CurrentPolicies(tx);
    ASSERT_EQ(current.size(), 2u);
    EXPECT_EQ(current[0].scope, "*");
    EXPECT_EQ(current[1].version, 2);
    auto history = TenantStore::PolicyHistory(tx, "default");
    ASSERT_EQ(history.size(), 2u);
    EXPECT_EQ(history[0].version, 2);
    EXPECT_EQ(*history[0].change_id, 5);
  });
}

TEST_P(TenantStoreTest, ChangesByStateAndScope) {
  std::int64_t first = 0;
  std::int64_t second = 0;
  db().Write([&](Tx& tx) {
    PolicyChangeRecord c{0,    "default", "policy",  "{}", "weakens",   "{}", R"(["provider"])",
                         "[]", "pending", "@root:x", 1,    std::nullopt};
    first = TenantStore::InsertChange(tx, c);
    c.scope = "acme";
    c.kind = "link";
    c.payload = R"({"other_tenant":"default"})";
    second = TenantStore::InsertChange(tx, c);
    TenantStore::UpdateChange(tx, first, R"([{"party":"provider"}])", "applied", 9);
  });
  EXPECT_GT(second, first);
  db().Read([&](Tx& tx) {
    auto got = TenantStore::GetChange(tx, first);
    ASSERT_TRUE(got);
    EXPECT_EQ(got->state, "applied");
    EXPECT_EQ(*got->decided_ts, 9);
    EXPECT_EQ(TenantStore::ListChanges(tx, "pending", {}, 10).size(), 1u);
    EXPECT_EQ(TenantStore::ListChanges(tx, "", {}, 10).size(), 2u);
    EXPECT_EQ(TenantStore::ListChanges(tx, "", {}, 1).size(), 1u);
    // A link change concerns both tenants.
    EXPECT_EQ(TenantStore::ListChanges(tx, "", {"default"}, 10).size(), 2u);
    EXPECT_EQ(TenantStore::ListChanges(tx, "", {"acme"}, 10).size(), 1u);
    EXPECT_EQ(TenantStore::ListChanges(tx, "", {"other"}, 10).size(), 0u);
  });
}

TEST_P(TenantStoreTest, OriginsNewestFirstWithLocation) {
  db().Write([](Tx& tx) {
    OriginRecord o;
    o.user_id = "@u:x";
    o.device_id = "D1";
    o.kind = "login";
    o.ip = "192.0.2.1";
    o.ts = 100;
    OriginStore::Insert(tx, o);  // no location
    o.ts = 200;
    o.lat = 48.85;
    o.lon = 2.35;
    o.country = "FR";
    o.asn = 64500;
    OriginStore::Insert(tx, o);
    o.ts = 300;
    o.lat.reset();
    o.lon.reset();
    o.client_lat = -33.87;
    o.client_lon = 151.21;
    o.network_type = "4g";
    o.anomaly = "location_disagreement";
    o.anonymizer = true;
    OriginStore::Insert(tx, o);
  });
  db().Read([](Tx& tx) {
    auto located = OriginStore::RecentLocated(tx, "@u:x", 150, 10);
    ASSERT_EQ(located.size(), 2u);
    EXPECT_EQ(located[0].ts, 300);
    EXPECT_DOUBLE_EQ(*located[0].client_lat, -33.87);
    EXPECT_TRUE(located[0].anonymizer);
    EXPECT_EQ(*located[0].anomaly, "location_disagreement");
    EXPECT_DOUBLE_EQ(*located[1].lat, 48.85);
    EXPECT_EQ(*located[1].asn, 64500);
    EXPECT_EQ(OriginStore::List(tx, "@u:x", 10).size(), 3u);
    EXPECT_TRUE(OriginStore::RecentLocated(tx, "@v:x", 0, 10).empty());
  });
}

VIGIE_INSTANTIATE_ENGINE_TEST_SUITE(TenantStoreTest);

}  // namespace
}  // namespace vigie::storage
