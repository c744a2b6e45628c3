#include "service/push_rules.h"

#include <algorithm>
#include <array>
#include <boost/json/parse.hpp>

#include "common/ascii.h"
#include "common/error.h"

namespace vigie::service::push {
namespace {

namespace bj = boost::json;

constexpr std::int32_t kStar = -1;
constexpr std::int32_t kAny = -2;
// Stands for the evaluated user's id in the server-default rules.
constexpr std::string_view kSelf = "[the user's Matrix ID]";
constexpr std::int64_t kMaxSafeInt = (std::int64_t{1} << 53) - 1;
constexpr std::size_t kMaxConditions = 32;
constexpr std::size_t kMaxActions = 32;
constexpr std::size_t kMaxPatternBytes = 1024;

// The next code point of `s` from `i` (advanced past it). A byte that does
// not start a valid UTF-8 sequence stands for itself, outside Unicode.
std::int32_t NextCodePoint(std::string_view s, std::size_t& i) {
  const auto c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) {
    ++i;
    return c;
  }
  const std::size_t len = c >= 0xF8 ? 0 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 0;
  if (len == 0 || i + len > s.size()) {
    ++i;
    return 0x110000 + c;
  }
  std::int32_t cp = c & (0x3F >> (len - 1));
  for (std::size_t k = 1; k < len; ++k) {
    const auto d = static_cast<unsigned char>(s[i + k]);
    if ((d & 0xC0) != 0x80) {
      ++i;
      return 0x110000 + c;
    }
    cp = (cp << 6) | (d & 0x3F);
  }
  i += len;
  return cp;
}

std::int32_t Lower(std::int32_t c) { return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c; }

bool IsWordByte(char ch) {
  const auto c = static_cast<unsigned char>(ch);
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

void SetBit(std::vector<std::uint64_t>& v, std::size_t i) {
  v[i / 64] |= std::uint64_t{1} << (i % 64);
}

bool EqualsIgnoreAsciiCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return Lower(static_cast<unsigned char>(x)) == Lower(static_cast<unsigned char>(y));
         });
}

// A value event_property_* may compare: string, integer in the canonical
// JSON range, boolean, null.
bool IsScalar(const bj::value& v) {
  if (v.is_string() || v.is_bool() || v.is_null()) return true;
  if (v.is_int64()) return v.get_int64() >= -kMaxSafeInt && v.get_int64() <= kMaxSafeInt;
  if (v.is_uint64()) return v.get_uint64() <= static_cast<std::uint64_t>(kMaxSafeInt);
  return false;
}

bool ScalarEquals(const bj::value& a, const bj::value& b) {
  if (!IsScalar(a) || !IsScalar(b)) return false;
  if (a.is_string() && b.is_string()) return a.get_string() == b.get_string();
  if (a.is_bool() && b.is_bool()) return a.get_bool() == b.get_bool();
  if (a.is_null() && b.is_null()) return true;
  auto as_int = [](const bj::value& v) -> std::optional<std::int64_t> {
    if (v.is_int64()) return v.get_int64();
    if (v.is_uint64()) return static_cast<std::int64_t>(v.get_uint64());
    return std::nullopt;
  };
  auto x = as_int(a), y = as_int(b);
  return x && y && *x == *y;
}

const bj::value* Lookup(const bj::object& ev, const std::vector<std::string>& path) {
  const bj::object* o = &ev;
  const bj::value* v = nullptr;
  for (std::size_t i = 0; i < path.size(); ++i) {
    v = o->if_contains(path[i]);
    if (!v) return nullptr;
    if (i + 1 < path.size()) {
      if (!v->is_object()) return nullptr;
      o = &v->get_object();
    }
  }
  return v;
}

std::optional<std::string> StringField(const bj::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  if (!v || !v->is_string()) return std::nullopt;
  return std::string(v->get_string());
}

