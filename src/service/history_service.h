// Reading a room's history: /messages pagination, the context around an
// event, relations (children of an event), the room's threads, and the
// bundled aggregations (unsigned.m.relations) those answers carry.
//
// Positions and tokens. Every event has a global stream position; a token
// "s<N>_<typing>" (the /sync token format, service/sync_service.h) names
// the point between positions N and N+1. Paginating backward from sN
// returns events at or before N, newest first; forward from sN returns
// events after N, oldest first. A `to` token bounds the walk the same way.
//
// Visibility. A user reads a room up to VisibleUpTo (room_service.h):
// everything while joined, up to their leave or ban after that; a user who
// never joined is refused with M_FORBIDDEN. Events and relations beyond
// that point do not exist for them.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "service/auth_service.h"
#include "service/context.h"
#include "service/filter.h"
#include "service/stream.h"
#include "storage/room_store.h"

namespace vigie::service {

// The server-side aggregation of one parent event's children
// (client-server API "Aggregations of child events"). Annotations are not
// aggregated (the spec says so).
struct ThreadSummary {
  storage::EventRecord latest;  // the latest reply
  std::int64_t count = 0;
  bool current_user_participated = false;
};
struct BundledRelations {
  std::optional<ThreadSummary> thread;
  std::optional<storage::EventRecord> replace;  // the most recent valid edit
  std::vector<std::string> references;          // m.reference children, oldest first
  bool Empty() const { return !thread && !replace && references.empty(); }
};
using Bundles = std::map<std::string, BundledRelations>;  // by parent event id

struct MessagesRequest {
  std::optional<std::string> from;
  std::optional<std::string> to;
  storage::Direction dir = storage::Direction::kBackward;
  std::optional<std::int64_t> limit;  // default 10 (or the filter's), at most 1000
  RoomEventFilter filter;
};

struct MessagesPage {
  std::string room_id;
  std::vector<storage::EventRecord> chunk;  // in the request's direction
  std::string start;
  std::optional<std::string> end;  // absent: nothing further in this direction
  // With lazy_load_members: the membership events of the chunk's senders.
  std::vector<storage::EventRecord> state;
  Bundles bundles;
};

struct ContextRequest {
  std::int64_t limit = 10;  // split between before and after
  RoomEventFilter filter;
};

struct ContextPage {
  std::string room_id;
  storage::EventRecord event;
  std::vector<storage::EventRecord> before;  // newest first
  std::vector<storage::EventRecord> after;   // oldest first
  std::string start;
  std::string end;
  std::vector<storage::EventRecord> state;  // at the last event returned
  Bundles bundles;
};

struct RelationsRequest {
  std::optional<std::string> rel_type;
  std::optional<std::string> event_type;
  std::optional<std::string> from;
  std::optional<std::string> to;
  std::optional<std::int64_t> limit;  // default 50, at most 1000
  storage::Direction dir = storage::Direction::kBackward;
  std::optional<bool> recurse;
};

struct RelationsPage {
  std::string room_id;
  std::vector<storage::EventRecord> chunk;
  std::optional<std::string> next_batch;
  std::optional<std::string> prev_batch;
  std::optional<std::int64_t> recursion_depth;  // set when `recurse` was given
  Bundles bundles;
};

struct ThreadsRequest {
  bool only_participated = false;
  std::optional<std::string> from;
  std::optional<std::int64_t> limit;  // default 20, at most 100
};

struct ThreadsPage {
  std::string room_id;
  std::vector<storage::EventRecord> chunk;  // thread roots, latest reply first
  std::optional<std::string> next_batch;
  Bundles bundles;  // every root has its m.thread summary
};

class HistoryService {
 public:
  // How many relations /relations recurses with recurse=true.
  static constexpr int kRecursionDepth = 3;

  HistoryService(ServiceContext& ctx, Stream& stream) : ctx_(ctx), stream_(stream) {}

  // GET /rooms/{roomId}/messages. Throws M_FORBIDDEN when the user may not
  // read the room, M_INVALID_PARAM for a malformed token.
  boost::asio::awaitable<MessagesPage> Messages(const Requester& who, const std::string& room_id,
                                                MessagesRequest req);
  // GET /rooms/{roomId}/context/{eventId}. M_NOT_FOUND for an event the
  // user cannot see.
  boost::asio::awaitable<ContextPage> Context(const Requester& who, const std::string& room_id,
                                              const std::string& event_id, ContextRequest req);
  // GET /rooms/{roomId}/relations/{eventId}[/{relType}[/{eventType}]].
  // M_NOT_FOUND for a parent the user cannot see.
  boost::asio::awaitable<RelationsPage> Relations(const Requester& who, const std::string& room_id,
                                                  const std::string& event_id,
                                                  RelationsRequest req);
  // GET /rooms/{roomId}/threads.
  boost::asio::awaitable<ThreadsPage> Threads(const Requester& who, const std::string& room_id,
                                              ThreadsRequest req);

 private:
  ServiceContext& ctx_;
  Stream& stream_;
};

}  // namespace vigie::service
