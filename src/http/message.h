// The HTTP request and response as the API layer sees them: no Beast types,
// so that only the server's own translation unit pays Beast's compile cost.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/json/value.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace vigie::http {

struct Request {
  std::string method;  // upper case, e.g. "GET"
  std::string path;    // still percent-encoded, without the query string
  std::vector<std::pair<std::string, std::string>> query;  // decoded
  std::string body;
  std::string remote_ip;  // the peer, or X-Forwarded-For when trusted
  std::string request_id;
  std::string authorization;
  std::string user_agent;
  std::string content_type;
  std::string origin;
  std::string range;     // Range
  std::string if_range;  // If-Range
  // X-AC-2 signals a client may report: "lat,lon" and its network type.
  std::string client_location;  // X-Vigie-Location
  std::string network_type;     // X-Vigie-Network

  // First value of a query parameter, if present.
  std::optional<std::string_view> Query(std::string_view key) const {
    for (const auto& [k, v] : query) {
      if (k == key) return std::string_view(v);
    }
    return std::nullopt;
  }
};

// A response body produced piece by piece rather than held in memory (a
// large file). The server sends Content-Length: size, then calls `read`
// until `size` bytes have come.
struct BodyStream {
  std::uint64_t size = 0;
  // Writes up to `max` bytes of the body, starting `pos` bytes into it, to
  // `buf`; returns how many (at least 1 while pos < size). Called on the
  // connection's thread, one call at a time. An exception, or a short body,
  // closes the connection: the status line has already gone.
  std::function<boost::asio::awaitable<std::size_t>(std::uint64_t pos, char* buf, std::size_t max)>
      read;
};

struct Pending;

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  // Header lines written as they are after `headers`: the ones many
  // answers share, made once by their owner with AppendHeaderLine.
  std::shared_ptr<const std::string> header_lines;
  // When set, the body comes from here and `body` is ignored.
  std::shared_ptr<const BodyStream> stream;
  // When set, there is no answer yet, and the rest is ignored (see Pending).
  std::shared_ptr<Pending> pending;

  static Response Json(int status, const boost::json::value& v);
  static Response Json(const boost::json::value& v) { return Json(200, v); }
};

// An answer that is not ready: the handler did its part and returned (its
// coroutines and their frames gone), leaving only what it waits for, such
// as a /sync long-poll parked for minutes. The connection calls Wait, then
// Finish, whose answer may be pending again; both on the connection's
// thread, one after the other, each at most once per object. The request
// stays alive until the last answer is not pending, so a Pending may refer
// to it.
//
// While Wait runs, the connection watches its socket: when the client
// closes it, the connection calls Cancel (on its thread, while Wait is
// suspended), which must make Wait return soon; Finish is then not called
// and the connection is closed. Nobody is left to answer.
struct Pending {
  virtual ~Pending() = default;
  virtual boost::asio::awaitable<void> Wait() = 0;
  virtual void Cancel() = 0;
  virtual boost::asio::awaitable<Response> Finish() = 0;
};

// An inclusive byte range of a representation: bytes first..last.
struct ByteRange {
  std::uint64_t first = 0;
  std::uint64_t last = 0;
  std::uint64_t length() const { return last - first + 1; }
};

enum class RangeAnswer {
  kWhole,          // no usable Range: send the whole representation (200)
  kPartial,        // send *out (206, Content-Range: bytes first-last/size)
  kUnsatisfiable,  // 416, Content-Range: bytes */size
};

// Interprets a Range header (RFC 9110 14.2) for a representation of `size`
// bytes. Only one "bytes" range is honoured: "a-b", "a-" or "-n" (the last
// n bytes). An empty, malformed or multi-range header, another unit, or an
// empty representation give kWhole, as the RFC allows a server to ignore
// Range. A well-formed range starting at or beyond `size`, or "-0", gives
// kUnsatisfiable. `last` is clamped to size - 1.
RangeAnswer ParseRange(std::string_view header, std::uint64_t size, ByteRange* out);

// Splits a query string into decoded key/value pairs ('+' is a space).
// A component that does not decode to valid UTF-8 is kept as sent, with
// invalid bytes replaced: every result is valid UTF-8 without NUL.
std::vector<std::pair<std::string, std::string>> ParseQuery(std::string_view qs);

// Appends "name: value" and CRLF to `out`, without the value's CR, LF and
// NUL bytes: one would end the header early (response splitting). Every
// header line of an answer is written by it.
void AppendHeaderLine(std::string& out, std::string_view name, std::string_view value);

// Percent-decodes one path segment or query component. Returns false on a
// malformed escape, an encoded NUL, or a result that is not valid UTF-8.
bool PercentDecode(std::string_view in, std::string* out, bool plus_is_space = false);

}  // namespace vigie::http
