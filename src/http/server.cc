#include "http/server.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <array>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cerrno>
#include <cstring>
#include <limits>
#include <list>
#include <mutex>
#include <optional>
#include <thread>

#include "common/crypto.h"
#include "common/thread_name.h"
#include "common/utf8.h"

namespace vigie::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
// The most of a request body the read buffer makes room for (ReadRequest).
constexpr std::uint64_t kBodyReadAhead = 64 * 1024;

// One connection's bookkeeping, owned by its worker thread.
struct ConnState {
  std::function<void()> cancel;  // closes the socket (called on the owning thread)
  bool busy = false;             // a request is being handled
};

// A parked answer's close watch (CloseWatch), armed late: Worker::ArmLater.
class Armable {
 public:
  virtual ~Armable() = default;
  virtual void Arm() = 0;

 private:
  friend struct Worker;
  std::uint64_t tick_ = 0;  // the worker's arming tick when queued
  bool queued_ = false;
  std::list<std::shared_ptr<Armable>>::iterator where_;
};

// Member order matters: `conns` and `unarmed` outlive `ioc`, whose
// destruction destroys suspended sessions that unregister themselves from
// them; `arm_timer`, declared after `ioc`, is destroyed before it.
struct Worker {
  std::list<ConnState> conns;                   // touched only on this worker's thread
  std::list<std::shared_ptr<Armable>> unarmed;  // oldest first
  asio::io_context ioc{1};
  std::vector<std::unique_ptr<tcp::acceptor>> acceptors;
  asio::steady_timer arm_timer{ioc};
  std::uint64_t arm_tick = 0;
  bool arm_ticking = false;
  std::thread thread;

  // A close watch is armed once its answer has waited past two ticks of a
  // quarter second (so a client that hangs up is noticed within half a
  // second), not at once: arming one is a system call (epoll_ctl), and most
  // long-polls of a busy server are answered within milliseconds.
  static constexpr std::chrono::milliseconds kArmTick{250};
  void ArmLater(const std::shared_ptr<Armable>& a) {
    a->tick_ = arm_tick;
    a->queued_ = true;
    a->where_ = unarmed.insert(unarmed.end(), a);
    if (!arm_ticking) ScheduleArmTick();
  }
  // Takes `a` off the queue if it is still there (its wait ended first).
  void Unqueue(Armable& a) {
    if (!a.queued_) return;
    a.queued_ = false;
    unarmed.erase(a.where_);
  }

 private:
  void ScheduleArmTick() {
    arm_ticking = true;
    arm_timer.expires_after(kArmTick);
    arm_timer.async_wait([this](boost::system::error_code ec) {
      if (ec) {  // the worker is going
        arm_ticking = false;
        return;
      }
      ++arm_tick;
      // What was queued before the previous tick has waited a tick at least.
      while (!unarmed.empty() && unarmed.front()->tick_ + 1 < arm_tick) {
        std::shared_ptr<Armable> a = std::move(unarmed.front());
        unarmed.pop_front();
        a->queued_ = false;
        a->Arm();
      }
      if (unarmed.empty()) {
        arm_ticking = false;
      } else {
        ScheduleArmTick();
      }
    });
  }
};

// Watches the socket of a connection whose answer is pending (a parked
// long-poll) and cancels that answer when the client has closed the
// connection: the socket turns readable with nothing to read, or fails.
// On plain TCP, bytes to read (a pipelined request) end the watch unread:
// they are the next request's, and the answer is still owed. Over TLS,
// bytes may be the client's close_notify (TLS 1.3 encrypts alerts, so a
// peek cannot tell), so the watch reads them through the TLS stream: an
// end of stream or an error is a client gone; data (a pipelined request)
// goes to the connection's read buffer for its next request. Idle polls
// pay for none of this: the read starts only once bytes arrived. The
// watch starts only once the answer has waited a quarter to half a second
// (Worker::ArmLater).
template <typename Stream>
class CloseWatch : public Armable, public std::enable_shared_from_this<CloseWatch<Stream>> {
  static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;

