#include "service/push_rule_service.h"

#include <algorithm>
#include <array>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <map>

#include "common/error.h"
#include "common/json.h"
#include "common/offload.h"
#include "events/power_levels.h"
#include "storage/user_data_store.h"

namespace vigie::service {

using push::Rule;
using push::RuleKind;
using push::Ruleset;
using storage::UserDataStore;

namespace {

constexpr std::size_t kMaxUserRules = 500;
constexpr int kMaxThreadHops = 3;

RuleKind KindOrThrow(const std::string& kind) {
  auto k = push::ParseKind(kind);
  if (!k) throw InvalidParam("Unknown push rule kind '" + kind + "'");
  return *k;
}

Error RuleNotFound() { return NotFound("The push rule was not found."); }

std::shared_ptr<const Ruleset> ParseStored(const std::string& content) {
  try {
    auto v = json::ParseStored(content);
    if (v.is_object()) return std::make_shared<const Ruleset>(push::LoadRuleset(v.get_object()));
  } catch (const std::exception&) {
    // Unreadable: fall back to the defaults.
  }
  return push::DefaultRuleset();
}

std::size_t IndexOf(const Ruleset& rs, RuleKind kind, std::string_view id, bool user_only) {
  for (std::size_t i = 0; i < rs.rules.size(); ++i) {
    const Rule& r = rs.rules[i];
    if (r.kind == kind && r.rule_id == id && (!user_only || !r.is_default)) return i;
  }
  return rs.rules.size();
}

// Inserts or replaces a user rule (PUT /pushrules semantics): an update
// keeps its place and its enabled flag unless `before` / `after` moves it;
// a new rule becomes the most important user rule of its kind.
void PutUserRule(Ruleset& rs, Rule rule, const std::optional<std::string>& before,
                 const std::optional<std::string>& after) {
  const std::optional<std::string>& anchor = before ? before : after;
  std::size_t existing = IndexOf(rs, rule.kind, rule.rule_id, true);
  if (existing < rs.rules.size()) {
    rule.enabled = rs.rules[existing].enabled;
    if (!anchor) {
      rs.rules[existing] = std::move(rule);
      return;
    }
  }
  if (anchor &&
      (*anchor == rule.rule_id || IndexOf(rs, rule.kind, *anchor, true) == rs.rules.size())) {
    throw Error(ErrorCode::kUnknown, "before/after rule not found: " + *anchor);
  }
  if (existing == rs.rules.size() && rs.UserRuleCount() >= kMaxUserRules) {
    throw Error(ErrorCode::kUnknown, "Too many push rules");
  }
  if (existing < rs.rules.size()) rs.rules.erase(rs.rules.begin() + existing);
  std::size_t at = rs.rules.size();
  if (anchor) {
    at = IndexOf(rs, rule.kind, *anchor, true) + (before ? 0 : 1);
  } else {
    // In front of the kind's first rule (after .m.rule.master), or where
    // the kind would start.
    for (std::size_t i = 0; i < rs.rules.size(); ++i) {
      const Rule& r = rs.rules[i];
      if ((r.kind == rule.kind && r.rule_id != ".m.rule.master") || r.kind > rule.kind) {
        at = i;
        break;
      }
    }
  }
  rs.rules.insert(rs.rules.begin() + static_cast<std::ptrdiff_t>(at), std::move(rule));
}

}  // namespace

std::shared_ptr<const Ruleset> PushRuleService::Load(sql::Tx& tx, const std::string& user_id) {
  auto row = UserDataStore::GetAccountData(tx, user_id, "", "m.push_rules");
  return row ? ParseStored(row->content) : push::DefaultRuleset();
}

boost::asio::awaitable<boost::json::object> PushRuleService::GetAll(const Requester& who) {
  auto rs = co_await Offload(ctx_.db_pool, [&] {
    return ctx_.db.Read([&](sql::Tx& tx) { return Load(tx, who.user_id); });
  });
  co_return boost::json::object{{"global", push::RulesetJson(*rs, who.user_id)}};
}

boost::asio::awaitable<boost::json::object> PushRuleService::Get(const Requester& who,
                                                                 const std::string& kind,
                                                                 const std::string& rule_id) {
  const RuleKind k = KindOrThrow(kind);
  auto rs = co_await Offload(ctx_.db_pool, [&] {
    return ctx_.db.Read([&](sql::Tx& tx) { return Load(tx, who.user_id); });
  });
  const Rule* r = rs->Find(k, rule_id);
  if (!r) throw RuleNotFound();
  co_return push::RuleJson(*r, who.user_id);
}

boost::asio::awaitable<void> PushRuleService::Modify(const Requester& who,
                                                     const std::function<void(Ruleset&)>& fn) {
  co_await stream_.Submit([&](sql::Tx& tx, Stream::NextPos& next, Stream::Effects& fx) {
    Ruleset rs = *Load(tx, who.user_id);
    fn(rs);
    boost::json::object content{{"global", push::RulesetJson(rs, who.user_id)}};
    UserDataStore::SetAccountData(tx, who.user_id,
                                  {"", "m.push_rules", boost::json::serialize(content), next()});
    fx.Changed(Change::kAccountData, who.user_id);
    fx.wake.insert(who.user_id);
    // Under the writer lock, like every OnEvent: no evaluation can see
    // the old rules after this commits.
    std::lock_guard lock(mu_);
    cache_.erase(who.user_id);
  });
}

boost::asio::awaitable<void> PushRuleService::Put(const Requester& who, const std::string& kind,
                                                  const std::string& rule_id,
                                                  const boost::json::object& body,
                                                  const std::optional<std::string>& before,
                                                  const std::optional<std::string>& after) {
  const RuleKind k = KindOrThrow(kind);
  if (k == RuleKind::kRoom && !rule_id.starts_with("!")) {
    throw InvalidParam("A room rule's id is a room id");
  }
  if (k == RuleKind::kSender && !rule_id.starts_with("@")) {
    throw InvalidParam("A sender rule's id is a user id");
  }
  Rule rule = push::ParseUserRule(k, rule_id, body);
  const std::function<void(Ruleset&)> put = [&](Ruleset& rs) {
    PutUserRule(rs, rule, before, after);
  };
  co_await Modify(who, put);
}

boost::asio::awaitable<void> PushRuleService::Delete(const Requester& who, const std::string& kind,
                                                     const std::string& rule_id) {
  const RuleKind k = KindOrThrow(kind);
  const std::function<void(Ruleset&)> change = [&](Ruleset& rs) {
    std::size_t i = IndexOf(rs, k, rule_id, false);
    if (i == rs.rules.size()) throw RuleNotFound();
    if (rs.rules[i].is_default) throw InvalidParam("Server-default rules cannot be deleted");
    rs.rules.erase(rs.rules.begin() + static_cast<std::ptrdiff_t>(i));
  };
  co_await Modify(who, change);
}

boost::asio::awaitable<void> PushRuleService::SetEnabled(const Requester& who,
                                                         const std::string& kind,
                                                         const std::string& rule_id, bool enabled) {
  const RuleKind k = KindOrThrow(kind);
  const std::function<void(Ruleset&)> change = [&](Ruleset& rs) {
    Rule* r = rs.Find(k, rule_id);
    if (!r) throw RuleNotFound();
    r->enabled = enabled;
  };
  co_await Modify(who, change);
}

boost::asio::awaitable<void> PushRuleService::SetActions(const Requester& who,
                                                         const std::string& kind,
                                                         const std::string& rule_id,
                                                         const boost::json::value& actions) {
  const RuleKind k = KindOrThrow(kind);
  boost::json::array parsed = push::ParseActions(actions);
  const std::function<void(Ruleset&)> change = [&](Ruleset& rs) {
    Rule* r = rs.Find(k, rule_id);
    if (!r) throw RuleNotFound();
    r->actions = parsed;
    push::SetOutcome(*r);
  };
  co_await Modify(who, change);
}

std::string PushRuleService::ThreadOf(sql::Tx& tx, const boost::json::object& pdu) {
  boost::json::object parent;
  const boost::json::object* ev = &pdu;
  for (int hop = 0; hop <= kMaxThreadHops; ++hop) {
    const auto* content = ev->if_contains("content");
    if (!content || !content->is_object()) break;
    const auto* rel = content->get_object().if_contains("m.relates_to");
    if (!rel || !rel->is_object()) break;
    const auto* type = rel->get_object().if_contains("rel_type");
    const auto* target = rel->get_object().if_contains("event_id");
    if (!type || !type->is_string() || !target || !target->is_string()) break;
    const std::string target_id(target->get_string());
    if (type->get_string() == "m.thread") return target_id;
    if (hop == kMaxThreadHops) break;
    auto rec = storage::RoomStore::GetEvent(tx, target_id);
    if (!rec) break;
    auto v = json::ParseStored(rec->json);
    if (!v.is_object()) break;
    parent = std::move(v.get_object());
    ev = &parent;
  }
  return std::string(UserDataStore::kMainThread);
}

PushRuleService::Recorded PushRuleService::OnEvent(sql::Tx& tx, const PushEventInput& in) {
  Recorded recorded;
  auto& rows = recorded.rows;
  const auto* sender_v = in.pdu->if_contains("sender");
  if (!sender_v || !sender_v->is_string()) return recorded;
  const std::string sender(sender_v->get_string());
  const std::string local_suffix = ":" + ctx_.config.server_name;

  std::vector<const std::string*> targets;
  std::int64_t joined = 0;
  for (const auto& m : *in.members) {
    if (m.membership != "join") continue;
    ++joined;
    if (m.user_id != sender && m.user_id.ends_with(local_suffix)) targets.push_back(&m.user_id);
  }
  const bool sender_local = sender.ends_with(local_suffix);
  if (targets.empty() && !sender_local) return recorded;
  const std::string thread = ThreadOf(tx, *in.pdu);
  const bool in_thread = thread != UserDataStore::kMainThread;
  // A join starts the member's counts afresh; sending into a thread (or
  // the main timeline) marks what came before in it as read.
  if (sender_local && in.sender_joined) {
    UserDataStore::ClearPushActions(tx, in.room_nid, sender, in.stream_pos, "");
  } else if (sender_local) {
    UserDataStore::ClearPushActions(tx, in.room_nid, sender, in.stream_pos - 1, thread);
    recorded.sender_read_main = !in_thread;
  }
  if (targets.empty()) return recorded;

  // Rulesets: from the cache, the rest in one batched read.
  std::vector<std::shared_ptr<const Ruleset>> rules(targets.size());
  std::vector<std::string> missing;
  {
    std::lock_guard lock(mu_);
    for (std::size_t i = 0; i < targets.size(); ++i) {
      auto it = cache_.find(*targets[i]);
      if (it != cache_.end()) {
        rules[i] = it->second;
      } else {
        missing.push_back(*targets[i]);
      }
    }
  }
  if (!missing.empty()) {
    std::unordered_map<std::string, std::shared_ptr<const Ruleset>> loaded;
    for (const auto& [user, content] :
         UserDataStore::GlobalAccountDataOf(tx, "m.push_rules", missing)) {
      loaded[user] = ParseStored(content);
    }
    std::lock_guard lock(mu_);
    if (cache_.size() + missing.size() > kMaxCached) cache_.clear();
    for (std::size_t i = 0; i < targets.size(); ++i) {
      if (rules[i]) continue;
      auto it = loaded.find(*targets[i]);
      rules[i] = it != loaded.end() ? it->second : push::DefaultRuleset();
      cache_[*targets[i]] = rules[i];
    }
  }

  std::map<std::string, bool, std::less<>> may_notify;
  push::EventContext ctx;
  ctx.event = in.pdu;
  ctx.member_count = joined;
  ctx.sender_may_notify = [&](std::string_view key) {
    auto it = may_notify.find(key);
    if (it != may_notify.end()) return it->second;
    bool ok = false;
    if (in.create && in.version) {
      try {
        events::PowerLevels pl(*in.version, *in.create, in.power_levels);
        ok = pl.UserLevel(sender) >= pl.NotificationLevel(key);
      } catch (const Error&) {
        ok = false;  // malformed power levels grant nothing
      }
    }
    may_notify.emplace(std::string(key), ok);
    return ok;
  };
  ctx.display_name = [&](std::string_view user_id) -> std::optional<std::string> {
    if (!in.member_event) return std::nullopt;
    const boost::json::object* ev = in.member_event(std::string(user_id));
    if (!ev) return std::nullopt;
    const auto* content = ev->if_contains("content");
    if (!content || !content->is_object()) return std::nullopt;
    const auto* name = content->get_object().if_contains("displayname");
    if (!name || !name->is_string()) return std::nullopt;
    return std::string(name->get_string());
  };

  // Outcomes: 0 none, 1 notify, 2 notify and highlight. The most common
  // one is recorded once for the event (unless it is none), the others
  // per member.
  std::vector<int> outcome(targets.size());
  std::array<std::size_t, 3> tally{};
  for (std::size_t i = 0; i < targets.size(); ++i) {
    push::Outcome out = push::Evaluate(*rules[i], ctx, *targets[i]);
    outcome[i] = out.notify ? (out.highlight ? 2 : 1) : 0;
    ++tally[static_cast<std::size_t>(outcome[i])];
  }
  const int common = static_cast<int>(std::max_element(tally.begin(), tally.end()) - tally.begin());
  if (common != 0) {
    UserDataStore::AddPushSummary(tx, in.room_nid, in.stream_pos, thread, sender, common == 2);
    rows.push_back({in.stream_pos, false, sender, true, common == 2, in_thread});
  }
  std::vector<UserDataStore::PushAction> differing;
  for (std::size_t i = 0; i < targets.size(); ++i) {
    if (outcome[i] != common) differing.push_back({*targets[i], outcome[i] != 0, outcome[i] == 2});
  }
  if (!differing.empty()) {
    UserDataStore::AddPushActions(tx, in.room_nid, in.stream_pos, thread, differing);
    for (auto& d : differing) {
      rows.push_back({in.stream_pos, true, std::move(d.user_id), d.notify, d.highlight, in_thread});
    }
  }
  return recorded;
}

}  // namespace vigie::service
