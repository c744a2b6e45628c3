#include "bench/client.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <string>
#include <vector>

namespace vigie::bench {
namespace {

// A keep-alive HTTP server on loopback that answers the n-th request with
// a body of sizes[n] bytes, and the body's text.
class SizedAnswers {
 public:
  SizedAnswers(asio::io_context& ioc, std::vector<std::size_t> sizes)
      : acceptor_(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)),
        sizes_(std::move(sizes)) {
    asio::co_spawn(ioc, Serve(), asio::detached);
  }
  std::string url() const {
    return "http://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port());
  }
  static std::string Body(std::size_t n) {
    std::string b(n, 'x');
    for (std::size_t i = 0; i < n; i += 97) b[i] = static_cast<char>('a' + (i / 97) % 26);
    return b;
  }

 private:
  asio::awaitable<void> Serve() {
    tcp::socket s = co_await acceptor_.async_accept(asio::use_awaitable);
    std::string in;
    for (std::size_t size : sizes_) {
      const std::size_t end = co_await asio::async_read_until(s, asio::dynamic_buffer(in),
                                                              "\r\n\r\n", asio::use_awaitable);
      in.erase(0, end);
      std::string out = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
                        std::to_string(size) + "\r\n\r\n" + Body(size);
      co_await asio::async_write(s, asio::buffer(out), asio::use_awaitable);
    }
  }
  tcp::acceptor acceptor_;
  std::vector<std::size_t> sizes_;
};

// Beast receives no more than the read buffer has room for, and at least
// 512 bytes: a connection whose buffer stayed the header's size took a
// receive call per 512 bytes of every /sync answer. Its room grows to twice
// the largest answer seen, up to 64 KiB, and answers still arrive whole.
TEST(ConnTest, TheReadBufferGrowsToTheAnswersUpTo64KiB) {
  asio::io_context ioc;
  const std::vector<std::size_t> sizes{300, 6000, 5000, 200000, 100};
  SizedAnswers server(ioc, sizes);
  auto target = Target::Make(server.url(), {}, true);
  Conn conn(ioc.get_executor(), target);
  std::vector<std::size_t> room;
  std::vector<bool> whole;
  asio::co_spawn(
      ioc,
      [&]() -> asio::awaitable<void> {
        for (std::size_t size : sizes) {
          Response r = co_await conn.Request(Method::kGet, "/x", "", "");
          whole.push_back(r.ok() && r.body == SizedAnswers::Body(size));
          room.push_back(conn.read_room());
        }
      },
      asio::detached);
  ioc.run();
  ASSERT_EQ(whole, std::vector<bool>(sizes.size(), true));
  EXPECT_EQ(conn.connects(), 1u);
  // 300 bytes and a head: what Beast's first 512-byte read left.
  EXPECT_LT(room[0], 2048u);
  // 6,000 bytes and a head: room for twice that.
  EXPECT_GE(room[1], 12000u);
  EXPECT_LT(room[1], 16384u);
  // A smaller answer keeps the room; a larger one grows it, to 64 KiB at most.
  EXPECT_EQ(room[2], room[1]);
  EXPECT_EQ(room[3], 64u * 1024);
  EXPECT_EQ(room[4], 64u * 1024);
}

}  // namespace
}  // namespace vigie::bench