// Parses one condition. Malformed or unknown conditions never match.
Condition ParseCondition(const bj::object& c, bool allow_self) {
  Condition out;
  auto kind = StringField(c, "kind").value_or("");
  auto key = StringField(c, "key");
  const bj::value* value = c.if_contains("value");
  if (kind == "event_match") {
    auto pattern = StringField(c, "pattern");
    if (!key || !pattern || pattern->size() > kMaxPatternBytes) return out;
    out.path = SplitKey(*key);
    if (allow_self && *pattern == kSelf) {
      out.is_self = true;
    } else {
      out.glob = Glob(*pattern);
    }
    out.word_boundary = out.path.size() == 2 && out.path[0] == "content" && out.path[1] == "body";
    out.type = Condition::Type::kEventMatch;
  } else if (kind == "event_property_is" || kind == "event_property_contains") {
    if (!key || !value || !IsScalar(*value)) return out;
    out.path = SplitKey(*key);
    out.is_self = allow_self && value->is_string() && value->get_string() == kSelf;
    out.value = *value;
    out.type = kind == "event_property_is" ? Condition::Type::kPropertyIs
                                           : Condition::Type::kPropertyContains;
  } else if (kind == "contains_display_name") {
    out.type = Condition::Type::kContainsDisplayName;
  } else if (kind == "room_member_count") {
    auto is = StringField(c, "is");
    if (!is) return out;
    std::string_view s = *is;
    using Op = Condition::Op;
    static const std::pair<std::string_view, Op> kOps[] = {
        {"==", Op::kEq}, {"<=", Op::kLe}, {">=", Op::kGe}, {"<", Op::kLt}, {">", Op::kGt}};
    for (const auto& [prefix, op] : kOps) {
      if (s.starts_with(prefix)) {
        out.op = op;
        s.remove_prefix(prefix.size());
        break;
      }
    }
    if (s.empty() || s.size() > 15) return out;
    std::int64_t n = 0;
    for (char ch : s) {
      if (ch < '0' || ch > '9') return out;
      n = n * 10 + (ch - '0');
    }
    out.count = n;
    out.type = Condition::Type::kMemberCount;
  } else if (kind == "sender_notification_permission") {
    if (!key) return out;
    out.key = *key;
    out.type = Condition::Type::kSenderPermission;
  }
  return out;
}

Condition FieldIs(std::string field, std::string_view value) {
  Condition c;
  c.type = Condition::Type::kPropertyIs;
  c.path = {std::move(field)};
  c.value = value;
  return c;
}

// Fills the parsed conditions of a rule from its kind and its JSON.
void Compile(Rule& r, bool allow_self) {
  r.conditions.clear();
  switch (r.kind) {
    case RuleKind::kOverride:
    case RuleKind::kUnderride:
      for (const auto& c : r.conditions_json) {
        r.conditions.push_back(c.is_object() ? ParseCondition(c.get_object(), allow_self)
                                             : Condition{});
      }
      break;
    case RuleKind::kContent: {
      Condition c;
      c.type = Condition::Type::kEventMatch;
      c.path = {"content", "body"};
      c.word_boundary = true;
      c.glob = Glob(r.pattern.value_or(""));
      r.conditions.push_back(std::move(c));
      break;
    }
    case RuleKind::kRoom:
      r.conditions.push_back(FieldIs("room_id", r.rule_id));
      break;
    case RuleKind::kSender:
      r.conditions.push_back(FieldIs("sender", r.rule_id));
      break;
  }
  SetOutcome(r);
}

