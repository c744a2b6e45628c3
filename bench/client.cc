#include "bench/client.h"

#include <linux/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>

#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/url/parse.hpp>
#include <cctype>
#include <charconv>
#include <stdexcept>

namespace vigie::bench {
namespace {

namespace beast = boost::beast;
namespace bhttp = beast::http;
constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);
std::atomic<std::size_t> g_next_bind{0};

// Errors that mean "the server closed this keep-alive connection before
// reading our request": safe to reconnect and send again.
bool StaleConnection(const beast::error_code& ec) {
  return ec == bhttp::error::end_of_stream || ec == asio::error::eof ||
         ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
         ec == asio::ssl::error::stream_truncated;
}

}  // namespace

std::shared_ptr<Target> Target::Make(const std::string& base_url,
                                     const std::vector<std::string>& bind_addresses,
                                     bool verify_tls) {
  auto parsed = boost::urls::parse_uri(base_url);
  if (!parsed) throw std::runtime_error("--base-url: not a URL: " + base_url);
  auto t = std::make_shared<Target>();
  const auto scheme = parsed->scheme();
  if (scheme == "https") {
    t->tls = true;
  } else if (scheme != "http") {
    throw std::runtime_error("--base-url: scheme must be http or https");
  }
  t->host = parsed->host_address();
  if (parsed->host_type() == boost::urls::host_type::ipv6) {
    t->host = std::string(parsed->encoded_host_address());
    if (!t->host.empty() && t->host.front() == '[') t->host = t->host.substr(1, t->host.size() - 2);
  }
  std::string port = parsed->has_port() ? std::string(parsed->port()) : (t->tls ? "443" : "80");
  t->host_header = std::string(parsed->encoded_host_and_port());
  t->prefix = std::string(parsed->encoded_path());
  while (!t->prefix.empty() && t->prefix.back() == '/') t->prefix.pop_back();

  asio::io_context ioc;
  tcp::resolver resolver(ioc);
  boost::system::error_code ec;
  auto results = resolver.resolve(t->host, port, ec);
  if (ec) throw std::runtime_error("cannot resolve " + t->host + ": " + ec.message());
  for (const auto& r : results) t->endpoints.push_back(r.endpoint());
  if (t->endpoints.empty()) throw std::runtime_error("no address for " + t->host);

  for (const auto& a : bind_addresses) {
    auto addr = asio::ip::make_address(a, ec);
    if (ec) throw std::runtime_error("--bind-addresses: bad address " + a);
    t->bind_addresses.push_back(addr);
  }
  t->verify_tls = verify_tls;
  if (t->tls) {
    t->ssl = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_client);
    if (verify_tls) {
      t->ssl->set_default_verify_paths();
      t->ssl->set_verify_mode(asio::ssl::verify_peer);
    } else {
      t->ssl->set_verify_mode(asio::ssl::verify_none);
    }
  }
  return t;
}

std::string Response::Kind() const {
  if (!error.empty()) return "transport: " + error;
  std::string k = "HTTP " + std::to_string(status);
  // Add the Matrix errcode without parsing the whole body.
  auto colon = body.find("\"errcode\"");
  if (colon != std::string::npos) colon = body.find(':', colon);
  if (colon != std::string::npos) {
    auto start = body.find('"', colon + 1);
    auto end = start == std::string::npos ? start : body.find('"', start + 1);
    if (end != std::string::npos && end - start < 64) {
      k += " " + body.substr(start + 1, end - start - 1);
    }
  }
  return k;
}

Conn::Conn(asio::any_io_executor ex, std::shared_ptr<const Target> target)
    : ex_(std::move(ex)), target_(std::move(target)) {
  if (!target_->bind_addresses.empty()) {
    bind_ = target_->bind_addresses[g_next_bind.fetch_add(1, std::memory_order_relaxed) %
                                    target_->bind_addresses.size()];
  }
  head_.reserve(512);
}

Conn::~Conn() = default;

beast::tcp_stream& Conn::Lowest() { return tls_ ? beast::get_lowest_layer(*tls_) : *plain_; }

void Conn::Close() {
  open_ = false;
  if (tls_) {
    beast::get_lowest_layer(*tls_).close();
  } else if (plain_) {
    plain_->close();
  }
}

