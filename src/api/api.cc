#include "api/api.h"

#include <spdlog/spdlog.h>

#include "api/errors.h"
#include "common/ascii.h"
#include "common/json.h"
#include "storage/sql.h"

namespace vigie::api {
namespace {

// The headers of every answer, as header lines (http::Response::
// header_lines): made once and shared, where ten strings a response were
// built, copied and scanned for line breaks.
std::shared_ptr<const std::string> CommonHeaderLines(const Config& cfg) {
  std::string lines;
  http::AppendHeaderLine(lines, "Access-Control-Allow-Origin", cfg.cors_allow_origin);
  http::AppendHeaderLine(lines, "Access-Control-Allow-Methods", "GET, POST, PUT, DELETE, OPTIONS");
  http::AppendHeaderLine(
      lines, "Access-Control-Allow-Headers",
      "X-Requested-With, Content-Type, Authorization, X-Vigie-Location, X-Vigie-Network");
  http::AppendHeaderLine(lines, "X-Content-Type-Options", "nosniff");
  http::AppendHeaderLine(lines, "Cache-Control", "no-store");
  return std::make_shared<const std::string>(std::move(lines));
}

// Legacy r0 (and v1 for endpoints that moved) paths are served as v3.
std::string NormalisePath(const std::string& path) {
  static const std::string kR0 = "/_matrix/client/r0/";
  if (path.starts_with(kR0)) return "/_matrix/client/v3/" + path.substr(kR0.size());
  return path;
}

std::optional<std::string> AccessToken(const http::Request& req) {
  if (!req.authorization.empty()) {
    constexpr std::string_view kBearer = "Bearer ";
    std::string_view a = req.authorization;
    if (a.size() > kBearer.size() && ascii::StartsWithNoCase(a, kBearer)) {
      return std::string(a.substr(kBearer.size()));
    }
    return std::string();  // present but not a bearer token: unknown token
  }
  if (auto q = req.Query("access_token")) return std::string(*q);
  return std::nullopt;
}

}  // namespace

Api::Api(service::Homeserver& hs) : hs_(hs), common_headers_(CommonHeaderLines(hs.config())) {
  AddVersionRoutes(router_, hs);
  AddLoginRoutes(router_, hs);
  AddRegisterRoutes(router_, hs);
  AddAccountRoutes(router_, hs);
  AddDeviceRoutes(router_, hs);
  AddProfileRoutes(router_, hs);
  AddRoomRoutes(router_, hs);
  AddSyncRoutes(router_, hs);
  AddTypingRoutes(router_, hs);
  AddReceiptRoutes(router_, hs);
  AddPresenceRoutes(router_, hs);
  AddAccountDataRoutes(router_, hs);
  AddPushRuleRoutes(router_, hs);
  AddHistoryRoutes(router_, hs);
  AddDirectoryRoutes(router_, hs);
  AddKeysRoutes(router_, hs);
  AddRoomKeysRoutes(router_, hs);
  AddMediaRoutes(router_, hs);
  AddVigieDeviceRoutes(router_, hs);
  AddVigieAdminRoutes(router_, hs);
  AddSynapseAdminRoutes(router_, hs);
}

std::size_t Api::BodyLimit(std::string_view method, std::string_view path) const {
  if (method == "GET" || method == "HEAD" || method == "OPTIONS") return 0;
  if (path.starts_with("/_matrix/media/") || path.starts_with("/_matrix/client/v1/media/")) {
    return hs_.config().max_media_bytes;
  }
  return hs_.config().max_body_bytes;
}

http::Response Api::ProtocolErrorResponse(http::ProtocolError e) const {
  http::Response r;
  switch (e) {
    case http::ProtocolError::kHeaderTooLarge:
      r = ErrorResponse(Error(ErrorCode::kTooLarge, "Request headers too large", 431));
      break;
    case http::ProtocolError::kBodyTooLarge:
      r = ErrorResponse(Error(ErrorCode::kTooLarge, "Request body too large"));
      break;
    case http::ProtocolError::kBadRequest:
      r = ErrorResponse(Error(ErrorCode::kUnknown, "Malformed HTTP request"));
      break;
    case http::ProtocolError::kOverloaded:
      r = ErrorResponse(Error(ErrorCode::kInternal, "Internal server error"));
      break;
  }
  r.header_lines = common_headers_;
  return r;
}

// A request whose answer is pending (a parked long-poll): what Handle
// still owes it (error mapping, common headers, metrics, the log line) is
// done when its answer comes. The request outlives it (http::Pending).
class Api::Parked : public http::Pending {
 public:
  Parked(Api& api, std::shared_ptr<http::Pending> inner, const http::Request& req, Exchange ex)
      : api_(api), inner_(std::move(inner)), req_(req), ex_(std::move(ex)) {}
  boost::asio::awaitable<void> Wait() override { return inner_->Wait(); }
  // The client is gone, nobody is answered: the request is still counted
  // and logged, as status 499 (nginx's "client closed request").
  void Cancel() override {
    inner_->Cancel();
    http::Response gone;
    gone.status = 499;
    api_.Complete(std::move(gone), req_, std::move(ex_));
  }
  boost::asio::awaitable<http::Response> Finish() override {
    http::Response res = co_await api_.Guard(inner_->Finish(), req_.request_id);
    co_return api_.Complete(std::move(res), req_, std::move(ex_));
  }

