#include "api/router.h"

#include <gtest/gtest.h>

namespace vigie::api {
namespace {

RouteHandler Noop() {
  return
      [](RequestContext&) -> boost::asio::awaitable<http::Response> { co_return http::Response{}; };
}

TEST(Router, MatchesLiteralAndParams) {
  Router r;
  r.Add("GET", "/_matrix/client/v3/devices", Noop());
  r.Add("GET", "/_matrix/client/v3/devices/{deviceId}", Noop());
  r.Add("PUT", "/_matrix/client/v3/profile/{userId}/displayname", Noop());
  auto m = r.Find("GET", "/_matrix/client/v3/devices");
  ASSERT_NE(m.route, nullptr);
  EXPECT_TRUE(m.params.empty());
  m = r.Find("GET", "/_matrix/client/v3/devices/ABC%20D");
  ASSERT_NE(m.route, nullptr);
  ASSERT_EQ(m.params.size(), 1u);
  EXPECT_EQ(m.params[0], "ABC D");
  m = r.Find("PUT", "/_matrix/client/v3/profile/%40alice%3Aexample.org/displayname");
  ASSERT_NE(m.route, nullptr);
  EXPECT_EQ(m.params[0], "@alice:example.org");
}

TEST(Router, WrongMethodAndUnknownPath) {
  Router r;
  r.Add("GET", "/a/{x}", Noop());
  auto m = r.Find("POST", "/a/1");
  EXPECT_EQ(m.route, nullptr);
  EXPECT_TRUE(m.wrong_method);
  m = r.Find("GET", "/a/1/2");
  EXPECT_EQ(m.route, nullptr);
  EXPECT_FALSE(m.wrong_method);
  m = r.Find("GET", "/a/");  // an empty parameter does not match
  EXPECT_EQ(m.route, nullptr);
}

TEST(Router, HeadIsRoutedLikeGet) {
  Router r;
  r.Add("PUT", "/a/{x}", Noop());
  r.Add("GET", "/a/{x}", Noop());
  auto m = r.Find("HEAD", "/a/1");
  ASSERT_NE(m.route, nullptr);
  EXPECT_EQ(m.route->method, "GET");
  EXPECT_EQ(m.params[0], "1");
  r.Add("POST", "/b", Noop());
  m = r.Find("HEAD", "/b");
  EXPECT_EQ(m.route, nullptr);
  EXPECT_TRUE(m.wrong_method);
}

TEST(Router, MalformedEscapesAreBadParams) {
  Router r;
  r.Add("GET", "/a/{x}", Noop());
  for (const char* p : {"/a/%zz", "/a/%4", "/a/%00", "/a/%FF", "/a/%C0%AF"}) {
    auto m = r.Find("GET", p);
    EXPECT_NE(m.route, nullptr) << p;
    EXPECT_TRUE(m.bad_param) << p;
  }
  EXPECT_FALSE(r.Find("GET", "/a/%C3%A9").bad_param);
}

TEST(Router, OptionalEmptyParameter) {
  Router r;
  r.Add("PUT", "/s/{type}/{key*}", Noop());
  auto m = r.Find("PUT", "/s/m.room.name/");
  ASSERT_NE(m.route, nullptr);
  EXPECT_EQ(m.params[1], "");
  EXPECT_EQ(r.Find("PUT", "/s//x").route, nullptr);
}

TEST(Query, ParsesAndDecodes) {
  auto q = http::ParseQuery("a=1&b=x%20y&c=p+q&&d&access_token=%zz&bin=%FF");
  ASSERT_EQ(q.size(), 6u);
  EXPECT_EQ(q[5].second, "%FF");
  EXPECT_EQ(q[1].second, "x y");
  EXPECT_EQ(q[2].second, "p q");
  EXPECT_EQ(q[3].first, "d");
  EXPECT_EQ(q[3].second, "");
  EXPECT_EQ(q[4].second, "%zz");
}

TEST(Query, PercentDecodeChecksEscapesNulAndUtf8) {
  std::string out = "unchanged";
  EXPECT_TRUE(http::PercentDecode("%7B%22a%22%3A1%7D", &out));
  EXPECT_EQ(out, R"({"a":1})");
  EXPECT_TRUE(http::PercentDecode("caf%C3%A9+x", &out));
  EXPECT_EQ(out, "caf\xC3\xA9+x");  // '+' is a space only in a query
  EXPECT_TRUE(http::PercentDecode("caf%C3%A9+x", &out, true));
  EXPECT_EQ(out, "caf\xC3\xA9 x");
  EXPECT_TRUE(http::PercentDecode("", &out));
  EXPECT_EQ(out, "");
  out = "unchanged";
  for (const char* bad : {"%", "a%4", "%4g", "%00", "%C3", "%FF", "\xC3", "%ED%A0%80"}) {
    EXPECT_FALSE(http::PercentDecode(bad, &out)) << bad;
    EXPECT_EQ(out, "unchanged") << bad;
  }
}

}  // namespace
}  // namespace vigie::api
