// libFuzzer target for the canonical JSON encoder. Property checked: for any
// input json::Parse accepts and CanonicalJson encodes, the output parses
// again and encodes to the identical byte string (the encoding is a fixed
// point), in both number modes.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "common/canonical_json.h"
#include "common/error.h"
#include "common/json.h"

namespace {

void CheckFixedPoint(const boost::json::value& v, vigie::CanonicalFloats floats) {
  std::string once;
  try {
    once = vigie::CanonicalJson(v, floats);
  } catch (const vigie::Error&) {
    return;  // not encodable (float, out-of-range integer, ...)
  }
  std::string twice;
  try {
    twice = vigie::CanonicalJson(vigie::json::Parse(once), vigie::CanonicalFloats::kReject);
  } catch (const vigie::Error&) {
    std::abort();  // the encoder produced text that does not parse back
  }
  if (once != twice) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  boost::json::value v;
  try {
    v = vigie::json::Parse(text);
  } catch (const vigie::Error&) {
    return 0;
  }
  CheckFixedPoint(v, vigie::CanonicalFloats::kReject);
  CheckFixedPoint(v, vigie::CanonicalFloats::kIntegral);
  return 0;
}
