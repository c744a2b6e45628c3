// Client config (account data) and room tags.
#include "api/api.h"
#include "common/error.h"

namespace vigie::api {
namespace {

using boost::asio::awaitable;
using http::Response;

}  // namespace

void AddAccountDataRoutes(Router& r, service::Homeserver& hs) {
  // GET /_matrix/client/v3/user/{userId}/account_data/{type}
  r.Add("GET", "/_matrix/client/v3/user/{userId}/account_data/{type}",
        [&hs](RequestContext& c) -> awaitable<Response> {
          co_return Response::Json(
              co_await hs.account_data.Get(c.requester(), c.params[0], "", c.params[1]));
        });

  // PUT /_matrix/client/v3/user/{userId}/account_data/{type}
  r.Add("PUT", "/_matrix/client/v3/user/{userId}/account_data/{type}",
        [&hs](RequestContext& c) -> awaitable<Response> {
          co_await hs.account_data.Set(c.requester(), c.params[0], "", c.params[1],
                                       std::move(c.body));
          co_return Response::Json(boost::json::object{});
        });

  // GET /_matrix/client/v3/user/{userId}/rooms/{roomId}/account_data/{type}
  r.Add("GET", "/_matrix/client/v3/user/{userId}/rooms/{roomId}/account_data/{type}",
        [&hs](RequestContext& c) -> awaitable<Response> {
          co_return Response::Json(
              co_await hs.account_data.Get(c.requester(), c.params[0], c.params[1], c.params[2]));
        });

  // PUT /_matrix/client/v3/user/{userId}/rooms/{roomId}/account_data/{type}
  r.Add("PUT", "/_matrix/client/v3/user/{userId}/rooms/{roomId}/account_data/{type}",
        [&hs](RequestContext& c) -> awaitable<Response> {
          co_await hs.account_data.Set(c.requester(), c.params[0], c.params[1], c.params[2],
                                       std::move(c.body));
          co_return Response::Json(boost::json::object{});
        });

  // GET /_matrix/client/v3/user/{userId}/rooms/{roomId}/tags
  r.Add("GET", "/_matrix/client/v3/user/{userId}/rooms/{roomId}/tags",
        [&hs](RequestContext& c) -> awaitable<Response> {
          auto tags = co_await hs.account_data.Tags(c.requester(), c.params[0], c.params[1]);
          co_return Response::Json({{"tags", std::move(tags)}});
        });

  // PUT /_matrix/client/v3/user/{userId}/rooms/{roomId}/tags/{tag}
  r.Add("PUT", "/_matrix/client/v3/user/{userId}/rooms/{roomId}/tags/{tag}",
        [&hs](RequestContext& c) -> awaitable<Response> {
          co_await hs.account_data.SetTag(c.requester(), c.params[0], c.params[1], c.params[2],
                                          std::move(c.body));
          co_return Response::Json(boost::json::object{});
        });

  // DELETE /_matrix/client/v3/user/{userId}/rooms/{roomId}/tags/{tag}
  r.Add("DELETE", "/_matrix/client/v3/user/{userId}/rooms/{roomId}/tags/{tag}",
        [&hs](RequestContext& c) -> awaitable<Response> {
          co_await hs.account_data.DeleteTag(c.requester(), c.params[0], c.params[1], c.params[2]);
          co_return Response::Json(boost::json::object{});
        });
}

}  // namespace vigie::api
