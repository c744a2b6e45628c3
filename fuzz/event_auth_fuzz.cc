#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "common/error.h"
#include "common/json.h"
#include "events/auth_events.h"
#include "events/auth_rules.h"
#include "events/event.h"
#include "events/room_version.h"
using namespace vigie;
using namespace vigie::events;
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const RoomVersion& v = SupportedRoomVersions()[data[0] % 3];
  boost::json::value root;
  try {
    root = json::Parse(std::string_view(reinterpret_cast<const char*>(data + 1), size - 1));
  } catch (const Error&) {
    return 0;
  }
  if (!root.is_array() || root.as_array().empty()) return 0;
  auto& arr = root.as_array();
  if (!arr[0].is_object()) return 0;
  const auto& event = arr[0].as_object();
  AuthState state;
  std::vector<const boost::json::object*> auth;
  for (std::size_t i = 1; i < arr.size(); ++i) {
    if (arr[i].is_object()) {
      state.Add(arr[i].as_object());
      auth.push_back(&arr[i].as_object());
    }
  }
  PublicKeyLookup keys = [](std::string_view, std::string_view) -> std::optional<std::string> {
    return std::string(32, 'k');
  };
  (void)Authorize(v, event, state, keys);
  (void)Authorize(v, event, state);
  (void)CheckAuthEvents(v, event, auth);
  (void)SelectAuthEvents(v, event);
  auto r = Redact(v, event);
  if (Redact(v, r) != r) std::abort();
  (void)HasValidContentHash(event);
  (void)VerifyEventSignature(v, event, "hs", keys);
  try {
    ValidateEventFormat(v, event);
  } catch (const Error&) {
  }
  try {
    (void)ComputeEventId(v, event);
  } catch (const Error&) {
  }
  return 0;
}
