// The HTTP/1.1 server: Boost.Beast on Asio, C++20 coroutines.
//
// Threading: `io_threads` threads, each running its own io_context with its
// own SO_REUSEPORT acceptor per listen address, so a connection lives on
// one thread for its whole life and its state needs no locking. Handlers
// are coroutines started on the connection's thread; they must move any
// blocking work to a worker pool (see common/offload.h).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "http/message.h"

namespace vigie::http {

// Problems detected before a request reaches the handler.
enum class ProtocolError { kHeaderTooLarge, kBodyTooLarge, kBadRequest, kOverloaded };

struct ServerOptions {
  std::vector<std::pair<std::string, std::uint16_t>> listen;  // host, port (0 = any)
  int io_threads = 1;
  int max_connections = 20000;
  std::size_t max_header_bytes = 16 * 1024;
  std::chrono::seconds header_timeout{20};
  std::chrono::seconds body_timeout{60};
  std::chrono::seconds idle_timeout{75};
  bool trust_x_forwarded_for = false;
  // TLS: PEM files; both empty means plain HTTP.
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string name = "http";  // for logs
};

// A pending answer (Response::pending) is waited for and finished by the
// connection, until one is not pending; the request stays alive until then.
using Handler = std::function<boost::asio::awaitable<Response>(Request&)>;
// Largest body accepted for a request, decided from its method and path.
using BodyLimitFn = std::function<std::size_t(std::string_view method, std::string_view path)>;
using ProtocolErrorFn = std::function<Response(ProtocolError)>;

class Server {
 public:
  Server(ServerOptions opts, Handler handler, BodyLimitFn body_limit, ProtocolErrorFn on_error);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds every listen address. Throws std::runtime_error if an address
  // cannot be bound. Start() calls it if it has not been called.
  void Bind();
  // Starts accepting on the I/O threads.
  void Start();
  // The bound addresses as "host:port" (ports resolved when 0 was asked).
  std::vector<std::pair<std::string, std::uint16_t>> BoundAddresses() const;
  // Stops accepting, closes idle connections, lets in-flight requests
  // finish for up to `grace`, then stops the I/O threads. Idempotent.
  void Stop(std::chrono::milliseconds grace = std::chrono::seconds(10));
  // Blocks until the I/O threads have exited.
  void Join();
  std::int64_t OpenConnections() const;
  // The executor of the first I/O thread, for timers of background work
  // that must stop with the server. Valid from Bind() until the server is
  // destroyed; throws std::logic_error before Bind().
  boost::asio::any_io_executor executor() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace vigie::http