 public:
  CloseWatch(Stream& stream, beast::flat_buffer& buffer, std::shared_ptr<Pending> pending)
      : stream_(stream), buffer_(buffer), pending_(std::move(pending)) {}
  void Arm() override {
    if (!active_) return;
    armed_ = true;
    socket().async_wait(
        tcp::socket::wait_read,
        [self = this->shared_from_this()](boost::system::error_code ec) { self->Ready(ec); });
  }
  // Once the wait is over: the watch lets go of the socket and the answer.
  void Stop() {
    if (!active_) return;
    active_ = false;
    if (!armed_) return;  // nothing to cancel
    boost::system::error_code ignored;
    socket().cancel(ignored);
  }
  // After Stop: until a TLS read the watch started has ended (the stream
  // takes one read at a time, and the connection's next is its own).
  asio::awaitable<void> Settled() {
    if (!reading_) co_return;
    settle_.emplace(co_await asio::this_coro::executor);
    settle_->expires_at(asio::steady_timer::time_point::max());
    co_await settle_->async_wait(kTuple);
  }
  bool gone() const { return gone_; }
  Pending& pending() const { return *pending_; }

 private:
  tcp::socket& socket() { return beast::get_lowest_layer(stream_).socket(); }

  void Ready(boost::system::error_code ec) {
    // Stopped, or the server cancelled the socket (it is stopping).
    if (!active_ || ec == asio::error::operation_aborted) return;
    if (!ec) {
      char byte = 0;
      const ssize_t n = ::recv(socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
      if (n > 0) {
        if constexpr (kTls) {
          ReadTls();
        } else {
          active_ = false;  // the next request: leave it for the connection
        }
        return;
      }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        Arm();  // not readable after all
        return;
      }
    }
    Gone();
  }

  void ReadTls() {
    if (!in_) in_ = std::make_unique<char[]>(kChunk);
    reading_ = true;
    stream_.async_read_some(
        asio::buffer(in_.get(), kChunk),
        [self = this->shared_from_this()](boost::system::error_code ec, std::size_t n) {
          self->TlsRead(ec, n);
        });
  }

  void TlsRead(boost::system::error_code ec, std::size_t n) {
    reading_ = false;
    if (settle_) settle_->cancel();
    // What was read is the next request's, whether or not the watch is
    // still on (the connection waits for this before reading again).
    if (n > 0) {
      auto room = buffer_.prepare(n);
      std::memcpy(room.data(), in_.get(), n);
      buffer_.commit(n);
    }
    if (!active_ || ec == asio::error::operation_aborted) return;
    if (n > 0 || !ec) {
      active_ = false;
      return;
    }
    Gone();  // close_notify (end of stream), or the connection failed
  }

  void Gone() {
    active_ = false;
    gone_ = true;
    pending_->Cancel();
  }

  static constexpr std::size_t kChunk = 1024;
  Stream& stream_;
  beast::flat_buffer& buffer_;
  std::shared_ptr<Pending> pending_;
  std::unique_ptr<char[]> in_;                // TLS only, once bytes arrived
  std::optional<asio::steady_timer> settle_;  // while Settled waits
  bool active_ = true;
  bool armed_ = false;    // a wait was started
  bool reading_ = false;  // a TLS read is outstanding
  bool gone_ = false;
};

}  // namespace

struct Server::Impl {
  std::atomic<std::int64_t> open{0};
  std::atomic<bool> stopping{false};
  ServerOptions opts;
  Handler handler;
  BodyLimitFn body_limit;
  ProtocolErrorFn on_error;
  std::unique_ptr<asio::ssl::context> ssl;
  std::vector<std::unique_ptr<Worker>> workers;
  std::vector<std::pair<std::string, std::uint16_t>> bound;
  std::mutex stop_mu;
  bool stopped = false;

  asio::awaitable<void> Accept(Worker& w, tcp::acceptor& acc);
  template <typename Stream>
  asio::awaitable<void> Session(Worker& w, Stream stream, std::string peer);
  // One request read off the connection. The parser lives in this
  // coroutine's frame, gone before the handler runs: a long-poll keeps only
  // the request itself for its minutes of waiting.
  struct Incoming {
    bool ok = false;  // false: the connection is done (any error reply written)
    Request req;
    unsigned version = 11;
    bool keep_alive = false;
  };
  template <typename Stream>
  asio::awaitable<Incoming> ReadRequest(Stream& stream, beast::flat_buffer& buffer, bool first,
                                        const std::string& peer);
  // Writes `head`, then `body`; false if the connection failed.
  template <typename Stream>
  asio::awaitable<bool> Send(Stream& stream, std::string_view head, std::string_view body);
  template <typename Stream>
  asio::awaitable<bool> Write(Stream& stream, Response res, bool keep_alive, unsigned version,
                              std::string_view request_id);
  // The answer to a HEAD: the header of `res`, with its body's length.
  template <typename Stream>
  asio::awaitable<bool> WriteHead(Stream& stream, Response res, bool keep_alive, unsigned version,
                                  std::string_view request_id);
  template <typename Stream>
  asio::awaitable<bool> WriteStreamed(Stream& stream, Response res, bool keep_alive,
                                      unsigned version, std::string_view request_id);
};

