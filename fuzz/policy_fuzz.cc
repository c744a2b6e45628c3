// Fuzzes the policy engine's inputs from the network: policy documents
// (admin API bodies), CIDR networks and IP addresses inside them, and the
// location/network headers clients send (X-AC-2). Each parse either
// succeeds or throws vigie::Error / std::invalid_argument.
#include <boost/json/parse.hpp>
#include <cstdint>
#include <stdexcept>
#include <string_view>

#include "common/error.h"
#include "common/json.h"
#include "policy/client_report.h"
#include "policy/engine.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  (void)vigie::policy::IpAddress::Parse(in);
  try {
    auto c = vigie::policy::Cidr::Parse(in);
    (void)c.Covers(c);
  } catch (const std::invalid_argument&) {
  }
  auto nl = in.find('\n');
  (void)vigie::policy::ClientReport::Parse(in.substr(0, nl),
                                           nl == std::string_view::npos ? "" : in.substr(nl + 1));
  try {
    auto v = vigie::json::Parse(in);
    if (!v.is_object()) return 0;
    auto doc = vigie::policy::PolicyDocument::FromJson(v.as_object());
    auto round = vigie::policy::PolicyDocument::FromJson(doc.ToJson());
    vigie::policy::Snapshot s({{"a", {"a", "A", false}}}, {}, {}, {{"a", round}});
    vigie::policy::ChangeQuestion q;
    q.scope = "a";
    q.document = doc;
    (void)vigie::policy::Evaluate(s, q);
    (void)vigie::policy::Evaluate(s, vigie::policy::AccessQuestion{"a", "10.0.0.1"});
  } catch (const vigie::Error&) {
  }
  return 0;
}
