// The HTTP request and response as the API layer sees them: no Beast types,
// so that only the server's own translation unit pays Beast's compile cost.
#pragma once

#include <boost/json/value.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace vigie::http {

struct Request {
  std::string method;  // upper case, e.g. "GET"
  std::string path;    // still percent-encoded, without the query string
  std::vector<std::pair<std::string, std::string>> query;  // decoded
  std::string body;
  std::string remote_ip;  // the peer, or X-Forwarded-For when trusted
  std::string request_id;
  std::string authorization;
  std::string user_agent;
  std::string content_type;
  std::string origin;
  // X-AC-2 signals a client may report: "lat,lon" and its network type.
  std::string client_location;  // X-Vigie-Location
  std::string network_type;     // X-Vigie-Network

  // First value of a query parameter, if present.
  std::optional<std::string_view> Query(std::string_view key) const {
    for (const auto& [k, v] : query) {
      if (k == key) return std::string_view(v);
    }
    return std::nullopt;
  }
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;

  static Response Json(int status, const boost::json::value& v);
  static Response Json(const boost::json::value& v) { return Json(200, v); }
};

// Splits a query string into decoded key/value pairs ('+' is a space).
// A component that does not decode to valid UTF-8 is kept as sent, with
// invalid bytes replaced: every result is valid UTF-8 without NUL.
std::vector<std::pair<std::string, std::string>> ParseQuery(std::string_view qs);

// Percent-decodes one path segment or query component. Returns false on a
// malformed escape, an encoded NUL, or a result that is not valid UTF-8.
bool PercentDecode(std::string_view in, std::string* out, bool plus_is_space = false);

}  // namespace vigie::http
