#include "service/password_hasher.h"

#include <gtest/gtest.h>
#include <sodium.h>

#include "common/crypto.h"

namespace vigie::service {
namespace {

TEST(PasswordHasher, HashesAndVerifiesArgon2id) {
  crypto::Init();
  PasswordHasher h(1, 8 * 1024);
  std::string hash = h.Hash("correct horse");
  EXPECT_TRUE(hash.starts_with("$argon2id$"));
  EXPECT_TRUE(h.Verify(hash, "correct horse"));
  EXPECT_FALSE(h.Verify(hash, "wrong"));
  EXPECT_FALSE(h.Verify("not a hash", "correct horse"));
}

TEST(PasswordHasher, DummyHashHasTheRealParameters) {
  crypto::Init();
  PasswordHasher h(2, 16 * 1024);
  // needs_rehash is 0 only for a well-formed Argon2id string whose
  // parameters are exactly these: verifying it costs what a real one does.
  EXPECT_EQ(crypto_pwhash_str_needs_rehash(h.dummy_hash().c_str(), 2, 16 * 1024 * 1024), 0);
  EXPECT_EQ(crypto_pwhash_str_needs_rehash(h.Hash("x").c_str(), 2, 16 * 1024 * 1024), 0);
  EXPECT_FALSE(h.Verify(h.dummy_hash(), ""));
  PasswordHasher other(2, 16 * 1024);
  EXPECT_NE(h.dummy_hash(), other.dummy_hash());  // random salt and digest
}

}  // namespace
}  // namespace vigie::service
