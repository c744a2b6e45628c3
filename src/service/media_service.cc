#include "service/media_service.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <set>
#include <stdexcept>

#include "common/ascii.h"
#include "common/crypto.h"
#include "common/error.h"
#include "common/offload.h"
#include "common/time.h"
#include "service/account_service.h"
#include "service/libvips.h"
#include "storage/media_store.h"

namespace vigie::service {

using storage::MediaRow;
using storage::MediaStore;
namespace fs = std::filesystem;

namespace {

constexpr std::int64_t kMaxWaitMs = 60'000;
constexpr std::int64_t kPollMs = 250;

std::string SysError(const std::string& what, const std::string& path) {
  return what + " " + path + ": " + std::strerror(errno);
}

void FsyncDir(const std::filesystem::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error(SysError("cannot open", dir.string()));
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) throw std::runtime_error(SysError("cannot fsync", dir.string()));
}

// The whole file, or nullopt if it does not exist.
std::optional<std::string> ReadFileIfExists(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT) return std::nullopt;
  if (fd < 0) throw std::runtime_error(SysError("cannot open", path));
  std::string out;
  std::error_code ec;
  auto size = std::filesystem::file_size(path, ec);
  if (!ec) out.reserve(size);
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::close(fd);
      throw std::runtime_error(SysError("cannot read", path));
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}

Error CannotThumbnail(const libvips::Api& vips) {
  vips.error_clear();
  return Error(ErrorCode::kUnknown, "Cannot generate a thumbnail of this media");
}

// Decodes `src` and encodes a thumbnail (PNG, or JPEG when `jpeg`).
std::string MakeThumbnail(const std::string& src, int width, int height, bool crop, bool jpeg) {
  const libvips::Api& vips = libvips::Get();
  VipsImage* header = vips.image_new_from_buffer(src.data(), src.size(), "", nullptr);
  if (!header) throw CannotThumbnail(vips);
  const std::int64_t pixels =
      std::int64_t{vips.image_get_width(header)} * vips.image_get_height(header);
  vips.object_unref(header);
  if (pixels <= 0 || pixels > MediaService::kMaxSourcePixels) throw CannotThumbnail(vips);

  VipsImage* out = nullptr;
  int rc = crop ? vips.thumbnail_buffer(const_cast<char*>(src.data()), src.size(), &out, width,
                                        "height", height, "size", VIPS_SIZE_DOWN, "crop",
                                        VIPS_INTERESTING_CENTRE, nullptr)
                : vips.thumbnail_buffer(const_cast<char*>(src.data()), src.size(), &out, width,
                                        "height", height, "size", VIPS_SIZE_DOWN, nullptr);
  if (rc != 0 || !out) throw CannotThumbnail(vips);
  void* buf = nullptr;
  std::size_t len = 0;
  rc = vips.image_write_to_buffer(out, jpeg ? ".jpg[Q=80,strip]" : ".png[strip]", &buf, &len,
                                  nullptr);
  vips.object_unref(out);
  if (rc != 0 || !buf) throw CannotThumbnail(vips);
  std::string result(static_cast<const char*>(buf), len);
  vips.free(buf);
  return result;
}

