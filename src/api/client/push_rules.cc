// Push rules.
#include "api/api.h"
#include "common/error.h"
#include "common/json.h"

namespace vigie::api {
namespace {

using boost::asio::awaitable;
using http::Response;

constexpr const char* kRule = "/_matrix/client/v3/pushrules/global/{kind}/{ruleId}";

std::optional<std::string> QueryParam(const RequestContext& c, std::string_view key) {
  auto v = c.req.Query(key);
  if (!v) return std::nullopt;
  return std::string(*v);
}

}  // namespace

void AddPushRuleRoutes(Router& r, service::Homeserver& hs) {
  // GET /_matrix/client/v3/pushrules/
  auto all = [&hs](RequestContext& c) -> awaitable<Response> {
    co_return Response::Json(co_await hs.push_rules.GetAll(c.requester()));
  };
  r.Add("GET", "/_matrix/client/v3/pushrules/", all);
  r.Add("GET", "/_matrix/client/v3/pushrules", all);

  // GET /_matrix/client/v3/pushrules/global/
  auto global = [&hs](RequestContext& c) -> awaitable<Response> {
    auto rules = co_await hs.push_rules.GetAll(c.requester());
    co_return Response::Json(rules["global"]);
  };
  r.Add("GET", "/_matrix/client/v3/pushrules/global/", global);
  r.Add("GET", "/_matrix/client/v3/pushrules/global", global);

  // GET /_matrix/client/v3/pushrules/global/{kind}/{ruleId}
  r.Add("GET", kRule, [&hs](RequestContext& c) -> awaitable<Response> {
    co_return Response::Json(co_await hs.push_rules.Get(c.requester(), c.params[0], c.params[1]));
  });

  // PUT /_matrix/client/v3/pushrules/global/{kind}/{ruleId}
  r.Add("PUT", kRule, [&hs](RequestContext& c) -> awaitable<Response> {
    co_await hs.push_rules.Put(c.requester(), c.params[0], c.params[1], c.body,
                               QueryParam(c, "before"), QueryParam(c, "after"));
    co_return Response::Json(boost::json::object{});
  });

  // DELETE /_matrix/client/v3/pushrules/global/{kind}/{ruleId}
  r.Add("DELETE", kRule, [&hs](RequestContext& c) -> awaitable<Response> {
    co_await hs.push_rules.Delete(c.requester(), c.params[0], c.params[1]);
    co_return Response::Json(boost::json::object{});
  });

  // GET /_matrix/client/v3/pushrules/global/{kind}/{ruleId}/enabled
  r.Add("GET", std::string(kRule) + "/enabled", [&hs](RequestContext& c) -> awaitable<Response> {
    auto rule = co_await hs.push_rules.Get(c.requester(), c.params[0], c.params[1]);
    co_return Response::Json({{"enabled", rule["enabled"]}});
  });

  // PUT /_matrix/client/v3/pushrules/global/{kind}/{ruleId}/enabled
  r.Add("PUT", std::string(kRule) + "/enabled", [&hs](RequestContext& c) -> awaitable<Response> {
    auto enabled = json::GetBool(c.body, "enabled");
    if (!enabled) throw MissingParam("Missing 'enabled'");
    co_await hs.push_rules.SetEnabled(c.requester(), c.params[0], c.params[1], *enabled);
    co_return Response::Json(boost::json::object{});
  });

  // GET /_matrix/client/v3/pushrules/global/{kind}/{ruleId}/actions
  r.Add("GET", std::string(kRule) + "/actions", [&hs](RequestContext& c) -> awaitable<Response> {
    auto rule = co_await hs.push_rules.Get(c.requester(), c.params[0], c.params[1]);
    co_return Response::Json({{"actions", rule["actions"]}});
  });

  // PUT /_matrix/client/v3/pushrules/global/{kind}/{ruleId}/actions
  r.Add("PUT", std::string(kRule) + "/actions", [&hs](RequestContext& c) -> awaitable<Response> {
    const auto* actions = c.body.if_contains("actions");
    if (!actions) throw MissingParam("Missing 'actions'");
    co_await hs.push_rules.SetActions(c.requester(), c.params[0], c.params[1], *actions);
    co_return Response::Json(boost::json::object{});
  });
}

}  // namespace vigie::api
