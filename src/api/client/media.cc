// The content repository (spec "Content repository"): uploads, the
// authenticated downloads of Matrix 1.11, and the legacy unauthenticated
// downloads when [media] allow_unauthenticated_download is set. Downloads
// stream the stored file and honour a single-range Range header.
#include <cctype>
#include <charconv>
#include <cstring>
#include <set>

#include "api/api.h"
#include "api/errors.h"
#include "common/error.h"

namespace vigie::api {
namespace {

using boost::asio::awaitable;
using http::Response;

// Sandbox every download so that uploaded HTML or SVG cannot run script
// in a browser that opens it (Synapse's policy).
constexpr const char* kMediaCsp =
    "sandbox; default-src 'none'; script-src 'none'; plugin-types application/pdf; "
    "style-src 'unsafe-inline'; object-src 'self';";

// Types a browser may show inline; everything else (HTML, SVG, ...) is an
// attachment.
bool InlineSafe(std::string_view content_type) {
  static const std::set<std::string, std::less<>> kInline = {
      "image/jpeg", "image/png", "image/gif",  "image/webp", "image/apng",
      "image/avif", "video/mp4", "video/webm", "video/ogg",  "text/plain"};
  const std::string e = service::MediaTypeEssence(content_type);
  return kInline.count(e) || e.starts_with("audio/");
}

// RFC 5987 ext-value for filename*.
std::string EncodeFilename(std::string_view name) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out = "UTF-8''";
  for (unsigned char c : name) {
    if (std::isalnum(c) || std::strchr("!#$&+-.^_`|~", c)) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

// The safe headers of every media answer: inline only for passive types,
// the sandboxing CSP, and cross-origin embedding allowed.
void AddMediaHeaders(Response& res, const std::string& content_type,
                     const std::optional<std::string>& file_name) {
  res.content_type = content_type;
  std::string disposition = InlineSafe(content_type) ? "inline" : "attachment";
  if (file_name && !file_name->empty()) disposition += "; filename*=" + EncodeFilename(*file_name);
  res.headers.emplace_back("Content-Disposition", std::move(disposition));
  res.headers.emplace_back("Content-Security-Policy", kMediaCsp);
  res.headers.emplace_back("Cross-Origin-Resource-Policy", "cross-origin");
}

// Reads a body of `length` bytes from `file`, starting at `first`.
awaitable<std::size_t> ReadSlice(std::shared_ptr<const service::MediaFile> file,
                                 std::uint64_t first, std::uint64_t pos, char* buf,
                                 std::size_t max) {
  co_return co_await file->Read(first + pos, buf, max);
}

// The file streamed from disk: whole (200, Accept-Ranges), or the one
// byte range the Range header asks (206), or 416. A Range with If-Range
// is served whole: vigie gives no validator such a condition could match.
Response FileResponse(const RequestContext& c, service::MediaDownload m,
                      const std::optional<std::string>& file_name) {
  const std::uint64_t size = m.file->size();
  http::ByteRange range{0, size == 0 ? 0 : size - 1};
  http::RangeAnswer answer = http::RangeAnswer::kWhole;
  if (c.req.if_range.empty()) answer = http::ParseRange(c.req.range, size, &range);
  if (answer == http::RangeAnswer::kUnsatisfiable) {
    Response res =
        ErrorResponse(Error(ErrorCode::kUnknown, "The requested range is not satisfiable", 416));
    res.headers.emplace_back("Content-Range", "bytes */" + std::to_string(size));
    return res;
  }
  Response res;
  AddMediaHeaders(res, m.content_type, file_name ? file_name : m.upload_name);
  res.headers.emplace_back("Accept-Ranges", "bytes");
  std::uint64_t first = 0, length = size;
  if (answer == http::RangeAnswer::kPartial) {
    res.status = 206;
    res.headers.emplace_back("Content-Range", "bytes " + std::to_string(range.first) + "-" +
                                                  std::to_string(range.last) + "/" +
                                                  std::to_string(size));
    first = range.first;
    length = range.length();
  }
  auto stream = std::make_shared<http::BodyStream>();
  stream->size = length;
  stream->read = [file = std::move(m.file), first](std::uint64_t pos, char* buf, std::size_t max) {
    return ReadSlice(file, first, pos, buf, max);
  };
  res.stream = std::move(stream);
  return res;
}

std::optional<std::int64_t> QueryInt(const RequestContext& c, std::string_view key) {
  auto v = c.req.Query(key);
  if (!v) return std::nullopt;
  std::int64_t n = 0;
  auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
  if (ec != std::errc() || p != v->data() + v->size()) {
    throw InvalidParam(std::string(key) + " must be an integer");
  }
  return n;
}

std::int64_t TimeoutMs(const RequestContext& c) {
  return QueryInt(c, "timeout_ms").value_or(20000);
}

std::optional<std::string> UploadName(const RequestContext& c) {
  auto v = c.req.Query("filename");
  if (!v || v->empty()) return std::nullopt;
  return std::string(*v);
}

awaitable<Response> Download(service::Homeserver& hs, RequestContext& c) {
  std::optional<std::string> file_name;
  if (c.params.size() > 2) file_name = c.params[2];
  auto m = co_await hs.media.Download(c.who, c.params[0], c.params[1], TimeoutMs(c));
  co_return FileResponse(c, std::move(m), file_name);
}

awaitable<Response> Thumbnail(service::Homeserver& hs, RequestContext& c) {
  auto width = QueryInt(c, "width");
  auto height = QueryInt(c, "height");
  if (!width || !height) throw MissingParam("width and height are required");
  if (*width < 1 || *height < 1 || *width > 1 << 16 || *height > 1 << 16) {
    throw InvalidParam("width and height must be between 1 and 65536");
  }
  std::string method(c.req.Query("method").value_or("scale"));
  auto m = co_await hs.media.Thumbnail(c.who, c.params[0], c.params[1], static_cast<int>(*width),
                                       static_cast<int>(*height), method, TimeoutMs(c));
  Response res;
  AddMediaHeaders(res, m.content_type, std::nullopt);
  res.body = std::move(m.bytes);
  co_return res;
}

}  // namespace

void AddMediaRoutes(Router& r, service::Homeserver& hs) {
  const RouteOptions binary{.auth = AuthMode::kRequired, .json_body = false};
  const RouteOptions legacy{.auth = AuthMode::kNone, .json_body = false};

  // POST /_matrix/media/v3/upload (and r0)
  auto upload = [&hs](RequestContext& c) -> awaitable<Response> {
    std::string uri = co_await hs.media.Upload(c.requester(), c.req.content_type, UploadName(c),
                                               std::move(c.req.body));
    co_return Response::Json({{"content_uri", uri}});
  };
  r.Add("POST", "/_matrix/media/v3/upload", upload, binary);
  r.Add("POST", "/_matrix/media/r0/upload", upload, binary);

  // POST /_matrix/media/v1/create
  r.Add(
      "POST", "/_matrix/media/v1/create",
      [&hs](RequestContext& c) -> awaitable<Response> {
        auto created = co_await hs.media.Create(c.requester());
        co_return Response::Json({{"content_uri", created.content_uri},
                                  {"unused_expires_at", created.unused_expires_at}});
      },
      binary);

  // PUT /_matrix/media/v3/upload/{serverName}/{mediaId}
  r.Add(
      "PUT", "/_matrix/media/v3/upload/{serverName}/{mediaId}",
      [&hs](RequestContext& c) -> awaitable<Response> {
        co_await hs.media.UploadTo(c.requester(), c.params[0], c.params[1], c.req.content_type,
                                   UploadName(c), std::move(c.req.body));
        co_return Response::Json(boost::json::object{});
      },
      binary);

  // GET /_matrix/client/v1/media/config (and the legacy /_matrix/media/v3/config)
  auto config = [&hs](RequestContext&) -> awaitable<Response> {
    co_return Response::Json(
        {{"m.upload.size", static_cast<std::int64_t>(hs.config().max_media_bytes)}});
  };
  r.Add("GET", "/_matrix/client/v1/media/config", config);
  r.Add("GET", "/_matrix/media/v3/config", config);
  r.Add("GET", "/_matrix/media/r0/config", config);

  // GET /_matrix/client/v1/media/download/{serverName}/{mediaId}[/{fileName}]
  auto download = [&hs](RequestContext& c) { return Download(hs, c); };
  r.Add("GET", "/_matrix/client/v1/media/download/{serverName}/{mediaId}", download);
  r.Add("GET", "/_matrix/client/v1/media/download/{serverName}/{mediaId}/{fileName}", download);
  // GET /_matrix/client/v1/media/thumbnail/{serverName}/{mediaId}
  r.Add("GET", "/_matrix/client/v1/media/thumbnail/{serverName}/{mediaId}",
        [&hs](RequestContext& c) { return Thumbnail(hs, c); });

  // GET /_matrix/media/v3/download/{serverName}/{mediaId}[/{fileName}] (and r0),
  // GET /_matrix/media/v3/thumbnail/{serverName}/{mediaId} (and r0): only when
  // [media] allow_unauthenticated_download is set; otherwise 404 as Synapse.
  // Without a requester, only the default tenant's media is served (C4).
  auto legacy_download = [&hs](RequestContext& c) -> awaitable<Response> {
    if (!hs.config().media_allow_unauthenticated_download) throw NotFound("Not found");
    co_return co_await Download(hs, c);
  };
  auto legacy_thumbnail = [&hs](RequestContext& c) -> awaitable<Response> {
    if (!hs.config().media_allow_unauthenticated_download) throw NotFound("Not found");
    co_return co_await Thumbnail(hs, c);
  };
  for (const char* v : {"v3", "r0"}) {
    const std::string base = std::string("/_matrix/media/") + v;
    r.Add("GET", base + "/download/{serverName}/{mediaId}", legacy_download, legacy);
    r.Add("GET", base + "/download/{serverName}/{mediaId}/{fileName}", legacy_download, legacy);
    r.Add("GET", base + "/thumbnail/{serverName}/{mediaId}", legacy_thumbnail, legacy);
  }
}

}  // namespace vigie::api
