// Event relationships (m.relates_to), read side: children of an event,
// thread roots, and the rows bundled aggregations are built from. The
// `event_relations` rows are written by the room writer
// (RoomStore::AddRelation); one row per child event, keyed by the parent's
// event id. A redacted child no longer relates to anything, so every read
// here skips children with `redacted_by` set. Reads return event nids with
// stream positions; the caller loads the events it keeps
// (RoomStore::GetEventsByNid).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "storage/room_store.h"
#include "storage/sql.h"

namespace vigie::storage {

struct RelationChild {
  std::int64_t event_nid = 0;
  std::int64_t stream_pos = 0;
};

struct RelationsQuery {
  std::int64_t room_nid = 0;
  std::string parent_event_id;
  std::optional<std::string> rel_type;
  std::optional<std::string> event_type;
  // 1: direct children only; n: also their children, down to n levels.
  int depth = 1;
  std::int64_t from_exclusive = 0;
  std::int64_t to_inclusive = 0;
  std::int64_t limit = 0;
  Direction dir = Direction::kBackward;
};

struct ThreadRoot {
  std::string root_event_id;
  std::int64_t root_nid = 0;
  std::int64_t latest_pos = 0;  // the latest reply's stream position
  std::int64_t latest_nid = 0;  // the latest reply
  std::int64_t count = 0;       // replies
  bool participated = false;    // the user sent the root or a reply
};

struct ThreadsQuery {
  std::int64_t room_nid = 0;
  std::string user_id;  // for `participated`
  bool only_participated = false;
  // Replies after `visible_upto` are ignored (history the user cannot
  // see); threads whose latest reply is after `latest_upto` are skipped.
  std::int64_t visible_upto = 0;
  std::int64_t latest_upto = 0;
  std::int64_t limit = 0;
};

// One child of a parent in a bundled-aggregation lookup.
struct RelatedChild {
  std::string parent_event_id;
  std::string rel_type;
  std::int64_t event_nid = 0;
  std::string event_id;
  std::string sender;
  std::string type;
  bool is_state = false;
  std::int64_t origin_server_ts = 0;
  std::int64_t stream_pos = 0;
};

class RelationStore {
 public:
  // Children of q.parent_event_id in q.room_nid with stream_pos in
  // (from, to], matching rel_type / event_type when given, in q.dir
  // order, at most q.limit.
  static std::vector<RelationChild> Children(sql::Tx& tx, const RelationsQuery& q);

  // Thread roots of the room (events with m.thread children, the root in
  // the room and at or before visible_upto), newest latest reply first.
  // Groups every m.thread row of the room (event_relations_threads): its
  // cost grows with the room's thread replies, not with the page.
  static std::vector<ThreadRoot> Threads(sql::Tx& tx, const ThreadsQuery& q);

  // Thread summaries of the given parents (only those with replies),
  // counting replies at or before `upto`.
  static std::vector<ThreadRoot> ThreadSummaries(sql::Tx& tx, std::int64_t room_nid,
                                                 const std::vector<std::string>& parent_ids,
                                                 std::string_view user_id, std::int64_t upto);

  // The children of the given parents with one of `rel_types`, at or
  // before `upto`, in stream order.
  static std::vector<RelatedChild> ChildrenOf(sql::Tx& tx, std::int64_t room_nid,
                                              const std::vector<std::string>& parent_ids,
                                              const std::vector<std::string>& rel_types,
                                              std::int64_t upto);
};

}  // namespace vigie::storage
