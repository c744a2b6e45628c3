#include "common/json.h"

#include "common/error.h"

namespace vigie::json {

bj::value Parse(std::string_view text, std::size_t max_depth) {
  bj::parse_options opt;
  opt.max_depth = max_depth;
  opt.allow_comments = false;
  opt.allow_trailing_commas = false;
  opt.allow_invalid_utf8 = false;
  boost::system::error_code ec;
  bj::value v = bj::parse(text, ec, {}, opt);
  if (ec) {
    throw Error(ErrorCode::kNotJson, "Content not JSON: " + ec.message());
  }
  return v;
}

bj::object ParseObject(std::string_view text, std::size_t max_depth) {
  if (text.find_first_not_of(" \t\r\n") == std::string_view::npos) return {};
  bj::value v = Parse(text, max_depth);
  if (!v.is_object()) throw BadJson("Request body must be a JSON object");
  return std::move(v.as_object());
}

namespace {
[[noreturn]] void WrongType(std::string_view key, const char* want) {
  throw BadJson("'" + std::string(key) + "' must be " + want);
}
}  // namespace

std::optional<std::string> GetString(const bj::object& o, std::string_view key) {
  auto it = o.find(key);
  if (it == o.end() || it->value().is_null()) return std::nullopt;
  if (!it->value().is_string()) WrongType(key, "a string");
  std::string_view v = it->value().get_string();
  // Strings read field by field become ids, names and columns: a NUL has
  // no place in them (and PostgreSQL cannot store one).
  if (v.find('\0') != std::string_view::npos) WrongType(key, "a string without NUL characters");
  return std::string(v);
}

std::optional<bool> GetBool(const bj::object& o, std::string_view key) {
  auto it = o.find(key);
  if (it == o.end() || it->value().is_null()) return std::nullopt;
  if (!it->value().is_bool()) WrongType(key, "a boolean");
  return it->value().get_bool();
}

std::optional<std::int64_t> GetInt(const bj::object& o, std::string_view key) {
  auto it = o.find(key);
  if (it == o.end() || it->value().is_null()) return std::nullopt;
  const auto& v = it->value();
  if (v.is_int64()) return v.get_int64();
  if (v.is_uint64() && v.get_uint64() <= static_cast<std::uint64_t>(INT64_MAX)) {
    return static_cast<std::int64_t>(v.get_uint64());
  }
  WrongType(key, "an integer");
}

const bj::object* GetObject(const bj::object& o, std::string_view key) {
  auto it = o.find(key);
  if (it == o.end() || it->value().is_null()) return nullptr;
  if (!it->value().is_object()) WrongType(key, "an object");
  return &it->value().get_object();
}

const bj::array* GetArray(const bj::object& o, std::string_view key) {
  auto it = o.find(key);
  if (it == o.end() || it->value().is_null()) return nullptr;
  if (!it->value().is_array()) WrongType(key, "an array");
  return &it->value().get_array();
}

std::optional<std::vector<std::string>> GetStringArray(const bj::object& o, std::string_view key,
                                                       std::size_t max_items) {
  const auto* a = GetArray(o, key);
  if (!a) return std::nullopt;
  if (a->size() > max_items) {
    throw InvalidParam("'" + std::string(key) + "' has more than " + std::to_string(max_items) +
                       " items");
  }
  std::vector<std::string> out;
  out.reserve(a->size());
  for (const auto& v : *a) {
    if (!v.is_string()) WrongType(key, "an array of strings");
    std::string_view sv = v.get_string();
    if (sv.find('\0') != std::string_view::npos) {
      WrongType(key, "an array of strings without NUL characters");
    }
    out.emplace_back(sv);
  }
  return out;
}

std::string RequireString(const bj::object& o, std::string_view key) {
  auto s = GetString(o, key);
  if (!s) throw MissingParam("Missing '" + std::string(key) + "'");
  return *s;
}

const bj::object& RequireObject(const bj::object& o, std::string_view key) {
  const auto* p = GetObject(o, key);
  if (!p) throw MissingParam("Missing '" + std::string(key) + "'");
  return *p;
}

std::string Serialize(const bj::value& v) { return bj::serialize(v); }

}  // namespace vigie::json
