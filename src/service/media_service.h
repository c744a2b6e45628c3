// The media repository: uploads (direct, and the create-then-upload flow of
// Matrix 1.7), downloads and thumbnails of this server's media.
//
// Bytes are stored once per distinct content under
// data_dir/media/<ab>/<cd>/<sha256 hex>, written to a temporary file,
// fsynced and renamed into place (then the directory fsynced) before the
// metadata row commits, so an acknowledged upload survives a crash.
// Thumbnails are generated with libvips on first request and cached under
// data_dir/media/thumbnails/ keyed by (sha256, width, height, method).
//
// Deletion: a row goes first, in its own transaction; the file (and its
// thumbnails) after the commit, once no other row names the content. A
// crash in between leaves a file no row names, which the periodic Sweep
// removes; never a row without its file. Uploads hold the content's blob
// lock from writing the file until their row commits, and removal holds it
// from checking that no row names the content until the unlink, so the two
// cannot cross (one process per data_dir).
//
// All file and database work runs on the database pool.
#pragma once

#include <array>
#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "service/auth_service.h"
#include "service/context.h"
#include "service/policy_service.h"
#include "storage/media_store.h"

namespace vigie::service {

// A stored file, open for reading. It stays readable after the media is
// deleted (the descriptor holds the data), so a download that has it can
// finish. Reads run on the pool given at construction.
class MediaFile {
 public:
  // Takes ownership of `fd`, an open file of `size` bytes.
  MediaFile(int fd, std::uint64_t size, boost::asio::thread_pool& pool);
  ~MediaFile();
  MediaFile(const MediaFile&) = delete;
  MediaFile& operator=(const MediaFile&) = delete;

  std::uint64_t size() const { return size_; }
  // Reads up to `max` bytes at `offset` into `buf`; returns how many (0 at
  // or past the end). Throws std::runtime_error on an I/O error.
  boost::asio::awaitable<std::size_t> Read(std::uint64_t offset, char* buf, std::size_t max) const;
  // The same, blocking the calling thread (not an I/O thread).
  std::size_t ReadNow(std::uint64_t offset, char* buf, std::size_t max) const;

 private:
  int fd_;
  std::uint64_t size_;
  boost::asio::thread_pool& pool_;
};

struct MediaDownload {
  std::string content_type;                // as uploaded (application/octet-stream if none)
  std::optional<std::string> upload_name;  // as uploaded
  std::shared_ptr<const MediaFile> file;   // never null
};

struct MediaThumbnail {
  std::string content_type;  // image/png or image/jpeg
  std::string bytes;
};

struct CreatedMedia {
  std::string content_uri;  // mxc://server/id
  std::int64_t unused_expires_at = 0;
};

// What one MediaService::Sweep removed.
struct SweepResult {
  std::int64_t expired_reservations = 0;  // ids from Create never uploaded to
  std::int64_t files = 0;                 // stored files no id names
  std::int64_t thumbnails = 0;            // cached thumbnails of such content
  std::int64_t temporary_files = 0;       // left by writes a crash interrupted
};

class MediaService {
 public:
  // How long an id from Create stays reserved for its upload.
  static constexpr std::int64_t kUnusedExpiryMs = 24 * 3600 * 1000;
  // Reserved, not yet uploaded ids per user.
  static constexpr std::int64_t kMaxPendingPerUser = 5;
  // Largest thumbnail served, and the largest source image decoded.
  static constexpr int kMaxThumbWidth = 800;
  static constexpr int kMaxThumbHeight = 600;
  static constexpr std::int64_t kMaxSourcePixels = 64LL * 1024 * 1024;
  // Temporary files older than this are debris of an interrupted write.
  static constexpr auto kTemporaryFileMaxAge = std::chrono::hours(1);

  MediaService(ServiceContext& ctx, PolicyService& policy);
  ~MediaService();

  // Stores `bytes` and returns its mxc:// URI. M_TOO_LARGE (413) above
  // [limits] max_media_bytes; M_LIMIT_EXCEEDED (429) when the user's
  // uploads would exceed [media] user_quota_bytes.
  boost::asio::awaitable<std::string> Upload(const Requester& who, std::string content_type,
                                             std::optional<std::string> upload_name,
                                             std::string bytes);

  // Reserves an id for a later UploadTo. M_LIMIT_EXCEEDED when the user
  // already has kMaxPendingPerUser unexpired reservations.
  boost::asio::awaitable<CreatedMedia> Create(const Requester& who);

  // Uploads the content of a reserved id. M_NOT_FOUND for another server,
  // an unknown or expired id; M_FORBIDDEN if `who` did not create it;
  // M_CANNOT_OVERWRITE_MEDIA (409) if it already has content; size and
  // quota errors as Upload.
  boost::asio::awaitable<void> UploadTo(const Requester& who, const std::string& server_name,
                                        const std::string& media_id, std::string content_type,
                                        std::optional<std::string> upload_name, std::string bytes);

