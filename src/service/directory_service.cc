#include "service/directory_service.h"

#include <algorithm>
#include <boost/json/parse.hpp>
#include <charconv>

#include "common/ascii.h"
#include "common/error.h"
#include "common/json.h"
#include "common/offload.h"
#include "events/event.h"
#include "events/power_levels.h"
#include "events/room_version.h"
#include "storage/directory_store.h"
#include "storage/room_store.h"

namespace vigie::service {

using storage::DirectoryStore;
using storage::RoomStore;

namespace {

constexpr std::int64_t kDefaultRoomsLimit = 100;
constexpr std::int64_t kMaxRoomsLimit = 500;
constexpr std::int64_t kDefaultUsersLimit = 10;
constexpr std::int64_t kMaxUsersLimit = 100;
// Rooms described per state query while a search walks the list.
constexpr std::size_t kSearchBatch = 100;

const std::vector<std::string>& DirectoryStateTypes() {
  static const std::vector<std::string> kTypes = {
      "m.room.create",          "m.room.name",       "m.room.topic",
      "m.room.canonical_alias", "m.room.join_rules", "m.room.history_visibility",
      "m.room.guest_access",    "m.room.avatar"};
  return kTypes;
}

// content[key] of the PDU `pdu` if it is a string.
std::optional<std::string> ContentString(const std::string* pdu, std::string_view key) {
  if (!pdu) return std::nullopt;
  const boost::json::object content = events::ContentOf(*pdu);
  const auto* s = content.if_contains(key);
  if (!s || !s->is_string()) return std::nullopt;
  return std::string(s->as_string());
}

PublicRoom Describe(const storage::PublishedRoom& r,
                    const std::map<std::string, std::string>& state) {
  auto pdu = [&](const char* type) -> const std::string* {
    auto it = state.find(type);
    return it == state.end() ? nullptr : &it->second;
  };
  PublicRoom out;
  out.room_id = r.room_id;
  out.num_joined_members = r.joined_members;
  out.name = ContentString(pdu("m.room.name"), "name");
  out.topic = ContentString(pdu("m.room.topic"), "topic");
  out.canonical_alias = ContentString(pdu("m.room.canonical_alias"), "alias");
  out.join_rule = ContentString(pdu("m.room.join_rules"), "join_rule");
  out.world_readable = ContentString(pdu("m.room.history_visibility"), "history_visibility") ==
                       std::optional<std::string>("world_readable");
  out.guest_can_join = ContentString(pdu("m.room.guest_access"), "guest_access") ==
                       std::optional<std::string>("can_join");
  out.avatar_url = ContentString(pdu("m.room.avatar"), "url");
  out.room_type = ContentString(pdu("m.room.create"), "type");
  // Empty strings mean "none" for these (a removed name or topic).
  for (auto* f : {&out.name, &out.topic, &out.canonical_alias, &out.avatar_url}) {
    if (*f && (*f)->empty()) f->reset();
  }
  return out;
}

bool Contains(const std::optional<std::string>& haystack, const std::string& folded_needle) {
  return haystack && ascii::Lower(*haystack).find(folded_needle) != std::string::npos;
}

// The published rooms in directory order, described on demand in batches.
class Listing {
 public:
  Listing(sql::Tx& tx, std::vector<storage::PublishedRoom> rooms, const PublicRoomsQuery& q,
          std::size_t batch)
      : tx_(tx), rooms_(std::move(rooms)), described_(rooms_.size()), batch_(batch) {
    if (q.search_term) term_ = ascii::Lower(*q.search_term);
    room_types_ = q.room_types;
  }

  std::int64_t size() const { return static_cast<std::int64_t>(rooms_.size()); }

  // Whether room `i` passes the query's filters. `forward` tells which way
  // the caller walks, so that the batch described covers what comes next.
  bool Match(std::int64_t i, bool forward) {
    if (!room_types_ && term_.empty()) return true;
    const PublicRoom& r = At(i, forward);
    if (room_types_ &&
        std::find(room_types_->begin(), room_types_->end(), r.room_type) == room_types_->end()) {
      return false;
    }
    if (term_.empty()) return true;
    return Contains(r.name, term_) || Contains(r.topic, term_) ||
           Contains(r.canonical_alias, term_);
  }

