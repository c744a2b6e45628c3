// Fuzzes filter definitions (sent inline in /sync and /messages, or
// uploaded): parse, validate, then match against a few events.
#include <cstdint>
#include <string_view>

#include "common/error.h"
#include "common/json.h"
#include "service/filter.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  try {
    auto v = vigie::json::Parse(in);
    if (!v.is_object()) return 0;
    auto f = vigie::service::Filter::Parse(v.as_object());
    boost::json::object content{{"body", "x"}, {"url", "mxc://a/b"}};
    (void)f.room.timeline.MatchesEvent("m.room.message", "@a:b", content);
    (void)f.room.MatchesRoom("!r:b");
    (void)f.presence.Matches("m.presence", "@a:b");
    if (f.room.timeline.types) {
      for (const auto& t : *f.room.timeline.types) (void)vigie::service::GlobMatch(t, in);
    }
  } catch (const vigie::Error&) {
  }
  return 0;
}
