// Fuzzes what vigie parses out of a request line before any handler runs:
// the query string, percent-decoding of path parameters, and routing; and
// the Range header of downloads.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "api/router.h"
#include "http/message.h"

namespace {

vigie::api::Router& TestRouter() {
  static vigie::api::Router* r = [] {
    auto* router = new vigie::api::Router();
    auto noop = [](vigie::api::RequestContext&) -> boost::asio::awaitable<vigie::http::Response> {
      co_return vigie::http::Response{};
    };
    router->Add("GET", "/_matrix/client/v3/rooms/{roomId}/messages", noop);
    router->Add("PUT", "/_matrix/client/v3/rooms/{roomId}/send/{eventType}/{txnId}", noop);
    router->Add("GET", "/_matrix/client/v3/profile/{userId}", noop);
    router->Add("GET", "/_matrix/client/versions", noop);
    return router;
  }();
  return *r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto q = in.find('?');
  std::string_view path = in.substr(0, q);
  std::string_view query = q == std::string_view::npos ? std::string_view{} : in.substr(q + 1);
  (void)vigie::http::ParseQuery(query);
  std::string decoded;
  // Decoding never grows the input, and never yields a NUL the client
  // did not send literally.
  if (vigie::http::PercentDecode(path, &decoded)) {
    if (decoded.size() > path.size()) std::abort();
    if (decoded.find('\0') != std::string::npos && path.find('\0') == std::string_view::npos) {
      std::abort();
    }
  }
  // A partial answer lies inside the representation.
  for (std::uint64_t size : {std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{1000}}) {
    vigie::http::ByteRange r;
    if (vigie::http::ParseRange(in, size, &r) == vigie::http::RangeAnswer::kPartial &&
        (r.first > r.last || r.last >= size)) {
      std::abort();
    }
  }
  for (const char* m : {"GET", "PUT"}) {
    auto match = TestRouter().Find(m, path);
    if (!match.route || match.bad_param) continue;
    // One decoded, non-empty parameter per {placeholder} of the pattern.
    auto placeholders = static_cast<std::size_t>(
        std::count(match.route->pattern.begin(), match.route->pattern.end(), '{'));
    if (match.params.size() != placeholders) std::abort();
    for (const auto& p : match.params) {
      if (p.empty()) std::abort();
    }
  }
  return 0;
}