  PublicRoom& At(std::int64_t i, bool forward) {
    auto& slot = described_[static_cast<std::size_t>(i)];
    if (!slot) Load(i, forward);
    return *slot;
  }

  // The first index in [lo, hi) walking from `lo` upward (or from hi - 1
  // downward) that matches; -1 if none.
  std::int64_t FindMatch(std::int64_t lo, std::int64_t hi, bool forward) {
    if (forward) {
      for (std::int64_t i = lo; i < hi; ++i) {
        if (Match(i, true)) return i;
      }
    } else {
      for (std::int64_t i = hi - 1; i >= lo; --i) {
        if (Match(i, false)) return i;
      }
    }
    return -1;
  }

 private:
  void Load(std::int64_t i, bool forward) {
    const auto n = static_cast<std::int64_t>(rooms_.size());
    const auto b = static_cast<std::int64_t>(batch_);
    const std::int64_t lo = forward ? i : std::max<std::int64_t>(0, i - b + 1);
    const std::int64_t hi = forward ? std::min(n, i + b) : i + 1;
    std::vector<std::int64_t> nids;
    for (std::int64_t j = lo; j < hi; ++j) {
      if (!described_[static_cast<std::size_t>(j)]) nids.push_back(rooms_[j].room_nid);
    }
    auto state = DirectoryStore::RoomStateByType(tx_, nids, DirectoryStateTypes());
    static const std::map<std::string, std::string> kNone;
    for (std::int64_t j = lo; j < hi; ++j) {
      auto& slot = described_[static_cast<std::size_t>(j)];
      if (slot) continue;
      auto it = state.find(rooms_[j].room_nid);
      slot = Describe(rooms_[j], it == state.end() ? kNone : it->second);
    }
  }

