#include "api/client_event.h"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <map>
#include <vector>

#include "common/json.h"
#include "common/time.h"

namespace vigie::api {
namespace {

// What a client event takes from its PDU: content, and a redaction's
// top-level `redacts`; and, once a sync has asked, the text of the members
// every viewer sees alike.
//
// They are kept as the PDU's own text of them, found by a scan
// (json::ScanMembers), and content is parsed only for a caller that wants
// it as an object: a sync writes text, and parsing the whole PDU (hashes,
// signatures, auth and prev events) once per I/O thread per event was
// most of what a sync answer spent on an event.
struct PduParts {
  std::string event_id;
  bool redacted = false;     // parsed from the redacted PDU
  std::size_t cost = 0;      // counted against the cache's bound
  std::string content_text;  // "{}" when the PDU has no object there
  std::string redacts_text;  // "" when absent
  // The shared members' JSON text without its closing brace ("" until
  // first asked for).
  std::string shared_text;

  // Content as an object, parsed on first use.
  const boost::json::value& content() {
    if (content_.is_null()) content_ = json::ParseStored(content_text);
    return content_;
  }
  // The top-level `redacts`, or null.
  boost::json::value redacts() const {
    return redacts_text.empty() ? boost::json::value() : json::ParseStored(redacts_text);
  }

 private:
  boost::json::value content_;  // null until content()
};

// The parts of recently sent events, per thread (no lock). An event of a
// room goes out in the syncs of each of its members, and parsing the whole
// PDU (hashes, signatures, auth and prev events) for every one of them was
// the largest cost of a sync response in a big room; then building and
// serialising its client form for each of them was.
//
// The newest events are kept, up to a count and a size: a full cache takes
// an event only in place of an older one. A response of more events than
// fit (a long timeline, every member asking for it in turn) then still
// finds its newest ones, where dropping everything or the oldest would
// find none.
//
// An event's PDU text changes once at most: when it is redacted, storage
// rewrites the text and sets `redacted_by` together (RoomStore::
// MarkRedacted). So an entry serves the record of the same event (event id,
// which also tells apart two databases' events of one number) in the same
// redaction state, and a redacted event is parsed again, never served stale.
//
// An event is looked up once per receiver, so a hit goes through a
// direct-mapped index by event number (one memory read) before the ordered
// map, whose walk through 4,096 scattered nodes was most of a hit's cost.
class PartsCache {
 public:
  PduParts& Of(const storage::EventRecord& e) {
    const bool redacted = e.redacted_by.has_value();
    if (index_.empty()) index_.resize(kIndexSlots);
    Slot& slot = index_[SlotOf(e.event_nid)];
    if (slot.nid == e.event_nid && slot.parts->redacted == redacted &&
        slot.parts->event_id == e.event_id) {
      return *slot.parts;
    }
    auto it = entries_.find(e.event_nid);
    if (it != entries_.end()) {
      if (it->second.redacted == redacted && it->second.event_id == e.event_id) {
        slot = {e.event_nid, &it->second};
        return it->second;
      }
      Drop(it);
    }
    const std::size_t cost = Cost(e);
    while (!entries_.empty() && (entries_.size() >= kMaxEntries || bytes_ + cost > kMaxBytes) &&
           entries_.begin()->first < e.event_nid) {
      Drop(entries_.begin());
    }
    scratch_ = Parse(e);
    if (entries_.size() >= kMaxEntries || bytes_ + cost > kMaxBytes) return scratch_;
    bytes_ += cost;
    PduParts& kept = entries_.emplace(e.event_nid, std::move(scratch_)).first->second;
    index_[SlotOf(e.event_nid)] = {e.event_nid, &kept};
    return kept;
  }

