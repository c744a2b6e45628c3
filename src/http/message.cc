#include "http/message.h"

#include <boost/json/serialize.hpp>

#include "common/utf8.h"

namespace vigie::http {

Response Response::Json(int status, const boost::json::value& v) {
  Response r;
  r.status = status;
  r.body = boost::json::serialize(v);
  return r;
}

namespace {
int HexVal(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

bool PercentDecode(std::string_view in, std::string* out, bool plus_is_space) {
  std::string r;
  r.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return false;
      int hi = HexVal(in[i + 1]), lo = HexVal(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      char d = static_cast<char>(hi * 16 + lo);
      if (d == '\0') return false;
      r.push_back(d);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      r.push_back(' ');
    } else {
      r.push_back(c);
    }
  }
  if (!utf8::IsValid(r)) return false;
  *out = std::move(r);
  return true;
}

std::vector<std::pair<std::string, std::string>> ParseQuery(std::string_view qs) {
  std::vector<std::pair<std::string, std::string>> out;
  while (!qs.empty()) {
    auto amp = qs.find('&');
    std::string_view part = qs.substr(0, amp);
    qs = amp == std::string_view::npos ? std::string_view{} : qs.substr(amp + 1);
    if (part.empty()) continue;
    auto eq = part.find('=');
    std::string_view k = part.substr(0, eq);
    std::string_view v = eq == std::string_view::npos ? std::string_view{} : part.substr(eq + 1);
    // Undecodable components are kept as sent, made valid UTF-8.
    std::string dk, dv;
    if (!PercentDecode(k, &dk, true)) dk = utf8::Sanitize(k);
    if (!PercentDecode(v, &dv, true)) dv = utf8::Sanitize(v);
    out.emplace_back(std::move(dk), std::move(dv));
  }
  return out;
}

}  // namespace vigie::http
