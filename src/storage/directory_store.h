// The room directory (published rooms) and the user directory, read side.
// Both are computed from rooms, memberships, current state and profiles;
// there are no directory tables to keep in step. The price: a room
// directory request reads every published room's member count, and a user
// search passes over all users (a '%term%' match cannot use an index).
// Both are fine to tens of thousands; past that, a directory table kept by
// the room writer is the next step.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "storage/sql.h"

namespace vigie::storage {

struct PublishedRoom {
  std::int64_t room_nid = 0;
  std::string room_id;
  std::int64_t joined_members = 0;
};

struct UserDirectoryEntry {
  std::string user_id;
  std::optional<std::string> displayname;
  std::optional<std::string> avatar_url;
};

class DirectoryStore {
 public:
  // Every published room of one of `tenants` (rooms.tenant_id), most
  // joined members first, then by room id.
  static std::vector<PublishedRoom> PublishedRooms(sql::Tx& tx,
                                                   const std::vector<std::string>& tenants);

  // The PDUs (JSON text) of the current state events with an empty state
  // key and one of `types`, for each of `room_nids`: room_nid -> type -> PDU.
  static std::map<std::int64_t, std::map<std::string, std::string>> RoomStateByType(
      sql::Tx& tx, const std::vector<std::int64_t>& room_nids,
      const std::vector<std::string>& types);

  // Active users whose lower-cased user id or display name contains
  // `folded_term` (lower case) and who are visible to `requester`: joined
  // to a room the requester is joined to, or to a room whose join rule is
  // public or whose history is world readable; and who belong to one of
  // `tenants`. Users whose id or name starts with the term come first,
  // then those with a display name, then by user id. At most `limit`.
  static std::vector<UserDirectoryEntry> SearchUsers(sql::Tx& tx, std::string_view requester,
                                                     std::string_view folded_term,
                                                     const std::vector<std::string>& tenants,
                                                     std::int64_t limit);
};

}  // namespace vigie::storage
