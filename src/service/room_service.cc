#include "service/room_service.h"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <exception>
#include <map>

#include "common/crypto.h"
#include "common/error.h"
#include "common/ids.h"
#include "common/json.h"
#include "common/offload.h"
#include "common/time.h"
#include "events/auth_events.h"
#include "events/auth_rules.h"
#include "events/event.h"
#include "events/event_builder.h"
#include "events/power_levels.h"
#include "events/room_version.h"
#include "service/policy_service.h"
#include "service/push_rule_service.h"
#include "service/sync_service.h"
#include "storage/account_store.h"

namespace vigie::service {

using storage::EventRecord;
using storage::RoomStore;

namespace {

// Sends whose transaction ids are kept (see SentTxns): a day, as Synapse,
// and at most 200,000 (about 140 bytes each, measured: 28 MB at most).
constexpr std::size_t kMaxSentTxns = 200'000;
constexpr std::int64_t kSentTxnWindowMs = 24 * 3600 * 1000;

boost::json::object ParsePdu(const std::string& text) {
  return json::ParseStored(text).as_object();
}

// (relates_to event id, rel_type) of an event's content.m.relates_to.
std::optional<std::pair<std::string, std::string>> RelationOf(const boost::json::object& pdu) {
  const auto* content = pdu.if_contains("content");
  if (!content || !content->is_object()) return std::nullopt;
  const auto* rel = content->as_object().if_contains("m.relates_to");
  if (!rel || !rel->is_object()) return std::nullopt;
  const auto* id = rel->as_object().if_contains("event_id");
  const auto* type = rel->as_object().if_contains("rel_type");
  if (!id || !id->is_string() || !type || !type->is_string()) return std::nullopt;
  if (id->as_string().empty() || id->as_string().size() > 255 || type->as_string().size() > 255) {
    return std::nullopt;
  }
  return std::make_pair(std::string(id->as_string()), std::string(type->as_string()));
}

// Where the user's record is or would go in `members` (ordered by user id).
template <typename Members>
auto MemberPlace(Members& members, const std::string& user_id) {
  return std::lower_bound(members.begin(), members.end(), user_id,
                          [](const auto& r, const std::string& u) { return r.user_id < u; });
}

// Puts `m` in place of the user's record in `members`.
void SetMember(std::vector<storage::MembershipRecord>& members, storage::MembershipRecord m) {
  auto it = MemberPlace(members, m.user_id);
  if (it != members.end() && it->user_id == m.user_id) {
    *it = std::move(m);
  } else {
    members.insert(it, std::move(m));
  }
}

// The state of one room as the writer sees it inside its transaction,
// with the PDUs it has loaded.
class RoomWriter {
 public:
  // `push` (may be null: no notifications) evaluates each new event.
  // `cache` (may be null) holds what earlier writers knew of the room; this
  // writer leaves what it knows there when it is done.
  RoomWriter(sql::Tx& tx, const Config& config, const events::SigningKey& key,
             Stream::NextPos& next, Stream::Effects& effects, PushRuleService* push,
             RoomCache* cache)
      : tx_(tx),
        config_(config),
        key_(key),
        next_(next),
        effects_(effects),
        push_(push),
        cache_(cache),
        unwinding_(std::uncaught_exceptions()) {}
  RoomWriter(const RoomWriter&) = delete;
  RoomWriter& operator=(const RoomWriter&) = delete;
  // Puts the snapshot back, unless the write is being unwound: it will be
  // rolled back, so the snapshot (taken out) is dropped and the next writer
  // reads the room afresh. Hence a writer lives as long as its write's
  // function: a throw after it was gone would leave a snapshot ahead of
  // the database.
  ~RoomWriter() {
    if (!cache_ || !opened_ || std::uncaught_exceptions() != unwinding_) return;
    for (std::int64_t nid : stale_) {
      s_.pdus.erase(nid);
      s_.ids.erase(nid);
    }
    cache_->Put(std::move(s_));
  }

  // Loads an existing room: from the cache when a writer left it there,
  // otherwise from the database. Throws M_NOT_FOUND.
  void Open(const std::string& room_id) {
    if (cache_) {
      if (auto s = cache_->Take(room_id)) {
        s_ = std::move(*s);
        version_ = &events::RoomVersionOrThrow(s_.room.room_version);
        opened_ = true;
        return;
      }
    }
    auto room = RoomStore::GetRoom(tx_, room_id);
    if (!room) throw NotFound("Unknown room " + room_id);
    version_ = &events::RoomVersionOrThrow(room->room_version);
    opened_ = true;
    s_.room = *room;
    if (s_.room.last_event_nid) {
      s_.last_event_id = RoomStore::GetEventByNid(tx_, *s_.room.last_event_nid)->event_id;
    }
  }

  // Starts a new room: the first Append must be its m.room.create.
  void Begin(const events::RoomVersion& version, const std::string& creator,
             const std::string& tenant) {
    version_ = &version;
    s_.room.room_version = std::string(version.id);
    // Before v12 the server picks the room id; v12 derives it from the
    // create event's hash.
    if (!version.room_id_from_create_event) {
      s_.room.room_id = "!" + crypto::RandomAlnum(18) + ":" + config_.server_name;
    }
    s_.room.creator = creator;
    s_.room.tenant_id = tenant;
    opened_ = true;
  }

  const storage::RoomRecord& room() const { return s_.room; }
  const events::RoomVersion& version() const { return *version_; }

