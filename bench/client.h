// HTTP/1.1 keep-alive client for vigie-bench. One Conn is one connection,
// used by one coroutine at a time on one executor; it reconnects when the
// server closes it. Requests are written as a hand-built head plus the
// caller's (pre-serialised) body, with no per-request header objects.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vigie::bench {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

// Where to send requests: parsed once from --base-url and resolved once.
struct Target {
  bool tls = false;
  std::string host;         // for SNI
  std::string host_header;  // host[:port]
  std::string prefix;       // base-url path without trailing '/', usually ""
  std::vector<tcp::endpoint> endpoints;
  std::vector<asio::ip::address> bind_addresses;  // source addresses, round-robin
  std::unique_ptr<asio::ssl::context> ssl;
  bool verify_tls = true;  // the certificate chain and that it names `host`

  // Parses and resolves `base_url` (http:// or https://). Throws
  // std::runtime_error with a readable message.
  static std::shared_ptr<Target> Make(const std::string& base_url,
                                      const std::vector<std::string>& bind_addresses,
                                      bool verify_tls);
};

struct Response {
  unsigned status = 0;  // 0 when the exchange failed below HTTP
  std::string body;
  std::string error;  // transport error, empty when an HTTP answer came

  bool ok() const { return error.empty() && status >= 200 && status < 300; }
  // "HTTP 429 M_LIMIT_EXCEEDED" or "transport: Connection refused": a short
  // label to count errors by.
  std::string Kind() const;
};

enum class Method { kGet, kPost, kPut };

class Conn {
 public:
  Conn(asio::any_io_executor ex, std::shared_ptr<const Target> target);
  ~Conn();
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  // Sends one request and reads its answer. `path` starts with '/' and
  // includes the query; `body` is sent as application/json when non-empty
  // or when the method is POST/PUT. A stale keep-alive connection (closed by
  // the server before answering) is reopened and the request retried once.
  // Never throws for network or HTTP errors: see Response.
  asio::awaitable<Response> Request(Method method, std::string_view path, std::string_view body,
                                    std::string_view token,
                                    std::chrono::milliseconds timeout = std::chrono::seconds(90));

  // Closes the socket, aborting an exchange in progress. Must run on the
  // Conn's executor.
  void Close();
  const asio::any_io_executor& executor() const { return ex_; }
  std::uint64_t connects() const { return connects_; }
  // Room the read buffer has for an answer (see Exchange).
  std::size_t read_room() const { return buffer_.capacity(); }

 private:
  asio::awaitable<std::string> Connect();
  template <class Stream>
  asio::awaitable<Response> Exchange(Stream& s, std::string_view body, bool* retry);
  boost::beast::tcp_stream& Lowest();

  asio::any_io_executor ex_;
  std::shared_ptr<const Target> target_;
  std::optional<asio::ip::address> bind_;
  std::optional<boost::beast::tcp_stream> plain_;
  std::unique_ptr<boost::beast::ssl_stream<boost::beast::tcp_stream>> tls_;
  boost::beast::flat_buffer buffer_;
  std::string head_;
  std::chrono::milliseconds timeout_{0};
  bool open_ = false;
  std::uint64_t connects_ = 0;
};

// Percent-encodes `s` for a path segment or query value.
std::string UrlEncode(std::string_view s);

}  // namespace vigie::bench
