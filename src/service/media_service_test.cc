#include "service/media_service.h"

#include <gtest/gtest.h>
#include <vips/vips.h>

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <filesystem>
#include <fstream>
#include <thread>

#include "common/time.h"
#include "service/engine_test_util.h"
#include "storage/audit_store.h"
#include "storage/media_store.h"

namespace vigie::service {
namespace {

namespace fs = std::filesystem;

// Runs on both engines; data_dir (and so the stored files) is the fixture's.
class MediaTest : public EngineHomeserverTest {
 protected:
  static Requester User(const std::string& local) {
    return Requester{"@" + local + ":test.local", "DEV", "default", false, ""};
  }
  std::string Upload(const Requester& who, std::string bytes, std::string type = "text/plain") {
    return hs_->RunSync(hs_->media.Upload(who, std::move(type), "f.txt", std::move(bytes)));
  }
  static std::string IdOf(const std::string& uri) { return uri.substr(uri.rfind('/') + 1); }
  MediaDownload Download(const std::string& id, std::int64_t timeout_ms = 0) {
    return hs_->RunSync(hs_->media.Download(User("alice"), "test.local", id, timeout_ms));
  }
  // Everything a download's file holds, read as the server would.
  std::string Bytes(const MediaDownload& m) {
    std::string out(m.file->size(), '\0');
    std::size_t done = 0;
    while (done < out.size()) {
      std::size_t n = hs_->RunSync(m.file->Read(done, out.data() + done, out.size() - done));
      if (n == 0) break;
      done += n;
    }
    out.resize(done);
    return out;
  }
  std::string Bytes(const std::string& id) { return Bytes(Download(id)); }
  // Regular files under data_dir/media, thumbnails excluded.
  std::size_t BlobCount() const {
    std::size_t n = 0;
    for (const auto& e : fs::recursive_directory_iterator(media_dir())) {
      if (e.is_regular_file() && e.path().string().find("thumbnails") == std::string::npos) ++n;
    }
    return n;
  }
  // A width x height black PNG.
  static std::string Png(int width, int height) {
    EXPECT_EQ(VIPS_INIT("vigie-test"), 0);
    VipsImage* img = nullptr;
    EXPECT_EQ(vips_black(&img, width, height, nullptr), 0);
    void* buf = nullptr;
    std::size_t len = 0;
    EXPECT_EQ(vips_image_write_to_buffer(img, ".png", &buf, &len, nullptr), 0);
    g_object_unref(img);
    std::string out(static_cast<const char*>(buf), len);
    g_free(buf);
    return out;
  }
  static std::pair<int, int> Size(const std::string& image) {
    VipsImage* img = vips_image_new_from_buffer(image.data(), image.size(), "", nullptr);
    if (!img) return {0, 0};
    std::pair<int, int> out{vips_image_get_width(img), vips_image_get_height(img)};
    g_object_unref(img);
    return out;
  }

