#include "api/api.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json/parse.hpp>

#include "common/crypto.h"
#include "service/service_test_util.h"

namespace vigie::api {
namespace {

namespace bj = boost::json;

// Requests through the whole API layer (routing, authentication, error
// mapping, common headers), without a socket.
class ApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    crypto::Init();
    hs_ = std::make_unique<service::Homeserver>(service::TestConfig());
    api_ = std::make_unique<Api>(*hs_);
    alice_ = service::RegisterAndLogin(*hs_, "alice");
    service::LoginRequest login;
    login.user = "alice";
    login.password = "password1";
    token_ = *hs_->RunSync(hs_->accounts.Login(login)).access_token;
    room_ = hs_->RunSync(hs_->rooms.CreateRoom(alice_, {})).room_id;
  }
  http::Request Get(std::string path, std::vector<std::pair<std::string, std::string>> query) {
    http::Request req;
    req.method = "GET";
    req.path = std::move(path);
    req.query = std::move(query);
    req.remote_ip = "127.0.0.1";
    req.request_id = "test";
    req.authorization = "Bearer " + token_;
    return req;
  }
  // From the handler's headers, or else the shared header lines.
  static std::string Header(const http::Response& r, std::string_view name) {
    for (const auto& [k, v] : r.headers) {
      if (k == name) return v;
    }
    if (r.header_lines) {
      const std::string prefix = std::string(name) + ": ";
      std::string_view lines = *r.header_lines;
      while (!lines.empty()) {
        const std::size_t end = lines.find("\r\n");
        const std::string_view line = lines.substr(0, end);
        if (line.starts_with(prefix)) return std::string(line.substr(prefix.size()));
        lines.remove_prefix(end == std::string_view::npos ? lines.size() : end + 2);
      }
    }
    return "";
  }

  std::unique_ptr<service::Homeserver> hs_;
  std::unique_ptr<Api> api_;
  service::Requester alice_;
  std::string token_, room_;
};

// A /sync long-poll with nothing to show is answered as pending: the
// handler's coroutines have returned (their frames freed) while it waits,
// and its answer, when it comes, gets what every answer gets.
TEST_F(ApiTest, ALongPollWaitsWithItsHandlerReturnedAndIsAnsweredInFull) {
  http::Request initial = Get("/_matrix/client/v3/sync", {});
  const http::Response first = hs_->RunSync(api_->Handle(initial));
  ASSERT_EQ(first.status, 200);
  ASSERT_FALSE(first.pending);
  const std::string since(bj::parse(first.body).at("next_batch").as_string());

  boost::asio::io_context ioc;
  http::Response parked, answer, timed_out;
  http::Request poll = Get("/_matrix/client/r0/sync", {{"since", since}, {"timeout", "20000"}});
  http::Request short_poll;
  std::chrono::steady_clock::duration waited{};
  boost::asio::co_spawn(
      ioc,
      [&]() -> boost::asio::awaitable<void> {
        parked = co_await api_->Handle(poll);
        if (!parked.pending) co_return;
        bj::object content{{"body", "wake"}};
        co_await hs_->rooms.Send(alice_, room_, "m.room.message", content, "t1");
        co_await parked.pending->Wait();
        answer = co_await parked.pending->Finish();

        const std::string next(bj::parse(answer.body).at("next_batch").as_string());
        short_poll = Get("/_matrix/client/v3/sync", {{"since", next}, {"timeout", "50"}});
        const auto start = std::chrono::steady_clock::now();
        http::Response r = co_await api_->Handle(short_poll);
        while (r.pending) {  // nothing comes: answered at its deadline
          auto p = r.pending;
          co_await p->Wait();
          r = co_await p->Finish();
        }
        waited = std::chrono::steady_clock::now() - start;
        timed_out = std::move(r);
      },
      boost::asio::detached);
  ioc.run();
  ASSERT_TRUE(parked.pending);
  EXPECT_TRUE(parked.body.empty());
  EXPECT_TRUE(parked.headers.empty());  // headers come with the answer
  EXPECT_FALSE(parked.header_lines);

  ASSERT_FALSE(answer.pending);
  EXPECT_EQ(answer.status, 200);
  EXPECT_EQ(Header(answer, "Cache-Control"), "no-store");
  const bj::value v = bj::parse(answer.body);
  EXPECT_NE(v.at("next_batch").as_string(), since);
  const auto& events = v.at("rooms").at("join").at(room_).at("timeline").at("events").as_array();
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().at("content").at("body").as_string(), "wake");

  EXPECT_GE(waited, std::chrono::milliseconds(50));
  EXPECT_EQ(timed_out.status, 200);
  EXPECT_EQ(Header(timed_out, "Cache-Control"), "no-store");
  EXPECT_TRUE(bj::parse(timed_out.body).as_object().contains("next_batch"));
}

// What fails before a long-poll can park is answered at once, mapped as
// any error (a bad token, a malformed since token).
TEST_F(ApiTest, ALongPollThatCannotStartIsAnErrorAtOnce) {
  http::Request bad_since = Get("/_matrix/client/v3/sync", {{"since", "x"}, {"timeout", "20000"}});
  const http::Response r = hs_->RunSync(api_->Handle(bad_since));
  EXPECT_FALSE(r.pending);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(std::string(bj::parse(r.body).at("errcode").as_string()), "M_INVALID_PARAM");
  EXPECT_EQ(Header(r, "Cache-Control"), "no-store");

  http::Request unknown = Get("/_matrix/client/v3/sync", {{"timeout", "20000"}});
  unknown.authorization = "Bearer nope";
  const http::Response u = hs_->RunSync(api_->Handle(unknown));
  EXPECT_FALSE(u.pending);
  EXPECT_EQ(u.status, 401);
}

// Every answer, errors and protocol errors included, carries the common
// headers; a line break in the configured origin cannot start a header.
TEST_F(ApiTest, EveryAnswerHasTheCommonHeadersAndTheOriginCannotSplitThem) {
  Config cfg = service::TestConfig();
  cfg.cors_allow_origin = "https://a.example\r\nX-Injected: 1";
  service::Homeserver hs(cfg);
  Api api(hs);
  http::Request get_versions = Get("/_matrix/client/versions", {});
  const http::Response versions = hs.RunSync(api.Handle(get_versions));
  EXPECT_EQ(versions.status, 200);
  EXPECT_EQ(Header(versions, "Access-Control-Allow-Origin"), "https://a.exampleX-Injected: 1");
  EXPECT_EQ(Header(versions, "X-Injected"), "");
  EXPECT_EQ(Header(versions, "X-Content-Type-Options"), "nosniff");
  EXPECT_EQ(Header(versions, "Cache-Control"), "no-store");
  const http::Response too_large = api.ProtocolErrorResponse(http::ProtocolError::kBodyTooLarge);
  EXPECT_EQ(Header(too_large, "Access-Control-Allow-Methods"), "GET, POST, PUT, DELETE, OPTIONS");
  EXPECT_EQ(Header(too_large, "Cache-Control"), "no-store");
}

}  // namespace
}  // namespace vigie::api
