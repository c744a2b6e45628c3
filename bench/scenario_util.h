// Helpers shared by the scenarios: the marker embedded in every message the
// bench sends, /sync paths, fast JSON parsing and small JSON accessors.
#pragma once

#include <boost/json/value.hpp>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace vigie::bench {

namespace bj = boost::json;

// Steady-clock nanoseconds; comparable across the bench's threads.
inline std::int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Writes into `out` (reusing its capacity) the body of a bench message:
// {"msgtype":"m.text","body":"vigie-bench","vigie_bench":[room,seq,send_ns]}.
void BenchBody(std::string& out, std::uint32_t room, std::uint32_t seq, std::int64_t send_ns);

struct Marker {
  std::uint32_t room = 0;
  std::uint32_t seq = 0;
  std::int64_t send_ns = 0;
};
// Reads the marker of a client event; false for events the bench did not
// send.
bool ReadMarker(const bj::value& event, Marker& out);

// "/_matrix/client/v3/sync?timeout=N[&filter=F][&since=S]"; `filter` is
// already URL-encoded.
std::string SyncPath(int timeout_ms, const std::string& filter, const std::string& since);

// Parses `text` with a per-thread arena: the value is valid until the next
// ParseFast on the same thread, so use it before the next co_await. Null on
// bad JSON.
bj::value ParseFast(std::string_view text, bool* ok);

// Member lookups that tolerate any shape: null (or "") when `o` is null, or
// the member is absent or of another type.
const bj::object* AsObj(const bj::value& v);
const bj::object* Obj(const bj::object* o, std::string_view key);
const bj::array* Arr(const bj::object* o, std::string_view key);
std::string Str(const bj::object* o, std::string_view key);

// A growable bit set, one bit per message sequence number.
class Bits {
 public:
  // Sets bit i; returns whether it was already set.
  bool TestAndSet(std::uint32_t i);
  bool Test(std::uint32_t i) const;

 private:
  std::vector<std::uint64_t> words_;
};

}  // namespace vigie::bench
