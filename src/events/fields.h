// Non-throwing typed lookups for untrusted JSON objects (events from clients
// and federation). A key that is absent or holds another type yields
// nullptr / nullopt, so callers turn it into a denial or an error of their
// choosing. Returned pointers point into `o`.
#pragma once

#include <boost/json.hpp>
#include <cstdint>
#include <optional>
#include <string_view>

#include "common/canonical_json.h"

namespace vigie::events {

inline const boost::json::string* FindString(const boost::json::object& o, std::string_view key) {
  const boost::json::value* v = o.if_contains(key);
  return v != nullptr ? v->if_string() : nullptr;
}

inline const boost::json::object* FindObject(const boost::json::object& o, std::string_view key) {
  const boost::json::value* v = o.if_contains(key);
  return v != nullptr ? v->if_object() : nullptr;
}

inline const boost::json::array* FindArray(const boost::json::object& o, std::string_view key) {
  const boost::json::value* v = o.if_contains(key);
  return v != nullptr ? v->if_array() : nullptr;
}

// Only canonical integers (int64/uint64 within +-(2^53-1)); doubles and
// strings are not integers.
inline std::optional<std::int64_t> FindInt(const boost::json::object& o, std::string_view key) {
  const boost::json::value* v = o.if_contains(key);
  if (v == nullptr || !IsCanonicalInteger(*v)) return std::nullopt;
  return v->is_int64() ? v->get_int64() : static_cast<std::int64_t>(v->get_uint64());
}

}  // namespace vigie::events