// A SHA-256 in lower-case hex, as stored files are named.
bool IsSha256Hex(std::string_view s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

// A temporary file of WriteFileDurably (`<name>.tmp-<random>`).
bool IsTemporary(const fs::path& p) {
  return p.filename().string().find(".tmp-") != std::string::npos;
}

// Removes `p` if it is a temporary file last written more than
// MediaService::kTemporaryFileMaxAge ago; returns whether it did.
bool RemoveIfStaleTemporary(const fs::path& p) {
  if (!IsTemporary(p)) return false;
  std::error_code ec;
  const auto mtime = fs::last_write_time(p, ec);
  if (ec || fs::file_time_type::clock::now() - mtime < MediaService::kTemporaryFileMaxAge) {
    return false;
  }
  return fs::remove(p, ec);
}

// The regular files two directory levels under `root` (root/<ab>/<cd>/f),
// grouped by their first-level directory's name. Directories that vanish
// meanwhile are skipped.
template <typename Fn>
void ForEachStoredFile(const fs::path& root, const Fn& fn) {
  std::error_code ec;
  for (const auto& l1 : fs::directory_iterator(root, ec)) {
    const std::string prefix = l1.path().filename().string();
    if (prefix.size() != 2 || !l1.is_directory()) continue;  // skips thumbnails/
    std::vector<fs::path> files;
    std::error_code ec2;
    for (const auto& l2 : fs::directory_iterator(l1.path(), ec2)) {
      std::error_code ec3;
      for (const auto& f : fs::directory_iterator(l2.path(), ec3)) {
        if (f.is_regular_file()) files.push_back(f.path());
      }
    }
    if (!files.empty()) fn(prefix, files);
  }
}

}  // namespace

void WriteFileDurably(const std::string& path, const std::string& bytes) {
  const std::filesystem::path target(path);
  const std::string tmp = path + ".tmp-" + crypto::RandomAlnum(12);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
  if (fd < 0) throw std::runtime_error(SysError("cannot create", tmp));
  std::size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      std::string msg = SysError("cannot write", tmp);
      ::close(fd);
      ::unlink(tmp.c_str());
      throw std::runtime_error(msg);
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) {
    std::string msg = SysError("cannot fsync", tmp);
    ::close(fd);
    ::unlink(tmp.c_str());
    throw std::runtime_error(msg);
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    std::string msg = SysError("cannot rename", tmp);
    ::unlink(tmp.c_str());
    throw std::runtime_error(msg);
  }
  FsyncDir(target.parent_path());
}

MediaFile::MediaFile(int fd, std::uint64_t size, boost::asio::thread_pool& pool)
    : fd_(fd), size_(size), pool_(pool) {}

MediaFile::~MediaFile() { ::close(fd_); }