 private:
  Api& api_;
  std::shared_ptr<http::Pending> inner_;
  const http::Request& req_;
  Exchange ex_;
};

boost::asio::awaitable<http::Response> Api::Handle(http::Request& req) {
  Exchange ex{std::chrono::steady_clock::now(), "unmatched"};
  http::Response res = co_await Guard(Dispatch(req, ex.route_name), req.request_id);
  co_return Complete(std::move(res), req, std::move(ex));
}

boost::asio::awaitable<http::Response> Api::Guard(boost::asio::awaitable<http::Response> step,
                                                  const std::string& request_id) {
  try {
    co_return co_await std::move(step);
  } catch (const Error& e) {
    if (e.code() == ErrorCode::kInternal) {
      spdlog::error("request_id={} {}", request_id, e.message());
    }
    co_return ErrorResponse(e);
  } catch (const sql::DbError& e) {
    spdlog::error("request_id={} database error: {}", request_id, e.what());
    co_return ErrorResponse(Internal("Internal server error"));
  } catch (const std::exception& e) {
    spdlog::error("request_id={} unhandled: {}", request_id, e.what());
    co_return ErrorResponse(Internal("Internal server error"));
  }
}

http::Response Api::Complete(http::Response res, const http::Request& req, Exchange ex) {
  if (res.pending) {
    res.pending = std::make_shared<Parked>(*this, std::move(res.pending), req, std::move(ex));
    return res;
  }
  res.header_lines = common_headers_;
  const auto elapsed = std::chrono::steady_clock::now() - ex.start;
  hs_.metrics.ObserveRequest(ex.route_name, res.status, elapsed);
  spdlog::info("request_id={} ip={} method={} route={} status={} ms={:.2f}", req.request_id,
               req.remote_ip, req.method, ex.route_name, res.status,
               std::chrono::duration<double, std::milli>(elapsed).count());
  return res;
}

boost::asio::awaitable<http::Response> Api::Dispatch(http::Request& req, std::string& route_name) {
  if (req.method == "OPTIONS") {
    route_name = "OPTIONS";
    http::Response res;
    res.status = 204;
    co_return res;
  }
  if (std::int64_t wait = hs_.rl_ip.Take(req.remote_ip)) throw LimitExceeded(wait);

  const std::string path = NormalisePath(req.path);
  auto m = router_.Find(req.method, path);
  if (!m.route) {
    if (m.wrong_method) throw Error(ErrorCode::kUnrecognized, "Method not allowed", 405);
    throw Error(ErrorCode::kUnrecognized, "Unrecognized request");
  }
  if (m.bad_param) throw InvalidParam("A path parameter is not valid percent-encoded UTF-8");
  const Route& route = *m.route;
  route_name = route.method + " " + route.pattern;

  RequestContext ctx{req, std::move(m.params), std::nullopt, {}};
  if (route.options.auth != AuthMode::kNone) {
    auto token = AccessToken(req);
    if (!token) {
      if (route.options.auth == AuthMode::kRequired) {
        throw Error(ErrorCode::kMissingToken, "Missing access token");
      }
    } else {
      if (token->empty() || token->size() > 256) {
        throw Error(ErrorCode::kUnknownToken, "Unknown access token").with("soft_logout", false);
      }
      ctx.who = co_await hs_.auth.Authenticate(*token, req.remote_ip, req.user_agent);
      if (std::int64_t wait = hs_.rl_user.Take(ctx.who->user_id)) throw LimitExceeded(wait);
      // C4 (suspended tenant) and X-AC-3 (trusted networks), on every request.
      hs_.policy.Require(policy::AccessQuestion{ctx.who->tenant_id, req.remote_ip});
      // X-AC-1/X-AC-2: where this session is now.
      const auto client = policy::ClientReport::Parse(req.client_location, req.network_type);
      co_await hs_.access.CheckRequest(*ctx.who, req.remote_ip, client);
      if (ctx.who->device_pending && !route.options.allow_pending) {
        throw Forbidden("This device is waiting for approval from your primary device")
            .with("io.vigie.requirement", "X-IM-2")
            .with("io.vigie.device_state", "pending");
      }
    }
  }
  if (route.options.login_rate) {
    if (std::int64_t wait = hs_.rl_login.Take(req.remote_ip)) throw LimitExceeded(wait);
  }
  if (route.options.json_body &&
      (req.method == "POST" || req.method == "PUT" || req.method == "DELETE")) {
    ctx.body = json::ParseObject(req.body, hs_.config().max_json_depth);
  }
  co_return co_await route.handler(ctx);
}

boost::asio::awaitable<http::Response> Api::HandleMetrics(http::Request& req) {
  http::Response res;
  if (req.path != "/metrics" || req.method != "GET") {
    res.status = 404;
    res.content_type = "text/plain";
    res.body = "not found\n";
    co_return res;
  }
  res.content_type = "text/plain; version=0.0.4";
  res.body = hs_.metrics.Render();
  co_return res;
}

}  // namespace vigie::api
