// End-to-end encryption: device keys, cross-signing, key changes, and
// send-to-device messaging.
#include "api/api.h"
#include "common/error.h"
#include "common/json.h"

namespace vigie::api {
namespace {

using boost::asio::awaitable;
using http::Response;

const boost::json::object& ObjectOrEmpty(const boost::json::object& body, std::string_view key) {
  static const boost::json::object kEmpty;
  auto* v = body.if_contains(key);
  if (!v || v->is_null()) return kEmpty;
  if (!v->is_object()) throw BadJson(std::string(key) + " must be an object");
  return v->as_object();
}

boost::json::array StringArray(const std::vector<std::string>& v) {
  boost::json::array a;
  for (const auto& s : v) a.emplace_back(s);
  return a;
}

}  // namespace

void AddKeysRoutes(Router& r, service::Homeserver& hs) {
  // POST /_matrix/client/v3/keys/upload
  r.Add("POST", "/_matrix/client/v3/keys/upload", [&hs](RequestContext& c) -> awaitable<Response> {
    auto counts = co_await hs.keys.Upload(c.requester(), c.body);
    co_return Response::Json({{"one_time_key_counts", std::move(counts)}});
  });

  // POST /_matrix/client/v3/keys/query
  r.Add("POST", "/_matrix/client/v3/keys/query", [&hs](RequestContext& c) -> awaitable<Response> {
    const auto& wanted = ObjectOrEmpty(c.body, "device_keys");
    auto out = co_await hs.keys.Query(c.requester(), wanted);
    co_return Response::Json(out);
  });

  // POST /_matrix/client/v3/keys/claim
  r.Add("POST", "/_matrix/client/v3/keys/claim", [&hs](RequestContext& c) -> awaitable<Response> {
    const auto& wanted = ObjectOrEmpty(c.body, "one_time_keys");
    auto out = co_await hs.keys.Claim(c.requester(), wanted);
    co_return Response::Json(out);
  });

  // GET /_matrix/client/v3/keys/changes
  r.Add("GET", "/_matrix/client/v3/keys/changes", [&hs](RequestContext& c) -> awaitable<Response> {
    auto from = c.req.Query("from");
    auto to = c.req.Query("to");
    if (!from || !to) throw MissingParam("'from' and 'to' are required");
    auto delta = co_await hs.keys.Changes(c.requester(), std::string(*from), std::string(*to));
    co_return Response::Json(
        {{"changed", StringArray(delta.changed)}, {"left", StringArray(delta.left)}});
  });

  // POST /_matrix/client/v3/keys/device_signing/upload
  r.Add("POST", "/_matrix/client/v3/keys/device_signing/upload",
        [&hs](RequestContext& c) -> awaitable<Response> {
          co_await hs.keys.UploadDeviceSigning(c.requester(), c.body);
          co_return Response::Json(boost::json::object{});
        });

  // POST /_matrix/client/v3/keys/signatures/upload
  r.Add("POST", "/_matrix/client/v3/keys/signatures/upload",
        [&hs](RequestContext& c) -> awaitable<Response> {
          auto failures = co_await hs.keys.UploadSignatures(c.requester(), c.body);
          co_return Response::Json({{"failures", std::move(failures)}});
        });

  // PUT /_matrix/client/v3/sendToDevice/{eventType}/{txnId}
  r.Add("PUT", "/_matrix/client/v3/sendToDevice/{eventType}/{txnId}",
        [&hs](RequestContext& c) -> awaitable<Response> {
          const auto& messages = ObjectOrEmpty(c.body, "messages");
          co_await hs.to_device.Send(c.requester(), c.params[0], c.params[1], messages);
          co_return Response::Json(boost::json::object{});
        });
}

}  // namespace vigie::api
