#include "service/access_control.h"

#include <cmath>

#include "common/error.h"
#include "common/offload.h"
#include "common/time.h"
#include "service/account_service.h"
#include "service/policy_service.h"
#include "service/server_notices.h"
#include "storage/account_store.h"
#include "storage/origin_store.h"

namespace vigie::service {
namespace {

constexpr std::int64_t kRecheckMs = 5 * 60 * 1000;
constexpr std::int64_t kHistoryMs = 24 * 3600 * 1000;
constexpr std::size_t kMaxSeen = 200000;
constexpr double kSameKm = 100;  // below this, GeoIP noise

const char* ActionName(policy::Decision::Verdict v) {
  switch (v) {
    case policy::Decision::Verdict::kDeny:
      return "block";
    case policy::Decision::Verdict::kStepUp:
      return "step_up";
    default:
      return "notify";
  }
}

std::string Join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ",") + s;
  return out;
}

}  // namespace

AccessControlService::AccessControlService(ServiceContext& ctx, PolicyService& policy,
                                           ServerNoticeService& notices, AuthService& auth)
    : ctx_(ctx),
      policy_(policy),
      notices_(notices),
      auth_(auth),
      geoip_(ctx.config.geoip_database) {}

boost::asio::awaitable<policy::Decision> AccessControlService::Observe(
    const std::string& user_id, const std::string& tenant, const std::string& device_id,
    const std::string& ip, const ClientContext& client, const std::string& kind) {
  const std::int64_t now = NowMs();
  storage::OriginRecord o;
  o.user_id = user_id;
  o.device_id = device_id;
  o.ts = now;
  o.kind = kind;
  o.ip = ip;
  o.client_lat = client.lat;
  o.client_lon = client.lon;
  o.network_type = client.network_type;
  policy::LocationQuestion q;
  q.tenant = tenant;
  q.device_id = device_id;
  q.now = now;
  if (auto fix = geoip_.Lookup(ip)) {
    o.country = fix->country;
    o.asn = fix->asn;
    o.anonymizer = fix->anonymizer;
    q.anonymizer = fix->anonymizer;
    if (fix->has_location) {
      o.lat = fix->lat;
      o.lon = fix->lon;
      q.ip_fix = policy::Fix{fix->lat, fix->lon, now, device_id};
    }
  }
  if (client.lat && client.lon) q.reported = policy::Fix{*client.lat, *client.lon, now, device_id};
  policy::Decision d = co_await Offload(ctx_.db_pool, [&] {
    return ctx_.db.Write([&](sql::Tx& tx) {
      for (const auto& r : storage::OriginStore::RecentLocated(tx, user_id, now - kHistoryMs, 20)) {
        if (r.lat && r.lon) {
          q.recent.push_back({*r.lat, *r.lon, r.ts, r.device_id});
        } else if (r.client_lat && r.client_lon) {
          q.recent.push_back({*r.client_lat, *r.client_lon, r.ts, r.device_id});
        }
      }
      // A session that has not moved since it was last seen raises
      // nothing new: a newcomer elsewhere is judged at its own login.
      std::optional<policy::Fix> here = q.ip_fix ? q.ip_fix : q.reported;
      if (kind == "request" && here) {
        for (const auto& f : q.recent) {
          if (f.device_id != device_id) continue;
          if (policy::DistanceKm(here->lat, here->lon, f.lat, f.lon) <= kSameKm) q.recent.clear();
          break;  // newest first: only its last place counts
        }
      }
      policy::Decision dec = policy_.Evaluate(q);
      if (!dec.signals.empty()) o.anomaly = Join(dec.signals);
      storage::OriginStore::Insert(tx, o);
      if (!dec.signals.empty()) {
        boost::json::array signals;
        for (const auto& s : dec.signals) signals.emplace_back(s);
        const char* action = ActionName(dec.verdict);
        Audit(tx, "server", tenant, "access.anomaly", user_id,
              {{"requirement", dec.requirement},
               {"device_id", device_id},
               {"ip", ip},
               {"kind", kind},
               {"signals", signals},
               {"action", action}});
      }
      return dec;
    });
  });
  co_return d;
}

