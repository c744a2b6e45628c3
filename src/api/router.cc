#include "api/router.h"

namespace vigie::api {
namespace {

std::vector<std::string_view> Split(std::string_view path) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  if (!path.empty() && path.front() == '/') i = 1;
  while (i <= path.size()) {
    auto j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    out.push_back(path.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

bool IsParam(std::string_view segment) {
  return segment.size() > 2 && segment.front() == '{' && segment.back() == '}';
}

}  // namespace

void Router::Add(std::string method, std::string pattern, RouteHandler handler,
                 RouteOptions options) {
  Route r{std::move(method), pattern, {}, std::move(handler), options};
  for (auto s : Split(pattern)) r.segments.emplace_back(s);
  routes_.push_back(std::move(r));
}

Router::Match Router::Find(std::string_view method, std::string_view path) const {
  Match m;
  auto segs = Split(path);
  for (const auto& r : routes_) {
    if (r.segments.size() != segs.size()) continue;
    // The route's shape first; its parameters are decoded (a copy and a
    // UTF-8 check each) only once the rest matches: dozens of routes start
    // with rooms/{roomId}, and each decoded the room id again. From the
    // last segment back: every route begins _matrix/client/v3, and most
    // differ in their last ones.
    bool ok = true;
    for (std::size_t i = segs.size(); i-- > 0 && ok;) {
      const auto& want = r.segments[i];
      if (IsParam(want)) {
        // "{name*}" may be empty (a state key); other parameters may not.
        ok = !segs[i].empty() || want[want.size() - 2] == '*';
      } else {
        ok = want == segs[i];
      }
    }
    if (!ok) continue;
    std::vector<std::string> params;
    bool bad = false;
    for (std::size_t i = 0; i < segs.size(); ++i) {
      if (!IsParam(r.segments[i])) continue;
      std::string decoded;
      if (!http::PercentDecode(segs[i], &decoded)) bad = true;
      params.push_back(std::move(decoded));
    }
    // HEAD is GET without the body (the server leaves it out).
    const bool method_ok = r.method == method || (method == "HEAD" && r.method == "GET");
    if (bad && method_ok) {
      m.route = &r;
      m.bad_param = true;
      return m;
    }
    if (bad) continue;
    if (!method_ok) {
      m.wrong_method = true;
      continue;
    }
    m.route = &r;
    m.params = std::move(params);
    m.wrong_method = false;
    return m;
  }
  return m;
}

}  // namespace vigie::api