namespace {

// Piece size of streamed bodies: large enough that a 10 MiB file takes 40
// trips to the file reader, small enough to hold one per connection.
constexpr std::size_t kStreamChunk = 256 * 1024;

// The status line and header of an answer to `res` with a body of `length`
// bytes, as Beast's serializer would write it: the content type (not on an
// empty 204), the handler's headers, the shared header lines, the request
// id, the connection's fate where the version's default is not it, and the
// length; every line through AppendHeaderLine.
std::string HeadOf(const Response& res, bool keep_alive, unsigned version,
                   std::string_view request_id, std::uint64_t length) {
  std::string out;
  out.reserve(128 + res.content_type.size() + request_id.size() +
              (res.header_lines ? res.header_lines->size() : 0));
  out.append(version < 11 ? "HTTP/1.0 " : "HTTP/1.1 ").append(std::to_string(res.status));
  out.append(" ").append(bhttp::obsolete_reason(static_cast<bhttp::status>(res.status)));
  out.append("\r\n");
  if (length > 0 || res.stream || res.status != 204) {
    AppendHeaderLine(out, "Content-Type", res.content_type);
  }
  for (const auto& [name, value] : res.headers) AppendHeaderLine(out, name, value);
  if (res.header_lines) out.append(*res.header_lines);
  if (!request_id.empty()) AppendHeaderLine(out, "X-Request-Id", request_id);
  if (version < 11 && keep_alive) AppendHeaderLine(out, "Connection", "keep-alive");
  if (version >= 11 && !keep_alive) AppendHeaderLine(out, "Connection", "close");
  AppendHeaderLine(out, "Content-Length", std::to_string(length));
  out.append("\r\n");
  return out;
}

// A request's id, in logs and answers: unique, not secret. Each I/O
// thread steps a sequence that starts at a random point and scrambles it
// (SplitMix64, one-to-one), so a request costs no call into the kernel's
// random source.
std::string NextRequestId() {
  thread_local std::uint64_t next = [] {
    std::uint64_t start = 0;
    const std::string bytes = crypto::RandomBytes(sizeof start);
    std::memcpy(&start, bytes.data(), sizeof start);
    return start;
  }();
  std::uint64_t x = (next += 0x9e3779b97f4a7c15ULL);
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return crypto::Hex(std::string_view(reinterpret_cast<const char*>(&x), sizeof x));
}

std::string RemoteIp(const tcp::socket& s) {
  boost::system::error_code ec;
  auto ep = s.remote_endpoint(ec);
  if (ec) return "unknown";
  auto addr = ep.address();
  if (addr.is_v6() && addr.to_v6().is_v4_mapped()) {
    return asio::ip::make_address_v4(asio::ip::v4_mapped, addr.to_v6()).to_string();
  }
  return addr.to_string();
}

}  // namespace

template <typename Stream>
asio::awaitable<bool> Server::Impl::Send(Stream& stream, std::string_view head,
                                         std::string_view body) {
  const std::size_t total = head.size() + body.size();
  std::size_t done = 0;
  if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
    // What the socket takes at once (a whole answer, usually) is written
    // now: no timer armed, no operation queued, nothing to resume.
    iovec iov[2] = {{const_cast<char*>(head.data()), head.size()},
                    {const_cast<char*>(body.data()), body.size()}};
    msghdr msg{};
    msg.msg_iov = iov;  // (an empty piece is allowed)
    msg.msg_iovlen = 2;
    const ssize_t n = ::sendmsg(stream.socket().native_handle(), &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) co_return false;
    if (n > 0) done = static_cast<std::size_t>(n);
    if (done == total) co_return true;
  }
  // The rest, or all of it over TLS, within body_timeout.
  const std::array<asio::const_buffer, 2> both{asio::buffer(head), asio::buffer(body)};
  beast::buffers_suffix<std::array<asio::const_buffer, 2>> rest(both);
  rest.consume(done);
  beast::get_lowest_layer(stream).expires_after(opts.body_timeout);
  auto [ec, n] = co_await asio::async_write(stream, rest, kTuple);
  co_return !ec;
}