boost::asio::awaitable<policy::Decision> AccessControlService::CheckLogin(
    const std::string& user_id, const std::string& tenant, const std::string& device_id,
    const std::string& ip, const ClientContext& client) {
  const std::string kind = "login";
  co_return co_await Observe(user_id, tenant, device_id, ip, client, kind);
}

boost::asio::awaitable<void> AccessControlService::CheckRequest(const Requester& who,
                                                                const std::string& ip,
                                                                const ClientContext& client) {
  // Without GeoIP or a reported location there is nothing to judge; the
  // address itself was recorded at login and is on the device (last seen).
  if (!geoip_.enabled() && !(client.lat && client.lon)) co_return;
  const std::int64_t now = NowMs();
  std::string key = ip;
  if (client.lat && client.lon) {
    key += "|" + std::to_string(*client.lat) + "," + std::to_string(*client.lon);
  }
  {
    std::lock_guard lock(mu_);
    auto it = seen_.find(who.token_hash);
    if (it != seen_.end() && it->second.key == key && now - it->second.ts < kRecheckMs) co_return;
    if (seen_.size() >= kMaxSeen) seen_.clear();
    seen_[who.token_hash] = Seen{key, now};
  }
  const std::string kind = "request";
  policy::Decision d =
      co_await Observe(who.user_id, who.tenant_id, who.device_id, ip, client, kind);
  if (d.signals.empty()) co_return;
  using V = policy::Decision::Verdict;
  if (d.verdict == V::kStepUp || d.verdict == V::kDeny) {
    const bool soft = d.verdict == V::kStepUp && who.device_primary;
    co_await Offload(ctx_.db_pool, [&] {
      ctx_.db.Write([&](sql::Tx& tx) {
        if (d.verdict == V::kStepUp && !who.device_primary) {
          storage::AccountStore::SetDeviceState(tx, who.user_id, who.device_id,
                                                storage::DeviceState::kPending);
        } else {
          storage::AccountStore::DeleteTokensOfDevice(tx, who.user_id, who.device_id);
        }
      });
    });
    auth_.Forget(who.user_id, who.device_id);
    {
      std::lock_guard lock(mu_);
      seen_.erase(who.token_hash);
    }
    co_await Notify(who.user_id, who.device_id, ip, d);
    if (soft) {
      throw Error(ErrorCode::kUnknownToken, d.reason)
          .with("soft_logout", true)
          .with("io.vigie.requirement", boost::json::string(d.requirement));
    }
    if (d.verdict == V::kStepUp) {
      throw Forbidden(d.reason)
          .with("io.vigie.requirement", boost::json::string(d.requirement))
          .with("io.vigie.device_state", "pending");
    }
    throw Forbidden(d.reason).with("io.vigie.requirement", boost::json::string(d.requirement));
  }
  if (d.notify) co_await Notify(who.user_id, who.device_id, ip, d);
}

boost::asio::awaitable<void> AccessControlService::Notify(const std::string& user_id,
                                                          const std::string& device_id,
                                                          const std::string& ip,
                                                          const policy::Decision& d) {
  boost::json::array signals;
  for (const auto& s : d.signals) signals.emplace_back(s);
  const char* action = ActionName(d.verdict);
  const std::string kind = "access.anomaly";
  const std::string body = "Unusual sign-in location for device " + device_id + " (" + ip +
                           "): " + Join(d.signals) + ". Action: " + action + ".";
  boost::json::object details{{"requirement", d.requirement},
                              {"device_id", device_id},
                              {"ip", ip},
                              {"signals", signals},
                              {"action", action}};
  co_await notices_.Send(user_id, kind, body, std::move(details));
}

}  // namespace vigie::service
