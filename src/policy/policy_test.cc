// The policy engine, question by question: each test is named after the
// X.1606 requirement it proves.
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include "common/error.h"
#include "policy/client_report.h"
#include "policy/engine.h"

namespace vigie::policy {
namespace {

using Verdict = Decision::Verdict;

PolicyDocument Doc(const char* json) {
  return PolicyDocument::FromJson(boost::json::parse(json).as_object());
}

Snapshot Make(std::map<std::string, PolicyDocument> docs = {}, PolicyDocument server = {},
              std::set<std::pair<std::string, std::string>> links = {}) {
  std::map<std::string, TenantInfo> tenants{{"a", {"a", "A", false}},
                                            {"b", {"b", "B", false}},
                                            {"c", {"c", "C", false}},
                                            {"gone", {"gone", "Gone", true}}};
  return Snapshot(std::move(tenants), std::move(links), std::move(server), std::move(docs));
}

TEST(Cidr, ParsesAndMatches) {
  auto net = Cidr::Parse("10.1.2.3/16");
  EXPECT_EQ(net.text(), "10.1.0.0/16");
  EXPECT_TRUE(net.Contains(*IpAddress::Parse("10.1.255.1")));
  EXPECT_FALSE(net.Contains(*IpAddress::Parse("10.2.0.1")));
  EXPECT_TRUE(net.Contains(*IpAddress::Parse("::ffff:10.1.0.9")));
  EXPECT_TRUE(Cidr::Parse("2001:db8::/32").Contains(*IpAddress::Parse("2001:db8:1::5")));
  EXPECT_FALSE(Cidr::Parse("2001:db8::/32").Contains(*IpAddress::Parse("10.1.0.1")));
  EXPECT_TRUE(Cidr::Parse("10.0.0.0/8").Covers(Cidr::Parse("10.1.0.0/16")));
  EXPECT_FALSE(Cidr::Parse("10.1.0.0/16").Covers(Cidr::Parse("10.0.0.0/8")));
  EXPECT_EQ(Cidr::Parse("192.0.2.7").text(), "192.0.2.7/32");
  for (const char* bad :
       {"", "10.0.0.0/33", "10.0.0/8", "x", "10.0.0.0/", "10.0.0.0/-1", "::/129"}) {
    EXPECT_THROW(Cidr::Parse(bad), std::invalid_argument) << bad;
  }
}

TEST(PolicyDocument, RejectsUnknownAndBadFields) {
  EXPECT_THROW(Doc(R"({"max_device": 3})"), Error);
  EXPECT_THROW(Doc(R"({"max_devices": -1})"), Error);
  EXPECT_THROW(Doc(R"({"max_devices": "3"})"), Error);
  EXPECT_THROW(Doc(R"({"anomaly_action": "shout"})"), Error);
  EXPECT_THROW(Doc(R"({"trusted_networks": ["10.0.0.0/99"]})"), Error);
  EXPECT_THROW(Doc(R"({"change_approvers": []})"), Error);
  auto d = Doc(R"({"max_devices": 3, "trusted_networks": ["10.0.0.0/8"]})");
  EXPECT_EQ(*d.max_devices, 3);
  EXPECT_EQ(boost::json::serialize(d.ToJson()),
            R"({"max_devices":3,"trusted_networks":["10.0.0.0/8"]})");
}

TEST(PolicyDocument, TenantOverridesServerOverridesDefaults) {
  auto s = Make({{"a", Doc(R"({"max_devices": 2})")}},
                Doc(R"({"max_devices": 5, "anomaly_action": "block"})"));
  EXPECT_EQ(s.For("a").max_devices, 2);
  EXPECT_EQ(s.For("a").anomaly_action, AnomalyAction::kBlock);
  EXPECT_EQ(s.For("b").max_devices, 5);
  EXPECT_EQ(s.For("b").require_primary_approval, false);
}

TEST(C4, IsolatesTenantsUnlessLinked) {
  auto s = Make({}, {}, {{"b", "a"}});
  EXPECT_TRUE(Evaluate(s, ContactQuestion{"a", "a"}).allowed());
  EXPECT_TRUE(Evaluate(s, ContactQuestion{"a", "b"}).allowed());
  EXPECT_TRUE(Evaluate(s, ContactQuestion{"b", "a"}).allowed());
  auto d = Evaluate(s, ContactQuestion{"a", "c"});
  EXPECT_EQ(d.verdict, Verdict::kDeny);
  EXPECT_EQ(d.requirement, "C4");
}

TEST(C4, SuspendedTenantHasNoAccess) {
  auto s = Make();
  EXPECT_EQ(Evaluate(s, AccessQuestion{"gone", "10.0.0.1"}).verdict, Verdict::kDeny);
  EXPECT_EQ(Evaluate(s, AccessQuestion{"nope", "10.0.0.1"}).verdict, Verdict::kDeny);
  EXPECT_TRUE(Evaluate(s, AccessQuestion{"a", "10.0.0.1"}).allowed());
}

TEST(X_AC_3, TrustedAndDeniedNetworks) {
  auto s = Make({{"a", Doc(R"({"trusted_networks": ["10.0.0.0/8", "2001:db8::/32"],
                               "denied_networks": ["10.66.0.0/16"]})")}});
  EXPECT_TRUE(Evaluate(s, AccessQuestion{"a", "10.1.2.3"}).allowed());
  EXPECT_TRUE(Evaluate(s, AccessQuestion{"a", "2001:db8::1"}).allowed());
  auto out = Evaluate(s, AccessQuestion{"a", "192.0.2.1"});
  EXPECT_EQ(out.verdict, Verdict::kDeny);
  EXPECT_EQ(out.requirement, "X-AC-3");
  EXPECT_EQ(Evaluate(s, AccessQuestion{"a", "10.66.1.1"}).verdict, Verdict::kDeny);
  EXPECT_EQ(Evaluate(s, AccessQuestion{"a", "garbage"}).verdict, Verdict::kDeny);
  EXPECT_TRUE(Evaluate(s, AccessQuestion{"b", "192.0.2.1"}).allowed());  // b has no list
}

TEST(X_IM_1, RefuseOrEvictPastTheLimit) {
  auto s = Make({{"a", Doc(R"({"max_devices": 2})")},
                 {"b", Doc(R"({"max_devices": 2, "device_limit_action": "evict_oldest"})")}});
  EXPECT_TRUE(Evaluate(s, NewDeviceQuestion{"a", 1, true}).allowed());
  auto refused = Evaluate(s, NewDeviceQuestion{"a", 2, true});
  EXPECT_EQ(refused.verdict, Verdict::kDeny);
  EXPECT_EQ(refused.requirement, "X-IM-1");
  auto evict = Evaluate(s, NewDeviceQuestion{"b", 2, true});
  EXPECT_TRUE(evict.allowed());
  EXPECT_TRUE(evict.evict_oldest);
  EXPECT_TRUE(Evaluate(s, NewDeviceQuestion{"c", 9, true}).allowed());  // default 10
  EXPECT_EQ(Evaluate(s, NewDeviceQuestion{"c", 10, true}).verdict, Verdict::kDeny);
}

TEST(X_IM_2, FirstDeviceIsPrimaryLaterOnesWaitWhenRequired) {
  auto s = Make({{"a", Doc(R"({"require_primary_approval": true})")}});
  auto first = Evaluate(s, NewDeviceQuestion{"a", 0, false});
  EXPECT_TRUE(first.primary);
  EXPECT_FALSE(first.pending);
  auto second = Evaluate(s, NewDeviceQuestion{"a", 1, true});
  EXPECT_TRUE(second.pending);
  EXPECT_FALSE(second.primary);
  EXPECT_FALSE(Evaluate(s, NewDeviceQuestion{"b", 1, true}).pending);
}

constexpr double kParis[2] = {48.8566, 2.3522};
constexpr double kSydney[2] = {-33.8688, 151.2093};
constexpr double kLyon[2] = {45.764, 4.8357};

LocationQuestion At(const std::string& tenant, const double (&where)[2], std::int64_t now,
                    const std::string& device) {
  LocationQuestion q;
  q.tenant = tenant;
  q.device_id = device;
  q.now = now;
  q.ip_fix = Fix{where[0], where[1], now, device};
  return q;
}

TEST(X_AC_1, ImpossibleTravelFlaggedAndActedOnPerPolicy) {
  auto s = Make({{"b", Doc(R"({"anomaly_action": "block"})")},
                 {"c", Doc(R"({"anomaly_action": "step_up"})")}});
  const std::int64_t t0 = 1'000'000'000;
  for (const char* tenant : {"a", "b", "c"}) {
    auto q = At(tenant, kSydney, t0 + 10 * 60000, "D1");
    q.recent.push_back({kParis[0], kParis[1], t0, "D1"});
    auto d = Evaluate(s, q);
    ASSERT_EQ(d.signals.size(), 1u) << tenant;
    EXPECT_EQ(d.signals[0], "impossible_travel");
    EXPECT_EQ(d.requirement, "X-AC-1");
    EXPECT_TRUE(d.notify);
    Verdict want = std::string(tenant) == "a"   ? Verdict::kAllow
                   : std::string(tenant) == "b" ? Verdict::kDeny
                                                : Verdict::kStepUp;
    EXPECT_EQ(d.verdict, want) << tenant;
  }
  // Paris to Lyon (390 km) in five hours is a train ride.
  auto q = At("a", kLyon, t0 + 5 * 3600000, "D1");
  q.recent.push_back({kParis[0], kParis[1], t0, "D1"});
  EXPECT_TRUE(Evaluate(s, q).signals.empty());
}

TEST(X_AC_1, SimultaneousDistantUse) {
  auto s = Make();
  const std::int64_t t0 = 1'000'000'000;
  // Two devices, Paris and Lyon, two minutes apart: 390 km in 2 min is
  // also impossible travel; with a 5-hour gap only "simultaneous" remains
  // when the window allows it.
  auto s2 = Make({{"a", Doc(R"({"simultaneous_window_s": 36000, "simultaneous_km": 300})")}});
  auto q = At("a", kLyon, t0 + 5 * 3600000, "D2");
  q.recent.push_back({kParis[0], kParis[1], t0, "D1"});
  auto d = Evaluate(s2, q);
  ASSERT_EQ(d.signals.size(), 1u);
  EXPECT_EQ(d.signals[0], "simultaneous_distant_use");
  EXPECT_TRUE(Evaluate(s, q).signals.empty());
}

TEST(X_AC_2, DisagreementAndAnonymiserAreSignals) {
  auto s = Make();
  auto q = At("a", kParis, 1'000'000'000, "D1");
  q.reported = Fix{kSydney[0], kSydney[1], q.now, "D1"};
  auto d = Evaluate(s, q);
  ASSERT_EQ(d.signals.size(), 1u);
  EXPECT_EQ(d.signals[0], "location_disagreement");
  EXPECT_EQ(d.requirement, "X-AC-2");
  auto v = At("a", kParis, 1'000'000'000, "D1");
  v.anonymizer = true;
  EXPECT_EQ(Evaluate(s, v).signals, std::vector<std::string>{"anonymizer"});
  auto off = Make({{"a", Doc(R"({"anomaly_action": "off"})")}});
  EXPECT_TRUE(Evaluate(off, q).signals.empty());
}

TEST(X_IM_5, PasswordReuseCheckFollowsPolicy) {
  auto s = Make({{"a", Doc(R"({"password_reuse_warning": false})")}});
  EXPECT_FALSE(Evaluate(s, PasswordQuestion{"a"}).check);
  EXPECT_TRUE(Evaluate(s, PasswordQuestion{"b"}).check);
}

ChangeQuestion PolicyChange(const std::string& scope, const char* json) {
  ChangeQuestion q;
  q.kind = ChangeQuestion::Kind::kPolicy;
  q.scope = scope;
  q.document = Doc(json);
  return q;
}

TEST(X_OR_1, WeakeningNeedsApprovalStrengtheningDoesNot) {
  auto s = Make({{"a", Doc(R"({"max_devices": 3, "require_primary_approval": true,
                               "trusted_networks": ["10.0.0.0/8"], "anomaly_action": "block"})")}});
  struct Case {
    const char* doc;
    bool weakens;
  } cases[] = {
      {R"({"max_devices": 2, "require_primary_approval": true, "trusted_networks": ["10.1.0.0/16"], "anomaly_action": "block"})",
       false},
      {R"({"max_devices": 4, "require_primary_approval": true, "trusted_networks": ["10.0.0.0/8"], "anomaly_action": "block"})",
       true},
      {R"({"max_devices": 0, "require_primary_approval": true, "trusted_networks": ["10.0.0.0/8"], "anomaly_action": "block"})",
       true},
      {R"({"max_devices": 3, "trusted_networks": ["10.0.0.0/8"], "anomaly_action": "block"})",
       true},
      {R"({"max_devices": 3, "require_primary_approval": true, "anomaly_action": "block"})", true},
      {R"({"max_devices": 3, "require_primary_approval": true, "trusted_networks": ["10.0.0.0/8", "192.0.2.0/24"], "anomaly_action": "block"})",
       true},
      {R"({"max_devices": 3, "require_primary_approval": true, "trusted_networks": ["10.0.0.0/8"], "anomaly_action": "notify"})",
       true},
      {R"({"max_devices": 3, "require_primary_approval": true, "trusted_networks": ["10.0.0.0/8"], "anomaly_action": "block", "change_approvers": ["tenant"]})",
       true},
  };
  for (const auto& c : cases) {
    auto d = Evaluate(s, PolicyChange("a", c.doc));
    EXPECT_EQ(d.verdict == Verdict::kNeedsApproval, c.weakens) << c.doc;
    EXPECT_EQ(!d.weakens.empty(), c.weakens) << c.doc;
    EXPECT_EQ(d.requirement, "X-OR-1");
    if (c.weakens) {
      EXPECT_EQ(d.approvers, (std::vector<std::string>{"provider", "tenant:a"})) << c.doc;
    }
  }
  auto strong = Evaluate(s, PolicyChange("a", cases[0].doc));
  EXPECT_FALSE(strong.strengthens.empty());
}

TEST(X_OR_1, LinkingWeakensUnlinkingStrengthens) {
  auto s = Make({{"b", Doc(R"({"change_approvers": ["provider"]})")}}, {}, {{"a", "c"}});
  ChangeQuestion link;
  link.kind = ChangeQuestion::Kind::kLink;
  link.scope = "a";
  link.other_tenant = "b";
  auto d = Evaluate(s, link);
  EXPECT_EQ(d.verdict, Verdict::kNeedsApproval);
  EXPECT_EQ(d.approvers, (std::vector<std::string>{"provider", "tenant:a"}));
  ChangeQuestion unlink;
  unlink.kind = ChangeQuestion::Kind::kUnlink;
  unlink.scope = "c";
  unlink.other_tenant = "a";
  EXPECT_TRUE(Evaluate(s, unlink).allowed());
  EXPECT_FALSE(Evaluate(s, unlink).strengthens.empty());
}

TEST(X_OR_1, ServerDefaultChangesNeedTheProvider) {
  auto s = Make();
  auto d = Evaluate(s, PolicyChange("*", R"({"max_devices": 50})"));
  EXPECT_EQ(d.verdict, Verdict::kNeedsApproval);
  EXPECT_EQ(d.approvers, std::vector<std::string>{"provider"});
  EXPECT_TRUE(Evaluate(s, PolicyChange("*", R"({"max_devices": 5})")).allowed());
}

TEST(X_AC_2, ClientReportHeaders) {
  auto ok = ClientReport::Parse(" 48.85 , 2.35", "4G");
  EXPECT_DOUBLE_EQ(*ok.lat, 48.85);
  EXPECT_DOUBLE_EQ(*ok.lon, 2.35);
  EXPECT_EQ(*ok.network_type, "4g");
  for (const char* bad :
       {"", "48.85", "91,0", "0,181", "nan,1", "1,inf", "x,y", "1,2,3", "1e400,2"}) {
    EXPECT_FALSE(ClientReport::Parse(bad, "").lat) << bad;
  }
  EXPECT_FALSE(ClientReport::Parse("", "wi fi").network_type);
  EXPECT_FALSE(ClientReport::Parse("", std::string(33, 'a')).network_type);
}

TEST(Geo, DistanceKm) {
  EXPECT_NEAR(DistanceKm(kParis[0], kParis[1], kSydney[0], kSydney[1]), 16960, 60);
  EXPECT_NEAR(DistanceKm(kParis[0], kParis[1], kLyon[0], kLyon[1]), 392, 5);
  EXPECT_EQ(DistanceKm(1, 2, 1, 2), 0);
}

}  // namespace
}  // namespace vigie::policy