  sql::Tx& tx_;
  std::vector<storage::PublishedRoom> rooms_;
  std::vector<std::optional<PublicRoom>> described_;
  std::size_t batch_;
  std::string term_;
  std::optional<std::vector<std::optional<std::string>>> room_types_;
};

struct Since {
  bool forward = true;
  std::int64_t index = 0;
};

Since ParseSince(const std::optional<std::string>& s) {
  if (!s || s->empty()) return {};
  Since out;
  if (s->front() == 'f') {
    out.forward = true;
  } else if (s->front() == 'b') {
    out.forward = false;
  } else {
    throw InvalidParam("Unknown pagination token");
  }
  const char* begin = s->data() + 1;
  const char* end = s->data() + s->size();
  auto [p, ec] = std::from_chars(begin, end, out.index);
  if (ec != std::errc() || p != end || begin == end || out.index < 0) {
    throw InvalidParam("Unknown pagination token");
  }
  return out;
}

}  // namespace

boost::asio::awaitable<PublicRoomsPage> DirectoryService::PublicRooms(
    const std::optional<Requester>& who, PublicRoomsQuery q) {
  const std::int64_t limit =
      std::clamp<std::int64_t>(q.limit.value_or(kDefaultRoomsLimit), 1, kMaxRoomsLimit);
  const Since since = ParseSince(q.since);
  const bool filtering = (q.search_term && !q.search_term->empty()) || q.room_types;
  std::optional<std::string> from_tenant;
  if (who) from_tenant = who->tenant_id;
  const std::vector<std::string> tenants = policy_.ContactableTenants(from_tenant);
  co_return co_await Offload(ctx_.db_pool, [&] {
    return ctx_.db.Read([&](sql::Tx& tx) {
      Listing list(tx, DirectoryStore::PublishedRooms(tx, tenants), q,
                   filtering ? kSearchBatch : static_cast<std::size_t>(limit) + 1);
      const std::int64_t n = list.size();
      const std::int64_t at = std::min(since.index, n);
      PublicRoomsPage page;
      page.total_room_count_estimate = n;
      std::vector<std::int64_t> picked;  // indexes, in walking order
      if (since.forward) {
        for (std::int64_t i = at; i < n && static_cast<std::int64_t>(picked.size()) < limit; ++i) {
          if (list.Match(i, true)) picked.push_back(i);
        }
      } else {
        for (std::int64_t i = at - 1; i >= 0 && static_cast<std::int64_t>(picked.size()) < limit;
             --i) {
          if (list.Match(i, false)) picked.push_back(i);
        }
        std::reverse(picked.begin(), picked.end());
      }
      // The page covers [first, last]; a neighbour token is given only
      // when a matching room lies beyond it.
      const std::int64_t first = picked.empty() ? at : picked.front();
      const std::int64_t after = picked.empty() ? at : picked.back() + 1;
      if (list.FindMatch(after, n, true) >= 0) page.next_batch = "f" + std::to_string(after);
      if (list.FindMatch(0, first, false) >= 0) page.prev_batch = "b" + std::to_string(first);
      for (auto i : picked) page.chunk.push_back(std::move(list.At(i, true)));
      return page;
    });
  });
}

boost::asio::awaitable<std::string> DirectoryService::RoomVisibility(const std::string& room_id) {
  auto room = co_await Offload(ctx_.db_pool, [&] {
    return ctx_.db.Read([&](sql::Tx& tx) { return RoomStore::GetRoom(tx, room_id); });
  });
  if (!room) throw NotFound("Room not found");
  co_return room->published ? "public" : "private";
}

boost::asio::awaitable<void> DirectoryService::SetRoomVisibility(const Requester& who,
                                                                 const std::string& room_id,
                                                                 const std::string& visibility) {
  if (visibility != "public" && visibility != "private") {
    throw InvalidParam("visibility must be public or private");
  }
  co_await Offload(ctx_.db_pool, [&] {
    ctx_.db.Write([&](sql::Tx& tx) {
      auto room = RoomStore::GetRoom(tx, room_id);
      if (!room) throw NotFound("Room not found");
      if (!who.is_admin) {
        auto m = RoomStore::GetMembership(tx, room->room_nid, who.user_id);
        if (!m || m->membership != "join") throw Forbidden("You are not in this room");
        auto create_nid = RoomStore::CurrentStateEvent(tx, room->room_nid, "m.room.create", "");
        auto pl_nid = RoomStore::CurrentStateEvent(tx, room->room_nid, "m.room.power_levels", "");
        auto create = create_nid ? RoomStore::GetEventByNid(tx, *create_nid) : std::nullopt;
        if (!create) throw Internal("room " + room_id + " has no create event");
        auto create_pdu = json::ParseStored(create->json).as_object();
        std::optional<boost::json::object> pl_pdu;
        if (pl_nid) {
          if (auto pl = RoomStore::GetEventByNid(tx, *pl_nid)) {
            pl_pdu = json::ParseStored(pl->json).as_object();
          }
        }
        const auto& version = events::RoomVersionOrThrow(room->room_version);
        events::PowerLevels levels(version, create_pdu, pl_pdu ? &*pl_pdu : nullptr);
        if (levels.UserLevel(who.user_id) < levels.EventLevel("m.room.canonical_alias", true)) {
          throw Forbidden("You may not change this room's directory visibility");
        }
      }
      RoomStore::SetPublished(tx, room->room_nid, visibility == "public");
    });
  });
}

boost::asio::awaitable<UserSearchPage> DirectoryService::SearchUsers(
    const Requester& who, const std::string& term, std::optional<std::int64_t> limit_param) {
  const std::int64_t limit =
      std::clamp<std::int64_t>(limit_param.value_or(kDefaultUsersLimit), 1, kMaxUsersLimit);
  if (term.size() > 1000) throw InvalidParam("search_term is too long");
  const std::string folded = ascii::Lower(term);
  const std::vector<std::string> tenants = policy_.ContactableTenants(who.tenant_id);
  co_return co_await Offload(ctx_.db_pool, [&] {
    return ctx_.db.Read([&](sql::Tx& tx) {
      auto rows = DirectoryStore::SearchUsers(tx, who.user_id, folded, tenants, limit + 1);
      UserSearchPage page;
      page.limited = static_cast<std::int64_t>(rows.size()) > limit;
      if (page.limited) rows.resize(limit);
      for (auto& r : rows) {
        page.results.push_back(
            {std::move(r.user_id), std::move(r.displayname), std::move(r.avatar_url)});
      }
      return page;
    });
  });
}

}  // namespace vigie::service