std::size_t MediaFile::ReadNow(std::uint64_t offset, char* buf, std::size_t max) const {
  if (offset >= size_) return 0;
  max = static_cast<std::size_t>(std::min<std::uint64_t>(max, size_ - offset));
  for (;;) {
    ssize_t n = ::pread(fd_, buf, max, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw std::runtime_error(std::string("cannot read media: ") + std::strerror(errno));
    return static_cast<std::size_t>(n);
  }
}

boost::asio::awaitable<std::size_t> MediaFile::Read(std::uint64_t offset, char* buf,
                                                    std::size_t max) const {
  co_return co_await Offload(pool_, [&] { return ReadNow(offset, buf, max); });
}

MediaService::MediaService(ServiceContext& ctx, PolicyService& policy)
    : ctx_(ctx),
      policy_(policy),
      media_dir_((std::filesystem::path(ctx.config.data_dir) / "media").string()) {}

MediaService::~MediaService() { StopSweeper(); }

std::mutex& MediaService::BlobLock(const std::string& sha256) {
  return blob_locks_[std::hash<std::string>{}(sha256) % blob_locks_.size()];
}

std::string MediaService::MediaPath(const std::string& sha256) const {
  return (std::filesystem::path(media_dir_) / sha256.substr(0, 2) / sha256.substr(2, 2) / sha256)
      .string();
}

std::string MediaService::ThumbnailPath(const std::string& sha256, int width, int height,
                                        const std::string& method, bool jpeg) const {
  return (std::filesystem::path(media_dir_) / "thumbnails" / sha256.substr(0, 2) /
          sha256.substr(2, 2) /
          (sha256 + "-" + std::to_string(width) + "x" + std::to_string(height) + "-" + method +
           (jpeg ? ".jpg" : ".png")))
      .string();
}

void MediaService::StoreBlob(const std::string& sha, const std::string& bytes) const {
  const std::string path = MediaPath(sha);
  std::error_code ec;
  auto size = std::filesystem::file_size(path, ec);
  if (!ec && size == bytes.size()) return;  // identical content already stored
  const std::filesystem::path dir = std::filesystem::path(path).parent_path();
  if (!std::filesystem::exists(dir)) {
    std::filesystem::create_directories(dir);
    FsyncDir(dir.parent_path());
    FsyncDir(dir.parent_path().parent_path());
  }
  WriteFileDurably(path, bytes);
}

void MediaService::CheckSize(std::size_t size) const {
  if (size > ctx_.config.max_media_bytes) {
    throw Error(ErrorCode::kTooLarge, "Media is larger than the server allows");
  }
}

void MediaService::CheckQuota(sql::Tx& tx, const std::string& user_id, std::size_t size) const {
  const auto used = static_cast<std::size_t>(MediaStore::UsageBytes(tx, user_id));
  if (used + size > ctx_.config.media_user_quota_bytes) {
    throw Error(ErrorCode::kLimitExceeded,
                "Media storage quota exceeded: " + std::to_string(used) + " of " +
                    std::to_string(ctx_.config.media_user_quota_bytes) + " bytes used");
  }
}

boost::asio::awaitable<std::string> MediaService::Upload(const Requester& who,
                                                         std::string content_type,
                                                         std::optional<std::string> upload_name,
                                                         std::string bytes) {
  CheckSize(bytes.size());
  if (content_type.empty()) content_type = "application/octet-stream";
  const std::string media_id = crypto::RandomAlnum(24);
  co_await Offload(ctx_.db_pool, [&] {
    ctx_.db.Read([&](sql::Tx& tx) { CheckQuota(tx, who.user_id, bytes.size()); });
    const std::string sha = crypto::Sha256Hex(bytes);
    std::lock_guard blob_lock(BlobLock(sha));  // until the row naming the file commits
    StoreBlob(sha, bytes);
    ctx_.db.Write([&](sql::Tx& tx) {
      // Again under the write lock: another upload may have landed meanwhile.
      CheckQuota(tx, who.user_id, bytes.size());
      MediaStore::Insert(
          tx, MediaRow{media_id, sha, static_cast<std::int64_t>(bytes.size()), content_type,
                       upload_name, who.user_id, who.tenant_id, NowMs(), std::nullopt});
    });
  });
  co_return "mxc://" + ctx_.config.server_name + "/" + media_id;
}

boost::asio::awaitable<CreatedMedia> MediaService::Create(const Requester& who) {
  const std::string media_id = crypto::RandomAlnum(24);
  const std::int64_t now = NowMs();
  const std::int64_t expires = now + kUnusedExpiryMs;
  co_await Offload(ctx_.db_pool, [&] {
    ctx_.db.Write([&](sql::Tx& tx) {
      MediaStore::DeleteExpiredPending(tx, now);
      if (MediaStore::PendingCount(tx, who.user_id, now) >= kMaxPendingPerUser) {
        throw Error(ErrorCode::kLimitExceeded, "Too many pending media uploads")
            .with("retry_after_ms", std::int64_t{60'000});
      }
      MediaStore::Insert(tx, MediaRow{media_id, std::nullopt, 0, std::nullopt, std::nullopt,
                                      who.user_id, who.tenant_id, now, expires});
    });
  });
  co_return CreatedMedia{"mxc://" + ctx_.config.server_name + "/" + media_id, expires};
}

boost::asio::awaitable<void> MediaService::UploadTo(
    const Requester& who, const std::string& server_name, const std::string& media_id,
    std::string content_type, std::optional<std::string> upload_name, std::string bytes) {
  if (server_name != ctx_.config.server_name) throw NotFound("Unknown media");
  if (content_type.empty()) content_type = "application/octet-stream";
  co_await Offload(ctx_.db_pool, [&] {
    auto check = [&](sql::Tx& tx) {
      auto row = MediaStore::Get(tx, media_id);
      if (!row) throw NotFound("Unknown media");
      if (row->user_id != who.user_id) throw Forbidden("This media id was created by another user");
      if (row->sha256) {
        throw Error(ErrorCode::kCannotOverwriteMedia, "Media already has content");
      }
      if (row->unused_expires_ts && *row->unused_expires_ts <= NowMs()) {
        throw NotFound("This media id has expired");
      }
      CheckQuota(tx, who.user_id, bytes.size());
    };
    ctx_.db.Read(check);
    CheckSize(bytes.size());
    const std::string sha = crypto::Sha256Hex(bytes);
    std::lock_guard blob_lock(BlobLock(sha));  // until the row naming the file commits
    StoreBlob(sha, bytes);
    ctx_.db.Write([&](sql::Tx& tx) {
      check(tx);
      if (!MediaStore::Complete(tx, media_id, sha, static_cast<std::int64_t>(bytes.size()),
                                content_type, upload_name)) {
        throw Error(ErrorCode::kCannotOverwriteMedia, "Media already has content");
      }
    });
  });
}

boost::asio::awaitable<MediaRow> MediaService::FindUploaded(const std::optional<Requester>& who,
                                                            const std::string& server_name,
                                                            const std::string& media_id,
                                                            std::int64_t timeout_ms) {
  if (server_name != ctx_.config.server_name) throw NotFound("Unknown media");
  std::optional<std::string> from_tenant;
  if (who) from_tenant = who->tenant_id;
  const auto deadline =
      std::chrono::steady_clock::now() +
      std::chrono::milliseconds(std::clamp<std::int64_t>(timeout_ms, 0, kMaxWaitMs));
  for (;;) {
    std::optional<MediaRow> row = co_await Offload(ctx_.db_pool, [&] {
      auto row = ctx_.db.Read([&](sql::Tx& tx) { return MediaStore::Get(tx, media_id); });
      if (!row) throw NotFound("Unknown media");
      // C4: media of a tenant the requester may not contact. Answered
      // 404 M_NOT_FOUND, exactly as an unknown id, rather than 403: the
      // answer must not confirm that the id exists in another
      // organisation, and clients already treat 404 as "not available".
      if (!policy_.MayReach(from_tenant, row->tenant_id)) throw NotFound("Unknown media");
      if (!row->sha256) {
        if (row->unused_expires_ts && *row->unused_expires_ts <= NowMs()) {
          throw NotFound("Unknown media");
        }
        return std::optional<MediaRow>();
      }
      return row;
    });
    if (row) co_return std::move(*row);
    if (std::chrono::steady_clock::now() >= deadline) {
      throw Error(ErrorCode::kNotYetUploaded, "Media has not been uploaded yet");
    }
    auto executor = co_await boost::asio::this_coro::executor;
    boost::asio::steady_timer timer(executor);
    timer.expires_after(std::chrono::milliseconds(kPollMs));
    co_await timer.async_wait(boost::asio::use_awaitable);
  }
}

std::shared_ptr<const MediaFile> MediaService::Open(const MediaRow& row) const {
  const std::string path = MediaPath(*row.sha256);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno != ENOENT) throw std::runtime_error(SysError("cannot open", path));
    // Deleted since the row was read, or lost: only the first is expected.
    auto again = ctx_.db.Read([&](sql::Tx& tx) { return MediaStore::Get(tx, row.media_id); });
    if (again && again->sha256 == row.sha256) {
      throw Internal("The stored file of media " + row.media_id + " is missing");
    }
    throw NotFound("Unknown media");
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    std::string msg = SysError("cannot stat", path);
    ::close(fd);
    throw std::runtime_error(msg);
  }
  return std::make_shared<const MediaFile>(fd, static_cast<std::uint64_t>(st.st_size),
                                           ctx_.db_pool);
}

boost::asio::awaitable<MediaDownload> MediaService::Download(const std::optional<Requester>& who,
                                                             const std::string& server_name,
                                                             const std::string& media_id,
                                                             std::int64_t timeout_ms) {
  MediaRow row = co_await FindUploaded(who, server_name, media_id, timeout_ms);
  MediaDownload out{row.content_type.value_or("application/octet-stream"), row.upload_name,
                    nullptr};
  out.file = co_await Offload(ctx_.db_pool, [&] { return Open(row); });
  co_return out;
}

boost::asio::awaitable<MediaThumbnail> MediaService::Thumbnail(const std::optional<Requester>& who,
                                                               const std::string& server_name,
                                                               const std::string& media_id,
                                                               int width, int height,
                                                               const std::string& method,
                                                               std::int64_t timeout_ms) {
  if (width < 1 || height < 1) throw InvalidParam("width and height must be positive");
  if (method != "scale" && method != "crop") throw InvalidParam("method must be scale or crop");
  width = std::min(width, kMaxThumbWidth);
  height = std::min(height, kMaxThumbHeight);
  MediaRow row = co_await FindUploaded(who, server_name, media_id, timeout_ms);
  const std::string type = MediaTypeEssence(row.content_type.value_or(""));
  if (type != "image/jpeg" && type != "image/png" && type != "image/gif" && type != "image/webp") {
    throw Error(ErrorCode::kUnknown, "Cannot generate a thumbnail of this media type");
  }
  const bool jpeg = type == "image/jpeg";
  MediaThumbnail out{jpeg ? "image/jpeg" : "image/png", {}};
  out.bytes = co_await Offload(ctx_.db_pool, [&] {
    const auto path = ThumbnailPath(*row.sha256, width, height, method, jpeg);
    if (auto cached = ReadFileIfExists(path)) return std::move(*cached);
    auto file = Open(row);
    std::string src(static_cast<std::size_t>(file->size()), '\0');
    std::size_t done = 0;
    while (done < src.size()) {
      std::size_t n = file->ReadNow(done, src.data() + done, src.size() - done);
      if (n == 0) throw std::runtime_error("media file shorter than its size");
      done += n;
    }
    std::string thumb = MakeThumbnail(src, width, height, method == "crop", jpeg);
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    WriteFileDurably(path, thumb);
    return thumb;
  });
  co_return out;
}

boost::asio::awaitable<void> MediaService::Delete(const Requester& who,
                                                  const std::string& server_name,
                                                  const std::string& media_id) {
  RequireAnyAdmin(who);
  if (server_name != ctx_.config.server_name) throw InvalidParam("Can only delete local media");
  co_await Offload(ctx_.db_pool, [&] {
    const MediaRow row = ctx_.db.Write([&](sql::Tx& tx) {
      auto row = MediaStore::Get(tx, media_id);
      // A tenant admin's scope is its tenant: other media is as if absent.
      if (!row || (!who.is_admin && row->tenant_id != who.tenant_id)) {
        throw NotFound("Unknown media");
      }
      MediaStore::Delete(tx, media_id);
      boost::json::object details{{"user_id", row->user_id}, {"size", row->size}};
      if (row->sha256) details["sha256"] = *row->sha256;
      Audit(tx, who.user_id, row->tenant_id, "admin.media.delete",
            "mxc://" + server_name + "/" + media_id, details);
      return *row;
    });
    // After the commit: a crash before this leaves a file no row names,
    // for the sweep; never a row without its file.
    SweepResult removed;
    if (row.sha256) RemoveIfUnreferenced(*row.sha256, &removed);
  });
}

std::int64_t MediaService::RemoveThumbnails(const std::string& sha256) const {
  const fs::path dir =
      fs::path(media_dir_) / "thumbnails" / sha256.substr(0, 2) / sha256.substr(2, 2);
  std::int64_t n = 0;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    // A temporary file belongs to a thumbnail being written: left to it
    // (or, if it was interrupted, to a later sweep).
    if (!e.path().filename().string().starts_with(sha256 + "-") || IsTemporary(e.path())) continue;
    std::error_code rec;
    if (fs::remove(e.path(), rec)) ++n;
  }
  return n;
}

