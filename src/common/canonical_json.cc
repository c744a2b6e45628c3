#include "common/canonical_json.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <vector>

#include "common/error.h"

namespace vigie {

namespace bj = boost::json;

namespace {

class Encoder {
 public:
  explicit Encoder(CanonicalFloats floats) : floats_(floats) {}

  void Value(const bj::value& v, std::size_t depth) {
    switch (v.kind()) {
      case bj::kind::null:
        out_ += "null";
        return;
      case bj::kind::bool_:
        out_ += v.get_bool() ? "true" : "false";
        return;
      case bj::kind::int64:
        Integer(v.get_int64());
        return;
      case bj::kind::uint64:
        if (v.get_uint64() > static_cast<std::uint64_t>(kMaxCanonicalInt)) OutOfRange();
        Integer(static_cast<std::int64_t>(v.get_uint64()));
        return;
      case bj::kind::double_:
        Double(v.get_double());
        return;
      case bj::kind::string:
        String(v.get_string());
        return;
      case bj::kind::array:
        Array(v.get_array(), depth + 1);
        return;
      case bj::kind::object:
        Object(v.get_object(), {}, depth + 1);
        return;
    }
  }

  void Object(const bj::object& o, std::initializer_list<std::string_view> skip,
              std::size_t depth) {
    CheckDepth(depth);
    std::vector<const bj::key_value_pair*> members;
    members.reserve(o.size());
    for (const auto& kv : o) {
      if (std::find(skip.begin(), skip.end(), kv.key()) != skip.end()) continue;
      members.push_back(&kv);
    }
    // string_view ordering compares bytes as unsigned char, and UTF-8 byte
    // order is code point order.
    std::sort(members.begin(), members.end(),
              [](const bj::key_value_pair* a, const bj::key_value_pair* b) {
                return a->key() < b->key();
              });
    out_ += '{';
    bool first = true;
    for (const auto* kv : members) {
      if (!first) out_ += ',';
      first = false;
      String(kv->key());
      out_ += ':';
      Value(kv->value(), depth);
    }
    out_ += '}';
  }

  std::string Take() { return std::move(out_); }

 private:
  static void CheckDepth(std::size_t depth) {
    if (depth > kMaxCanonicalDepth) throw BadJson("JSON nested too deeply for canonical JSON");
  }

  [[noreturn]] static void OutOfRange() {
    throw BadJson("Integer out of the canonical JSON range [-(2^53)+1, (2^53)-1]");
  }

  void Integer(std::int64_t i) {
    if (i < kMinCanonicalInt || i > kMaxCanonicalInt) OutOfRange();
    char buf[24];
    auto res = std::to_chars(buf, buf + sizeof(buf), i);
    out_.append(buf, res.ptr);
  }

  void Double(double d) {
    if (floats_ == CanonicalFloats::kReject) {
      throw BadJson("Floating-point numbers are not allowed in canonical JSON");
    }
    if (!std::isfinite(d) || std::trunc(d) != d) {
      throw BadJson("Non-integral numbers are not allowed in canonical JSON");
    }
    // Compare as doubles before converting: both bounds are exact in a double.
    if (d < static_cast<double>(kMinCanonicalInt) || d > static_cast<double>(kMaxCanonicalInt)) {
      OutOfRange();
    }
    Integer(static_cast<std::int64_t>(d));  // -0.0 becomes 0
  }

  void Array(const bj::array& a, std::size_t depth) {
    CheckDepth(depth);
    out_ += '[';
    bool first = true;
    for (const auto& e : a) {
      if (!first) out_ += ',';
      first = false;
      Value(e, depth);
    }
    out_ += ']';
  }

  // Writes `s` quoted, escaping only '"', '\\' and U+0000..U+001F, and
  // validating that it is well-formed UTF-8 (RFC 3629: no overlong forms, no
  // surrogates, nothing above U+10FFFF).
  void String(std::string_view s) {
    static constexpr char kHex[] = "0123456789abcdef";
    out_ += '"';
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    const auto* end = p + s.size();
    while (p < end) {
      // A run of printable ASCII other than '"' and '\\' is copied as it
      // is, in one append: a character at a time was a call each (the
      // string's push_back is not inlined), a tenth of building an event.
      const auto* run = p;
      while (p < end && *p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\') ++p;
      if (p != run)
        out_.append(reinterpret_cast<const char*>(run), static_cast<std::size_t>(p - run));
      if (p == end) break;
      unsigned char c = *p;
      if (c < 0x80) {
        switch (c) {
          case '"':
            out_ += "\\\"";
            break;
          case '\\':
            out_ += "\\\\";
            break;
          case '\b':
            out_ += "\\b";
            break;
          case '\f':
            out_ += "\\f";
            break;
          case '\n':
            out_ += "\\n";
            break;
          case '\r':
            out_ += "\\r";
            break;
          case '\t':
            out_ += "\\t";
            break;
          default:  // the other characters below U+0020
            out_ += "\\u00";
            out_ += kHex[c >> 4];
            out_ += kHex[c & 0xf];
        }
        ++p;
        continue;
      }
      std::size_t len = Utf8SequenceLength(p, end);
      if (len == 0) throw BadJson("String is not valid UTF-8");
      out_.append(reinterpret_cast<const char*>(p), len);
      p += len;
    }
    out_ += '"';
  }

  // Length of the valid multi-byte sequence starting at `p`, or 0.
  static std::size_t Utf8SequenceLength(const unsigned char* p, const unsigned char* end) {
    auto cont = [&](std::size_t i) { return p + i < end && (p[i] & 0xC0) == 0x80; };
    unsigned char c = p[0];
    if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
      if (!cont(1) || !cont(2)) return 0;
      if (c == 0xE0 && p[1] < 0xA0) return 0;  // overlong
      if (c == 0xED && p[1] > 0x9F) return 0;  // UTF-16 surrogate
      return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
      if (!cont(1) || !cont(2) || !cont(3)) return 0;
      if (c == 0xF0 && p[1] < 0x90) return 0;  // overlong
      if (c == 0xF4 && p[1] > 0x8F) return 0;  // above U+10FFFF
      return 4;
    }
    return 0;
  }

  CanonicalFloats floats_;
  std::string out_;
};

}  // namespace

std::string CanonicalJson(const bj::value& v, CanonicalFloats floats) {
  Encoder e(floats);
  e.Value(v, 0);
  return e.Take();
}

std::string CanonicalJson(const bj::object& o, CanonicalFloats floats) {
  Encoder e(floats);
  e.Object(o, {}, 1);
  return e.Take();
}

std::string CanonicalJsonWithout(const bj::object& o, std::initializer_list<std::string_view> skip,
                                 CanonicalFloats floats) {
  Encoder e(floats);
  e.Object(o, skip, 1);
  return e.Take();
}

bool IsCanonicalInteger(const bj::value& v) {
  if (v.is_int64()) {
    return v.get_int64() >= kMinCanonicalInt && v.get_int64() <= kMaxCanonicalInt;
  }
  if (v.is_uint64()) return v.get_uint64() <= static_cast<std::uint64_t>(kMaxCanonicalInt);
  return false;
}

}  // namespace vigie
