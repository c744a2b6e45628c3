#include "bench/matrix.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

namespace vigie::bench {
namespace {

namespace bj = boost::json;
constexpr std::string_view kDummy = "m.login.dummy";
constexpr std::string_view kToken = "m.login.registration_token";

std::string HmacSha1Hex(std::string_view key, std::string_view msg) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha1(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(msg.data()), msg.size(), mac, &len);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < len; ++i) {
    out += kHex[mac[i] >> 4];
    out += kHex[mac[i] & 15];
  }
  return out;
}

std::string StringOr(const bj::object& o, std::string_view key) {
  auto it = o.find(key);
  return it != o.end() && it->value().is_string() ? std::string(it->value().as_string())
                                                  : std::string();
}

// Picks the next stage to complete from a 401 UIA answer: the first flow made
// only of stages we can do, and its first stage not yet completed.
std::optional<std::string> NextStage(const bj::object& uia, bool have_token) {
  std::vector<std::string> done;
  if (auto it = uia.find("completed"); it != uia.end() && it->value().is_array()) {
    for (const auto& s : it->value().as_array()) {
      if (s.is_string()) done.emplace_back(s.as_string());
    }
  }
  auto flows = uia.find("flows");
  if (flows == uia.end() || !flows->value().is_array()) return std::nullopt;
  for (const auto& f : flows->value().as_array()) {
    if (!f.is_object()) continue;
    auto stages = f.as_object().find("stages");
    if (stages == f.as_object().end() || !stages->value().is_array()) continue;
    std::optional<std::string> next;
    bool doable = true;
    for (const auto& s : stages->value().as_array()) {
      std::string st = s.is_string() ? std::string(s.as_string()) : std::string();
      if (std::find(done.begin(), done.end(), st) != done.end()) continue;
      if (st != kDummy && !(st == kToken && have_token)) {
        doable = false;
        break;
      }
      if (!next) next = st;
    }
    if (doable && next) return next;
  }
  return std::nullopt;
}

std::optional<Account> AccountFrom(const bj::value& v, const std::string& localpart) {
  if (!v.is_object()) return std::nullopt;
  Account a{localpart, StringOr(v.as_object(), "user_id"), StringOr(v.as_object(), "access_token")};
  if (a.user_id.empty() || a.token.empty()) return std::nullopt;
  return a;
}

}  // namespace

std::string RoomPath(const std::string& room_id, std::string_view rest) {
  std::string p = "/_matrix/client/v3/rooms/" + UrlEncode(room_id);
  p += rest;
  return p;
}

bool Matrix::Check(const Response& r, std::string_view what) {
  if (r.ok()) return true;
  errors_.Record(std::string(what) + ": " + r.Kind(), r.error.empty() ? r.body : r.error);
  return false;
}

std::optional<bj::value> Matrix::ParseJson(const Response& r, std::string_view what) {
  boost::system::error_code ec;
  bj::value v = bj::parse(r.body, ec);
  if (ec) {
    errors_.Record(std::string(what) + ": bad JSON", r.body);
    return std::nullopt;
  }
  return v;
}

asio::awaitable<std::optional<Account>> Matrix::Register(Conn& c, const Registration& reg,
                                                         const std::string& localpart) {
  if (!reg.shared_secret.empty()) co_return co_await RegisterShared(c, reg, localpart);
  const bool have_token = !reg.registration_token.empty();
  bj::object auth{{"type", have_token ? kToken : kDummy}};
  if (have_token) auth["token"] = reg.registration_token;
  for (int step = 0; step < 6; ++step) {
    bj::object body{{"username", localpart},
                    {"password", reg.password},
                    {"initial_device_display_name", "vigie-bench"},
                    {"auth", auth}};
    std::string text = bj::serialize(body);
    Response r = co_await c.Request(Method::kPost, "/_matrix/client/v3/register", text, {});
    if (r.ok()) {
      auto v = ParseJson(r, "register");
      if (!v) co_return std::nullopt;
      auto a = AccountFrom(*v, localpart);
      if (!a) errors_.Record("register: no access_token", r.body);
      co_return a;
    }
    if (r.status != 401) {
      Check(r, "register");
      co_return std::nullopt;
    }
    auto v = ParseJson(r, "register");
    if (!v || !v->is_object()) co_return std::nullopt;
    auto next = NextStage(v->as_object(), have_token);
    if (!next) {
      errors_.Record("register: no usable UIA flow", r.body);
      co_return std::nullopt;
    }
    auth = {{"type", *next}, {"session", StringOr(v->as_object(), "session")}};
    if (*next == kToken) auth["token"] = reg.registration_token;
  }
  errors_.Record("register: UIA did not finish", localpart);
  co_return std::nullopt;
}