// The server-default rules, with "[the user's Matrix ID]" for the user.
constexpr std::string_view kDefaultRules = R"json({
 "override": [
  {"rule_id": ".m.rule.master", "default": true, "enabled": false, "conditions": [],
   "actions": []},
  {"rule_id": ".m.rule.suppress_notices", "default": true, "enabled": true,
   "conditions": [{"kind": "event_match", "key": "content.msgtype", "pattern": "m.notice"}],
   "actions": []},
  {"rule_id": ".m.rule.invite_for_me", "default": true, "enabled": true,
   "conditions": [{"key": "type", "kind": "event_match", "pattern": "m.room.member"},
                  {"key": "content.membership", "kind": "event_match", "pattern": "invite"},
                  {"key": "state_key", "kind": "event_match",
                   "pattern": "[the user's Matrix ID]"}],
   "actions": ["notify", {"set_tweak": "sound", "value": "default"}]},
  {"rule_id": ".m.rule.member_event", "default": true, "enabled": true,
   "conditions": [{"key": "type", "kind": "event_match", "pattern": "m.room.member"}],
   "actions": []},
  {"rule_id": ".m.rule.is_user_mention", "default": true, "enabled": true,
   "conditions": [{"kind": "event_property_contains", "key": "content.m\\.mentions.user_ids",
                   "value": "[the user's Matrix ID]"}],
   "actions": ["notify", {"set_tweak": "sound", "value": "default"},
               {"set_tweak": "highlight"}]},
  {"rule_id": ".m.rule.is_room_mention", "default": true, "enabled": true,
   "conditions": [{"kind": "event_property_is", "key": "content.m\\.mentions.room",
                   "value": true},
                  {"kind": "sender_notification_permission", "key": "room"}],
   "actions": ["notify", {"set_tweak": "highlight"}]},
  {"rule_id": ".m.rule.tombstone", "default": true, "enabled": true,
   "conditions": [{"kind": "event_match", "key": "type", "pattern": "m.room.tombstone"},
                  {"kind": "event_match", "key": "state_key", "pattern": ""}],
   "actions": ["notify", {"set_tweak": "highlight"}]},
  {"rule_id": ".m.rule.reaction", "default": true, "enabled": true,
   "conditions": [{"kind": "event_match", "key": "type", "pattern": "m.reaction"}],
   "actions": []},
  {"rule_id": ".m.rule.room.server_acl", "default": true, "enabled": true,
   "conditions": [{"kind": "event_match", "key": "type", "pattern": "m.room.server_acl"},
                  {"kind": "event_match", "key": "state_key", "pattern": ""}],
   "actions": []},
  {"rule_id": ".m.rule.suppress_edits", "default": true, "enabled": true,
   "conditions": [{"kind": "event_property_is", "key": "content.m\\.relates_to.rel_type",
                   "value": "m.replace"}],
   "actions": []}
 ],
 "content": [],
 "room": [],
 "sender": [],
 "underride": [
  {"rule_id": ".m.rule.call", "default": true, "enabled": true,
   "conditions": [{"key": "type", "kind": "event_match", "pattern": "m.call.invite"}],
   "actions": ["notify", {"set_tweak": "sound", "value": "ring"}]},
  {"rule_id": ".m.rule.encrypted_room_one_to_one", "default": true, "enabled": true,
   "conditions": [{"kind": "room_member_count", "is": "2"},
                  {"kind": "event_match", "key": "type", "pattern": "m.room.encrypted"}],
   "actions": ["notify", {"set_tweak": "sound", "value": "default"}]},
  {"rule_id": ".m.rule.room_one_to_one", "default": true, "enabled": true,
   "conditions": [{"kind": "room_member_count", "is": "2"},
                  {"kind": "event_match", "key": "type", "pattern": "m.room.message"}],
   "actions": ["notify", {"set_tweak": "sound", "value": "default"}]},
  {"rule_id": ".m.rule.message", "default": true, "enabled": true,
   "conditions": [{"kind": "event_match", "key": "type", "pattern": "m.room.message"}],
   "actions": ["notify"]},
  {"rule_id": ".m.rule.encrypted", "default": true, "enabled": true,
   "conditions": [{"kind": "event_match", "key": "type", "pattern": "m.room.encrypted"}],
   "actions": ["notify"]}
 ]
})json";

Ruleset BuildDefaults() {
  Ruleset rs;
  const bj::object all = bj::parse(kDefaultRules).as_object();
  for (RuleKind kind : kAllKinds) {
    for (const auto& v : all.at(KindName(kind)).as_array()) {
      const auto& o = v.as_object();
      Rule r;
      r.rule_id = std::string(o.at("rule_id").as_string());
      r.kind = kind;
      r.is_default = true;
      r.enabled = o.at("enabled").as_bool();
      r.actions = o.at("actions").as_array();
      if (const auto* c = o.if_contains("conditions")) r.conditions_json = c->as_array();
      Compile(r, true);
      rs.rules.push_back(std::move(r));
    }
  }
  return rs;
}

