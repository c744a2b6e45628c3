// Receipts and read markers.
#include "api/api.h"
#include "common/error.h"
#include "common/json.h"

namespace vigie::api {
namespace {

std::optional<std::string> EventIdField(const boost::json::object& body, std::string_view key) {
  const auto* v = body.if_contains(key);
  if (!v || v->is_null()) return std::nullopt;
  if (!v->is_string()) throw BadJson("'" + std::string(key) + "' must be an event id");
  return std::string(v->get_string());
}

}  // namespace

void AddReceiptRoutes(Router& r, service::Homeserver& hs) {
  // POST /_matrix/client/v3/rooms/{roomId}/receipt/{receiptType}/{eventId}
  r.Add("POST", "/_matrix/client/v3/rooms/{roomId}/receipt/{receiptType}/{eventId}",
        [&hs](RequestContext& c) -> boost::asio::awaitable<http::Response> {
          std::optional<std::string> thread_id;
          if (const auto* t = c.body.if_contains("thread_id")) {
            if (!t->is_string() || t->get_string().empty()) {
              throw InvalidParam("thread_id field must be a non-empty string");
            }
            thread_id = std::string(t->get_string());
          }
          co_await hs.receipts.Send(c.requester(), c.params[0], c.params[1], c.params[2],
                                    thread_id);
          co_return http::Response::Json(boost::json::object{});
        });

  // POST /_matrix/client/v3/rooms/{roomId}/read_markers
  r.Add("POST", "/_matrix/client/v3/rooms/{roomId}/read_markers",
        [&hs](RequestContext& c) -> boost::asio::awaitable<http::Response> {
          service::ReadMarkers m;
          m.fully_read = EventIdField(c.body, "m.fully_read");
          m.read = EventIdField(c.body, "m.read");
          m.read_private = EventIdField(c.body, "m.read.private");
          co_await hs.receipts.SetReadMarkers(c.requester(), c.params[0], m);
          co_return http::Response::Json(boost::json::object{});
        });
}

}  // namespace vigie::api
