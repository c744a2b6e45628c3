// Argon2id password hashing (libsodium crypto_pwhash_str_alg). Hash and
// Verify block for the configured cost: call them on the hashing pool.
#pragma once

#include <cstdint>
#include <future>
#include <string>
#include <string_view>

namespace vigie::service {

class PasswordHasher {
 public:
  PasswordHasher(std::uint64_t ops, std::uint64_t mem_kib);
  std::string Hash(std::string_view password) const;
  // Constant-time in the password. A malformed hash verifies false.
  bool Verify(std::string_view hash, std::string_view password) const;
  // Spends the same time as Verify on a real hash, so that a login for an
  // unknown user costs as much as one for a known user.
  void DummyVerify(std::string_view password) const;

 private:
  std::uint64_t ops_;
  std::size_t mem_bytes_;
  // Computed on a background thread at construction, so that start-up
  // does not wait for one full Argon2 run.
  std::shared_future<std::string> dummy_hash_;
};

}  // namespace vigie::service
