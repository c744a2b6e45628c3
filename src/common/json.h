// JSON parsing with the bounds vigie applies to everything a client sends,
// and small typed accessors that turn a wrong shape into M_BAD_JSON.
#pragma once

#include <boost/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace vigie::json {

namespace bj = boost::json;

inline constexpr std::size_t kMaxDepth = 64;

// Parses `text` as one JSON value. Throws Error(M_NOT_JSON) when it is not
// JSON, including nesting deeper than `max_depth` or invalid
// UTF-8.
bj::value Parse(std::string_view text, std::size_t max_depth = kMaxDepth);

// Parses a request body that must be a JSON object. An empty body is an empty
// object. Throws M_NOT_JSON / M_BAD_JSON.
bj::object ParseObject(std::string_view text, std::size_t max_depth = kMaxDepth);

// Accessors: absent keys give nullopt; a present key of the wrong type throws
// M_BAD_JSON naming the key. Strings containing NUL are the wrong type.
std::optional<std::string> GetString(const bj::object& o, std::string_view key);
std::optional<bool> GetBool(const bj::object& o, std::string_view key);
std::optional<std::int64_t> GetInt(const bj::object& o, std::string_view key);
const bj::object* GetObject(const bj::object& o, std::string_view key);
const bj::array* GetArray(const bj::object& o, std::string_view key);
// An array of strings (each checked like GetString), at most `max_items`
// long (M_INVALID_PARAM beyond).
std::optional<std::vector<std::string>> GetStringArray(const bj::object& o, std::string_view key,
                                                       std::size_t max_items);

// Like the Get* functions but a missing key throws M_MISSING_PARAM.
std::string RequireString(const bj::object& o, std::string_view key);
const bj::object& RequireObject(const bj::object& o, std::string_view key);

std::string Serialize(const bj::value& v);

// Appends `s` as a JSON string (quoted, escaped as Boost.JSON escapes), for
// responses written as text.
void AppendString(std::string& out, std::string_view s);

// Parses JSON this server stored: events, account data, to-device
// messages, filters, key backups. A request may nest as deep as
// `[limits] max_json_depth` (512 at most) and the server wraps more around
// it, so the bound is well above that: Boost.JSON's own default (32) made
// reading such a value fail, and with it every sync that had to serve it.
// Stored text is the server's own: a parse error throws
// (boost::system::system_error), or sets `ec`.
inline constexpr std::size_t kMaxStoredDepth = 1024;
bj::value ParseStored(std::string_view text, bj::storage_ptr sp = {});
bj::value ParseStored(std::string_view text, boost::system::error_code& ec);

// The text of some top-level members' values of the JSON object `text`, as
// written there, without parsing it: `found[i]` is the value of `keys[i]`
// (empty when absent). For reading a member or two of stored JSON that this
// server wrote (a PDU's content): a parse builds every member.
//
// The scan checks the object's structure (strings closed, brackets
// matched), not its numbers, literals, string characters or UTF-8:
// a value it returns is JSON if `text` is. It returns false, and the caller
// parses instead, when `text` is not an object it can read that way: broken
// structure, nesting deeper than kMaxDepth, a top-level key written with
// escapes, a wanted key present twice. `keys` are plain (no escapes).
bool ScanMembers(std::string_view text, std::span<const std::string_view> keys,
                 std::span<std::string_view> found);

}  // namespace vigie::json
