// libFuzzer target for the canonical JSON encoder and json::ScanMembers.
// Properties checked: for any input json::Parse accepts and CanonicalJson
// encodes, the output parses again and encodes to the identical byte string
// (the encoding is a fixed point), in both number modes. ScanMembers reads
// any input without fault, and on an object json::Parse accepts, what it
// finds (when it does not refuse) is exactly each wanted member's value.
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

void CheckScan(std::string_view text, const boost::json::value* parsed) {
  static constexpr std::string_view kKeys[] = {"content", "redacts", "a"};
  std::string_view found[3];
  if (!vigie::json::ScanMembers(text, kKeys, found)) return;
  for (const auto& f : found) {
    // A value found lies within the text.
    if (!f.empty() && (f.data() < text.data() || f.data() + f.size() > text.data() + text.size())) {
      std::abort();
    }
  }
  if (parsed == nullptr) return;  // not JSON: nothing to compare with
  if (!parsed->is_object()) std::abort();
  for (std::size_t i = 0; i < 3; ++i) {
    const boost::json::value* member = parsed->as_object().if_contains(kKeys[i]);
    if ((member == nullptr) != found[i].empty()) std::abort();
    if (member == nullptr) continue;
    boost::json::value value;
    try {
      value = vigie::json::Parse(found[i]);
    } catch (const vigie::Error&) {
      std::abort();  // a member of valid JSON is valid JSON
    }
    if (value != *member) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  boost::json::value v;
  try {
    v = vigie::json::Parse(text);
  } catch (const vigie::Error&) {
    CheckScan(text, nullptr);
    return 0;
  }
  CheckScan(text, &v);
  CheckFixedPoint(v, vigie::CanonicalFloats::kReject);
  CheckFixedPoint(v, vigie::CanonicalFloats::kIntegral);
  return 0;
}
