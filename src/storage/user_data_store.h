// Per-user data: filters, account data, receipts, presence, notification
// counts. Rows that /sync returns carry a global stream position.
#pragma once

#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "storage/sql.h"

namespace vigie::storage {

struct AccountDataRecord {
  std::string room_id;  // "" for global account data
  std::string type;
  std::string content;  // JSON object text
  std::int64_t stream_pos = 0;
};

struct ReceiptRecord {
  std::string user_id;
  std::string receipt_type;  // m.read, m.read.private, m.fully_read
  std::string thread_id;     // "" for unthreaded, else "main" or a thread root
  std::string event_id;
  std::int64_t event_stream_pos = 0;
  std::int64_t ts = 0;
  std::int64_t stream_pos = 0;
};

struct PresenceRecord {
  std::string user_id;
  std::string state;  // online, offline, unavailable
  std::optional<std::string> status_msg;
  std::int64_t last_active_ts = 0;
  std::int64_t stream_pos = 0;
};

class UserDataStore {
 public:
  // The user's server-notices room (X-IM-3), if one was made.
  static std::optional<std::string> NoticeRoom(sql::Tx& tx, std::string_view user_id);
  // Records the room unless one is recorded already; returns the recorded one.
  static std::string SetNoticeRoom(sql::Tx& tx, std::string_view user_id, std::string_view room_id);

  // Filters: ids are per server, numeric strings.
  static std::string CreateFilter(sql::Tx& tx, std::string_view user_id, std::string_view json);
  static std::optional<std::string> GetFilter(sql::Tx& tx, std::string_view user_id,
                                              std::string_view filter_id);

  static void SetAccountData(sql::Tx& tx, std::string_view user_id, const AccountDataRecord& r);
  static std::optional<AccountDataRecord> GetAccountData(sql::Tx& tx, std::string_view user_id,
                                                         std::string_view room_id,
                                                         std::string_view type);
  // Global account data of `type` for each of `user_ids` that has it, as
  // (user_id, content).
  static std::vector<std::pair<std::string, std::string>> GlobalAccountDataOf(
      sql::Tx& tx, std::string_view type, const std::vector<std::string>& user_ids);
  // Account data changed in (since, upto], global and per room.
  static std::vector<AccountDataRecord> AccountDataSince(sql::Tx& tx, std::string_view user_id,
                                                         std::int64_t since, std::int64_t upto);

  static void SetReceipt(sql::Tx& tx, std::int64_t room_nid, const ReceiptRecord& r);
  static std::optional<ReceiptRecord> GetReceipt(sql::Tx& tx, std::int64_t room_nid,
                                                 std::string_view user_id,
                                                 std::string_view receipt_type,
                                                 std::string_view thread_id);
  // Receipts of a room changed in (since, upto]; private receipts only for
  // `viewer`.
  static std::vector<ReceiptRecord> ReceiptsSince(sql::Tx& tx, std::int64_t room_nid,
                                                  std::string_view viewer, std::int64_t since,
                                                  std::int64_t upto);

  // Receipts changed in (since, upto] in the rooms `user_id` has joined,
  // with their room; private receipts only the user's own.
  static std::vector<std::pair<std::int64_t, ReceiptRecord>> ReceiptsInUserRooms(
      sql::Tx& tx, std::string_view user_id, std::int64_t since, std::int64_t upto);

  static void SetPresence(sql::Tx& tx, const PresenceRecord& r);
  static std::optional<PresenceRecord> GetPresence(sql::Tx& tx, std::string_view user_id);
  // Moves last_active_ts on, keeping the state and its stream position.
  static void TouchPresence(sql::Tx& tx, std::string_view user_id, std::int64_t last_active_ts);
  // The presence of `users` that changed in (since, upto]. Costs what the
  // set holds, not what the server holds: each user is looked up by key,
  // except when a large set's incremental sync reads the range's (recent,
  // so few) rows instead and keeps those of the set.
  static std::vector<PresenceRecord> PresenceSince(sql::Tx& tx, const std::set<std::string>& users,
                                                   std::int64_t since, std::int64_t upto);