void MediaService::RemoveIfUnreferenced(const std::string& sha256, SweepResult* out) {
  std::lock_guard blob_lock(BlobLock(sha256));
  if (ctx_.db.Read([&](sql::Tx& tx) { return MediaStore::IsReferenced(tx, sha256); })) return;
  // Thumbnails first: a crash in between leaves the stored file, which
  // the next sweep finds again.
  out->thumbnails += RemoveThumbnails(sha256);
  const std::string path = MediaPath(sha256);
  if (::unlink(path.c_str()) == 0) {
    ++out->files;
  } else if (errno != ENOENT) {
    spdlog::warn("media: cannot remove {}: {}", path, std::strerror(errno));
  }
}

boost::asio::awaitable<SweepResult> MediaService::Sweep() {
  co_return co_await Offload(ctx_.db_pool, [&] {
    SweepResult r;
    r.expired_reservations =
        ctx_.db.Write([&](sql::Tx& tx) { return MediaStore::DeleteExpiredPending(tx, NowMs()); });
    // Stored files (media/<ab>/<cd>/<sha256>) and cached thumbnails
    // (media/thumbnails/<ab>/<cd>/<sha256>-...) of content no row names.
    // One query per first-level directory lists the content rows name;
    // each candidate is checked again under its lock before it goes.
    for (const fs::path& root : {fs::path(media_dir_), fs::path(media_dir_) / "thumbnails"}) {
      ForEachStoredFile(root, [&](const std::string& prefix, const std::vector<fs::path>& files) {
        const std::set<std::string> named =
            ctx_.db.Read([&](sql::Tx& tx) { return MediaStore::ReferencedWithPrefix(tx, prefix); });
        std::set<std::string> unnamed;
        for (const auto& f : files) {
          if (IsTemporary(f)) {
            r.temporary_files += RemoveIfStaleTemporary(f);
            continue;
          }
          const std::string sha = f.filename().string().substr(0, 64);
          if (IsSha256Hex(sha) && !named.count(sha)) unnamed.insert(sha);
        }
        for (const auto& sha : unnamed) RemoveIfUnreferenced(sha, &r);
      });
    }
    return r;
  });
}