  // The current event id (nid) for (type, state_key), read through a
  // per-write cache: a write touches only the state keys it needs, so
  // sending into a room with 10,000 members does not load 10,000 events.
  std::optional<std::int64_t> StateNid(std::string_view type, std::string_view sk) {
    storage::StateKeyPair key{std::string(type), std::string(sk)};
    auto it = s_.state.find(key);
    if (it != s_.state.end()) return it->second;
    std::optional<std::int64_t> nid;
    if (s_.room.room_nid) nid = RoomStore::CurrentStateEvent(tx_, s_.room.room_nid, type, sk);
    s_.state.emplace(std::move(key), nid);
    return nid;
  }

  // The current state event for (type, state_key), or nullptr.
  const boost::json::object* StateEvent(std::string_view type, std::string_view sk) {
    auto nid = StateNid(type, sk);
    return nid ? &Pdu(*nid) : nullptr;
  }

  std::string MembershipOf(const std::string& user_id) {
    const auto* ev = StateEvent("m.room.member", user_id);
    if (!ev) return "leave";
    const auto* content = ev->if_contains("content");
    if (!content || !content->is_object()) return "leave";
    const auto* m = content->as_object().if_contains("membership");
    return m && m->is_string() ? std::string(m->as_string()) : "leave";
  }

  std::int64_t PowerLevelOf(const std::string& user_id) {
    const auto* create = StateEvent("m.room.create", "");
    if (!create) return 0;
    events::PowerLevels pl(*version_, *create, StateEvent("m.room.power_levels", ""));
    return pl.UserLevel(user_id);
  }

  std::int64_t RequiredLevel(const std::string& key, std::int64_t dflt) {
    const auto* ple = StateEvent("m.room.power_levels", "");
    if (!ple) return dflt;
    const auto* content = ple->if_contains("content");
    if (!content || !content->is_object()) return dflt;
    const auto* v = content->as_object().if_contains(key);
    return v && v->is_int64() ? v->as_int64() : dflt;
  }

  // Builds, authorises and persists one event; returns its record.
  EventRecord Append(const std::string& sender, const std::string& type,
                     const std::optional<std::string>& state_key, boost::json::object content,
                     const std::optional<std::string>& redacts = std::nullopt,
                     const std::optional<std::pair<std::string, std::string>>& txn = std::nullopt) {
    events::EventDraft draft;
    draft.room_id = s_.room.room_id;
    draft.sender = sender;
    draft.type = type;
    draft.state_key = state_key;
    draft.content = std::move(content);
    draft.redacts = redacts;
    draft.depth = s_.room.depth + 1;
    draft.origin_server_ts = NowMs();
    if (!s_.last_event_id.empty()) draft.prev_events = {s_.last_event_id};

    // Cite the current events of the keys the auth rules need.
    boost::json::object probe{{"type", type}, {"sender", sender}, {"content", draft.content}};
    if (state_key) probe["state_key"] = *state_key;
    for (const auto& k : events::SelectAuthEvents(*version_, probe)) {
      if (auto nid = StateNid(k.type, k.state_key)) draft.auth_events.push_back(EventIdOf(*nid));
    }
    events::BuiltEvent built = events::BuildEvent(*version_, draft, config_.server_name, key_);
    // A v12 room id is the create event's hash: two identical create events
    // (same creator, content and millisecond) would collide. Under the
    // writer lock, moving the timestamp on makes each one unique.
    while (type == "m.room.create" && version_->room_id_from_create_event &&
           RoomStore::GetRoom(tx_, built.room_id)) {
      ++draft.origin_server_ts;
      built = events::BuildEvent(*version_, draft, config_.server_name, key_);
    }
    const std::string server_name = config_.server_name;
    const std::string pub = key_.PublicKey();
    const std::string key_id = key_.key_id();
    events::PublicKeyLookup own_keys = [&](std::string_view entity,
                                           std::string_view kid) -> std::optional<std::string> {
      if (entity == server_name && kid == key_id) return pub;
      return std::nullopt;
    };
    // Authorised against the current state, read lazily.
    Lookup current(*this);
    events::AuthResult ok = events::Authorize(*version_, built.pdu, current, own_keys);
    if (!ok) throw Forbidden(ok.reason);

    if (type == "m.room.create") {
      s_.room.room_id = built.room_id;
      s_.room.created_ts = NowMs();
      s_.room.room_nid = RoomStore::CreateRoom(tx_, s_.room);
    }
    EventRecord rec;
    rec.event_id = built.event_id;
    rec.room_nid = s_.room.room_nid;
    rec.stream_pos = next_();
    rec.depth = s_.room.depth + 1;
    rec.type = type;
    rec.state_key = state_key;
    rec.sender = sender;
    rec.origin_server_ts = built.pdu.at("origin_server_ts").as_int64();
    if (txn) {
      rec.device_id = txn->first;
      rec.txn_id = txn->second;
    }
    rec.json = std::move(built.json);
    rec.state_group = s_.room.state_group.value_or(0);
    if (!cache_) throw Internal("a room writer without its cache appends no event");
    rec.event_nid = cache_->NextEventNid(tx_);
    RoomStore::InsertEvent(tx_, rec);
    const auto& pdu =
        *s_.pdus.emplace(rec.event_nid, std::make_shared<boost::json::object>(std::move(built.pdu)))
             .first->second;
    s_.ids.emplace(rec.event_nid, rec.event_id);
    // Kept for this write only: a message is never current state, and a
    // state event replaces the current one for its key.
    if (!state_key) {
      stale_.push_back(rec.event_nid);
    } else if (auto old = s_.state.find({type, *state_key}); old != s_.state.end() && old->second) {
      stale_.push_back(*old->second);
    }
    if (auto rel = RelationOf(pdu)) {
      RoomStore::AddRelation(tx_, rec.event_nid, s_.room.room_nid, rel->first, rel->second,
                             rec.stream_pos);
    }

    bool sender_joined = false;
    if (state_key) {
      storage::StateMap delta{{{type, *state_key}, rec.event_nid}};
      rec.state_group = RoomStore::NewStateGroup(tx_, s_.room.room_nid, s_.room.state_group, delta);
      RoomStore::SetEventStateGroup(tx_, rec.event_nid, rec.state_group);
      RoomStore::SetCurrentState(tx_, s_.room.room_nid, {type, *state_key}, rec.event_nid);
      s_.state[{type, *state_key}] = rec.event_nid;
      s_.room.state_group = rec.state_group;
      if (type == "m.room.member") {
        std::string membership(pdu.at("content").as_object().at("membership").as_string());
        if (membership == "join" && *state_key == sender) {
          const auto& before = Members();
          auto prior = MemberPlace(before, sender);
          sender_joined =
              prior == before.end() || prior->user_id != sender || prior->membership != "join";
        }
        // Only this event's key changed; other cached keys stay valid.
        storage::MembershipRecord m{0,          s_.room.room_nid, s_.room.room_id, *state_key,
                                    membership, rec.event_nid,    rec.stream_pos};
        RoomStore::SetMembership(tx_, m);
        if (s_.members) SetMember(*s_.members, std::move(m));
        effects_.wake.insert(*state_key);
        effects_.Changed(Change::kMembership);
        effects_.Changed(Change::kRooms, *state_key);
      }
    }
    s_.room.depth = rec.depth;
    s_.room.last_event_nid = rec.event_nid;
    s_.last_event_id = rec.event_id;
    RoomStore::UpdateRoomHead(tx_, s_.room.room_nid, rec.event_nid, s_.room.depth,
                              s_.room.state_group.value_or(0));
    effects_.events.push_back(std::make_shared<const EventRecord>(rec));
    const auto& members = Members();
    for (const auto& m : members) {
      if (m.membership == "join" || m.membership == "invite" || m.membership == "knock") {
        effects_.wake.emplace_hint(effects_.wake.end(), m.user_id);  // members come sorted
      }
    }
    if (push_) {
      auto recorded = push_->OnEvent(
          tx_,
          {s_.room.room_nid, rec.stream_pos, &pdu, &members, version_,
           StateEvent("m.room.create", ""), StateEvent("m.room.power_levels", ""),
           [this](const std::string& u) { return StateEvent("m.room.member", u); }, sender_joined});
      // The sender's own event may mark what came before as read: in the
      // main timeline, their cached counts there restart after it; any
      // other clear makes all their counts start afresh.
      if (recorded.sender_read_main) {
        effects_.main_reads.push_back({s_.room.room_nid, sender, rec.stream_pos});
      } else {
        effects_.Changed(Change::kUnread, sender);
      }
      for (auto& r : recorded.rows) {
        effects_.push_rows.emplace_back(s_.room.room_nid, std::move(r));
      }
    }
    return rec;
  }

