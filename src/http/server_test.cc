// http::Server's answers on the wire, read through a plain socket: the
// header as Send writes it, and bodies larger than the socket takes at once.
#include "http/server.h"

#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <set>
#include <string>
#include <thread>

namespace vigie::http {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

class ServerTest : public ::testing::Test {
 protected:
  void Start(Handler handler, bool trust_x_forwarded_for = false) {
    ServerOptions opts;
    opts.listen = {{"127.0.0.1", 0}};
    opts.trust_x_forwarded_for = trust_x_forwarded_for;
    server_ = std::make_unique<Server>(
        opts, std::move(handler), [](std::string_view, std::string_view) { return 1024; },
        [](ProtocolError) {
          Response r;
          r.status = 400;
          return r;
        });
    server_->Start();
    port_ = server_->BoundAddresses().at(0).second;
  }
  void TearDown() override {
    if (server_) {
      server_->Stop(std::chrono::milliseconds(100));
      server_->Join();
    }
  }
  // Sends `request` and reads until the server closes the connection.
  std::string Exchange(const std::string& request,
                       std::chrono::milliseconds pause_before_reading = {}) {
    asio::io_context ioc;
    tcp::socket s(ioc);
    s.connect({asio::ip::make_address("127.0.0.1"), port_});
    asio::write(s, asio::buffer(request));
    std::this_thread::sleep_for(pause_before_reading);
    std::string out;
    boost::system::error_code ec;
    asio::read(s, asio::dynamic_buffer(out), ec);
    EXPECT_EQ(ec, asio::error::eof);
    return out;
  }

