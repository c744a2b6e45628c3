// Client-format events (client-server API "Room Event Format") built from
// stored PDUs. The only place that turns a PDU into what clients see.
#pragma once

#include <boost/json/object.hpp>
#include <optional>
#include <string>

#include "service/auth_service.h"
#include "storage/room_store.h"

namespace vigie::api {

struct ClientEventOptions {
  // The device asking: its own sends carry unsigned.transaction_id.
  const service::Requester* viewer = nullptr;
  bool include_room_id = true;
};

// The event is built in `sp`'s memory (its content moved, not copied, from
// the parsed PDU): a response of many events passes one arena for all.
boost::json::object ClientEvent(const storage::EventRecord& e, const std::string& room_id,
                                const ClientEventOptions& opts = {},
                                const boost::json::storage_ptr& sp = {});

// The same event as ClientEvent gives, appended to `out` as JSON text. What
// every viewer sees alike is serialised once per event (per thread) and
// copied; only `unsigned` is written per call. For responses that send one
// event to many (a room's members' syncs).
void AppendClientEvent(std::string& out, const storage::EventRecord& e, const std::string& room_id,
                       const ClientEventOptions& opts = {});

}  // namespace vigie::api
