// A Homeserver on an in-memory SQLite database with cheap Argon2, for
// service tests.
#pragma once

#include <gtest/gtest.h>

#include <functional>

#include "common/crypto.h"
#include "common/error.h"
#include "service/homeserver.h"

namespace vigie::service {

inline Config TestConfig() {
  Config c;
  c.server_name = "test.local";
  c.sqlite_path = ":memory:";
  c.argon2_ops = 1;
  c.argon2_mem_kib = 8;
  c.worker_threads = 2;
  c.hash_threads = 1;
  c.registration_mode = "open";
  return c;
}

// Creates `name` (password "password1"), logs in and returns the
// authenticated requester.
inline Requester RegisterAndLogin(Homeserver& hs, const std::string& name) {
  hs.RunSync(hs.accounts.CreateUser(name, "password1", false, "t"));
  LoginRequest r;
  r.user = name;
  r.password = "password1";
  auto s = hs.RunSync(hs.accounts.Login(r));
  return hs.RunSync(hs.auth.Authenticate(*s.access_token, "127.0.0.1", "t"));
}

// Runs `f` and returns the vigie::Error it throws (fails the test if none).
inline Error ErrorOf(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e;
  }
  ADD_FAILURE() << "expected a vigie::Error";
  return Error(ErrorCode::kInternal, "none");
}

}  // namespace vigie::service