// Replaces the placeholder in a default rule's conditions.
bj::array WithUser(const bj::array& conditions, std::string_view user_id) {
  bj::array out = conditions;
  for (auto& c : out) {
    if (!c.is_object()) continue;
    for (const char* k : {"pattern", "value"}) {
      auto* v = c.get_object().if_contains(k);
      if (v && v->is_string() && v->get_string() == kSelf) *v = user_id;
    }
  }
  return out;
}

// Puts rules together in evaluation order: master first, then per kind
// the user's rules before the defaults.
Ruleset Assemble(std::vector<Rule> defaults, std::vector<Rule> (&user)[5]) {
  Ruleset rs;
  auto master = std::find_if(defaults.begin(), defaults.end(),
                             [](const Rule& r) { return r.rule_id == ".m.rule.master"; });
  if (master != defaults.end()) rs.rules.push_back(*master);
  for (RuleKind kind : kAllKinds) {
    for (auto& r : user[static_cast<int>(kind)]) rs.rules.push_back(std::move(r));
    for (auto& r : defaults) {
      if (r.kind == kind && r.rule_id != ".m.rule.master") rs.rules.push_back(std::move(r));
    }
  }
  return rs;
}

bool ConditionHolds(const Condition& c, const EventContext& ev, std::string_view user_id) {
  using Type = Condition::Type;
  switch (c.type) {
    case Type::kEventMatch: {
      const bj::value* v = Lookup(*ev.event, c.path);
      if (!v || !v->is_string()) return false;
      std::string_view s = v->get_string();
      if (c.is_self) return EqualsIgnoreAsciiCase(s, user_id);
      return c.word_boundary ? c.glob.MatchesWords(s) : c.glob.Matches(s);
    }
    case Type::kPropertyIs: {
      const bj::value* v = Lookup(*ev.event, c.path);
      if (!v) return false;
      if (c.is_self) return v->is_string() && v->get_string() == user_id;
      return ScalarEquals(*v, c.value);
    }
    case Type::kPropertyContains: {
      const bj::value* v = Lookup(*ev.event, c.path);
      if (!v || !v->is_array()) return false;
      for (const auto& x : v->get_array()) {
        if (c.is_self ? x.is_string() && x.get_string() == user_id : ScalarEquals(x, c.value)) {
          return true;
        }
      }
      return false;
    }
    case Type::kContainsDisplayName: {
      if (!ev.display_name) return false;
      static const std::vector<std::string> kBody = {"content", "body"};
      const bj::value* body = Lookup(*ev.event, kBody);
      if (!body || !body->is_string()) return false;
      auto name = ev.display_name(user_id);
      if (!name || name->empty()) return false;
      std::string_view b = body->get_string();
      if (ascii::FindAny(*name, "*?") == std::string::npos) return Glob(*name).MatchesWords(b);
      // The name is matched literally, wildcards included.
      for (std::size_t i = 0; i + name->size() <= b.size(); ++i) {
        if ((i == 0 || !IsWordByte(b[i - 1])) &&
            (i + name->size() == b.size() || !IsWordByte(b[i + name->size()])) &&
            EqualsIgnoreAsciiCase(b.substr(i, name->size()), *name)) {
          return true;
        }
      }
      return false;
    }
    case Type::kMemberCount:
      switch (c.op) {
        case Condition::Op::kEq:
          return ev.member_count == c.count;
        case Condition::Op::kLt:
          return ev.member_count < c.count;
        case Condition::Op::kGt:
          return ev.member_count > c.count;
        case Condition::Op::kLe:
          return ev.member_count <= c.count;
        case Condition::Op::kGe:
          return ev.member_count >= c.count;
      }
      return false;
    case Type::kSenderPermission:
      return ev.sender_may_notify && ev.sender_may_notify(c.key);
    case Type::kNever:
      return false;
  }
  return false;
}

}  // namespace

