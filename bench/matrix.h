// The few Client-Server API calls vigie-bench makes, written against the
// Matrix specification only, so that any homeserver can be measured.
#pragma once

#include <boost/json/value.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "bench/client.h"
#include "bench/stats.h"

namespace vigie::bench {

struct Account {
  std::string localpart;
  std::string user_id;
  std::string token;
};

// How accounts are created.
struct Registration {
  std::string registration_token;  // for the m.login.registration_token stage
  std::string shared_secret;       // Synapse's admin API (registration_shared_secret)
  std::string password;
};

// Each call records a failure in `errors` under "<what>: <kind>" and returns
// nullopt / false; none throws for a server's answer.
class Matrix {
 public:
  explicit Matrix(Errors& errors) : errors_(errors) {}

  // Registers `localpart`, walking the user-interactive authentication flows
  // the server offers with the stages m.login.dummy and
  // m.login.registration_token, or through Synapse's shared-secret admin API
  // when a shared secret is given.
  asio::awaitable<std::optional<Account>> Register(Conn& c, const Registration& reg,
                                                   const std::string& localpart);
  asio::awaitable<std::optional<Account>> Login(Conn& c, const std::string& localpart,
                                                const std::string& password);
  // POST /createRoom with `body` (a serialised object); returns the room id.
  asio::awaitable<std::optional<std::string>> CreateRoom(Conn& c, const Account& a,
                                                         std::string_view body);
  asio::awaitable<bool> Join(Conn& c, const Account& a, const std::string& room_id);

  // Records a failed response and returns false; true when it is a 2xx.
  bool Check(const Response& r, std::string_view what);
  // Parses a JSON body; records a failure and returns nullopt on bad JSON.
  std::optional<boost::json::value> ParseJson(const Response& r, std::string_view what);

  Errors& errors() { return errors_; }

 private:
  asio::awaitable<std::optional<Account>> RegisterShared(Conn& c, const Registration& reg,
                                                         const std::string& localpart);
  Errors& errors_;
};

// "/_matrix/client/v3/rooms/<id>/..." helpers.
std::string RoomPath(const std::string& room_id, std::string_view rest);

}  // namespace vigie::bench