  const boost::json::object& Pdu(std::int64_t nid) {
    auto it = s_.pdus.find(nid);
    if (it != s_.pdus.end()) return *it->second;
    auto rec = RoomStore::GetEventByNid(tx_, nid);
    if (!rec) throw Internal("state event " + std::to_string(nid) + " missing");
    s_.ids.emplace(nid, rec->event_id);
    return *s_.pdus.emplace(nid, std::make_shared<boost::json::object>(ParsePdu(rec->json)))
                .first->second;
  }

  // A redaction rewrote event `nid`: read it again when next needed.
  void Reread(std::int64_t nid) { s_.pdus.erase(nid); }

  // Every membership of the room, by user id.
  const std::vector<storage::MembershipRecord>& Members() {
    if (!s_.members) {
      auto all = RoomStore::RoomMembers(tx_, s_.room.room_nid);
      // By bytes, whatever the database's collation.
      std::sort(all.begin(), all.end(),
                [](const auto& a, const auto& b) { return a.user_id < b.user_id; });
      s_.members = std::move(all);
    }
    return *s_.members;
  }

  class Lookup : public events::StateLookup {
   public:
    explicit Lookup(RoomWriter& w) : w_(w) {}
    const boost::json::object* Get(std::string_view type,
                                   std::string_view state_key) const override {
      return w_.StateEvent(type, state_key);
    }
    // The id the room's m.room.create event was stored under.
    std::string_view CreateEventId() const override {
      auto nid = w_.StateNid("m.room.create", "");
      return nid ? std::string_view(w_.EventIdOf(*nid)) : std::string_view();
    }

   private:
    RoomWriter& w_;
  };

  const std::string& EventIdOf(std::int64_t nid) {
    auto it = s_.ids.find(nid);
    if (it != s_.ids.end()) return it->second;
    Pdu(nid);
    return s_.ids.at(nid);
  }