std::optional<RuleKind> ParseKind(std::string_view s) {
  for (RuleKind k : kAllKinds) {
    if (KindName(k) == s) return k;
  }
  return std::nullopt;
}

std::string_view KindName(RuleKind k) {
  switch (k) {
    case RuleKind::kOverride:
      return "override";
    case RuleKind::kContent:
      return "content";
    case RuleKind::kRoom:
      return "room";
    case RuleKind::kSender:
      return "sender";
    case RuleKind::kUnderride:
      return "underride";
  }
  return "override";
}

Glob::Glob(std::string_view pattern) {
  for (std::size_t i = 0; i < pattern.size();) {
    std::int32_t c = NextCodePoint(pattern, i);
    if (c == '*') {
      if (tokens_.empty() || tokens_.back() != kStar) tokens_.push_back(kStar);
    } else if (c == '?') {
      tokens_.push_back(kAny);
    } else {
      tokens_.push_back(Lower(c));
    }
  }
  // Bit i: the first i tokens have matched; bit m: all of them.
  words_ = tokens_.size() / 64 + 1;
  star_.assign(words_, 0);
  any_.assign(words_, 0);
  for (std::size_t i = 0; i < tokens_.size(); ++i) {
    const std::int32_t t = tokens_[i];
    if (t == kStar) {
      SetBit(star_, i);
    } else if (t == kAny) {
      SetBit(any_, i);
    } else {
      auto it = std::find_if(literals_.begin(), literals_.end(),
                             [t](const auto& l) { return l.first == t; });
      if (it == literals_.end()) {
        literals_.emplace_back(t, std::vector<std::uint64_t>(words_, 0));
        it = literals_.end() - 1;
      }
      SetBit(it->second, i);
    }
  }
  std::sort(literals_.begin(), literals_.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
}

bool Glob::Matches(std::string_view text) const { return Run(text, false); }
bool Glob::MatchesWords(std::string_view text) const { return Run(text, true); }

// A bit-parallel NFA: one pass over `text`, words_ machine words per code
// point, whatever the wildcards.
bool Glob::Run(std::string_view text, bool words) const {
  const std::size_t m = tokens_.size();
  // State sets on the stack for patterns up to 255 tokens.
  constexpr std::size_t kInlineWords = 4;
  std::array<std::uint64_t, kInlineWords> cur_inline{}, next_inline{};
  std::vector<std::uint64_t> cur_heap, next_heap;
  std::uint64_t* cur = cur_inline.data();
  std::uint64_t* next = next_inline.data();
  if (words_ > kInlineWords) {
    cur_heap.assign(words_, 0);
    next_heap.assign(words_, 0);
    cur = cur_heap.data();
    next = next_heap.data();
  }
  // A '*' that is reached may also match nothing (stars are collapsed,
  // so one step is enough).
  auto close = [this](std::uint64_t* s) {
    std::uint64_t carry = 0;
    for (std::size_t w = 0; w < words_; ++w) {
      const std::uint64_t x = s[w] & star_[w];
      s[w] |= (x << 1) | carry;
      carry = x >> 63;
    }
  };
  auto start = [&] {
    cur[0] |= 1;
    close(cur);
  };
  auto accepted = [&] { return (cur[m / 64] >> (m % 64)) & 1; };
  if (!words) start();
  for (std::size_t i = 0;;) {
    if (words) {
      // Substrings start after a non-word character (or at the start) and
      // end before one (or at the end).
      if (i == 0 || !IsWordByte(text[i - 1])) start();
      if (accepted() && (i == text.size() || !IsWordByte(text[i]))) return true;
    }
    if (i == text.size()) break;
    const std::int32_t c = Lower(NextCodePoint(text, i));
    auto lit = std::lower_bound(literals_.begin(), literals_.end(), c,
                                [](const auto& l, std::int32_t v) { return l.first < v; });
    const std::vector<std::uint64_t>* eq =
        lit != literals_.end() && lit->first == c ? &lit->second : nullptr;
    std::uint64_t carry = 0;
    bool alive = false;
    for (std::size_t w = 0; w < words_; ++w) {
      const std::uint64_t step = cur[w] & ~star_[w] & (any_[w] | (eq ? (*eq)[w] : 0));
      next[w] = (step << 1) | carry | (cur[w] & star_[w]);
      carry = step >> 63;
      alive |= next[w] != 0;
    }
    close(next);
    std::swap(cur, next);
    if (!words && !alive) return false;
  }
  return !words && accepted();
}

std::vector<std::string> SplitKey(std::string_view key) {
  std::vector<std::string> out(1);
  for (std::size_t i = 0; i < key.size(); ++i) {
    const char c = key[i];
    if (c == '\\' && i + 1 < key.size() && (key[i + 1] == '.' || key[i + 1] == '\\')) {
      out.back() += key[++i];
    } else if (c == '.') {
      out.emplace_back();
    } else {
      out.back() += c;
    }
  }
  return out;
}

const Rule* Ruleset::Find(RuleKind kind, std::string_view rule_id) const {
  for (const auto& r : rules) {
    if (r.kind == kind && r.rule_id == rule_id) return &r;
  }
  return nullptr;
}

Rule* Ruleset::Find(RuleKind kind, std::string_view rule_id) {
  for (auto& r : rules) {
    if (r.kind == kind && r.rule_id == rule_id) return &r;
  }
  return nullptr;
}

std::size_t Ruleset::UserRuleCount() const {
  return static_cast<std::size_t>(
      std::count_if(rules.begin(), rules.end(), [](const Rule& r) { return !r.is_default; }));
}

std::shared_ptr<const Ruleset> DefaultRuleset() {
  static const std::shared_ptr<const Ruleset> kDefaults =
      std::make_shared<const Ruleset>(BuildDefaults());
  return kDefaults;
}

Ruleset LoadRuleset(const bj::object& stored) {
  std::vector<Rule> defaults = DefaultRuleset()->rules;
  std::vector<Rule> user[5];
  const auto* global = stored.if_contains("global");
  if (global && global->is_object()) {
    for (RuleKind kind : kAllKinds) {
      const auto* list = global->get_object().if_contains(KindName(kind));
      if (!list || !list->is_array()) continue;
      for (const auto& v : list->get_array()) {
        if (!v.is_object()) continue;
        const auto& o = v.get_object();
        auto id = StringField(o, "rule_id");
        if (!id) continue;
        const auto* enabled = o.if_contains("enabled");
        try {
          if (id->starts_with(".")) {
            auto d = std::find_if(defaults.begin(), defaults.end(), [&](const Rule& r) {
              return r.kind == kind && r.rule_id == *id;
            });
            if (d == defaults.end()) continue;
            if (enabled && enabled->is_bool()) d->enabled = enabled->get_bool();
            if (const auto* a = o.if_contains("actions")) {
              d->actions = ParseActions(*a);
              SetOutcome(*d);
            }
          } else {
            Rule r = ParseUserRule(kind, *id, o);
            if (enabled && enabled->is_bool()) r.enabled = enabled->get_bool();
            user[static_cast<int>(kind)].push_back(std::move(r));
          }
        } catch (const Error&) {
          // A stored entry that no longer parses is skipped.
        }
      }
    }
  }
  return Assemble(std::move(defaults), user);
}

bj::object RuleJson(const Rule& r, std::string_view user_id) {
  bj::object o{{"rule_id", r.rule_id},
               {"default", r.is_default},
               {"enabled", r.enabled},
               {"actions", r.actions}};
  if (r.kind == RuleKind::kOverride || r.kind == RuleKind::kUnderride) {
    o["conditions"] = r.is_default ? WithUser(r.conditions_json, user_id) : r.conditions_json;
  }
  if (r.kind == RuleKind::kContent && r.pattern) o["pattern"] = *r.pattern;
  return o;
}

bj::object RulesetJson(const Ruleset& rs, std::string_view user_id) {
  bj::object out;
  for (RuleKind kind : kAllKinds) out[KindName(kind)] = bj::array{};
  for (const auto& r : rs.rules) out[KindName(r.kind)].get_array().push_back(RuleJson(r, user_id));
  return out;
}

bj::array ParseActions(const bj::value& actions) {
  if (!actions.is_array()) throw BadJson("'actions' must be an array");
  if (actions.get_array().size() > kMaxActions) throw InvalidParam("Too many actions");
  bj::array out;
  for (const auto& a : actions.get_array()) {
    if (a.is_string()) {
      std::string_view s = a.get_string();
      if (s == "dont_notify" || s == "coalesce") continue;  // historical: ignored
      if (s != "notify") throw InvalidParam("Unrecognised action " + std::string(s));
      out.push_back(a);
    } else if (a.is_object()) {
      const auto* tweak = a.get_object().if_contains("set_tweak");
      if (!tweak || !tweak->is_string()) {
        throw InvalidParam("An action object must have a string 'set_tweak'");
      }
      out.push_back(a);
    } else {
      throw BadJson("Actions must be strings or objects");
    }
  }
  return out;
}

void SetOutcome(Rule& r) {
  r.notify = false;
  r.highlight = false;
  for (const auto& a : r.actions) {
    if (a.is_string() && a.get_string() == "notify") r.notify = true;
    if (!a.is_object()) continue;
    const auto* tweak = a.get_object().if_contains("set_tweak");
    if (!tweak || !tweak->is_string() || tweak->get_string() != "highlight") continue;
    const auto* value = a.get_object().if_contains("value");
    r.highlight = !value || (value->is_bool() && value->get_bool());
  }
}

Rule ParseUserRule(RuleKind kind, std::string_view rule_id, const bj::object& body) {
  if (rule_id.empty() || rule_id.size() > 255) throw InvalidParam("Invalid rule id");
  if (rule_id.starts_with(".")) {
    throw InvalidParam("Rule ids starting with '.' are reserved for server-default rules");
  }
  if (rule_id.find_first_of("/\\") != std::string_view::npos) {
    throw InvalidParam("Rule ids may not contain '/' or '\\'");
  }
  Rule r;
  r.rule_id = std::string(rule_id);
  r.kind = kind;
  const auto* actions = body.if_contains("actions");
  if (!actions) throw MissingParam("Missing 'actions'");
  r.actions = ParseActions(*actions);
  if (kind == RuleKind::kOverride || kind == RuleKind::kUnderride) {
    if (const auto* c = body.if_contains("conditions")) {
      if (!c->is_array()) throw BadJson("'conditions' must be an array");
      if (c->get_array().size() > kMaxConditions) throw InvalidParam("Too many conditions");
      for (const auto& x : c->get_array()) {
        if (!x.is_object() || !x.get_object().if_contains("kind") ||
            !x.get_object().at("kind").is_string()) {
          throw BadJson("Each condition must be an object with a string 'kind'");
        }
      }
      r.conditions_json = c->get_array();
    }
  } else if (kind == RuleKind::kContent) {
    const auto* p = body.if_contains("pattern");
    if (!p) throw MissingParam("Content rules need a 'pattern'");
    if (!p->is_string()) throw BadJson("'pattern' must be a string");
    if (p->get_string().size() > kMaxPatternBytes) throw InvalidParam("'pattern' is too long");
    r.pattern = std::string(p->get_string());
  }
  Compile(r, false);
  return r;
}

Outcome Evaluate(const Ruleset& rs, const EventContext& ev, std::string_view user_id) {
  const auto holds_for_user = [&](const Condition& c) {
    if (c.is_self || c.type == Condition::Type::kContainsDisplayName) {
      return ConditionHolds(c, ev, user_id);
    }
    auto [it, fresh] = ev.memo.try_emplace(&c, false);
    if (fresh) it->second = ConditionHolds(c, ev, user_id);
    return it->second;
  };
  for (const auto& r : rs.rules) {
    if (!r.enabled) continue;
    bool holds = true;
    for (const auto& c : r.conditions) {
      if (!holds_for_user(c)) {
        holds = false;
        break;
      }
    }
    if (holds) return {r.notify, r.notify && r.highlight, &r};
  }
  return {};
}

}  // namespace vigie::service::push
