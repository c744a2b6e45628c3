#include "bench/scenario_util.h"

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>
#include <charconv>
#include <memory>

#include "bench/client.h"

namespace vigie::bench {
namespace {

void AppendInt(std::string& out, std::int64_t v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, end);
}

bool Int(const bj::value& v, std::int64_t& out) {
  if (v.is_int64()) {
    out = v.get_int64();
  } else if (v.is_uint64()) {
    out = static_cast<std::int64_t>(v.get_uint64());
  } else {
    return false;
  }
  return true;
}

}  // namespace

void BenchBody(std::string& out, std::uint32_t room, std::uint32_t seq, std::int64_t send_ns) {
  out.assign(R"({"msgtype":"m.text","body":"vigie-bench","vigie_bench":[)");
  AppendInt(out, room);
  out += ',';
  AppendInt(out, seq);
  out += ',';
  AppendInt(out, send_ns);
  out += "]}";
}

bool ReadMarker(const bj::value& event, Marker& out) {
  const bj::array* m = Arr(Obj(AsObj(event), "content"), "vigie_bench");
  if (!m || m->size() != 3) return false;
  std::int64_t r = 0, q = 0, t = 0;
  if (!Int((*m)[0], r) || !Int((*m)[1], q) || !Int((*m)[2], t) || r < 0 || q < 0) return false;
  out = {static_cast<std::uint32_t>(r), static_cast<std::uint32_t>(q), t};
  return true;
}

std::string SyncPath(int timeout_ms, const std::string& filter, const std::string& since) {
  std::string p = "/_matrix/client/v3/sync?timeout=";
  AppendInt(p, timeout_ms);
  if (!filter.empty()) {
    p += "&filter=";
    p += filter;
  }
  if (!since.empty()) {
    p += "&since=";
    p += UrlEncode(since);
  }
  return p;
}

bj::value ParseFast(std::string_view text, bool* ok) {
  constexpr std::size_t kArena = 1 << 20;
  thread_local std::unique_ptr<unsigned char[]> arena(new unsigned char[kArena]);
  thread_local bj::monotonic_resource mr(arena.get(), kArena);
  // Frees what the previous value used; the first megabyte comes from the
  // arena without calling malloc.
  mr.release();
  boost::system::error_code ec;
  bj::value v = bj::parse(text, ec, bj::storage_ptr(&mr));
  *ok = !ec;
  if (ec) return bj::value();
  return v;
}

const bj::object* AsObj(const bj::value& v) { return v.is_object() ? &v.as_object() : nullptr; }

const bj::object* Obj(const bj::object* o, std::string_view key) {
  const bj::value* m = o ? o->if_contains(key) : nullptr;
  return m && m->is_object() ? &m->as_object() : nullptr;
}

const bj::array* Arr(const bj::object* o, std::string_view key) {
  const bj::value* m = o ? o->if_contains(key) : nullptr;
  return m && m->is_array() ? &m->as_array() : nullptr;
}

std::string Str(const bj::object* o, std::string_view key) {
  const bj::value* m = o ? o->if_contains(key) : nullptr;
  return m && m->is_string() ? std::string(m->as_string()) : std::string();
}

bool Bits::TestAndSet(std::uint32_t i) {
  const std::size_t w = i / 64;
  if (w >= words_.size()) words_.resize(std::max(w + 1, words_.size() * 2), 0);
  const std::uint64_t bit = std::uint64_t{1} << (i % 64);
  const bool was = words_[w] & bit;
  words_[w] |= bit;
  return was;
}

bool Bits::Test(std::uint32_t i) const {
  const std::size_t w = i / 64;
  return w < words_.size() && (words_[w] & (std::uint64_t{1} << (i % 64)));
}

}  // namespace vigie::bench