  fs::path media_dir() const { return data_dir_ / "media"; }
  fs::path BlobPath(const std::string& sha) const {
    return media_dir() / sha.substr(0, 2) / sha.substr(2, 2) / sha;
  }
  // Cached thumbnails of the content `sha`.
  std::size_t ThumbnailCount(const std::string& sha) const {
    std::size_t n = 0;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(
             media_dir() / "thumbnails" / sha.substr(0, 2) / sha.substr(2, 2), ec)) {
      n += e.path().filename().string().starts_with(sha + "-");
    }
    return n;
  }
  static void WriteFile(const fs::path& p, const std::string& bytes) {
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << bytes;
  }
  static Requester ProviderAdmin() {
    return Requester{"@provider:test.local", "P", "default", true, ""};
  }
  static Requester TenantAdmin(const std::string& tenant) {
    Requester r{"@admin-" + tenant + ":test.local", "T", tenant, false, ""};
    r.tenant_admin = true;
    return r;
  }
  void Delete(const Requester& who, const std::string& id,
              const std::string& server = "test.local") {
    hs_->RunSync(hs_->media.Delete(who, server, id));
  }
  std::vector<storage::AuditEntry> AuditOf(const std::string& action) {
    auto all = hs_->db().Read([](sql::Tx& tx) { return storage::AuditStore::List(tx, 0, 10000); });
    std::erase_if(all, [&](const auto& e) { return e.action != action; });
    return all;
  }
};

TEST_P(MediaTest, UploadsDownloadsAndStoresIdenticalContentOnce) {
  auto alice = User("alice");
  auto a = Upload(alice, "hello world");
  auto b = Upload(User("bob"), "hello world");
  EXPECT_TRUE(a.starts_with("mxc://test.local/"));
  EXPECT_NE(a, b);
  auto m = Download(IdOf(a));
  EXPECT_EQ(Bytes(m), "hello world");
  EXPECT_EQ(m.content_type, "text/plain");
  EXPECT_EQ(m.upload_name, "f.txt");
  EXPECT_EQ(Bytes(IdOf(b)), "hello world");
  EXPECT_EQ(BlobCount(), 1u);
  Upload(alice, "other");
  EXPECT_EQ(BlobCount(), 2u);
  // Stored under ab/cd/<sha256>, no temporary file left behind.
  const std::string sha = crypto::Sha256Hex("hello world");
  EXPECT_TRUE(fs::exists(media_dir() / sha.substr(0, 2) / sha.substr(2, 2) / sha));
  // The uploader's tenant is recorded.
  auto row = hs_->db().Read([&](sql::Tx& tx) { return storage::MediaStore::Get(tx, IdOf(a)); });
  ASSERT_TRUE(row);
  EXPECT_EQ(row->tenant_id, "default");
  EXPECT_EQ(row->user_id, alice.user_id);
  EXPECT_EQ(row->size, 11);
}

TEST_P(MediaTest, DownloadsReadTheOpenFileAtAnyOffsetEvenOnceItIsGone) {
  std::string data(300'000, '\0');
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 7 % 251);
  auto m = Download(IdOf(Upload(User("alice"), data, "application/octet-stream")));
  ASSERT_EQ(m.file->size(), data.size());
  // The file goes (as the sweep would remove it); the open download does not notice.
  const std::string sha = crypto::Sha256Hex(data);
  fs::remove(media_dir() / sha.substr(0, 2) / sha.substr(2, 2) / sha);
  char buf[100];
  EXPECT_EQ(hs_->RunSync(m.file->Read(1000, buf, sizeof buf)), sizeof buf);
  EXPECT_EQ(std::string(buf, sizeof buf), data.substr(1000, 100));
  EXPECT_EQ(hs_->RunSync(m.file->Read(data.size() - 10, buf, sizeof buf)), 10u);
  EXPECT_EQ(hs_->RunSync(m.file->Read(data.size(), buf, sizeof buf)), 0u);
  EXPECT_EQ(Bytes(m), data);
}

TEST_P(MediaTest, MissingMediaIsNotFound) {
  EXPECT_EQ(ErrorOf([&] { Download("nosuchid"); }).code(), ErrorCode::kNotFound);
  auto uri = Upload(User("alice"), "x");
  EXPECT_EQ(ErrorOf([&] {
              hs_->RunSync(hs_->media.Download(User("alice"), "other.server", IdOf(uri), 0));
            }).code(),
            ErrorCode::kNotFound);
}

TEST_P(MediaTest, RefusesOversizeAndOverQuotaUploads) {
  RestartHomeserver([](Config& c) {
    c.max_media_bytes = 10;
    c.media_user_quota_bytes = 15;
  });
  auto alice = User("alice");
  EXPECT_EQ(ErrorOf([&] { Upload(alice, std::string(11, 'a')); }).code(), ErrorCode::kTooLarge);
  Upload(alice, std::string(10, 'a'));
  EXPECT_EQ(ErrorOf([&] { Upload(alice, std::string(6, 'b')); }).code(), ErrorCode::kLimitExceeded);
  Upload(alice, std::string(5, 'b'));         // exactly at the quota
  Upload(User("bob"), std::string(10, 'c'));  // quotas are per user
}

TEST_P(MediaTest, CreateThenUploadOnlyOnceByTheCreator) {
  auto alice = User("alice");
  auto created = hs_->RunSync(hs_->media.Create(alice));
  const std::string id = IdOf(created.content_uri);
  EXPECT_GT(created.unused_expires_at, NowMs());
  EXPECT_EQ(ErrorOf([&] { Download(id); }).code(), ErrorCode::kNotYetUploaded);
  auto put = [&](const Requester& who, const std::string& server = "test.local") {
    hs_->RunSync(hs_->media.UploadTo(who, server, id, "text/plain", std::nullopt, "content"));
  };
  EXPECT_EQ(ErrorOf([&] { put(User("bob")); }).code(), ErrorCode::kForbidden);
  EXPECT_EQ(ErrorOf([&] { put(alice, "other.server"); }).code(), ErrorCode::kNotFound);
  put(alice);
  EXPECT_EQ(ErrorOf([&] { put(alice); }).code(), ErrorCode::kCannotOverwriteMedia);
  EXPECT_EQ(Bytes(id), "content");
  EXPECT_EQ(
      ErrorOf([&] {
        hs_->RunSync(hs_->media.UploadTo(alice, "test.local", "unknown", "", std::nullopt, "x"));
      }).code(),
      ErrorCode::kNotFound);
}

TEST_P(MediaTest, DownloadWaitsForAPendingUpload) {
  auto alice = User("alice");
  const std::string id = IdOf(hs_->RunSync(hs_->media.Create(alice)).content_uri);
  std::thread uploader([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    hs_->RunSync(hs_->media.UploadTo(alice, "test.local", id, "", std::nullopt, "late"));
  });
  auto m = Download(id, 5000);
  uploader.join();
  EXPECT_EQ(Bytes(m), "late");
  EXPECT_EQ(m.content_type, "application/octet-stream");
}

TEST_P(MediaTest, ExpiredReservationsCannotBeUsedAndPendingIdsAreBounded) {
  auto alice = User("alice");
  hs_->db().Write([&](sql::Tx& tx) {
    storage::MediaStore::Insert(tx, {"expired", std::nullopt, 0, std::nullopt, std::nullopt,
                                     alice.user_id, "default", 0, NowMs() - 1});
  });
  EXPECT_EQ(
      ErrorOf([&] {
        hs_->RunSync(hs_->media.UploadTo(alice, "test.local", "expired", "", std::nullopt, "x"));
      }).code(),
      ErrorCode::kNotFound);
  EXPECT_EQ(ErrorOf([&] { Download("expired"); }).code(), ErrorCode::kNotFound);
  for (int i = 0; i < MediaService::kMaxPendingPerUser; ++i) {
    hs_->RunSync(hs_->media.Create(alice));
  }
  EXPECT_EQ(ErrorOf([&] { hs_->RunSync(hs_->media.Create(alice)); }).code(),
            ErrorCode::kLimitExceeded);
  hs_->RunSync(hs_->media.Create(User("bob")));
  // Creating removed the expired reservation.
  EXPECT_FALSE(
      hs_->db().Read([&](sql::Tx& tx) { return storage::MediaStore::Get(tx, "expired"); }));
}

TEST_P(MediaTest, ThumbnailsScaleCropAndAreCached) {
  const std::string id = IdOf(Upload(User("alice"), Png(200, 100), "image/png"));
  auto thumb = [&](int w, int h, const std::string& method) {
    return hs_->RunSync(hs_->media.Thumbnail(User("alice"), "test.local", id, w, h, method, 0));
  };
  auto scaled = thumb(64, 64, "scale");
  EXPECT_EQ(scaled.content_type, "image/png");
  EXPECT_EQ(Size(scaled.bytes), (std::pair<int, int>{64, 32}));
  auto cropped = thumb(40, 40, "crop");
  EXPECT_EQ(Size(cropped.bytes), (std::pair<int, int>{40, 40}));
  // Capped at 800x600, and never enlarged.
  EXPECT_EQ(Size(thumb(5000, 5000, "scale").bytes), (std::pair<int, int>{200, 100}));
  EXPECT_EQ(thumb(64, 64, "scale").bytes, scaled.bytes);
  std::size_t cached = 0;
  for (const auto& e : fs::recursive_directory_iterator(media_dir() / "thumbnails")) {
    if (e.is_regular_file()) ++cached;
  }
  EXPECT_EQ(cached, 3u);
  EXPECT_EQ(ErrorOf([&] { thumb(64, 64, "stretch"); }).code(), ErrorCode::kInvalidParam);
  const std::string text = IdOf(Upload(User("alice"), "not an image"));
  EXPECT_EQ(
      ErrorOf([&] {
        hs_->RunSync(hs_->media.Thumbnail(User("alice"), "test.local", text, 32, 32, "scale", 0));
      }).code(),
      ErrorCode::kUnknown);
  // Claims to be a PNG but is not.
  const std::string fake = IdOf(Upload(User("alice"), "garbage", "image/png"));
  EXPECT_EQ(
      ErrorOf([&] {
        hs_->RunSync(hs_->media.Thumbnail(User("alice"), "test.local", fake, 32, 32, "scale", 0));
      }).code(),
      ErrorCode::kUnknown);
}

TEST_P(MediaTest, AdminDeleteRemovesTheIdThenTheFileOnceNoIdNamesIt) {
  const std::string png = Png(100, 100);
  const std::string sha = crypto::Sha256Hex(png);
  const std::string a = IdOf(Upload(User("alice"), png, "image/png"));
  const std::string b = IdOf(Upload(User("bob"), png, "image/png"));
  hs_->RunSync(hs_->media.Thumbnail(User("alice"), "test.local", a, 32, 32, "scale", 0));
  ASSERT_EQ(ThumbnailCount(sha), 1u);

  Delete(ProviderAdmin(), a);
  EXPECT_EQ(ErrorOf([&] { Download(a); }).code(), ErrorCode::kNotFound);
  EXPECT_EQ(ErrorOf([&] { Delete(ProviderAdmin(), a); }).code(), ErrorCode::kNotFound);
  // bob's id names the same content: file and thumbnails stay.
  EXPECT_EQ(Bytes(b), png);
  EXPECT_TRUE(fs::exists(BlobPath(sha)));
  EXPECT_EQ(ThumbnailCount(sha), 1u);

  auto open = Download(b);  // a download under way when the last id goes
  Delete(ProviderAdmin(), b);
  EXPECT_FALSE(fs::exists(BlobPath(sha)));
  EXPECT_EQ(ThumbnailCount(sha), 0u);
  EXPECT_EQ(ErrorOf([&] { Download(b); }).code(), ErrorCode::kNotFound);
  EXPECT_EQ(
      ErrorOf([&] {
        hs_->RunSync(hs_->media.Thumbnail(User("alice"), "test.local", b, 32, 32, "scale", 0));
      }).code(),
      ErrorCode::kNotFound);
  EXPECT_EQ(Bytes(open), png);  // finishes from its open descriptor

  auto audit = AuditOf("admin.media.delete");
  ASSERT_EQ(audit.size(), 2u);
  EXPECT_EQ(audit[0].actor, "@provider:test.local");
  EXPECT_EQ(audit[0].tenant_id, "default");
  EXPECT_EQ(audit[0].target, "mxc://test.local/" + a);
  EXPECT_NE(audit[0].details.find(sha), std::string::npos);
  EXPECT_NE(audit[1].details.find("@bob:test.local"), std::string::npos);
}

TEST_P(MediaTest, DeletingMediaGivesTheQuotaBack) {
  RestartHomeserver([](Config& c) { c.media_user_quota_bytes = 15; });
  auto alice = User("alice");
  const std::string id = IdOf(Upload(alice, std::string(10, 'a')));
  EXPECT_EQ(ErrorOf([&] { Upload(alice, std::string(6, 'b')); }).code(), ErrorCode::kLimitExceeded);
  Delete(ProviderAdmin(), id);
  Upload(alice, std::string(15, 'b'));
}

TEST_P(MediaTest, OnlyAdminsDeleteAndTenantAdminsOnlyTheirTenantsMedia) {
  const std::string id = IdOf(Upload(User("alice"), "mine"));
  EXPECT_EQ(ErrorOf([&] { Delete(User("bob"), id); }).code(), ErrorCode::kForbidden);
  // Another tenant's admin: as if the id did not exist.
  EXPECT_EQ(ErrorOf([&] { Delete(TenantAdmin("other"), id); }).code(), ErrorCode::kNotFound);
  EXPECT_EQ(ErrorOf([&] { Delete(ProviderAdmin(), id, "other.server"); }).code(),
            ErrorCode::kInvalidParam);
  EXPECT_EQ(ErrorOf([&] { Delete(ProviderAdmin(), "nosuchid"); }).code(), ErrorCode::kNotFound);
  EXPECT_EQ(Bytes(id), "mine");
  Delete(TenantAdmin("default"), id);
  EXPECT_EQ(ErrorOf([&] { Download(id); }).code(), ErrorCode::kNotFound);
  // A reservation not yet uploaded to can be deleted too.
  const std::string pending = IdOf(hs_->RunSync(hs_->media.Create(User("alice"))).content_uri);
  Delete(ProviderAdmin(), pending);
  EXPECT_EQ(ErrorOf([&] {
              hs_->RunSync(
                  hs_->media.UploadTo(User("alice"), "test.local", pending, "", std::nullopt, "x"));
            }).code(),
            ErrorCode::kNotFound);
  EXPECT_EQ(AuditOf("admin.media.delete").size(), 2u);
}

TEST_P(MediaTest, SweepRemovesExpiredReservationsUnnamedFilesAndStaleTemporaries) {
  const std::string kept = IdOf(Upload(User("alice"), Png(50, 50), "image/png"));
  const std::string kept_sha = crypto::Sha256Hex(Png(50, 50));
  hs_->RunSync(hs_->media.Thumbnail(User("alice"), "test.local", kept, 16, 16, "crop", 0));
  // (Create deletes expired reservations itself: first.)
  const std::string live_pending = IdOf(hs_->RunSync(hs_->media.Create(User("bob"))).content_uri);
  hs_->db().Write([&](sql::Tx& tx) {
    storage::MediaStore::Insert(tx, {"expired", std::nullopt, 0, std::nullopt, std::nullopt,
                                     "@alice:test.local", "default", 0, NowMs() - 1});
  });
  // Debris of a crash: a file whose row never committed, with a thumbnail,
  // a thumbnail whose file has gone, and interrupted writes.
  const std::string orphan = crypto::Sha256Hex("orphan");
  WriteFile(BlobPath(orphan), "orphan");
  WriteFile(media_dir() / "thumbnails" / orphan.substr(0, 2) / orphan.substr(2, 2) /
                (orphan + "-32x32-scale.png"),
            "thumb");
  const std::string gone = crypto::Sha256Hex("gone");
  WriteFile(media_dir() / "thumbnails" / gone.substr(0, 2) / gone.substr(2, 2) /
                (gone + "-32x32-crop.png"),
            "thumb");
  const fs::path stale = BlobPath(orphan).string() + ".tmp-stale";
  const fs::path fresh = BlobPath(kept_sha).string() + ".tmp-fresh";
  WriteFile(stale, "x");
  WriteFile(fresh, "x");
  fs::last_write_time(stale, fs::file_time_type::clock::now() - std::chrono::hours(2));

  SweepResult r = hs_->RunSync(hs_->media.Sweep());
  EXPECT_EQ(r.expired_reservations, 1);
  EXPECT_EQ(r.files, 1);
  EXPECT_EQ(r.thumbnails, 2);
  EXPECT_EQ(r.temporary_files, 1);
  EXPECT_FALSE(fs::exists(BlobPath(orphan)));
  EXPECT_EQ(ThumbnailCount(orphan), 0u);
  EXPECT_EQ(ThumbnailCount(gone), 0u);
  EXPECT_FALSE(fs::exists(stale));
  EXPECT_TRUE(fs::exists(fresh));  // may belong to a write under way
  // What ids name stays.
  EXPECT_TRUE(fs::exists(BlobPath(kept_sha)));
  EXPECT_EQ(ThumbnailCount(kept_sha), 1u);
  EXPECT_EQ(Bytes(kept), Png(50, 50));
  EXPECT_TRUE(
      hs_->db().Read([&](sql::Tx& tx) { return storage::MediaStore::Get(tx, live_pending); }));
  EXPECT_FALSE(
      hs_->db().Read([&](sql::Tx& tx) { return storage::MediaStore::Get(tx, "expired"); }));
  // Nothing left to do.
  r = hs_->RunSync(hs_->media.Sweep());
  EXPECT_EQ(r.expired_reservations + r.files + r.thumbnails + r.temporary_files, 0);
}

TEST_P(MediaTest, SweeperRunsOnItsTimerUntilStopped) {
  boost::asio::io_context ioc;
  auto work = boost::asio::make_work_guard(ioc);
  std::thread io([&] { ioc.run(); });
  const std::string orphan = crypto::Sha256Hex("orphan");
  WriteFile(BlobPath(orphan), "orphan");
  hs_->media.StartSweeper(ioc.get_executor(), std::chrono::milliseconds(50));
  for (int i = 0; i < 200 && fs::exists(BlobPath(orphan)); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  EXPECT_FALSE(fs::exists(BlobPath(orphan)));
  hs_->media.StopSweeper();
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // a sweep under way ends
  WriteFile(BlobPath(orphan), "orphan");
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_TRUE(fs::exists(BlobPath(orphan)));  // stopped: no more sweeps
  work.reset();                               // the stopped sweeper holds no work: run() returns
  io.join();
}

// Identical content uploaded while the last id naming it is deleted, and
// swept meanwhile: the new upload's file must survive (blob locks).
TEST_P(MediaTest, UploadsRacingDeletionOfTheSameContentKeepTheirFile) {
  const std::string content = "shared content";
  std::atomic<bool> done{false};
  std::thread sweeper([&] {
    while (!done) hs_->RunSync(hs_->media.Sweep());
  });
  for (int i = 0; i < 25; ++i) {
    const std::string a = IdOf(Upload(User("alice"), content));
    std::thread deleter([&] { Delete(ProviderAdmin(), a); });
    const std::string b = IdOf(Upload(User("bob"), content));
    deleter.join();
    const bool intact = fs::exists(BlobPath(crypto::Sha256Hex(content)));
    EXPECT_TRUE(intact) << "round " << i << ": the file of a committed upload is gone";
    if (!intact) break;
    EXPECT_EQ(Bytes(b), content);
    Delete(ProviderAdmin(), b);
  }
  done = true;
  sweeper.join();
  EXPECT_FALSE(fs::exists(BlobPath(crypto::Sha256Hex(content))));
}

VIGIE_INSTANTIATE_ENGINE_TEST_SUITE(MediaTest);

TEST(WriteFileDurablyTest, ReplacesAtomically) {
  const auto dir = fs::temp_directory_path() / ("vigie-wfd-" + crypto::RandomAlnum(8));
  fs::create_directories(dir);
  const auto path = (dir / "f").string();
  WriteFileDurably(path, "one");
  WriteFileDurably(path, "two");
  std::size_t n = 0;
  for (const auto& e : fs::directory_iterator(dir)) n += e.is_regular_file();
  EXPECT_EQ(n, 1u);
  EXPECT_EQ(fs::file_size(path), 3u);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace vigie::service
