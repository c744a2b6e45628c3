// Push rules (client-server API "Push Notifications"): the server-default
// rule set, a user's rules merged over it, and their evaluation against an
// event. Pure: no database and no I/O; the caller supplies what the rules
// need to know about the room (member count, power levels, display names).
//
// A ruleset is parsed once (conditions split into key paths, globs compiled)
// and then evaluated for many events, so evaluating one event for one user
// costs a few hash lookups into the already parsed event and no allocation
// on the common path.
#pragma once

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace vigie::service::push {

// The kinds of rule, in the order they are checked.
enum class RuleKind { kOverride, kContent, kRoom, kSender, kUnderride };
inline constexpr RuleKind kAllKinds[] = {RuleKind::kOverride, RuleKind::kContent, RuleKind::kRoom,
                                         RuleKind::kSender, RuleKind::kUnderride};
std::optional<RuleKind> ParseKind(std::string_view s);
std::string_view KindName(RuleKind k);

// A glob (appendices "Glob-style matching": `*` and `?`), compiled for a
// bit-parallel match: case-insensitive for ASCII, `?` is one code point.
class Glob {
 public:
  Glob() = default;
  explicit Glob(std::string_view pattern);
  // The whole of `text` matches.
  bool Matches(std::string_view text) const;
  // Some substring of `text` that starts and ends at a word boundary
  // matches (the rule for `content.body`).
  bool MatchesWords(std::string_view text) const;

 private:
  bool Run(std::string_view text, bool words) const;
  std::vector<std::int32_t> tokens_;  // code points; kStar / kAny
  std::size_t words_ = 1;
  std::vector<std::uint64_t> star_, any_;
  std::vector<std::pair<std::int32_t, std::vector<std::uint64_t>>> literals_;  // sorted
};

// Splits a dot-separated property path ("content.m\.relates_to.rel_type")
// into its property names, undoing the `\.` and `\\` escapes.
std::vector<std::string> SplitKey(std::string_view key);

struct Condition {
  enum class Type {
    kEventMatch,
    kPropertyIs,
    kPropertyContains,
    kContainsDisplayName,
    kMemberCount,
    kSenderPermission,
    kNever,  // unknown kind or malformed: never matches
  };
  Type type = Type::kNever;
  std::vector<std::string> path;  // event_match, event_property_*
  Glob glob;                      // event_match
  bool word_boundary = false;     // event_match on content.body
  boost::json::value value;       // event_property_*
  bool is_self = false;           // pattern / value is the evaluated user's id
  enum class Op { kEq, kLt, kGt, kLe, kGe } op = Op::kEq;  // room_member_count
  std::int64_t count = 0;
  std::string key;  // sender_notification_permission
};

struct Rule {
  std::string rule_id;
  RuleKind kind = RuleKind::kOverride;
  bool is_default = false;
  bool enabled = true;
  boost::json::array actions;          // historical actions stripped
  boost::json::array conditions_json;  // override / underride, as given
  std::optional<std::string> pattern;  // content rules
  std::vector<Condition> conditions;   // parsed; room, sender, content synthesise theirs
  bool notify = false;
  bool highlight = false;
};

// A user's rules in evaluation order: `.m.rule.master`, then per kind the
// user's rules (most important first) before the server-default ones.
struct Ruleset {
  std::vector<Rule> rules;
  const Rule* Find(RuleKind kind, std::string_view rule_id) const;
  Rule* Find(RuleKind kind, std::string_view rule_id);
  std::size_t UserRuleCount() const;
};

// The server-default rules of the spec (v1.17: without the legacy body
// mention rules), shared by every user who changed nothing.
std::shared_ptr<const Ruleset> DefaultRuleset();

// The stored form (the content of the `m.push_rules` account data event,
// {"global": {...}}) merged over the defaults: the user's rules, and the
// `enabled` / `actions` the user set on default rules. Entries that do not
// parse are skipped; default rules the server no longer has are dropped.
Ruleset LoadRuleset(const boost::json::object& stored);

// The client form of a ruleset ({"override": [...], ..., "underride": [...]})
// with the user's id in place of the default rules' placeholders. Also the
// stored form's "global" value.
boost::json::object RulesetJson(const Ruleset& rs, std::string_view user_id);
boost::json::object RuleJson(const Rule& r, std::string_view user_id);

// Validates and parses a user rule from a PUT body. Throws M_BAD_JSON,
// M_MISSING_PARAM or M_INVALID_PARAM.
Rule ParseUserRule(RuleKind kind, std::string_view rule_id, const boost::json::object& body);
// Validates an actions array and strips the historical ones. Throws
// M_BAD_JSON / M_INVALID_PARAM.
boost::json::array ParseActions(const boost::json::value& actions);
// Derives notify / highlight from r.actions.
void SetOutcome(Rule& r);

// What the rules may ask about the event and its room. Built once per
// event and shared by every user it is evaluated for.
struct EventContext {
  const boost::json::object* event = nullptr;  // the event (PDU or client format)
  std::int64_t member_count = 0;               // joined members
  // Whether the sender's power level reaches notifications[key].
  std::function<bool(std::string_view key)> sender_may_notify;
  // `user_id`'s display name in the room, if it has one.
  std::function<std::optional<std::string>(std::string_view user_id)> display_name;
  // What each condition that does not depend on the user gave for this
  // event, by condition: the users who share a ruleset (most share the
  // defaults) evaluate such a condition once per event. Valid while the
  // rulesets evaluated with this context live.
  mutable std::unordered_map<const Condition*, bool> memo;
};

struct Outcome {
  bool notify = false;
  bool highlight = false;
  const Rule* rule = nullptr;  // the rule that matched, if any
};

// The first enabled rule whose conditions hold decides. Never call it for
// the user's own events.
Outcome Evaluate(const Ruleset& rs, const EventContext& ev, std::string_view user_id);

}  // namespace vigie::service::push