void MediaService::StartSweeper(boost::asio::any_io_executor executor,
                                std::chrono::milliseconds interval) {
  if (interval.count() <= 0) return;
  auto timer = std::make_shared<boost::asio::steady_timer>(executor);
  {
    std::lock_guard lock(sweeper_mu_);
    if (sweeper_timer_ || sweeper_stopped_) return;
    sweeper_timer_ = timer;
  }
  boost::asio::co_spawn(executor, SweepLoop(std::move(timer), interval), boost::asio::detached);
}

void MediaService::StopSweeper() {
  sweeper_stopped_ = true;
  std::shared_ptr<boost::asio::steady_timer> timer;
  {
    std::lock_guard lock(sweeper_mu_);
    timer = std::move(sweeper_timer_);
  }
  // The timer belongs to its executor's thread.
  if (timer) boost::asio::post(timer->get_executor(), [timer] { timer->cancel(); });
}

boost::asio::awaitable<void> MediaService::SweepLoop(
    std::shared_ptr<boost::asio::steady_timer> timer, std::chrono::milliseconds interval) {
  for (;;) {
    if (sweeper_stopped_) co_return;
    timer->expires_after(interval);
    auto [ec] = co_await timer->async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
    if (ec || sweeper_stopped_) co_return;
    try {
      const SweepResult r = co_await Sweep();
      if (r.expired_reservations || r.files || r.thumbnails || r.temporary_files) {
        spdlog::info(
            "media sweep: {} expired reservations, {} files, {} thumbnails, {} temporary files "
            "removed",
            r.expired_reservations, r.files, r.thumbnails, r.temporary_files);
      }
    } catch (const std::exception& e) {
      spdlog::warn("media sweep failed: {}", e.what());
    }
  }
}

std::string MediaTypeEssence(std::string_view content_type) {
  std::string_view t = content_type.substr(0, content_type.find(';'));
  while (!t.empty() && t.back() == ' ') t.remove_suffix(1);
  while (!t.empty() && t.front() == ' ') t.remove_prefix(1);
  return ascii::Lower(t);
}

}  // namespace vigie::service