 private:
  // An entry of the index: the map's entry for event `nid`, or nid -1.
  struct Slot {
    std::int64_t nid = -1;
    PduParts* parts = nullptr;
  };
  static constexpr std::size_t kMaxEntries = 4096;
  static constexpr std::size_t kIndexSlots = 4096;  // a power of two
  static std::size_t SlotOf(std::int64_t nid) {
    return static_cast<std::size_t>(nid) & (kIndexSlots - 1);
  }
  static constexpr std::size_t kMaxBytes = 8 << 20;
  // The parsed content and the shared text are each about the PDU's size.
  static std::size_t Cost(const storage::EventRecord& e) { return 2 * e.json.size() + 256; }
  void Drop(std::map<std::int64_t, PduParts>::iterator it) {
    if (Slot& slot = index_[SlotOf(it->first)]; slot.nid == it->first) slot = {};
    bytes_ -= it->second.cost;
    entries_.erase(it);
  }
  static PduParts Parse(const storage::EventRecord& e) {
    PduParts parts;
    parts.event_id = e.event_id;
    parts.redacted = e.redacted_by.has_value();
    parts.cost = Cost(e);
    static constexpr std::string_view kKeys[] = {"content", "redacts"};
    std::string_view found[2];
    if (!json::ScanMembers(e.json, kKeys, found)) {
      // Not what this server writes: its members as a parse finds them.
      boost::json::value parsed = json::ParseStored(e.json);
      const boost::json::object& pdu = parsed.as_object();
      const auto* c = pdu.if_contains("content");
      const auto* r = pdu.if_contains("redacts");
      parts.content_text = c ? boost::json::serialize(*c) : "";
      parts.redacts_text = r ? boost::json::serialize(*r) : "";
    } else {
      parts.content_text = found[0];
      parts.redacts_text = found[1];
    }
    if (!parts.content_text.starts_with('{')) parts.content_text = "{}";
    return parts;
  }
  std::map<std::int64_t, PduParts> entries_;  // by event_nid
  std::vector<Slot> index_;                   // made on first use
  std::size_t bytes_ = 0;
  PduParts scratch_;  // an event not kept, until the next call
};

// Valid until the next call on this thread.
PduParts& PartsOf(const storage::EventRecord& e) {
  thread_local PartsCache cache;
  return cache.Of(e);
}

// The members that do not depend on who asks, nor when.
boost::json::object SharedMembers(const storage::EventRecord& e, PduParts& parts,
                                  const boost::json::storage_ptr& sp) {
  boost::json::object out(sp);
  out.reserve(9);
  out["type"] = e.type;
  out["sender"] = e.sender;
  out["event_id"] = e.event_id;
  out["origin_server_ts"] = e.origin_server_ts;
  if (e.state_key) out["state_key"] = *e.state_key;
  out["content"] = boost::json::value(parts.content(), sp);
  if (e.type == "m.room.redaction") {
    // Clients read `redacts` at the top level in every room version.
    if (!parts.redacts_text.empty()) {
      out["redacts"] = boost::json::value(parts.redacts(), sp);
    } else if (auto* rc = out["content"].as_object().if_contains("redacts")) {
      out["redacts"] = *rc;
    }
  }
  return out;
}

// SharedMembers' JSON text without its closing brace, written from the
// PDU's text of content (a redaction, rare, goes through SharedMembers).
std::string SharedText(const storage::EventRecord& e, PduParts& parts) {
  std::string out;
  if (e.type == "m.room.redaction") {
    out = boost::json::serialize(SharedMembers(e, parts, {}));
    out.pop_back();
    return out;
  }
  out.reserve(parts.content_text.size() + e.type.size() + e.sender.size() + e.event_id.size() +
              (e.state_key ? e.state_key->size() : 0) + 96);
  out += "{\"type\":";
  json::AppendString(out, e.type);
  out += ",\"sender\":";
  json::AppendString(out, e.sender);
  out += ",\"event_id\":";
  json::AppendString(out, e.event_id);
  out += ",\"origin_server_ts\":";
  out += std::to_string(e.origin_server_ts);
  if (e.state_key) {
    out += ",\"state_key\":";
    json::AppendString(out, *e.state_key);
  }
  out += ",\"content\":";
  out += parts.content_text;
  return out;
}

std::int64_t AgeOf(const storage::EventRecord& e) {
  return std::max<std::int64_t>(0, NowMs() - e.origin_server_ts);
}

// The transaction id goes only to the device that sent the event.
bool ShowsTransactionId(const storage::EventRecord& e, const ClientEventOptions& opts) {
  return opts.viewer && e.txn_id && e.device_id && e.sender == opts.viewer->user_id &&
         *e.device_id == opts.viewer->device_id;
}

// `unsigned`: the event's age now, the viewer's own transaction id, and
// what redacted it.
boost::json::object UnsignedMembers(const storage::EventRecord& e, const std::string& room_id,
                                    const ClientEventOptions& opts,
                                    const boost::json::storage_ptr& sp) {
  boost::json::object unsig({{"age", AgeOf(e)}}, sp);
  if (ShowsTransactionId(e, opts)) unsig["transaction_id"] = *e.txn_id;
  if (e.redacted_by) {
    // The redaction event itself, in client format.
    boost::json::object because({{"type", "m.room.redaction"}, {"event_id", *e.redacted_by}}, sp);
    if (e.redacted_because) {
      auto r = json::ParseStored(*e.redacted_because, sp);
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
  return unsig;
}

}  // namespace

boost::json::object ClientEvent(const storage::EventRecord& e, const std::string& room_id,
                                const ClientEventOptions& opts,
                                const boost::json::storage_ptr& sp) {
  boost::json::object out = SharedMembers(e, PartsOf(e), sp);
  if (opts.include_room_id) out["room_id"] = room_id;
  out["unsigned"] = UnsignedMembers(e, room_id, opts, sp);
  return out;
}

void AppendClientEvent(std::string& out, const storage::EventRecord& e, const std::string& room_id,
                       const ClientEventOptions& opts) {
  PduParts& parts = PartsOf(e);
  if (parts.shared_text.empty()) parts.shared_text = SharedText(e, parts);
  out += parts.shared_text;
  if (opts.include_room_id) {
    out += ",\"room_id\":";
    json::AppendString(out, room_id);
  }
  out += ",\"unsigned\":";
  if (e.redacted_by) {
    out += boost::json::serialize(UnsignedMembers(e, room_id, opts, {}));
  } else {
    // The common case, once per event per receiver: written as text, as
    // UnsignedMembers would serialise it, without building an object.
    out += "{\"age\":";
    out += std::to_string(AgeOf(e));
    if (ShowsTransactionId(e, opts)) {
      out += ",\"transaction_id\":";
      out += boost::json::serialize(boost::json::string_view(*e.txn_id));
    }
    out += '}';
  }
  out += '}';
}

}  // namespace vigie::api
