#include "service/password_hasher.h"

#include <sodium.h>

#include <stdexcept>

#include "common/crypto.h"

namespace vigie::service {

PasswordHasher::PasswordHasher(std::uint64_t ops, std::uint64_t mem_kib)
    : ops_(ops), mem_bytes_(static_cast<std::size_t>(mem_kib) * 1024) {
  dummy_hash_ = "$argon2id$v=19$m=" + std::to_string(mem_kib) + ",t=" + std::to_string(ops) +
                ",p=1$" + crypto::Base64(crypto::RandomBytes(16)) + "$" +
                crypto::Base64(crypto::RandomBytes(32));
}

std::string PasswordHasher::Hash(std::string_view password) const {
  char out[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str_alg(out, password.data(), password.size(), ops_, mem_bytes_,
                            crypto_pwhash_ALG_ARGON2ID13) != 0) {
    throw std::runtime_error("argon2id: out of memory");
  }
  return out;
}

bool PasswordHasher::Verify(std::string_view hash, std::string_view password) const {
  if (hash.size() >= crypto_pwhash_STRBYTES) return false;
  std::string h(hash);
  return crypto_pwhash_str_verify(h.c_str(), password.data(), password.size()) == 0;
}

void PasswordHasher::DummyVerify(std::string_view password) const {
  (void)Verify(dummy_hash_, password);
}

}  // namespace vigie::service