template <typename Stream>
asio::awaitable<bool> Server::Impl::Write(Stream& stream, Response res, bool keep_alive,
                                          unsigned version, std::string_view request_id) {
  if (res.stream) {
    co_return co_await WriteStreamed(stream, std::move(res), keep_alive, version, request_id);
  }
  const std::string head = HeadOf(res, keep_alive, version, request_id, res.body.size());
  co_return co_await Send(stream, head, res.body);
}

template <typename Stream>
asio::awaitable<bool> Server::Impl::WriteHead(Stream& stream, Response res, bool keep_alive,
                                              unsigned version, std::string_view request_id) {
  const std::string head =
      HeadOf(res, keep_alive, version, request_id, res.stream ? res.stream->size : res.body.size());
  co_return co_await Send(stream, head, {});
}

// Sends the header, then the body piece by piece as res.stream produces it;
// each piece gets body_timeout to be written, so a slow client may take
// its time over a large file but must keep reading.
template <typename Stream>
asio::awaitable<bool> Server::Impl::WriteStreamed(Stream& stream, Response res, bool keep_alive,
                                                  unsigned version, std::string_view request_id) {
  const std::shared_ptr<const BodyStream> source = std::move(res.stream);
  {
    const std::string head = HeadOf(res, keep_alive, version, request_id, source->size);
    if (!co_await Send(stream, head, {})) co_return false;
  }
  std::vector<char> buf(static_cast<std::size_t>(
      std::min<std::uint64_t>(kStreamChunk, std::max<std::uint64_t>(source->size, 1))));
  std::uint64_t pos = 0;
  while (pos < source->size) {
    const std::size_t want =
        static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), source->size - pos));
    std::size_t got = 0;
    try {
      got = co_await source->read(pos, buf.data(), want);
    } catch (const std::exception& e) {
      spdlog::error("request_id={} response body failed after {} of {} bytes: {}", request_id, pos,
                    source->size, e.what());
      co_return false;
    }
    if (got == 0 || got > want) {
      spdlog::error("request_id={} response body ended after {} of {} bytes", request_id, pos,
                    source->size);
      co_return false;
    }
    pos += got;
    if (!co_await Send(stream, {}, std::string_view(buf.data(), got))) co_return false;
  }
  co_return true;
}

