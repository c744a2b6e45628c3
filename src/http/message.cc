#include "http/message.h"

#include <algorithm>
#include <boost/json/serialize.hpp>
#include <cctype>
#include <charconv>

#include "common/ascii.h"
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

void AppendHeaderLine(std::string& out, std::string_view name, std::string_view value) {
  static constexpr std::string_view kBreaks("\r\n\0", 3);
  out.append(name).append(": ");
  if (ascii::FindAny(value, kBreaks) == std::string_view::npos) {
    out.append(value);
  } else {
    for (char c : value) {
      if (kBreaks.find(c) == std::string_view::npos) out.push_back(c);
    }
  }
  out.append("\r\n");
}

bool PercentDecode(std::string_view in, std::string* out, bool plus_is_space) {
  // One pass, written in place: never longer than what came in.
  std::string r(in.size(), '\0');
  char* w = r.data();
  unsigned char seen = 0;  // the bytes' bits, or'ed: ASCII only needs no UTF-8 check
  for (std::size_t i = 0; i < in.size();) {
    char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return false;
      const int hi = HexVal(in[i + 1]), lo = HexVal(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      c = static_cast<char>(hi * 16 + lo);
      if (c == '\0') return false;
      i += 3;
    } else {
      if (c == '+' && plus_is_space) c = ' ';
      ++i;
    }
    seen |= static_cast<unsigned char>(c);
    *w++ = c;
  }
  r.resize(static_cast<std::size_t>(w - r.data()));
  if ((seen & 0x80) != 0 && !utf8::IsValid(r)) return false;
  *out = std::move(r);
  return true;
}

std::vector<std::pair<std::string, std::string>> ParseQuery(std::string_view qs) {
  std::vector<std::pair<std::string, std::string>> out;
  // Sized once (a long-poll holds its query for minutes, and a vector grown
  // a pair at a time keeps room for up to twice as many), but never more
  // than a real request has: "&&&&..." must not reserve 64 bytes a byte.
  out.reserve(std::min<std::size_t>(std::count(qs.begin(), qs.end(), '&') + 1, 8));
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

namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// A non-empty run of digits that fits in 64 bits.
std::optional<std::uint64_t> ParseDigits(std::string_view s) {
  if (s.empty()) return std::nullopt;
  std::uint64_t n = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return n;
}

}  // namespace

RangeAnswer ParseRange(std::string_view header, std::uint64_t size, ByteRange* out) {
  header = Trim(header);
  constexpr std::string_view kUnit = "bytes=";
  if (header.size() <= kUnit.size() || size == 0 || !ascii::StartsWithNoCase(header, kUnit)) {
    return RangeAnswer::kWhole;
  }
  const std::string_view spec = Trim(header.substr(kUnit.size()));
  if (spec.find(',') != std::string_view::npos) return RangeAnswer::kWhole;
  const auto dash = spec.find('-');
  if (dash == std::string_view::npos) return RangeAnswer::kWhole;
  const std::string_view a = spec.substr(0, dash), b = spec.substr(dash + 1);
  if (a.empty()) {  // "-n": the last n bytes
    auto n = ParseDigits(b);
    if (!n) return RangeAnswer::kWhole;
    if (*n == 0) return RangeAnswer::kUnsatisfiable;
    *out = {*n >= size ? 0 : size - *n, size - 1};
    return RangeAnswer::kPartial;
  }
  auto first = ParseDigits(a);
  if (!first) return RangeAnswer::kWhole;
  std::uint64_t last = size - 1;
  if (!b.empty()) {
    auto l = ParseDigits(b);
    if (!l || *l < *first) return RangeAnswer::kWhole;  // invalid: ignored
    last = std::min(*l, size - 1);
  }
  if (*first >= size) return RangeAnswer::kUnsatisfiable;
  *out = {*first, last};
  return RangeAnswer::kPartial;
}

}  // namespace vigie::http
