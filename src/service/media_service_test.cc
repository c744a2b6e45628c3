#include "service/media_service.h"

#include <gtest/gtest.h>
#include <vips/vips.h>

#include <filesystem>
#include <thread>

#include "common/time.h"
#include "service/engine_test_util.h"
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
