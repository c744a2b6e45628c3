#include "service/uia_service.h"

#include "common/crypto.h"
#include "common/error.h"
#include "common/ids.h"
#include "common/json.h"
#include "common/offload.h"
#include "common/time.h"
#include "storage/account_store.h"

namespace vigie::service {
namespace {

constexpr std::int64_t kSessionLifetimeMs = 15 * 60 * 1000;
constexpr std::size_t kMaxSessions = 100000;

bool FlowComplete(const std::vector<std::string>& flow, const std::set<std::string>& done) {
  for (const auto& st : flow) {
    if (!done.count(st)) return false;
  }
  return true;
}

bool StageOffered(const UiaSpec& spec, const std::string& stage) {
  for (const auto& f : spec.flows) {
    for (const auto& s : f) {
      if (s == stage) return true;
    }
  }
  return false;
}

}  // namespace

void UiaService::Challenge(const UiaSpec& spec, const std::string& session_id, const Session& s,
                           const char* errcode, std::string error) {
  boost::json::object body;
  boost::json::array flows;
  for (const auto& f : spec.flows) {
    boost::json::array stages;
    for (const auto& st : f) stages.emplace_back(st);
    flows.emplace_back(boost::json::object{{"stages", std::move(stages)}});
  }
  body["flows"] = std::move(flows);
  body["params"] = boost::json::object{};
  body["session"] = session_id;
  if (!s.completed.empty()) {
    boost::json::array done;
    for (const auto& st : s.completed) done.emplace_back(st);
    body["completed"] = std::move(done);
  }
  if (errcode) {
    body["errcode"] = errcode;
    body["error"] = error;
  }
  Error e(ErrorCode::kUiaRequired, error.empty() ? "Authentication required" : error);
  e.extra() = std::move(body);
  throw e;
}

boost::asio::awaitable<bool> UiaService::CheckPassword(const UiaSpec& spec,
                                                       const boost::json::object& auth,
                                                       std::string* why) {
  std::string who;
  if (const auto* ident = json::GetObject(auth, "identifier")) {
    if (json::GetString(*ident, "type").value_or("") != "m.id.user") {
      *why = "Only m.id.user identifiers are supported";
      co_return false;
    }
    who = json::GetString(*ident, "user").value_or("");
  } else {
    who = json::GetString(auth, "user").value_or("");
  }
  std::string password = json::GetString(auth, "password").value_or("");
  std::string user_id = who.starts_with("@") ? who : ids::MakeUserId(who, ctx_.config.server_name);
  if (!spec.user_id || user_id != *spec.user_id) {
    // Re-authentication must be by the requester; anything else fails
    // like a wrong password, spending the same time.
    co_await Offload(ctx_.hash_pool, [&] { ctx_.hasher.DummyVerify(password); });
    *why = "Invalid username or password";
    co_return false;
  }
  auto hash = co_await Offload(ctx_.db_pool, [&] {
    return ctx_.db.Read([&](sql::Tx& tx) -> std::optional<std::string> {
      auto u = storage::AccountStore::GetUser(tx, user_id);
      if (!u || u->deactivated) return std::nullopt;
      return u->password_hash;
    });
  });
  bool ok = co_await Offload(ctx_.hash_pool, [&] {
    if (!hash) {
      ctx_.hasher.DummyVerify(password);
      return false;
    }
    return ctx_.hasher.Verify(*hash, password);
  });
  if (!ok) *why = "Invalid username or password";
  co_return ok;
}

boost::asio::awaitable<bool> UiaService::CheckRegistrationToken(const std::string& token) {
  const std::int64_t now = NowMs();
  co_return co_await Offload(ctx_.db_pool, [&] {
    return ctx_.db.Read([&](sql::Tx& tx) {
      return storage::AccountStore::RegistrationTokenUsable(tx, token, now);
    });
  });
}

boost::asio::awaitable<UiaResult> UiaService::Require(const UiaSpec& spec,
                                                      const boost::json::object* auth) {
  const std::int64_t now = NowMs();
  std::string session_id;
  Session session;
  {
    std::lock_guard lock(mu_);
    if (sessions_.size() > kMaxSessions / 2) {
      std::erase_if(sessions_, [&](const auto& kv) {
        return now - kv.second.created_ms > kSessionLifetimeMs;
      });
    }
    std::optional<std::string> given = auth ? json::GetString(*auth, "session") : std::nullopt;
    if (given) {
      auto it = sessions_.find(*given);
      if (it == sessions_.end() || now - it->second.created_ms > kSessionLifetimeMs) {
        throw Error(ErrorCode::kUnknown, "Unknown or expired authentication session");
      }
      if (it->second.operation != spec.operation || it->second.user_id != spec.user_id) {
        throw Forbidden("The authentication session was started for another request");
      }
      session_id = *given;
      session = it->second;
    } else {
      if (sessions_.size() >= kMaxSessions) {
        throw Error(ErrorCode::kLimitExceeded, "Too many authentication sessions")
            .with("retry_after_ms", 1000);
      }
      session_id = crypto::RandomAlnum(24);
      session = Session{spec.operation, spec.user_id, {}, std::nullopt, now};
      sessions_[session_id] = session;
    }
  }

  if (auth) {
    std::string type = json::GetString(*auth, "type").value_or("");
    if (!type.empty()) {
      if (!StageOffered(spec, type)) {
        Challenge(spec, session_id, session, "M_UNRECOGNIZED", "Unsupported stage " + type);
      }
      std::string why;
      bool passed = false;
      if (type == kStageDummy) {
        passed = true;
      } else if (type == kStagePassword) {
        passed = co_await CheckPassword(spec, *auth, &why);
      } else if (type == kStageRegistrationToken) {
        std::string token = json::GetString(*auth, "token").value_or("");
        if (!token.empty() && token.size() <= 64) passed = co_await CheckRegistrationToken(token);
        if (passed) session.registration_token = token;
        if (!passed) why = "Invalid registration token";
      }
      if (!passed) {
        Challenge(spec, session_id, session, "M_FORBIDDEN", why);
      }
      session.completed.insert(type);
      std::lock_guard lock(mu_);
      sessions_[session_id] = session;
    }
  }

  for (const auto& flow : spec.flows) {
    if (FlowComplete(flow, session.completed)) {
      std::lock_guard lock(mu_);
      sessions_.erase(session_id);
      co_return UiaResult{session_id, session.registration_token};
    }
  }
  Challenge(spec, session_id, session, nullptr, {});
}

}  // namespace vigie::service