  std::unique_ptr<Server> server_;
  std::uint16_t port_ = 0;
};

TEST_F(ServerTest, TheHeaderIsWrittenAsBeastWroteItAndCannotBeSplit) {
  Start([](Request&) -> asio::awaitable<Response> {
    Response r;
    r.status = 201;
    r.body = "{}";
    r.headers.emplace_back("X-Plain", "value");
    r.headers.emplace_back("X-Evil", "a\r\nX-Injected: 1\r\n\r\nbody");
    r.header_lines = std::make_shared<const std::string>("X-Shared: one\r\nX-Also: two\r\n");
    co_return r;
  });
  const std::string got =
      Exchange("GET /x HTTP/1.1\r\nHost: h\r\nConnection: close\r\nX-Request-Id: ignored\r\n\r\n");
  const auto end = got.find("\r\n\r\n");
  ASSERT_NE(end, std::string::npos) << got;
  const std::string head = got.substr(0, end + 2);
  EXPECT_TRUE(head.starts_with("HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n"))
      << head;
  EXPECT_NE(head.find("\r\nX-Plain: value\r\n"), std::string::npos) << head;
  // The line breaks are dropped: one header line, no header of its own.
  EXPECT_NE(head.find("\r\nX-Evil: aX-Injected: 1body\r\n"), std::string::npos) << head;
  EXPECT_EQ(head.find("\r\nX-Injected:"), std::string::npos) << head;
  // The shared lines as they are, after the handler's own.
  EXPECT_NE(head.find("\r\nX-Evil: aX-Injected: 1body\r\nX-Shared: one\r\nX-Also: two\r\n"),
            std::string::npos)
      << head;
  EXPECT_NE(head.find("\r\nX-Request-Id: "), std::string::npos) << head;
  EXPECT_NE(head.find("\r\nConnection: close\r\n"), std::string::npos) << head;
  EXPECT_NE(head.find("\r\nContent-Length: 2\r\n"), std::string::npos) << head;
  EXPECT_EQ(got.substr(end + 4), "{}");
}

// What a request's header gives the handler: the first of each name, any
// case; the client's address from X-Forwarded-For only when trusted.
TEST_F(ServerTest, TheRequestCarriesTheFirstOfEachHeaderAndAForwardedAddressOnlyWhenTrusted) {
  for (const bool trusted : {false, true}) {
    Request seen;
    Start(
        [&seen](Request& req) -> asio::awaitable<Response> {
          seen = req;
          co_return Response{};
        },
        trusted);
    const std::string got = Exchange(
        "GET /x?a=%41 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n"
        "authorization: Bearer one\r\nAuthorization: Bearer two\r\n"
        "User-Agent: agent\r\nContent-Type: text/plain\r\nOrigin: https://o.example\r\n"
        "Range: bytes=0-1\r\nIf-Range: \"etag\"\r\nx-vigie-location: KE\r\n"
        "X-Vigie-Network: mobile\r\nX-Vigie-Network: wifi\r\n"
        "X-Forwarded-For: 10.0.0.1, 203.0.113.7\r\n\r\n");
    ASSERT_TRUE(got.starts_with("HTTP/1.1 200")) << got;
    EXPECT_EQ(seen.path, "/x");
    ASSERT_EQ(seen.query.size(), 1u);
    EXPECT_EQ(seen.query[0].second, "A");
    EXPECT_EQ(seen.authorization, "Bearer one");
    EXPECT_EQ(seen.user_agent, "agent");
    EXPECT_EQ(seen.content_type, "text/plain");
    EXPECT_EQ(seen.origin, "https://o.example");
    EXPECT_EQ(seen.range, "bytes=0-1");
    EXPECT_EQ(seen.if_range, "\"etag\"");
    EXPECT_EQ(seen.client_location, "KE");
    EXPECT_EQ(seen.network_type, "mobile");
    EXPECT_EQ(seen.remote_ip, trusted ? "203.0.113.7" : "127.0.0.1");
    server_->Stop(std::chrono::milliseconds(100));
    server_->Join();
    server_.reset();
  }
}

TEST_F(ServerTest, KeepAliveIsSpelledOutOnlyWhereTheVersionDoesNotImplyIt) {
  Start([](Request&) -> asio::awaitable<Response> {
    Response r;
    r.status = 204;
    co_return r;
  });
  // HTTP/1.0 asking to be kept alive: told so, then closed when it sends
  // nothing more (here: a second request without keep-alive).
  const std::string got =
      Exchange("GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /b HTTP/1.0\r\n\r\n");
  const auto second = got.find("HTTP/1.0 204 No Content\r\n", 1);
  ASSERT_TRUE(got.starts_with("HTTP/1.0 204 No Content\r\n")) << got;
  ASSERT_NE(second, std::string::npos) << got;
  const std::string first = got.substr(0, second);
  const std::string last = got.substr(second);
  EXPECT_NE(first.find("\r\nConnection: keep-alive\r\n"), std::string::npos) << first;
  EXPECT_EQ(last.find("Connection:"), std::string::npos) << last;
  // An empty 204 has no content type, and a length of 0.
  EXPECT_EQ(got.find("Content-Type"), std::string::npos) << got;
  EXPECT_NE(first.find("\r\nContent-Length: 0\r\n"), std::string::npos) << first;
}

TEST_F(ServerTest, ABodyLargerThanTheSocketTakesAtOnceArrivesWhole) {
  // 16 MiB: far more than a loopback socket's send buffer, so most of it
  // is written after the first sendmsg, while the client is not reading.
  std::string body(16u << 20, 'x');
  for (std::size_t i = 0; i < body.size(); i += 4096) body[i] = static_cast<char>('a' + i % 26);
  Start([&body](Request&) -> asio::awaitable<Response> {
    Response r;
    r.content_type = "application/octet-stream";
    r.body = body;
    co_return r;
  });
  const std::string got = Exchange("GET /big HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
                                   std::chrono::milliseconds(200));
  const auto end = got.find("\r\n\r\n");
  ASSERT_NE(end, std::string::npos);
  EXPECT_NE(got.substr(0, end).find("Content-Length: 16777216"), std::string::npos);
  EXPECT_TRUE(got.substr(end + 4) == body) << "body of " << got.size() - end - 4 << " bytes";
}

TEST_F(ServerTest, EveryRequestGetsItsOwnId) {
  Start([](Request& req) -> asio::awaitable<Response> {
    Response r;
    r.body = req.request_id;
    co_return r;
  });
  std::set<std::string> ids;
  for (int i = 0; i < 50; ++i) {
    const std::string got = Exchange("GET /id HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
    const std::string id = got.substr(got.find("\r\n\r\n") + 4);
    EXPECT_EQ(id.size(), 16u) << id;
    EXPECT_EQ(id.find_first_not_of("0123456789abcdef"), std::string::npos) << id;
    EXPECT_NE(got.find("\r\nX-Request-Id: " + id + "\r\n"), std::string::npos) << got;
    ids.insert(id);
  }
  EXPECT_EQ(ids.size(), 50u);
}

}  // namespace
}  // namespace vigie::http