  // The main timeline's thread id, as receipts and notifications name it.
  static constexpr std::string_view kMainThread = "main";

  // Notifications (push-rule evaluation results) for unread counts. A
  // notifying event is recorded once for the room (its summary: thread,
  // sender, whether it highlights), which counts for every member but its
  // sender; a push action is a member's own outcome where it differs
  // (notify false: not notified). A user's count takes the event's summary
  // unless they have an action for it, then their notifying actions.
  struct PushAction {
    std::string user_id;
    bool notify = true;
    bool highlight = false;
  };
  static void AddPushSummary(sql::Tx& tx, std::int64_t room_nid, std::int64_t stream_pos,
                             std::string_view thread_id, std::string_view sender, bool highlight);
  // Members' own outcomes (one statement per 200 members).
  static void AddPushActions(sql::Tx& tx, std::int64_t room_nid, std::int64_t stream_pos,
                             std::string_view thread_id, const std::vector<PushAction>& actions);
  // Marks notifications read: nothing of the user's in the room up to
  // `upto_pos` inclusive, of one thread ("main" or a root) or of all (""),
  // counts any more (a mark only rises; the user's own actions there are
  // deleted). (Counts are cached by /sync: a caller notes Change::kUnread
  // for the user in the same write.)
  static void ClearPushActions(sql::Tx& tx, std::int64_t room_nid, std::string_view user_id,
                               std::int64_t upto_pos, std::string_view thread_id);
  using Counts = std::pair<std::int64_t, std::int64_t>;  // (notifications, highlights)
  // Unread counts by where they lie: the main timeline, and threads. (A
  // user's own event in the main timeline clears only the first.)
  struct UnreadParts {
    Counts main{0, 0};
    Counts threads{0, 0};
    Counts Total() const { return {main.first + threads.first, main.second + threads.second}; }
    UnreadParts& operator+=(const UnreadParts& more) {
      main.first += more.main.first;
      main.second += more.main.second;
      threads.first += more.threads.first;
      threads.second += more.threads.second;
      return *this;
    }
    bool operator==(const UnreadParts&) const = default;
  };
  // (notifications, highlights) in the room after the user's unthreaded
  // m.read receipt and read marks: one query.
  static std::pair<std::int64_t, std::int64_t> UnreadCounts(sql::Tx& tx, std::int64_t room_nid,
                                                            std::string_view user_id);
  // The same for many rooms (rooms with none absent), counting
  // notifications at positions up to `upto` only: on PostgreSQL one query
  // per 250 rooms, on SQLite one prepared statement per room.
  static std::map<std::int64_t, UnreadParts> UnreadCountsIn(
      sql::Tx& tx, std::string_view user_id, const std::vector<std::int64_t>& room_nids,
      std::int64_t upto = std::numeric_limits<std::int64_t>::max());
  // The counts at positions in (after, upto] of each (room, after) given:
  // what was added to counts known up to `after`, queried as
  // UnreadCountsIn does; every room is in the answer.
  static std::map<std::int64_t, UnreadParts> UnreadAddedIn(
      sql::Tx& tx, std::string_view user_id,
      const std::vector<std::pair<std::int64_t, std::int64_t>>& room_after, std::int64_t upto);
  // The summaries and push actions of the room at positions in (after,
  // upto], by position (a position's summary before its actions), at most
  // `limit` of them: what every member's count adds there, read once for
  // them all.
  struct PushRow {
    std::int64_t stream_pos = 0;
    bool action = false;  // a member's push action, else the event's summary
    std::string user_id;  // the action's member, or the summarised event's sender
    bool notify = true;   // (summaries always notify)
    bool highlight = false;
    bool in_thread = false;  // the event is in a thread, not the main timeline
  };
  static std::vector<PushRow> PushRowsIn(sql::Tx& tx, std::int64_t room_nid, std::int64_t after,
                                         std::int64_t upto, std::int64_t limit);
};

}  // namespace vigie::storage