  // The content of a media id, as an open file: nothing is read yet. M_NOT_FOUND for
  // another server, an unknown id, or (C4) media uploaded in a tenant `who` may not contact
  // (without an access token, `who` nullopt: any tenant but the default
  // one); for a reserved id not yet uploaded, waits up to `timeout_ms`
  // (capped at 60 s) for the upload, then M_NOT_YET_UPLOADED.
  boost::asio::awaitable<MediaDownload> Download(const std::optional<Requester>& who,
                                                 const std::string& server_name,
                                                 const std::string& media_id,
                                                 std::int64_t timeout_ms);

  // A thumbnail of an image, at most width x height ("scale": the whole
  // image fits inside; "crop": exactly that size, centred), capped at
  // kMaxThumbWidth x kMaxThumbHeight. PNG, or JPEG for JPEG sources.
  // Errors as Download, plus M_INVALID_PARAM for a bad size or method and
  // M_UNKNOWN (400) for content that is not a supported image.
  boost::asio::awaitable<MediaThumbnail> Thumbnail(const std::optional<Requester>& who,
                                                   const std::string& server_name,
                                                   const std::string& media_id, int width,
                                                   int height, const std::string& method,
                                                   std::int64_t timeout_ms);

  // DELETE /_synapse/admin/v1/media/{serverName}/{mediaId}: deletes an id,
  // uploaded or only reserved. For admins only (M_FORBIDDEN otherwise); a
  // tenant admin may delete media uploaded in its own tenant only, and gets
  // M_NOT_FOUND for any other, as for an unknown id. M_INVALID_PARAM for
  // another server's media. Audited as admin.media.delete in the deleting
  // transaction. Afterwards the id is M_NOT_FOUND, the bytes no longer count
  // towards the uploader's quota, and the stored file and its thumbnails
  // are removed unless another id names the same content. A download that
  // already has the file open finishes.
  boost::asio::awaitable<void> Delete(const Requester& who, const std::string& server_name,
                                      const std::string& media_id);

  // Garbage collection: deletes expired reservations, then removes stored
  // files no id names (with their thumbnails), cached thumbnails of content
  // no id names, and temporary files older than kTemporaryFileMaxAge. Safe
  // to run while the server serves.
  boost::asio::awaitable<SweepResult> Sweep();

  // Runs Sweep every `interval` (nothing when it is not positive) with its
  // timer on `executor`, an I/O thread's: the work goes to the database
  // pool. Logs what each sweep removed and any failure.
  void StartSweeper(boost::asio::any_io_executor executor, std::chrono::milliseconds interval);
  // Stops the sweeper: no sweep starts after this returns, and one under way
  // ends with the current sweep. Call it, and stop the executor, before the
  // Homeserver goes. Idempotent; the destructor calls it.
  void StopSweeper();

 private:
  // The uploaded media's row, after the checks and the wait Download
  // describes.
  boost::asio::awaitable<storage::MediaRow> FindUploaded(const std::optional<Requester>& who,
                                                         const std::string& server_name,
                                                         const std::string& media_id,
                                                         std::int64_t timeout_ms);
  // Opens the stored file of `row` (on the database pool). M_NOT_FOUND if
  // the media was deleted since `row` was read.
  std::shared_ptr<const MediaFile> Open(const storage::MediaRow& row) const;
  std::string MediaPath(const std::string& sha256) const;
  // data_dir/media/thumbnails/<ab>/<cd>/<sha256>-<w>x<h>-<method>.<png|jpg>
  std::string ThumbnailPath(const std::string& sha256, int width, int height,
                            const std::string& method, bool jpeg) const;
  // Writes `bytes` as the stored file of `sha256` unless present. The
  // caller holds BlobLock(sha256) until the row naming it has committed.
  void StoreBlob(const std::string& sha256, const std::string& bytes) const;
  // The lock of one content hash (shared by hashes in one of 64 shards).
  std::mutex& BlobLock(const std::string& sha256);
  // Removes the stored file of `sha256` and its thumbnails if no id names
  // the content; counts what it removed into *out. Blocking.
  void RemoveIfUnreferenced(const std::string& sha256, SweepResult* out);
  // Removes the cached thumbnails of `sha256`; returns how many.
  std::int64_t RemoveThumbnails(const std::string& sha256) const;
  boost::asio::awaitable<void> SweepLoop(std::shared_ptr<boost::asio::steady_timer> timer,
                                         std::chrono::milliseconds interval);
  void CheckSize(std::size_t size) const;
  void CheckQuota(sql::Tx& tx, const std::string& user_id, std::size_t size) const;

  ServiceContext& ctx_;
  PolicyService& policy_;
  std::string media_dir_;
  std::array<std::mutex, 64> blob_locks_;
  std::atomic<bool> sweeper_stopped_{false};
  std::mutex sweeper_mu_;
  std::shared_ptr<boost::asio::steady_timer> sweeper_timer_;  // guarded by sweeper_mu_
};

// The media type of a Content-Type without its parameters, in lower case
// ("Image/PNG; q=1" -> "image/png").
std::string MediaTypeEssence(std::string_view content_type);

// Writes `bytes` to `path` durably: a temporary file in the same directory,
// fsync, rename, fsync of the directory. Throws std::runtime_error.
void WriteFileDurably(const std::string& path, const std::string& bytes);

}  // namespace vigie::service