asio::awaitable<std::optional<Account>> Matrix::RegisterShared(Conn& c, const Registration& reg,
                                                               const std::string& localpart) {
  Response n = co_await c.Request(Method::kGet, "/_synapse/admin/v1/register", {}, {});
  if (!Check(n, "register (shared secret) nonce")) co_return std::nullopt;
  auto nv = ParseJson(n, "register nonce");
  if (!nv || !nv->is_object()) co_return std::nullopt;
  std::string nonce = StringOr(nv->as_object(), "nonce");
  std::string msg = nonce;
  msg += '\0';
  msg += localpart;
  msg += '\0';
  msg += reg.password;
  msg += '\0';
  msg += "notadmin";
  bj::object body{{"nonce", nonce},
                  {"username", localpart},
                  {"password", reg.password},
                  {"admin", false},
                  {"mac", HmacSha1Hex(reg.shared_secret, msg)}};
  std::string text = bj::serialize(body);
  Response r = co_await c.Request(Method::kPost, "/_synapse/admin/v1/register", text, {});
  if (!Check(r, "register (shared secret)")) co_return std::nullopt;
  auto v = ParseJson(r, "register");
  if (!v) co_return std::nullopt;
  auto a = AccountFrom(*v, localpart);
  if (!a) errors_.Record("register: no access_token", r.body);
  co_return a;
}

asio::awaitable<std::optional<Account>> Matrix::Login(Conn& c, const std::string& localpart,
                                                      const std::string& password) {
  bj::object body{{"type", "m.login.password"},
                  {"identifier", {{"type", "m.id.user"}, {"user", localpart}}},
                  {"password", password},
                  {"initial_device_display_name", "vigie-bench"}};
  std::string text = bj::serialize(body);
  Response r = co_await c.Request(Method::kPost, "/_matrix/client/v3/login", text, {});
  if (!Check(r, "login")) co_return std::nullopt;
  auto v = ParseJson(r, "login");
  if (!v) co_return std::nullopt;
  auto a = AccountFrom(*v, localpart);
  if (!a) errors_.Record("login: no access_token", r.body);
  co_return a;
}

asio::awaitable<std::optional<std::string>> Matrix::CreateRoom(Conn& c, const Account& a,
                                                               std::string_view body) {
  Response r = co_await c.Request(Method::kPost, "/_matrix/client/v3/createRoom", body, a.token);
  if (!Check(r, "createRoom")) co_return std::nullopt;
  auto v = ParseJson(r, "createRoom");
  if (!v || !v->is_object()) co_return std::nullopt;
  std::string id = StringOr(v->as_object(), "room_id");
  if (id.empty()) {
    errors_.Record("createRoom: no room_id", r.body);
    co_return std::nullopt;
  }
  co_return id;
}

asio::awaitable<bool> Matrix::Join(Conn& c, const Account& a, const std::string& room_id) {
  std::string path = "/_matrix/client/v3/join/" + UrlEncode(room_id);
  Response r = co_await c.Request(Method::kPost, path, "{}", a.token);
  co_return Check(r, "join");
}

}  // namespace vigie::bench
