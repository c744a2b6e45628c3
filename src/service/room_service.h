// Rooms: creation, membership, sending events, state, redaction, and the
// reads that need a visibility check. Every new event goes through one
// pipeline (RoomWriter in room_service.cc): load the room state, select and
// cite auth events, build and sign the PDU, authorise it with the room
// version's rules, persist it under the stream writer lock, wake members.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>
#include <optional>
#include <string>
#include <vector>

#include "events/signing.h"
#include "service/auth_service.h"
#include "service/context.h"
#include "service/room_cache.h"
#include "service/stream.h"
#include "storage/room_store.h"

namespace vigie::service {

class PolicyService;
class PushRuleService;

struct StateEventSpec {
  std::string type;
  std::string state_key;
  boost::json::object content;
};

struct CreateRoomOptions {
  std::optional<std::string> preset;      // private_chat | public_chat | trusted_private_chat
  std::optional<std::string> visibility;  // public | private
  std::optional<std::string> room_version;
  std::optional<std::string> name;
  std::optional<std::string> topic;
  std::optional<std::string> room_alias_name;
  std::vector<std::string> invite;
  bool is_direct = false;
  boost::json::object creation_content;
  std::optional<boost::json::object> power_level_content_override;
  std::vector<StateEventSpec> initial_state;
};

struct CreatedRoom {
  std::string room_id;
  std::optional<std::string> room_alias;
};

// A state or timeline event together with the room id it belongs to.
struct RoomEvent {
  storage::EventRecord record;
  std::string room_id;
};

struct MembersQuery {
  std::optional<std::string> at;  // a stream token "s<pos>..." : membership at that point
  std::optional<std::string> membership;
  std::optional<std::string> not_membership;
};

class RoomService {
 public:
  // `push` evaluates every new event for notifications (null: none).
  // `policy` decides tenant isolation (C4); it is not called during
  // construction.
  RoomService(ServiceContext& ctx, Stream& stream, const events::SigningKey& key,
              PushRuleService* push, PolicyService& policy);

  // What the writers keep of each room between writes (for tests).
  RoomCache& writer_cache() { return rooms_; }

  // The room belongs to `who.tenant_id` (C4). Invitees of a tenant `who`
  // may not contact are refused with M_FORBIDDEN, before anything is
  // written.
  boost::asio::awaitable<CreatedRoom> CreateRoom(const Requester& who, CreateRoomOptions opts);

  // Sends a message-like event. Idempotent per (device, txn_id): a repeat
  // returns the first event's id.
  boost::asio::awaitable<std::string> Send(const Requester& who, const std::string& room_id,
                                           const std::string& type, boost::json::object content,
                                           const std::string& txn_id);
  boost::asio::awaitable<std::string> SetState(const Requester& who, const std::string& room_id,
                                               const std::string& type,
                                               const std::string& state_key,
                                               boost::json::object content);
  boost::asio::awaitable<std::string> Redact(const Requester& who, const std::string& room_id,
                                             const std::string& event_id,
                                             std::optional<std::string> reason,
                                             const std::string& txn_id);

  // Join and knock accept a room alias; they return the room id. A user
  // not yet joined cannot join or knock on a room of a tenant theirs may
  // not contact (C4, M_FORBIDDEN), public or not; members already joined
  // stay (a removed link does not evict anyone).
  boost::asio::awaitable<std::string> Join(const Requester& who, const std::string& room_or_alias,
                                           std::optional<std::string> reason);
  boost::asio::awaitable<std::string> Knock(const Requester& who, const std::string& room_or_alias,
                                            std::optional<std::string> reason);
  // `action` is invite, kick, ban, unban or leave (target == sender).
  // Kick needs the target in the room, unban a banned target; the room
  // version's auth rules decide the rest. Invite refuses (M_FORBIDDEN, C4)
  // a target of a tenant that the inviter's, or the room's, may not
  // contact.
  boost::asio::awaitable<void> Membership(const Requester& who, const std::string& room_id,
                                          const std::string& target, const std::string& action,
                                          std::optional<std::string> reason);
  boost::asio::awaitable<void> Forget(const Requester& who, const std::string& room_id);

  // Reads. Each checks that the requester may see the room (joined, or
  // for past membership what they could see then).
  boost::asio::awaitable<std::vector<std::string>> JoinedRooms(const Requester& who);
  // The room's joined members; throws M_FORBIDDEN unless `who` is one.
  boost::asio::awaitable<std::vector<std::string>> JoinedMembers(const Requester& who,
                                                                 const std::string& room_id);
  boost::asio::awaitable<RoomEvent> GetEvent(const Requester& who, const std::string& room_id,
                                             const std::string& event_id);
  boost::asio::awaitable<std::vector<RoomEvent>> GetState(const Requester& who,
                                                          const std::string& room_id);
  boost::asio::awaitable<RoomEvent> GetStateEvent(const Requester& who, const std::string& room_id,
                                                  const std::string& type,
                                                  const std::string& state_key);
  boost::asio::awaitable<std::vector<RoomEvent>> Members(const Requester& who,
                                                         const std::string& room_id,
                                                         const MembersQuery& q);

  // Aliases (#local:server).
  boost::asio::awaitable<void> CreateAlias(const Requester& who, const std::string& alias,
                                           const std::string& room_id);
  boost::asio::awaitable<std::string> ResolveAlias(const std::string& alias);
  boost::asio::awaitable<void> DeleteAlias(const Requester& who, const std::string& alias);
  boost::asio::awaitable<std::vector<std::string>> Aliases(const Requester& who,
                                                           const std::string& room_id);

  const events::SigningKey& signing_key() const { return key_; }

 private:
  // A room id, or the room an alias names (M_NOT_FOUND); checked.
  boost::asio::awaitable<std::string> RoomIdOf(const std::string& room_or_alias);
  // The state `who` may see as of stream position `at` (nullopt: now),
  // only events of `type_filter` when it is not empty.
  boost::asio::awaitable<std::vector<RoomEvent>> StateAt(const Requester& who,
                                                         const std::string& room_id,
                                                         std::optional<std::int64_t> at,
                                                         const std::string& type_filter);
  ServiceContext& ctx_;
  Stream& stream_;
  const events::SigningKey& key_;
  PushRuleService* push_;
  RoomCache rooms_;     // the writers' snapshots
  SentTxns sent_txns_;  // looked up and added to by the stream's writer
  PolicyService& policy_;
};

// The user's membership-derived right to read a room's events up to
// `stream_pos`: joined now, or the position at which they left (0 if
// never joined). Shared by sync and the room reads.
std::optional<std::int64_t> VisibleUpTo(sql::Tx& tx, std::int64_t room_nid,
                                        const std::string& user_id, std::int64_t current);

}  // namespace vigie::service
