// Receipts and read markers.
#include "api/api.h"
#include "common/error.h"
#include "common/json.h"

namespace vigie::api {
void AddReceiptRoutes(Router& r, service::Homeserver& hs) {
  // POST /_matrix/client/v3/rooms/{roomId}/receipt/{receiptType}/{eventId}
  r.Add("POST", "/_matrix/client/v3/rooms/{roomId}/receipt/{receiptType}/{eventId}",
        [&hs](RequestContext& c) -> boost::asio::awaitable<http::Response> {
          std::optional<std::string> thread_id = json::GetString(c.body, "thread_id");
          if (thread_id && thread_id->empty()) {
            throw InvalidParam("thread_id field must be a non-empty string");
          }
          co_await hs.receipts.Send(c.requester(), c.params[0], c.params[1], c.params[2],
                                    thread_id);
          co_return http::Response::Json(boost::json::object{});
        });

  // POST /_matrix/client/v3/rooms/{roomId}/read_markers
  r.Add("POST", "/_matrix/client/v3/rooms/{roomId}/read_markers",
        [&hs](RequestContext& c) -> boost::asio::awaitable<http::Response> {
          service::ReadMarkers m;
          m.fully_read = json::GetString(c.body, "m.fully_read");
          m.read = json::GetString(c.body, "m.read");
          m.read_private = json::GetString(c.body, "m.read.private");
          co_await hs.receipts.SetReadMarkers(c.requester(), c.params[0], m);
          co_return http::Response::Json(boost::json::object{});
        });
}

}  // namespace vigie::api