template <typename Stream>
asio::awaitable<Server::Impl::Incoming> Server::Impl::ReadRequest(Stream& stream,
                                                                  beast::flat_buffer& buffer,
                                                                  bool first,
                                                                  const std::string& peer) {
  Incoming in;
  Request& req = in.req;
  bhttp::request_parser<bhttp::string_body> parser;
  parser.header_limit(static_cast<std::uint32_t>(opts.max_header_bytes));
  // The real limit depends on the route; it is set once the header is in.
  parser.body_limit(std::numeric_limits<std::uint64_t>::max());
  // A keep-alive connection may sit idle for idle_timeout; once the
  // first byte of a request is in, its whole header must arrive within
  // header_timeout (the first request of a connection gets only that).
  boost::system::error_code ec;
  if (!first && buffer.size() == 0) {
    beast::get_lowest_layer(stream).expires_after(opts.idle_timeout);
    auto [rec, n] = co_await stream.async_read_some(buffer.prepare(1024), kTuple);
    buffer.commit(n);
    ec = rec;
  }
  if (!ec) {
    beast::get_lowest_layer(stream).expires_after(opts.header_timeout);
    auto [rec, n] = co_await bhttp::async_read_header(stream, buffer, parser, kTuple);
    ec = rec;
  }
  if (ec == bhttp::error::end_of_stream || ec == asio::error::operation_aborted ||
      ec == beast::error::timeout || ec == asio::error::eof ||
      ec == asio::error::connection_reset) {
    co_return Incoming{};
  }
  if (ec) {
    ProtocolError pe = ec == bhttp::error::header_limit ? ProtocolError::kHeaderTooLarge
                                                        : ProtocolError::kBadRequest;
    co_await Write(stream, on_error(pe), false, 11, {});
    co_return Incoming{};
  }
  auto& hdr = parser.get();
  req.method = std::string(hdr.method_string());
  std::string_view target = hdr.target();
  auto qpos = target.find('?');
  req.path = std::string(target.substr(0, qpos));
  if (qpos != std::string_view::npos) req.query = ParseQuery(target.substr(qpos + 1));
  req.remote_ip = peer;
  // The headers read, in one pass over what came (each the first of its
  // name, as a lookup by name finds): nine lookups were most of the
  // parsing Beast left to do.
  std::optional<std::string_view> xff, authorization, user_agent, content_type, origin, range,
      if_range, location, network;
  struct Wanted {
    bhttp::field field;
    std::string_view name;  // for a field Beast does not know
    std::optional<std::string_view>* value;
  };
  const Wanted wanted[] = {
      {bhttp::field::authorization, {}, &authorization},
      {bhttp::field::user_agent, {}, &user_agent},
      {bhttp::field::content_type, {}, &content_type},
      {bhttp::field::origin, {}, &origin},
      {bhttp::field::range, {}, &range},
      {bhttp::field::if_range, {}, &if_range},
      {bhttp::field::unknown, "X-Forwarded-For", &xff},
      {bhttp::field::unknown, "X-Vigie-Location", &location},
      {bhttp::field::unknown, "X-Vigie-Network", &network},
  };
  for (const auto& f : hdr) {
    for (const Wanted& w : wanted) {
      if (f.name() != w.field ||
          (w.field == bhttp::field::unknown && !beast::iequals(f.name_string(), w.name))) {
        continue;
      }
      if (!*w.value) *w.value = f.value();
      break;
    }
  }
  if (opts.trust_x_forwarded_for && xff && !xff->empty()) {
    auto comma = xff->rfind(',');
    std::string_view last = comma == std::string_view::npos ? *xff : xff->substr(comma + 1);
    while (!last.empty() && last.front() == ' ') last.remove_prefix(1);
    boost::system::error_code aec;
    auto addr = asio::ip::make_address(std::string(last), aec);
    if (!aec) req.remote_ip = addr.to_string();
  }
  req.authorization = std::string(authorization.value_or(""));
  req.user_agent = utf8::Sanitize(user_agent.value_or(""), 512);
  req.content_type = std::string(content_type.value_or(""));
  req.origin = std::string(origin.value_or(""));
  // Only parsed (http::ParseRange); an absurdly long one is ignored.
  if (range && range->size() <= 256) req.range = std::string(*range);
  req.if_range = utf8::Sanitize(if_range.value_or(""), 256);
  req.client_location = utf8::Sanitize(location.value_or(""), 64);
  req.network_type = utf8::Sanitize(network.value_or(""), 32);
  req.request_id = NextRequestId();
  const unsigned version = in.version = hdr.version();
  in.keep_alive = hdr.keep_alive();

  const std::size_t limit = body_limit(req.method, req.path);
  auto clen = parser.content_length();
  if ((clen && *clen > limit) || (!clen && parser.chunked() && limit == 0)) {
    co_await Write(stream, on_error(ProtocolError::kBodyTooLarge), false, version, req.request_id);
    co_return Incoming{};
  }
  if (!parser.is_done()) {
    if (beast::iequals(hdr[bhttp::field::expect], "100-continue")) {
      if (!co_await Send(
              stream,
              version < 11 ? "HTTP/1.0 100 Continue\r\n\r\n" : "HTTP/1.1 100 Continue\r\n\r\n",
              {})) {
        co_return Incoming{};
      }
    }
    parser.body_limit(limit);
    // Beast receives at most what the buffer has room for (512 bytes at
    // least), and the body leaves the buffer as it is parsed: with only
    // the header's room, a body came 512 bytes per receive call (a 50 MiB
    // upload took 102,403). Room for the body, up to kBodyReadAhead, makes
    // it one per 64 KiB; the buffer is let go once the request is in
    // (Session).
    buffer.reserve(buffer.size() + static_cast<std::size_t>(std::min<std::uint64_t>(
                                       clen.value_or(kBodyReadAhead), kBodyReadAhead)));
    beast::get_lowest_layer(stream).expires_after(opts.body_timeout);
    auto [bec, bn] = co_await bhttp::async_read(stream, buffer, parser, kTuple);
    if (bec == bhttp::error::body_limit) {
      co_await Write(stream, on_error(ProtocolError::kBodyTooLarge), false, version,
                     req.request_id);
      co_return Incoming{};
    }
    if (bec) co_return Incoming{};
  }
  req.body = std::move(parser.get().body());
  beast::get_lowest_layer(stream).expires_never();
  in.ok = true;
  co_return in;
}

