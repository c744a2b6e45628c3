// Push rules per user (GET/PUT/DELETE /pushrules/...) and the evaluation
// of every new room event against the rules of the room's local members,
// which records the notifications behind /sync's unread counts.
//
// Storage: a user's rules live in their global account data `m.push_rules`
// ({"global": ruleset}, server-managed: clients cannot PUT it), written at
// a stream position on every change, so /sync delivers the new rules as
// account data. Users who changed nothing have no row and share the
// server-default ruleset.
//
// Cache: parsed rulesets per user, in memory. It is filled only by
// OnEvent and emptied by rule changes, both under the stream writer lock,
// and emptied whenever the stream undoes a write (Stream::OnUndo), so a
// cached ruleset is never older than the database.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "events/room_version.h"
#include "service/auth_service.h"
#include "service/context.h"
#include "service/push_rules.h"
#include "service/stream.h"
#include "storage/room_store.h"

namespace vigie::service {

// A room event just persisted, as RoomWriter::Append knows it.
struct PushEventInput {
  std::int64_t room_nid = 0;
  std::int64_t stream_pos = 0;
  const boost::json::object* pdu = nullptr;
  // The room's memberships after the event.
  const std::vector<storage::MembershipRecord>* members = nullptr;
  const events::RoomVersion* version = nullptr;
  const boost::json::object* create = nullptr;        // m.room.create
  const boost::json::object* power_levels = nullptr;  // m.room.power_levels, or nullptr
  // The current m.room.member event of a user, or nullptr (display names;
  // only called for users whose rules ask).
  std::function<const boost::json::object*(const std::string&)> member_event;
  // The event is its sender's join, from another membership or none.
  bool sender_joined = false;
};

class PushRuleService {
 public:
  PushRuleService(ServiceContext& ctx, Stream& stream) : ctx_(ctx), stream_(stream) {
    // A ruleset read in a write that was undone may be one that write's
    // batch changed.
    stream_.OnUndo([this] {
      std::lock_guard lock(mu_);
      cache_.clear();
    });
  }

  // GET /pushrules/ : {"global": {...}}.
  boost::asio::awaitable<boost::json::object> GetAll(const Requester& who);
  // GET /pushrules/global/{kind}/{ruleId}. Throws M_NOT_FOUND.
  boost::asio::awaitable<boost::json::object> Get(const Requester& who, const std::string& kind,
                                                  const std::string& rule_id);
  // PUT /pushrules/global/{kind}/{ruleId}: creates or replaces a user rule.
  // `before` / `after` name user rules of the same kind (else 400 M_UNKNOWN).
  boost::asio::awaitable<void> Put(const Requester& who, const std::string& kind,
                                   const std::string& rule_id, const boost::json::object& body,
                                   const std::optional<std::string>& before,
                                   const std::optional<std::string>& after);
  // DELETE: user rules only; a server-default rule is M_INVALID_PARAM.
  boost::asio::awaitable<void> Delete(const Requester& who, const std::string& kind,
                                      const std::string& rule_id);
  // .../enabled and .../actions, for user and server-default rules.
  boost::asio::awaitable<void> SetEnabled(const Requester& who, const std::string& kind,
                                          const std::string& rule_id, bool enabled);
  boost::asio::awaitable<void> SetActions(const Requester& who, const std::string& kind,
                                          const std::string& rule_id,
                                          const boost::json::value& actions);

  // Evaluates a new event for every joined local member but its sender and
  // records the notifications (the outcome most members had once for the
  // event, the others per member); the sender's own earlier notifications
  // in the event's thread count as read, and all of them at a join. Runs
  // in the event's transaction, under the stream writer lock: one batched
  // read of uncached rulesets, a batched insert of the notifications, no
  // per-member query.
  struct Recorded {
    std::vector<storage::UserDataStore::PushRow> rows;  // added (PushRowsIn's shape)
    // The sender's own event marked their notifications in the room's main
    // timeline read up to before it, and nothing else of theirs.
    bool sender_read_main = false;
  };
  Recorded OnEvent(sql::Tx& tx, const PushEventInput& in);

  // The thread an event belongs to for notification counts: the root of
  // an m.thread relation, followed through up to 3 relations; else "main".
  static std::string ThreadOf(sql::Tx& tx, const boost::json::object& pdu);

 private:
  std::shared_ptr<const push::Ruleset> Load(sql::Tx& tx, const std::string& user_id);
  // Runs fn on the user's ruleset in a stream write and stores the result.
  boost::asio::awaitable<void> Modify(const Requester& who,
                                      const std::function<void(push::Ruleset&)>& fn);

  ServiceContext& ctx_;
  Stream& stream_;
  static constexpr std::size_t kMaxCached = 100000;
  std::mutex mu_;
  std::unordered_map<std::string, std::shared_ptr<const push::Ruleset>> cache_;  // guarded by mu_
};

}  // namespace vigie::service
