#include "api/client_event.h"

#include <boost/json/parse.hpp>
#include <unordered_map>

#include "common/time.h"

namespace vigie::api {
namespace {

// What a client event takes from its PDU: content, and a redaction's
// top-level `redacts`.
struct PduParts {
  std::string json;  // the PDU text they were parsed from
  boost::json::value content;
  boost::json::value redacts;  // null when absent
};

// The parts of recently sent events, per thread (no lock). An event of a
// room goes out in the syncs of each of its members, and parsing the whole
// PDU (hashes, signatures, auth and prev events) for every one of them was
// the largest cost of a sync response in a big room. An entry serves only
// the very PDU text it was parsed from, so an event redacted since (a new
// text) is parsed again, never served stale.
const PduParts& PartsOf(const storage::EventRecord& e) {
  constexpr std::size_t kMaxEntries = 512;
  thread_local std::unordered_map<std::int64_t, PduParts> cache;
  auto it = cache.find(e.event_nid);
  if (it != cache.end() && it->second.json == e.json) return it->second;
  if (it == cache.end() && cache.size() >= kMaxEntries) cache.clear();
  PduParts parts;
  parts.json = e.json;
  boost::json::value parsed = boost::json::parse(e.json);
  boost::json::object& pdu = parsed.as_object();
  if (auto* c = pdu.if_contains("content"); c && c->is_object()) {
    parts.content = std::move(*c);
  } else {
    parts.content = boost::json::object();
  }
  if (auto* r = pdu.if_contains("redacts")) parts.redacts = std::move(*r);
  return cache.insert_or_assign(e.event_nid, std::move(parts)).first->second;
}

}  // namespace

boost::json::object ClientEvent(const storage::EventRecord& e, const std::string& room_id,
                                const ClientEventOptions& opts,
                                const boost::json::storage_ptr& sp) {
  const PduParts& parts = PartsOf(e);
  boost::json::object out(sp);
  out.reserve(9);
  out["type"] = e.type;
  out["sender"] = e.sender;
  out["event_id"] = e.event_id;
  out["origin_server_ts"] = e.origin_server_ts;
  if (opts.include_room_id) out["room_id"] = room_id;
  if (e.state_key) out["state_key"] = *e.state_key;
  out["content"] = boost::json::value(parts.content, sp);
  if (e.type == "m.room.redaction") {
    // Clients read `redacts` at the top level in every room version.
    if (!parts.redacts.is_null()) {
      out["redacts"] = boost::json::value(parts.redacts, sp);
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