template <typename Stream>
asio::awaitable<void> Server::Impl::Session(Worker& w, Stream stream, std::string peer) {
  auto it = w.conns.emplace(w.conns.end());
  it->cancel = [&stream] {
    boost::system::error_code ec;
    beast::get_lowest_layer(stream).socket().shutdown(tcp::socket::shutdown_both, ec);
    beast::get_lowest_layer(stream).cancel();
  };
  struct Cleanup {
    Impl* impl;
    Worker& w;
    std::list<ConnState>::iterator it;
    ~Cleanup() {
      w.conns.erase(it);
      impl->open.fetch_sub(1);
    }
  } cleanup{this, w, it};

  if constexpr (!std::is_same_v<Stream, beast::tcp_stream>) {
    beast::get_lowest_layer(stream).expires_after(opts.header_timeout);
    auto [ec] = co_await stream.async_handshake(asio::ssl::stream_base::server, kTuple);
    if (ec) co_return;
  }

  beast::flat_buffer buffer;
  bool first = true;
  while (!stopping.load(std::memory_order_relaxed)) {
    Incoming in = co_await ReadRequest(stream, buffer, first, peer);
    first = false;
    if (!in.ok) co_return;
    // The read buffer (a kilobyte or more) is let go unless it holds the
    // start of a pipelined request: a long-poll waits for minutes.
    if (buffer.size() == 0) buffer.shrink_to_fit();
    Request& req = in.req;
    // From here the request is handled to its end, even during shutdown;
    // before, Stop() may drop the connection.
    it->busy = true;

    Response res;
    bool gone = false;  // the client closed the connection while its answer was pending
    try {
      res = co_await handler(req);
      while (res.pending) {
        auto watch = std::make_shared<CloseWatch<Stream>>(stream, buffer, std::move(res.pending));
        // Armed by the worker if the wait lasts; off its queue when the
        // wait ends, or the frame goes with the worker.
        struct Queued {
          Worker& w;
          Armable& a;
          ~Queued() { w.Unqueue(a); }
        } queued{w, *watch};
        w.ArmLater(watch);
        // The watch ends, and any read it started settles, before anything
        // else happens on the connection, even if the wait throws.
        std::exception_ptr failed;
        try {
          co_await watch->pending().Wait();
        } catch (...) {
          failed = std::current_exception();
        }
        w.Unqueue(*watch);
        watch->Stop();
        co_await watch->Settled();
        if (failed) std::rethrow_exception(failed);
        if ((gone = watch->gone())) break;
        res = co_await watch->pending().Finish();
      }
    } catch (const std::exception& e) {
      spdlog::error("request_id={} unhandled exception: {}", req.request_id, e.what());
      res = on_error(ProtocolError::kOverloaded);
      res.status = 500;
    }
    if (gone) co_return;  // nobody to answer (the handler counted and logged it)
    const bool keep_alive = in.keep_alive && !stopping.load(std::memory_order_relaxed);
    bool ok = false;
    if (req.method == "HEAD") {
      ok = co_await WriteHead(stream, std::move(res), keep_alive, in.version, req.request_id);
    } else {
      ok = co_await Write(stream, std::move(res), keep_alive, in.version, req.request_id);
    }
    it->busy = false;
    if (!ok || !keep_alive) break;
  }
  if constexpr (!std::is_same_v<Stream, beast::tcp_stream>) {
    beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(2));
    co_await stream.async_shutdown(kTuple);
  } else {
    boost::system::error_code ec;
    stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  }
}

asio::awaitable<void> Server::Impl::Accept(Worker& w, tcp::acceptor& acc) {
  for (;;) {
    auto [ec, sock] = co_await acc.async_accept(kTuple);
    if (stopping.load()) co_return;
    if (ec) {
      if (ec == asio::error::operation_aborted) co_return;
      // Out of descriptors and the like: back off instead of spinning.
      spdlog::warn("{}: accept failed: {}", opts.name, ec.message());
      asio::steady_timer t(w.ioc, std::chrono::milliseconds(50));
      co_await t.async_wait(kTuple);
      continue;
    }
    if (open.load() >= opts.max_connections) {
      boost::system::error_code ignored;
      sock.close(ignored);
      continue;
    }
    open.fetch_add(1);
    sock.set_option(tcp::no_delay(true), ec);
    std::string peer = RemoteIp(sock);
    if (ssl) {
      asio::co_spawn(
          w.ioc,
          Session(w, beast::ssl_stream<beast::tcp_stream>(std::move(sock), *ssl), std::move(peer)),
          asio::detached);
    } else {
      asio::co_spawn(w.ioc, Session(w, beast::tcp_stream(std::move(sock)), std::move(peer)),
                     asio::detached);
    }
  }
}

