// Canonical JSON, as defined by the Matrix specification (appendices,
// "Canonical JSON"): the shortest UTF-8 encoding, object keys sorted by
// Unicode code point, integers only, minimal string escapes. It is the byte
// string that event hashes, event ids and signatures are computed over.
#pragma once

#include <boost/json.hpp>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

namespace vigie {

// The integers canonical JSON may hold: [-(2^53)+1, (2^53)-1].
inline constexpr std::int64_t kMaxCanonicalInt = (std::int64_t{1} << 53) - 1;
inline constexpr std::int64_t kMinCanonicalInt = -kMaxCanonicalInt;

// Deepest nesting the encoder accepts (json::Parse already stops at 64).
inline constexpr std::size_t kMaxCanonicalDepth = 128;

// What the encoder does with a number Boost.JSON holds as a double (any
// number written with a fraction or an exponent, or an integer outside the
// 64-bit range).
enum class CanonicalFloats {
  // Every double throws. This is what events and signed objects require
  // (floats are not permitted by the encoding).
  kReject,
  // A double that holds an exact integer in range is written as that integer
  // (1e10 -> 10000000000, -0.0 -> 0); any other double throws. This is the
  // reading of the specification's own `{"a": -0, "b": 1e10}` example.
  kIntegral,
};

// Returns the canonical JSON encoding of `v`.
// Throws Error(kBadJson) if `v` holds a number that is not an integer in
// [kMinCanonicalInt, kMaxCanonicalInt] (see CanonicalFloats), a string or key
// that is not valid UTF-8, or nesting deeper than kMaxCanonicalDepth.
std::string CanonicalJson(const boost::json::value& v,
                          CanonicalFloats floats = CanonicalFloats::kReject);
std::string CanonicalJson(const boost::json::object& o,
                          CanonicalFloats floats = CanonicalFloats::kReject);

// Canonical JSON of `o` as if its top-level keys listed in `skip` were
// absent, without copying `o`. Same errors as CanonicalJson.
std::string CanonicalJsonWithout(const boost::json::object& o,
                                 std::initializer_list<std::string_view> skip,
                                 CanonicalFloats floats = CanonicalFloats::kReject);

// True if `v` is an int64/uint64 in [kMinCanonicalInt, kMaxCanonicalInt].
// Doubles are never canonical integers, whatever their value.
bool IsCanonicalInteger(const boost::json::value& v);

}  // namespace vigie