 private:
  sql::Tx& tx_;
  const Config& config_;
  const events::SigningKey& key_;
  Stream::NextPos& next_;
  Stream::Effects& effects_;
  PushRuleService* push_;
  RoomCache* cache_;
  const int unwinding_;  // exceptions in flight when the writer was made
  bool opened_ = false;  // s_ describes a room (opened or begun)
  // Events of s_.pdus / s_.ids that are not current state (appended
  // messages, replaced state): not put back in the cache.
  std::vector<std::int64_t> stale_;
  RoomSnapshot s_;
  const events::RoomVersion* version_ = nullptr;
};

std::string TenantOf(sql::Tx& tx, const std::string& user_id) {
  auto u = storage::AccountStore::GetUser(tx, user_id);
  return u ? u->tenant_id : "default";
}

boost::json::object MemberContent(const std::string& membership, sql::Tx& tx,
                                  const std::string& user_id,
                                  const std::optional<std::string>& reason) {
  boost::json::object c{{"membership", membership}};
  if (membership == "join" || membership == "invite" || membership == "knock") {
    auto p = storage::AccountStore::GetProfile(tx, user_id);
    if (p.displayname) c["displayname"] = *p.displayname;
    if (p.avatar_url) c["avatar_url"] = *p.avatar_url;
  }
  if (reason) c["reason"] = *reason;
  return c;
}

// C4: `who` may join or knock on `room` only if its tenant may contact the
// room's. Members already joined are not asked (a removed link does not
// evict anyone).
void RequireMayEnter(const PolicyService& policy_service, const Requester& who,
                     const storage::RoomRecord& room) {
  policy_service.Require(policy::ContactQuestion{who.tenant_id, room.tenant_id});
}

// C4: an invitation of `target` into a room of `room_tenant` needs both the
// inviter's tenant and the room's to be able to contact the target's (the
// invitee could not join otherwise).
void RequireMayInvite(const PolicyService& policy_service, sql::Tx& tx,
                      const std::string& inviter_tenant, const std::string& room_tenant,
                      const std::string& target) {
  policy_service.RequireContactWithUser(tx, inviter_tenant, target);
  if (room_tenant != inviter_tenant) {
    policy_service.RequireContactWithUser(tx, room_tenant, target);
  }
}

void CheckRoomId(const std::string& room_id) {
  if (room_id.size() < 2 || room_id.size() > 255 || room_id.front() != '!') {
    throw InvalidParam("Invalid room id");
  }
}

void CheckEventType(const std::string& type) {
  if (type.empty() || type.size() > 255) throw InvalidParam("Invalid event type");
}

}  // namespace

std::optional<std::int64_t> VisibleUpTo(sql::Tx& tx, std::int64_t room_nid,
                                        const std::string& user_id, std::int64_t current) {
  auto m = RoomStore::GetMembership(tx, room_nid, user_id);
  if (!m) return std::nullopt;
  if (m->membership == "join") return current;
  // A former member reads up to their departure; someone who only was
  // invited (or knocked) and then left never joined and reads nothing.
  if ((m->membership == "leave" || m->membership == "ban") && m->joined_pos) {
    return m->stream_pos;
  }
  return std::nullopt;
}

RoomService::RoomService(ServiceContext& ctx, Stream& stream, const events::SigningKey& key,
                         PushRuleService* push, PolicyService& policy)
    : ctx_(ctx),
      stream_(stream),
      key_(key),
      push_(push),
      sent_txns_(kMaxSentTxns, kSentTxnWindowMs),
      policy_(policy) {
  stream_.OnUndo([this] { rooms_.Clear(); });
  // The sends of the window, so that a retry across a restart is one event:
  // read a slice of positions at a time, so that what a read returns stays
  // small however many sends the window holds.
  constexpr std::int64_t kSlice = 4'000;
  const std::int64_t upto = stream_.Current();
  const std::int64_t since = NowMs() - kSentTxnWindowMs;
  for (std::int64_t after = std::max<std::int64_t>(0, upto - 2 * std::int64_t{kMaxSentTxns});
       after < upto; after += kSlice) {
    for (const auto& s : ctx_.db.Read([&](sql::Tx& tx) {
           return RoomStore::SendsBetween(tx, after, std::min(after + kSlice, upto), since);
         })) {
      sent_txns_.Add(sent_txns_.Hash(s.sender, s.device_id, s.txn_id), s.event_nid, s.ts);
    }
  }
}

boost::asio::awaitable<CreatedRoom> RoomService::CreateRoom(const Requester& who,
                                                            CreateRoomOptions opts) {
  const auto& version = events::RoomVersionOrThrow(
      opts.room_version.value_or(std::string(events::kDefaultRoomVersion)));
  std::string preset = opts.preset.value_or(
      opts.visibility.value_or("private") == "public" ? "public_chat" : "private_chat");
  if (preset != "public_chat" && preset != "private_chat" && preset != "trusted_private_chat") {
    throw InvalidParam("Unknown preset " + preset);
  }
  for (const auto& u : opts.invite) {
    if (!ids::ParseUserId(u)) throw InvalidParam("Invalid user id in 'invite': " + u);
  }
  std::optional<std::string> alias;
  if (opts.room_alias_name) {
    if (opts.room_alias_name->empty() ||
        opts.room_alias_name->find_first_of(":# ") != std::string::npos) {
      throw Error(ErrorCode::kInvalidParam, "Invalid room_alias_name");
    }
    alias = "#" + *opts.room_alias_name + ":" + ctx_.config.server_name;
    if (alias->size() > 255) throw InvalidParam("Alias too long");
  }

  CreatedRoom out = co_await stream_.Submit([&](sql::Tx& tx, Stream::NextPos& next,
                                                Stream::Effects& fx) {
    // The room belongs to the tenant the requester acts for (the server
    // notices account acts within the user's tenant).
    const std::string tenant = who.tenant_id.empty() ? TenantOf(tx, who.user_id) : who.tenant_id;
    for (const auto& u : opts.invite) RequireMayInvite(policy_, tx, tenant, tenant, u);
    RoomWriter w(tx, ctx_.config, key_, next, fx, push_, &rooms_);
    w.Begin(version, who.user_id, tenant);

    boost::json::object create = opts.creation_content;
    create["room_version"] = std::string(version.id);
    if (version.creator_in_content) create["creator"] = who.user_id;
    if (version.privileged_creators && preset == "trusted_private_chat" && !opts.invite.empty()) {
      boost::json::array extra;
      for (const auto& u : opts.invite) extra.emplace_back(u);
      create["additional_creators"] = std::move(extra);
    }
    w.Append(who.user_id, "m.room.create", "", std::move(create));
    w.Append(who.user_id, "m.room.member", who.user_id,
             MemberContent("join", tx, who.user_id, std::nullopt));

    boost::json::object users;
    if (!version.privileged_creators) {
      users[who.user_id] = 100;
      if (preset == "trusted_private_chat") {
        for (const auto& u : opts.invite) users[u] = 100;
      }
    }
    boost::json::object pl{
        {"users", users},
        {"users_default", 0},
        {"events",
         {{"m.room.name", 50},
          {"m.room.power_levels", 100},
          {"m.room.history_visibility", 100},
          {"m.room.canonical_alias", 50},
          {"m.room.avatar", 50},
          {"m.room.tombstone", 100},
          {"m.room.server_acl", 100},
          {"m.room.encryption", 100}}},
        {"events_default", 0},
        {"state_default", 50},
        {"ban", 50},
        {"kick", 50},
        {"redact", 50},
        {"invite", preset == "public_chat" ? 50 : 0},
        {"notifications", {{"room", 50}}},
    };
    if (opts.power_level_content_override) {
      for (const auto& [k, v] : *opts.power_level_content_override) pl[k] = v;
    }
    w.Append(who.user_id, "m.room.power_levels", "", std::move(pl));
    if (alias) {
      w.Append(who.user_id, "m.room.canonical_alias", "", {{"alias", *alias}});
    }
    w.Append(who.user_id, "m.room.join_rules", "",
             {{"join_rule", preset == "public_chat" ? "public" : "invite"}});
    w.Append(who.user_id, "m.room.history_visibility", "", {{"history_visibility", "shared"}});
    w.Append(who.user_id, "m.room.guest_access", "",
             {{"guest_access", preset == "public_chat" ? "forbidden" : "can_join"}});
    for (auto& s : opts.initial_state) {
      if (s.type == "m.room.member" || s.type == "m.room.create" ||
          s.type == "m.room.power_levels") {
        throw InvalidParam("initial_state may not contain " + s.type);
      }
      w.Append(who.user_id, s.type, s.state_key, std::move(s.content));
    }
    if (opts.name) w.Append(who.user_id, "m.room.name", "", {{"name", *opts.name}});
    if (opts.topic) w.Append(who.user_id, "m.room.topic", "", {{"topic", *opts.topic}});
    for (const auto& u : opts.invite) {
      boost::json::object c = MemberContent("invite", tx, u, std::nullopt);
      if (opts.is_direct) c["is_direct"] = true;
      w.Append(who.user_id, "m.room.member", u, std::move(c));
    }
    if (alias) {
      try {
        RoomStore::CreateAlias(tx, *alias, w.room().room_nid, who.user_id);
      } catch (const sql::UniqueViolation&) {
        throw Error(ErrorCode::kRoomInUse, "Room alias already taken");
      }
    }
    if (opts.visibility.value_or("private") == "public") {
      RoomStore::SetPublished(tx, w.room().room_nid, true);
    }
    return CreatedRoom{w.room().room_id, alias};
  });
  co_return out;
}

boost::asio::awaitable<std::string> RoomService::Send(const Requester& who,
                                                      const std::string& room_id,
                                                      const std::string& type,
                                                      boost::json::object content,
                                                      const std::string& txn_id) {
  CheckRoomId(room_id);
  CheckEventType(type);
  if (txn_id.empty() || txn_id.size() > 255) throw InvalidParam("Invalid transaction id");
  if (type == "m.room.redaction") throw InvalidParam("Use the /redact endpoint to redact");
  const std::uint64_t txn = sent_txns_.Hash(who.user_id, who.device_id, txn_id);
  // Repeatable: `content` is copied, and a run again after a rollback finds
  // its first run's sent_txns_ entry without an event row, and sends anew.
  const auto send = [&](sql::Tx& tx, Stream::NextPos& next, Stream::Effects& fx) {
    // A retry: the event its first attempt made (confirmed by the event's
    // row, since sent_txns_ knows hashes; it may also name an undone one).
    for (std::int64_t nid : sent_txns_.Candidates(txn)) {
      auto prior = RoomStore::GetEventByNid(tx, nid);
      if (prior && prior->sender == who.user_id && prior->device_id == who.device_id &&
          prior->txn_id == txn_id && prior->type != "m.room.redaction") {
        return prior->event_id;
      }
    }
    RoomWriter w(tx, ctx_.config, key_, next, fx, push_, &rooms_);
    w.Open(room_id);
    auto rec = w.Append(who.user_id, type, std::nullopt, content, std::nullopt,
                        std::make_pair(who.device_id, txn_id));
    sent_txns_.Add(txn, rec.event_nid, rec.origin_server_ts);
    return rec.event_id;
  };
  co_return co_await stream_.Submit(send, Stream::Runs::kRepeatable);
}

boost::asio::awaitable<std::string> RoomService::SetState(const Requester& who,
                                                          const std::string& room_id,
                                                          const std::string& type,
                                                          const std::string& state_key,
                                                          boost::json::object content) {
  CheckRoomId(room_id);
  CheckEventType(type);
  if (type == "m.room.create") throw Forbidden("A room cannot be created twice");
  if (type == "m.room.member") {
    // Membership goes through the membership endpoints, which apply the
    // rules below; a member may still update their own profile fields.
    std::string m = json::GetString(content, "membership").value_or("");
    if (state_key != who.user_id || m != "join") {
      throw Forbidden("Use the membership endpoints to change membership");
    }
  }
  co_return co_await stream_.Submit([&](sql::Tx& tx, Stream::NextPos& next, Stream::Effects& fx) {
    RoomWriter w(tx, ctx_.config, key_, next, fx, push_, &rooms_);
    w.Open(room_id);
    // A self-join through the state endpoint is a join (C4 as Join).
    if (type == "m.room.member" && w.MembershipOf(who.user_id) != "join") {
      RequireMayEnter(policy_, who, w.room());
    }
    if (type == "m.room.canonical_alias") {
      for (const char* k : {"alias"}) {
        auto a = json::GetString(content, k);
        if (a && !RoomStore::GetAlias(tx, *a)) {
          throw Error(ErrorCode::kBadAlias, "Alias " + *a + " does not point to this room");
        }
      }
    }
    return w.Append(who.user_id, type, state_key, std::move(content)).event_id;
  });
}

boost::asio::awaitable<std::string> RoomService::Redact(const Requester& who,
                                                        const std::string& room_id,
                                                        const std::string& event_id,
                                                        std::optional<std::string> reason,
                                                        const std::string& txn_id) {
  CheckRoomId(room_id);
  co_return co_await stream_.Submit([&](sql::Tx& tx, Stream::NextPos& next, Stream::Effects& fx) {
    if (auto prior = RoomStore::FindTxn(tx, who.user_id, who.device_id, "redact:" + txn_id)) {
      return *prior;
    }
    RoomWriter w(tx, ctx_.config, key_, next, fx, push_, &rooms_);
    w.Open(room_id);
    auto target = RoomStore::GetEvent(tx, event_id);
    if (!target || target->room_nid != w.room().room_nid) throw NotFound("Unknown event");
    // The auth rules admit the redaction event itself; whether it may
    // take effect is this check (same sender, or the redact level).
    if (target->sender != who.user_id &&
        w.PowerLevelOf(who.user_id) < w.RequiredLevel("redact", 50)) {
      throw Forbidden("You may not redact other users' events");
    }
    boost::json::object content;
    if (reason) content["reason"] = *reason;
    auto rec = w.Append(who.user_id, "m.room.redaction", std::nullopt, std::move(content), event_id,
                        std::make_pair(who.device_id, txn_id));
    if (!target->redacted_by) {
      auto redacted = events::Redact(w.version(), ParsePdu(target->json));
      RoomStore::MarkRedacted(tx, target->event_nid, rec.event_id, boost::json::serialize(redacted),
                              rec.json);
      w.Reread(target->event_nid);
    }
    RoomStore::InsertTxn(tx, who.user_id, who.device_id, "redact:" + txn_id, rec.event_id, NowMs());
    return rec.event_id;
  });
}

boost::asio::awaitable<std::string> RoomService::RoomIdOf(const std::string& room_or_alias) {
  // (No co_await inside ?: here: GCC 12 miscompiles it.)
  std::string room_id = room_or_alias;
  if (room_or_alias.starts_with("#")) room_id = co_await ResolveAlias(room_or_alias);
  CheckRoomId(room_id);
  co_return room_id;
}

boost::asio::awaitable<std::string> RoomService::Join(const Requester& who,
                                                      const std::string& room_or_alias,
                                                      std::optional<std::string> reason) {
  const std::string room_id = co_await RoomIdOf(room_or_alias);
  co_await stream_.Submit([&](sql::Tx& tx, Stream::NextPos& next, Stream::Effects& fx) {
    RoomWriter w(tx, ctx_.config, key_, next, fx, push_, &rooms_);
    w.Open(room_id);
    if (w.MembershipOf(who.user_id) != "join") RequireMayEnter(policy_, who, w.room());
    boost::json::object content = MemberContent("join", tx, who.user_id, reason);
    // Restricted rooms: a local member with invite power vouches for a
    // user who is in one of the allowed rooms.
    const auto* jr = w.StateEvent("m.room.join_rules", "");
    std::string rule;
    if (jr) rule = json::GetString(jr->at("content").as_object(), "join_rule").value_or("");
    std::string current = w.MembershipOf(who.user_id);
    if ((rule == "restricted" || rule == "knock_restricted") && current != "join" &&
        current != "invite") {
      bool allowed = false;
      if (const auto* allow = json::GetArray(jr->at("content").as_object(), "allow")) {
        for (const auto& a : *allow) {
          if (!a.is_object()) continue;
          auto rid = json::GetString(a.as_object(), "room_id");
          if (!rid) continue;
          auto r = RoomStore::GetRoom(tx, *rid);
          if (!r) continue;
          auto m = RoomStore::GetMembership(tx, r->room_nid, who.user_id);
          if (m && m->membership == "join") allowed = true;
        }
      }
      if (allowed) {
        for (const auto& m : RoomStore::RoomMembers(tx, w.room().room_nid)) {
          if (m.membership == "join" &&
              ids::ParseUserId(m.user_id)->server_name == ctx_.config.server_name &&
              w.PowerLevelOf(m.user_id) >= w.RequiredLevel("invite", 0)) {
            content["join_authorised_via_users_server"] = m.user_id;
            break;
          }
        }
      }
    }
    w.Append(who.user_id, "m.room.member", who.user_id, std::move(content));
  });
  co_return room_id;
}

boost::asio::awaitable<std::string> RoomService::Knock(const Requester& who,
                                                       const std::string& room_or_alias,
                                                       std::optional<std::string> reason) {
  const std::string room_id = co_await RoomIdOf(room_or_alias);
  co_await stream_.Submit([&](sql::Tx& tx, Stream::NextPos& next, Stream::Effects& fx) {
    RoomWriter w(tx, ctx_.config, key_, next, fx, push_, &rooms_);
    w.Open(room_id);
    if (w.MembershipOf(who.user_id) != "join") RequireMayEnter(policy_, who, w.room());
    w.Append(who.user_id, "m.room.member", who.user_id,
             MemberContent("knock", tx, who.user_id, reason));
  });
  co_return room_id;
}

boost::asio::awaitable<void> RoomService::Membership(const Requester& who,
                                                     const std::string& room_id,
                                                     const std::string& target,
                                                     const std::string& action,
                                                     std::optional<std::string> reason) {
  CheckRoomId(room_id);
  if (!ids::ParseUserId(target)) throw InvalidParam("Invalid user id");
  static const std::map<std::string, std::string> kMembershipOf = {{"invite", "invite"},
                                                                   {"kick", "leave"},
                                                                   {"ban", "ban"},
                                                                   {"unban", "leave"},
                                                                   {"leave", "leave"}};
  auto m = kMembershipOf.find(action);
  if (m == kMembershipOf.end()) throw InvalidParam("Unknown membership action");
  co_await stream_.Submit([&](sql::Tx& tx, Stream::NextPos& next, Stream::Effects& fx) {
    RoomWriter w(tx, ctx_.config, key_, next, fx, push_, &rooms_);
    w.Open(room_id);
    const std::string current = w.MembershipOf(target);
    if (action == "invite") {
      if (current == "join") throw Forbidden(target + " is already in the room");
      if (current == "ban") throw Forbidden(target + " is banned from the room");
      if (ids::ParseUserId(target)->server_name == ctx_.config.server_name &&
          !storage::AccountStore::GetUser(tx, target)) {
        throw NotFound("Unknown user " + target);
      }
      RequireMayInvite(policy_, tx, who.tenant_id, w.room().tenant_id, target);
    } else if (action == "kick") {
      if (target == who.user_id) throw Forbidden("Use /leave to leave a room");
      if (current == "leave" || current == "ban") throw Forbidden(target + " is not in the room");
    } else if (action == "unban") {
      if (current != "ban") throw Forbidden(target + " is not banned");
    }
    w.Append(who.user_id, "m.room.member", target, MemberContent(m->second, tx, target, reason));
  });
}

boost::asio::awaitable<void> RoomService::Forget(const Requester& who, const std::string& room_id) {
  CheckRoomId(room_id);
  // A stream write: the user's cached list of rooms (SyncService) learns
  // of it through Change::kRooms (noted at a position of its own).
  co_await stream_.Submit([&](sql::Tx& tx, Stream::NextPos&, Stream::Effects& fx) {
    auto room = RoomStore::GetRoom(tx, room_id);
    if (!room) throw NotFound("Unknown room");
    auto m = RoomStore::GetMembership(tx, room->room_nid, who.user_id);
    if (!m) throw NotFound("You were never in this room");
    if (m->membership == "join" || m->membership == "invite" || m->membership == "knock") {
      throw Error(ErrorCode::kUnknown, "Leave the room before forgetting it");
    }
    RoomStore::Forget(tx, room->room_nid, who.user_id);
    fx.Changed(Change::kRooms, who.user_id);
  });
}

boost::asio::awaitable<std::vector<std::string>> RoomService::JoinedMembers(
    const Requester& who, const std::string& room_id) {
  CheckRoomId(room_id);
  co_return co_await Offload(ctx_.db_pool, [&] {
    return ctx_.db.Read([&](sql::Tx& tx) {
      auto room = RoomStore::GetRoom(tx, room_id);
      if (!room) throw Forbidden("You are not in this room");
      std::vector<std::string> joined;
      bool self = false;
      for (const auto& m : RoomStore::RoomMembers(tx, room->room_nid)) {
        if (m.membership != "join") continue;
        self |= m.user_id == who.user_id;
        joined.push_back(m.user_id);
      }
      if (!self) throw Forbidden("You are not in this room");
      return joined;
    });
  });
}

boost::asio::awaitable<std::vector<std::string>> RoomService::JoinedRooms(const Requester& who) {
  co_return co_await Offload(ctx_.db_pool, [&] {
    return ctx_.db.Read([&](sql::Tx& tx) {
      std::vector<std::string> out;
      for (const auto& m : RoomStore::RoomsForUser(tx, who.user_id, "join")) {
        out.push_back(m.room_id);
      }
      return out;
    });
  });
}

namespace {

// Returns the room and the stream position up to which `who` may read it;
// throws M_FORBIDDEN if they may not.
// The room's state events as of `upto` (the current state when upto is
// the current position), optionally only those of one type.
std::vector<RoomEvent> StateEventsAt(sql::Tx& tx, const storage::RoomRecord& room,
                                     std::int64_t upto, std::int64_t current,
                                     const std::string& type_filter) {
  storage::StateMap state = upto >= current ? RoomStore::CurrentState(tx, room.room_nid)
                                            : RoomStore::StateAt(tx, room.room_nid, upto);
  std::vector<std::int64_t> nids;
  for (const auto& [key, nid] : state) {
    if (type_filter.empty() || key.first == type_filter) nids.push_back(nid);
  }
  std::vector<RoomEvent> out;
  for (auto& e : RoomStore::GetEventsByNid(tx, nids)) out.push_back({std::move(e), room.room_id});
  return out;
}

std::pair<storage::RoomRecord, std::int64_t> ReadableRoom(sql::Tx& tx, const std::string& room_id,
                                                          const std::string& user_id,
                                                          std::int64_t current) {
  auto room = RoomStore::GetRoom(tx, room_id);
  if (!room) throw Forbidden("You are not in this room");
  auto upto = VisibleUpTo(tx, room->room_nid, user_id, current);
  if (!upto) throw Forbidden("You are not in this room");
  return {*room, *upto};
}

}  // namespace

boost::asio::awaitable<RoomEvent> RoomService::GetEvent(const Requester& who,
                                                        const std::string& room_id,
                                                        const std::string& event_id) {
  const std::int64_t current = stream_.Current();
  co_return co_await Offload(ctx_.db_pool, [&] {
    return ctx_.db.Read([&](sql::Tx& tx) {
      auto [room, upto] = ReadableRoom(tx, room_id, who.user_id, current);
      auto ev = RoomStore::GetEvent(tx, event_id);
      if (!ev || ev->room_nid != room.room_nid || ev->stream_pos > upto) {
        throw NotFound("Event not found");
      }
      return RoomEvent{*ev, room.room_id};
    });
  });
}

boost::asio::awaitable<std::vector<RoomEvent>> RoomService::GetState(const Requester& who,
                                                                     const std::string& room_id) {
  co_return co_await StateAt(who, room_id, std::nullopt, "");
}

boost::asio::awaitable<std::vector<RoomEvent>> RoomService::StateAt(
    const Requester& who, const std::string& room_id, std::optional<std::int64_t> at,
    const std::string& type_filter) {
  const std::int64_t current = stream_.Current();
  co_return co_await Offload(ctx_.db_pool, [&] {
    return ctx_.db.Read([&](sql::Tx& tx) {
      auto [room, upto] = ReadableRoom(tx, room_id, who.user_id, current);
      return StateEventsAt(tx, room, std::min(upto, at.value_or(upto)), current, type_filter);
    });
  });
}

boost::asio::awaitable<RoomEvent> RoomService::GetStateEvent(const Requester& who,
                                                             const std::string& room_id,
                                                             const std::string& type,
                                                             const std::string& state_key) {
  auto state = co_await StateAt(who, room_id, std::nullopt, type);
  for (auto& e : state) {
    if (e.record.state_key.value_or("") == state_key) co_return e;
  }
  throw NotFound("No such state event");
}

boost::asio::awaitable<std::vector<RoomEvent>> RoomService::Members(const Requester& who,
                                                                    const std::string& room_id,
                                                                    const MembersQuery& q) {
  std::optional<std::int64_t> at;
  if (q.at) at = SyncToken::Parse(*q.at).pos;
  auto state = co_await StateAt(who, room_id, at, "m.room.member");
  std::vector<RoomEvent> out;
  for (auto& e : state) {
    auto pdu = ParsePdu(e.record.json);
    std::string m(pdu.at("content").as_object().at("membership").as_string());
    if (q.membership && m != *q.membership) continue;
    if (q.not_membership && m == *q.not_membership) continue;
    out.push_back(std::move(e));
  }
  co_return out;
}

boost::asio::awaitable<void> RoomService::CreateAlias(const Requester& who,
                                                      const std::string& alias,
                                                      const std::string& room_id) {
  auto parts = alias.size() > 1 && alias.front() == '#' ? alias.find(':') : std::string::npos;
  if (parts == std::string::npos || alias.size() > 255 || parts == 1) {
    throw InvalidParam("Invalid room alias");
  }
  if (alias.substr(parts + 1) != ctx_.config.server_name) {
    throw InvalidParam("Aliases must be on this server");
  }
  co_await Offload(ctx_.db_pool, [&] {
    ctx_.db.Write([&](sql::Tx& tx) {
      auto room = RoomStore::GetRoom(tx, room_id);
      if (!room) throw NotFound("Unknown room");
      auto m = RoomStore::GetMembership(tx, room->room_nid, who.user_id);
      if (!m || m->membership != "join") throw Forbidden("You are not in this room");
      try {
        RoomStore::CreateAlias(tx, alias, room->room_nid, who.user_id);
      } catch (const sql::UniqueViolation&) {
        throw Error(ErrorCode::kUnknown, "Room alias already exists", 409);
      }
    });
  });
}

boost::asio::awaitable<std::string> RoomService::ResolveAlias(const std::string& alias) {
  auto r = co_await Offload(ctx_.db_pool, [&] {
    return ctx_.db.Read([&](sql::Tx& tx) { return RoomStore::GetAlias(tx, alias); });
  });
  if (!r) throw NotFound("Room alias " + alias + " not found");
  co_return r->first;
}

boost::asio::awaitable<void> RoomService::DeleteAlias(const Requester& who,
                                                      const std::string& alias) {
  co_await Offload(ctx_.db_pool, [&] {
    ctx_.db.Write([&](sql::Tx& tx) {
      auto a = RoomStore::GetAlias(tx, alias);
      if (!a) throw NotFound("Room alias not found");
      if (a->second != who.user_id && !who.is_admin) {
        // Room moderators may also remove aliases.
        auto room = RoomStore::GetRoom(tx, a->first);
        Stream::NextPos none = [] { return std::int64_t{0}; };
        Stream::Effects fx;
        RoomWriter w(tx, ctx_.config, key_, none, fx, nullptr, nullptr);
        w.Open(a->first);
        if (!room || w.PowerLevelOf(who.user_id) < w.RequiredLevel("state_default", 50)) {
          throw Forbidden("You may not remove this alias");
        }
      }
      RoomStore::DeleteAlias(tx, alias);
    });
  });
}

boost::asio::awaitable<std::vector<std::string>> RoomService::Aliases(const Requester& who,
                                                                      const std::string& room_id) {
  const std::int64_t current = stream_.Current();
  co_return co_await Offload(ctx_.db_pool, [&] {
    return ctx_.db.Read([&](sql::Tx& tx) {
      auto [room, upto] = ReadableRoom(tx, room_id, who.user_id, current);
      (void)upto;
      return RoomStore::AliasesOf(tx, room.room_nid);
    });
  });
}

}  // namespace vigie::service