Server::Server(ServerOptions opts, Handler handler, BodyLimitFn body_limit,
               ProtocolErrorFn on_error)
    : impl_(std::make_unique<Impl>()) {
  impl_->opts = std::move(opts);
  impl_->handler = std::move(handler);
  impl_->body_limit = std::move(body_limit);
  impl_->on_error = std::move(on_error);
}

Server::~Server() {
  Stop(std::chrono::milliseconds(0));
  Join();
}

void Server::Bind() {
  auto& im = *impl_;
  if (!im.workers.empty()) return;
  if (!im.opts.tls_cert_file.empty()) {
    im.ssl = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
    im.ssl->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                        asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                        asio::ssl::context::no_tlsv1_1 | asio::ssl::context::single_dh_use);
    im.ssl->use_certificate_chain_file(im.opts.tls_cert_file);
    im.ssl->use_private_key_file(im.opts.tls_key_file, asio::ssl::context::pem);
  }
  const int n = std::max(1, im.opts.io_threads);
  for (int i = 0; i < n; ++i) im.workers.push_back(std::make_unique<Worker>());
  for (const auto& [host, port] : im.opts.listen) {
    boost::system::error_code ec;
    auto addr = asio::ip::make_address(host, ec);
    if (ec) throw std::runtime_error(im.opts.name + ": bad listen address " + host);
    std::uint16_t bound_port = port;
    for (auto& w : im.workers) {
      auto acc = std::make_unique<tcp::acceptor>(w->ioc);
      tcp::endpoint ep(addr, bound_port);
      acc->open(ep.protocol());
      acc->set_option(asio::socket_base::reuse_address(true));
      int one = 1;
      ::setsockopt(acc->native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
      acc->bind(ep, ec);
      if (ec) {
        throw std::runtime_error(im.opts.name + ": cannot listen on " + host + ":" +
                                 std::to_string(bound_port) + ": " + ec.message());
      }
      acc->listen(asio::socket_base::max_listen_connections);
      bound_port = acc->local_endpoint().port();
      w->acceptors.push_back(std::move(acc));
    }
    im.bound.emplace_back(host, bound_port);
  }
}

void Server::Start() {
  Bind();
  auto& im = *impl_;
  for (auto& w : im.workers) {
    for (auto& acc : w->acceptors) {
      asio::co_spawn(w->ioc, im.Accept(*w, *acc), asio::detached);
    }
    w->thread = std::thread(
        [wp = w.get(), name = im.opts.name + "-io-" + std::to_string(&w - im.workers.data())] {
          NameThisThread(name);
          auto guard = asio::make_work_guard(wp->ioc);
          wp->ioc.run();
        });
  }
}

std::vector<std::pair<std::string, std::uint16_t>> Server::BoundAddresses() const {
  return impl_->bound;
}

std::int64_t Server::OpenConnections() const { return impl_->open.load(); }

boost::asio::any_io_executor Server::executor() const {
  if (impl_->workers.empty()) throw std::logic_error("http::Server::executor() before Bind()");
  return impl_->workers.front()->ioc.get_executor();
}

void Server::Stop(std::chrono::milliseconds grace) {
  auto& im = *impl_;
  {
    std::lock_guard lock(im.stop_mu);
    if (im.stopped) return;
    im.stopped = true;
  }
  im.stopping = true;
  for (auto& w : im.workers) {
    asio::post(w->ioc, [wp = w.get()] {
      for (auto& acc : wp->acceptors) {
        boost::system::error_code ec;
        acc->close(ec);
      }
      for (auto& c : wp->conns) {
        if (!c.busy) c.cancel();
      }
    });
  }
  const auto deadline = std::chrono::steady_clock::now() + grace;
  while (im.open.load() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  for (auto& w : im.workers) w->ioc.stop();
}

void Server::Join() {
  for (auto& w : impl_->workers) {
    if (w->thread.joinable()) w->thread.join();
  }
}

}  // namespace vigie::http
