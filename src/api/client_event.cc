#include "api/client_event.h"

#include <boost/json/parse.hpp>

#include "common/time.h"

namespace vigie::api {

boost::json::object ClientEvent(const storage::EventRecord& e, const std::string& room_id,
                                const ClientEventOptions& opts,
                                const boost::json::storage_ptr& sp) {
  boost::json::value parsed = boost::json::parse(e.json, sp);
  boost::json::object& pdu = parsed.as_object();
  boost::json::object out(sp);
  out.reserve(9);
  out["type"] = e.type;
  out["sender"] = e.sender;
  out["event_id"] = e.event_id;
  out["origin_server_ts"] = e.origin_server_ts;
  if (opts.include_room_id) out["room_id"] = room_id;
  if (e.state_key) out["state_key"] = *e.state_key;
  auto* content = pdu.if_contains("content");
  if (content && content->is_object()) {
    out["content"] = std::move(*content);
  } else {
    out["content"] = boost::json::object(sp);
  }
  if (e.type == "m.room.redaction") {
    // Clients read `redacts` at the top level in every room version.
    if (auto* r = pdu.if_contains("redacts")) {
      out["redacts"] = *r;
    } else if (auto* rc = out["content"].as_object().if_contains("redacts")) {
      out["redacts"] = *rc;
    }
  }
  boost::json::object unsig({{"age", std::max<std::int64_t>(0, NowMs() - e.origin_server_ts)}}, sp);
  if (opts.viewer && e.txn_id && e.device_id && e.sender == opts.viewer->user_id &&
      *e.device_id == opts.viewer->device_id) {
    unsig["transaction_id"] = *e.txn_id;
  }
  if (e.redacted_by) {
    // The redaction event itself, in client format.
    boost::json::object because({{"type", "m.room.redaction"}, {"event_id", *e.redacted_by}}, sp);
    if (e.redacted_because) {
      auto r = boost::json::parse(*e.redacted_because, sp);
      if (r.is_object()) {
        const auto& rp = r.as_object();
        for (const char* k : {"sender", "origin_server_ts", "content", "redacts"}) {
          if (const auto* v = rp.if_contains(k)) because[k] = *v;
        }
        if (!because.contains("redacts")) {
          if (const auto* c = rp.if_contains("content"); c && c->is_object()) {
            if (const auto* rd = c->as_object().if_contains("redacts")) because["redacts"] = *rd;
          }
        }
        if (opts.include_room_id) because["room_id"] = room_id;
      }
    }
    unsig["redacted_because"] = std::move(because);
  }
  out["unsigned"] = std::move(unsig);
  return out;
}

}  // namespace vigie::api
