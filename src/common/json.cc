#include "common/json.h"

#include <cstdint>
#include <cstring>

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

void AppendString(std::string& out, std::string_view s) {
  out += bj::serialize(bj::string_view(s.data(), s.size()));
}

namespace {

bj::parse_options StoredOptions() {
  bj::parse_options opt;
  opt.max_depth = kMaxStoredDepth;
  return opt;
}

}  // namespace

bj::value ParseStored(std::string_view text, bj::storage_ptr sp) {
  return bj::parse(text, std::move(sp), StoredOptions());
}

bj::value ParseStored(std::string_view text, boost::system::error_code& ec) {
  return bj::parse(text, ec, {}, StoredOptions());
}

namespace {

// A forward reader over the text of one JSON value at a time, for
// ScanMembers. Every step returns false on text it cannot take.
class Scanner {
 public:
  explicit Scanner(std::string_view text) : p_(text.data()), end_(p_ + text.size()) {}

  bool AtEnd() {
    SkipSpace();
    return p_ == end_;
  }

  // Consumes `c` after any white space.
  bool Take(char c) {
    SkipSpace();
    if (p_ == end_ || *p_ != c) return false;
    ++p_;
    return true;
  }

  // A member's key after any white space, and whether it holds an escape.
  bool Key(std::string_view& text, bool& escaped) {
    SkipSpace();
    if (!String(text)) return false;
    escaped = text.find('\\') != std::string_view::npos;
    return true;
  }

  // A string, at its opening quote: its text between the quotes. Its
  // closing quote is the first one not escaped (after an even run of
  // backslashes), found by memchr: a PDU is mostly strings (ids, hashes,
  // signatures).
  bool String(std::string_view& text) {
    if (p_ == end_ || *p_ != '"') return false;
    const char* start = ++p_;
    for (;;) {
      const auto* quote =
          static_cast<const char*>(std::memchr(p_, '"', static_cast<std::size_t>(end_ - p_)));
      if (quote == nullptr) return false;
      const char* run = quote;
      while (run != p_ && run[-1] == '\\') --run;
      p_ = quote + 1;
      if ((quote - run) % 2 == 0) {
        text = std::string_view(start, static_cast<std::size_t>(quote - start));
        return true;
      }
    }
  }

  // One value after any white space, skipped; its text in `text`.
  bool Value(std::string_view& text) {
    SkipSpace();
    const char* start = p_;
    if (p_ == end_) return false;
    std::string_view ignored;
    if (*p_ == '"') {
      if (!String(ignored)) return false;
    } else if (*p_ == '{' || *p_ == '[') {
      if (!Nested()) return false;
    } else {
      // A number or a literal: up to the next delimiter.
      while (p_ != end_ && IsScalarChar(*p_)) ++p_;
      if (p_ == start) return false;
    }
    text = std::string_view(start, static_cast<std::size_t>(p_ - start));
    return true;
  }

 private:
  static bool IsScalarChar(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || c == '-' || c == '+' || c == '.' ||
           c == 'E';
  }

  void SkipSpace() {
    while (p_ != end_ && (*p_ == ' ' || *p_ == '\t' || *p_ == '\n' || *p_ == '\r')) ++p_;
  }

  // An object or array at its opening bracket, to its matching close. The
  // open brackets are kept as bits (1 for an object), kMaxDepth at most.
  bool Nested() {
    static_assert(kMaxDepth <= 64);
    std::uint64_t objects = 0;
    std::size_t depth = 0;
    std::string_view ignored;
    while (p_ != end_) {
      const char c = *p_;
      if (c == '"') {
        if (!String(ignored)) return false;
        continue;
      }
      if (c == '{' || c == '[') {
        if (depth == kMaxDepth) return false;
        objects = (objects << 1) | (c == '{' ? 1 : 0);
        ++depth;
      } else if (c == '}' || c == ']') {
        if ((objects & 1) != (c == '}' ? 1U : 0U)) return false;
        objects >>= 1;
        if (--depth == 0) {
          ++p_;
          return true;
        }
      }
      ++p_;
    }
    return false;
  }

  const char* p_;
  const char* end_;
};

}  // namespace

bool ScanMembers(std::string_view text, std::span<const std::string_view> keys,
                 std::span<std::string_view> found) {
  if (found.size() < keys.size()) return false;
  for (auto& f : found) f = {};  // a value's text is never empty
  Scanner s(text);
  if (!s.Take('{')) return false;
  if (!s.Take('}')) {
    do {
      std::string_view key, value;
      bool escaped = false;
      if (!s.Key(key, escaped) || !s.Take(':') || !s.Value(value)) return false;
      // A key written with escapes may spell a wanted one.
      if (escaped) return false;
      for (std::size_t i = 0; i < keys.size(); ++i) {
        if (key != keys[i]) continue;
        // Twice: which value counts is a parser's to say.
        if (!found[i].empty()) return false;
        found[i] = value;
      }
    } while (s.Take(','));
    if (!s.Take('}')) return false;
  }
  return s.AtEnd();
}

}  // namespace vigie::json
