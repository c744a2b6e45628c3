// Argon2id password hashing (libsodium crypto_pwhash_str_alg). Hash and
// Verify block for the configured cost: call them on the hashing pool.
#pragma once

#include <cstdint>
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
  const std::string& dummy_hash() const { return dummy_hash_; }

 private:
  std::uint64_t ops_;
  std::size_t mem_bytes_;
  // A well-formed Argon2id string with this hasher's parameters and random
  // salt and digest: verifying against it costs a real verification (the
  // cost comes from the parameters in the string) but making it costs
  // nothing at start-up.
  std::string dummy_hash_;
};

}  // namespace vigie::service
