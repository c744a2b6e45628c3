// MediaStore (the media repository's metadata rows), on both engines.
#include "storage/media_store.h"

#include <gtest/gtest.h>

#include "storage/migrations.h"
#include "storage/storage_test_util.h"

namespace vigie::storage {
namespace {

using sql::Tx;

class MediaStoreTest : public sql::testutil::EngineTest {
 protected:
  void SetUp() override {
    EngineTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    Migrate(db());
  }

  static MediaRow Stored(const std::string& id, const std::string& user, const std::string& sha,
                         std::int64_t size) {
    return {id, sha, size, "text/plain", "f.txt", user, "t1", 100, std::nullopt};
  }
  static MediaRow Pending(const std::string& id, const std::string& user, std::int64_t expires_ts) {
    return {id, std::nullopt, 0, std::nullopt, std::nullopt, user, "t1", 100, expires_ts};
  }
};

TEST_P(MediaStoreTest, InsertGetAndUniqueIds) {
  db().Write([](Tx& tx) { MediaStore::Insert(tx, Stored("m1", "@a:x", "aa", 5)); });
  EXPECT_THROW(db().Write([](Tx& tx) { MediaStore::Insert(tx, Stored("m1", "@b:x", "bb", 1)); }),
               sql::UniqueViolation);
  auto row = db().Read([](Tx& tx) { return MediaStore::Get(tx, "m1"); });
  ASSERT_TRUE(row);
  EXPECT_EQ(row->sha256, "aa");
  EXPECT_EQ(row->size, 5);
  EXPECT_EQ(row->content_type, "text/plain");
  EXPECT_EQ(row->upload_name, "f.txt");
  EXPECT_EQ(row->user_id, "@a:x");
  EXPECT_EQ(row->tenant_id, "t1");
  EXPECT_EQ(row->created_ts, 100);
  EXPECT_FALSE(row->unused_expires_ts);
  EXPECT_FALSE(db().Read([](Tx& tx) { return MediaStore::Get(tx, "m2"); }));
}

TEST_P(MediaStoreTest, CompleteFillsAPendingIdOnce) {
  db().Write([](Tx& tx) { MediaStore::Insert(tx, Pending("p1", "@a:x", 1000)); });
  auto pending = db().Read([](Tx& tx) { return MediaStore::Get(tx, "p1"); });
  ASSERT_TRUE(pending);
  EXPECT_FALSE(pending->sha256);
  EXPECT_EQ(pending->unused_expires_ts, 1000);
  EXPECT_TRUE(db().Write(
      [](Tx& tx) { return MediaStore::Complete(tx, "p1", "cc", 7, std::nullopt, std::nullopt); }));
  EXPECT_FALSE(db().Write(
      [](Tx& tx) { return MediaStore::Complete(tx, "p1", "dd", 8, "text/plain", "x"); }));
  EXPECT_FALSE(db().Write([](Tx& tx) {
    return MediaStore::Complete(tx, "unknown", "dd", 8, std::nullopt, std::nullopt);
  }));
  auto row = db().Read([](Tx& tx) { return MediaStore::Get(tx, "p1"); });
  EXPECT_EQ(row->sha256, "cc");
  EXPECT_EQ(row->size, 7);
  EXPECT_FALSE(row->content_type);
  EXPECT_FALSE(row->unused_expires_ts);
}

TEST_P(MediaStoreTest, UsagePendingCountAndExpiry) {
  db().Write([](Tx& tx) {
    MediaStore::Insert(tx, Stored("m1", "@a:x", "aa", 5));
    MediaStore::Insert(tx, Stored("m2", "@a:x", "aa", 5));
    MediaStore::Insert(tx, Stored("m3", "@b:x", "bb", 100));
    MediaStore::Insert(tx, Pending("p1", "@a:x", 1000));
    MediaStore::Insert(tx, Pending("p2", "@a:x", 2000));
  });
  db().Read([](Tx& tx) {
    EXPECT_EQ(MediaStore::UsageBytes(tx, "@a:x"), 10);  // each id counts, shared content too
    EXPECT_EQ(MediaStore::UsageBytes(tx, "@nobody:x"), 0);
    EXPECT_EQ(MediaStore::PendingCount(tx, "@a:x", 999), 2);
    EXPECT_EQ(MediaStore::PendingCount(tx, "@a:x", 1000), 1);  // expires at its timestamp
    EXPECT_EQ(MediaStore::PendingCount(tx, "@b:x", 0), 0);
  });
  EXPECT_EQ(db().Write([](Tx& tx) { return MediaStore::DeleteExpiredPending(tx, 1000); }), 1);
  db().Read([](Tx& tx) {
    EXPECT_FALSE(MediaStore::Get(tx, "p1"));
    EXPECT_TRUE(MediaStore::Get(tx, "p2"));
    EXPECT_TRUE(MediaStore::Get(tx, "m1"));  // uploaded media never expires
  });
}

TEST_P(MediaStoreTest, DeleteAndWhichContentIsStillNamed) {
  const std::string sha_a(64, 'a'), sha_a2 = "ab" + std::string(62, '0'), sha_b(64, 'b');
  db().Write([&](Tx& tx) {
    MediaStore::Insert(tx, Stored("m1", "@a:x", sha_a, 5));
    MediaStore::Insert(tx, Stored("m2", "@b:x", sha_a, 5));
    MediaStore::Insert(tx, Stored("m3", "@b:x", sha_a2, 5));
    MediaStore::Insert(tx, Stored("m4", "@b:x", sha_b, 5));
    MediaStore::Insert(tx, Pending("p1", "@a:x", 1000));
  });
  db().Read([&](Tx& tx) {
    EXPECT_EQ(MediaStore::ReferencedWithPrefix(tx, "aa"), (std::set<std::string>{sha_a}));
    EXPECT_EQ(MediaStore::ReferencedWithPrefix(tx, "ab"), (std::set<std::string>{sha_a2}));
    EXPECT_EQ(MediaStore::ReferencedWithPrefix(tx, "ff"), std::set<std::string>{});
  });
  EXPECT_TRUE(db().Write([](Tx& tx) { return MediaStore::Delete(tx, "m1"); }));
  EXPECT_FALSE(db().Write([](Tx& tx) { return MediaStore::Delete(tx, "m1"); }));
  EXPECT_TRUE(db().Read([&](Tx& tx) { return MediaStore::IsReferenced(tx, sha_a); }));
  EXPECT_TRUE(db().Write([](Tx& tx) { return MediaStore::Delete(tx, "m2"); }));
  EXPECT_TRUE(db().Write([](Tx& tx) { return MediaStore::Delete(tx, "p1"); }));
  db().Read([&](Tx& tx) {
    EXPECT_FALSE(MediaStore::IsReferenced(tx, sha_a));
    EXPECT_TRUE(MediaStore::IsReferenced(tx, sha_b));
    EXPECT_EQ(MediaStore::ReferencedWithPrefix(tx, "aa"), std::set<std::string>{});
    EXPECT_EQ(MediaStore::UsageBytes(tx, "@a:x"), 0);  // deleted media frees the quota
    EXPECT_EQ(MediaStore::UsageBytes(tx, "@b:x"), 10);
  });
}

VIGIE_INSTANTIATE_ENGINE_TEST_SUITE(MediaStoreTest);

}  // namespace
}  // namespace vigie::storage