asio::awaitable<std::string> Conn::Connect() {
  Close();
  buffer_.clear();
  if (target_->tls) {
    tls_ = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(ex_, *target_->ssl);
    SSL_set_tlsext_host_name(tls_->native_handle(), target_->host.c_str());
    if (target_->verify_tls) {
      tls_->set_verify_callback(asio::ssl::host_name_verification(target_->host));
    }
  } else {
    plain_.emplace(ex_);
  }
  beast::tcp_stream& s = Lowest();
  std::string last_error = "no endpoint";
  for (const auto& ep : target_->endpoints) {
    beast::error_code ec;
    s.socket().open(ep.protocol(), ec);
    if (ec) {
      last_error = ec.message();
      continue;
    }
    if (bind_) {
      // Pick the source port at connect time, per destination, instead of at
      // bind time: a bound address then serves ~28k connections per server.
      int one = 1;
      setsockopt(s.socket().native_handle(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
      s.socket().bind(tcp::endpoint(*bind_, 0), ec);
      if (ec) {
        last_error = "bind " + bind_->to_string() + ": " + ec.message();
        s.close();
        continue;
      }
    }
    s.expires_after(std::chrono::seconds(10));
    auto [cec] = co_await s.async_connect(ep, kNoThrow);
    if (cec) {
      last_error = cec.message();
      s.close();
      continue;
    }
    s.socket().set_option(tcp::no_delay(true), ec);
    if (tls_) {
      s.expires_after(std::chrono::seconds(10));
      auto [hec] = co_await tls_->async_handshake(asio::ssl::stream_base::client, kNoThrow);
      if (hec) {
        last_error = "TLS: " + hec.message();
        s.close();
        co_return last_error;
      }
    }
    open_ = true;
    ++connects_;
    co_return std::string();
  }
  co_return last_error;
}

// The most a connection's read buffer keeps room for (see Exchange).
constexpr std::size_t kMaxReadAhead = 64 * 1024;

template <class Stream>
asio::awaitable<Response> Conn::Exchange(Stream& s, std::string_view body, bool* retry) {
  Response res;
  std::array<asio::const_buffer, 2> out{asio::buffer(head_), asio::buffer(body)};
  Lowest().expires_after(timeout_);
  auto [wec, wn] = co_await asio::async_write(s, out, kNoThrow);
  if (wec) {
    *retry = StaleConnection(wec);
    res.error = wec.message();
    co_return res;
  }
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(std::uint64_t{1} << 30);
  parser.header_limit(1 << 16);
  auto [rec, rn] = co_await bhttp::async_read(s, buffer_, parser, kNoThrow);
  if (rec) {
    *retry = StaleConnection(rec) && !parser.got_some();
    res.error = rec.message();
    co_return res;
  }
  res.status = parser.get().result_int();
  if (!parser.keep_alive()) Close();
  res.body = std::move(parser.get().body());
  // Beast reads what the buffer can hold, at least 512 bytes, and the body
  // leaves the buffer as it is parsed, so a buffer sized by the headers
  // alone takes a receive call per 512 bytes: three per /sync answer in the
  // fanout. Once a connection's answers outgrow it, it holds twice the
  // largest (at most 64 KiB), so an answer that size takes one.
  const std::size_t whole = rn;  // the bytes the answer took, head and body
  if (whole > buffer_.capacity() && buffer_.capacity() < kMaxReadAhead) {
    buffer_.reserve(std::min(2 * whole, kMaxReadAhead));
  }
  co_return res;
}

asio::awaitable<Response> Conn::Request(Method method, std::string_view path, std::string_view body,
                                        std::string_view token, std::chrono::milliseconds timeout) {
  head_.clear();
  head_ += method == Method::kGet ? "GET " : method == Method::kPost ? "POST " : "PUT ";
  head_ += target_->prefix;
  head_ += path;
  head_ += " HTTP/1.1\r\nHost: ";
  head_ += target_->host_header;
  head_ += "\r\nUser-Agent: vigie-bench\r\n";
  if (!token.empty()) {
    head_ += "Authorization: Bearer ";
    head_ += token;
    head_ += "\r\n";
  }
  if (method != Method::kGet || !body.empty()) {
    char len[24];
    auto [end, ec] = std::to_chars(len, len + sizeof len, body.size());
    head_ += "Content-Type: application/json\r\nContent-Length: ";
    head_.append(len, end);
    head_ += "\r\n";
  }
  head_ += "\r\n";
  timeout_ = timeout;

  for (int attempt = 0;; ++attempt) {
    const bool reused = open_;
    if (!open_) {
      std::string err = co_await Connect();
      if (!err.empty()) {
        Response r;
        r.error = err;
        co_return r;
      }
    }
    bool retry = false;
    Response r;
    if (tls_) {
      r = co_await Exchange(*tls_, body, &retry);
    } else {
      r = co_await Exchange(*plain_, body, &retry);
    }
    if (r.error.empty()) co_return r;
    Close();
    if (!(retry && reused && attempt == 0)) co_return r;
  }
}

std::string UrlEncode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size() * 3);
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

}  // namespace vigie::bench
