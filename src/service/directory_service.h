// The published room directory (/publicRooms, /directory/list/room) and
// the user directory (/user_directory/search).
//
// Room directory pages walk one ordered list of the published rooms (most
// joined members first, then room id). A token names a position in that
// list and a direction: "f<i>" continues forward from index i, "b<i>"
// backward from just before index i; a search term skips rooms that do
// not match while walking. The order shifts as member counts change, so a
// client paginating through a busy directory may see a room twice or miss
// one; nothing stronger is promised (spec: the server determines the order).
//
// Search is case-insensitive for ASCII letters; other characters compare
// exactly.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <optional>
#include <string>
#include <vector>

#include "service/auth_service.h"
#include "service/context.h"
#include "service/policy_service.h"

namespace vigie::service {

struct PublicRoomsQuery {
  std::optional<std::int64_t> limit;  // default 100, at most 500
  std::optional<std::string> since;
  std::optional<std::string> search_term;
  // Room types to keep (nullopt in the list: rooms without a type); all
  // rooms when absent.
  std::optional<std::vector<std::optional<std::string>>> room_types;
};

struct PublicRoom {
  std::string room_id;
  std::optional<std::string> name;
  std::optional<std::string> topic;
  std::optional<std::string> canonical_alias;
  std::int64_t num_joined_members = 0;
  bool world_readable = false;
  bool guest_can_join = false;
  std::optional<std::string> join_rule;
  std::optional<std::string> avatar_url;
  std::optional<std::string> room_type;
};

struct PublicRoomsPage {
  std::vector<PublicRoom> chunk;
  std::optional<std::string> next_batch;
  std::optional<std::string> prev_batch;
  std::int64_t total_room_count_estimate = 0;
};

struct UserSearchResult {
  std::string user_id;
  std::optional<std::string> display_name;
  std::optional<std::string> avatar_url;
};

struct UserSearchPage {
  std::vector<UserSearchResult> results;
  bool limited = false;
};

class DirectoryService {
 public:
  DirectoryService(ServiceContext& ctx, PolicyService& policy) : ctx_(ctx), policy_(policy) {}

  // Published rooms of the tenants `who` may contact (C4; without an
  // access token, the default tenant's only). Throws M_INVALID_PARAM for a
  // malformed `since`.
  boost::asio::awaitable<PublicRoomsPage> PublicRooms(const std::optional<Requester>& who,
                                                      PublicRoomsQuery q);

  // "public" or "private". M_NOT_FOUND for an unknown room.
  boost::asio::awaitable<std::string> RoomVisibility(const std::string& room_id);
  // Publishes or unpublishes a room. Server admins may always; otherwise
  // the user must be joined with the power to send m.room.canonical_alias.
  // M_NOT_FOUND for an unknown room, M_FORBIDDEN without the power,
  // M_INVALID_PARAM for another visibility.
  boost::asio::awaitable<void> SetRoomVisibility(const Requester& who, const std::string& room_id,
                                                 const std::string& visibility);

  // Users visible to `who` (sharing a room, or in a public or world-readable
  // room) whose id or display name contains `term`, of the tenants `who`
  // may contact (C4). `limit` default 10, at most 100.
  boost::asio::awaitable<UserSearchPage> SearchUsers(const Requester& who, const std::string& term,
                                                     std::optional<std::int64_t> limit);

 private:
  ServiceContext& ctx_;
  PolicyService& policy_;
};

}  // namespace vigie::service
