#include "events/signing.h"

#include <sodium.h>

#include "common/canonical_json.h"
#include "common/crypto.h"
#include "common/error.h"

namespace vigie::events {

namespace bj = boost::json;

namespace {

void CheckVersion(std::string_view version) {
  bool ok = !version.empty();
  for (char c : version) {
    ok = ok &&
         ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_');
  }
  if (!ok) throw InvalidParam("Signing key version must match [A-Za-z0-9_]+");
}

}  // namespace

std::string SigningBytes(const bj::object& object) {
  return CanonicalJsonWithout(object, {"signatures", "unsigned"});
}

SigningKey SigningKey::Generate(std::string version) {
  crypto::Init();
  return FromSeed(crypto::RandomBytes(kSeedBytes), std::move(version));
}

SigningKey SigningKey::FromSeed(std::string_view seed, std::string version) {
  crypto::Init();
  if (seed.size() != kSeedBytes) throw InvalidParam("Ed25519 seed must be 32 bytes");
  CheckVersion(version);
  SigningKey key;
  key.version_ = std::move(version);
  crypto_sign_seed_keypair(key.public_.data(), key.secret_.data(),
                           reinterpret_cast<const unsigned char*>(seed.data()));
  return key;
}

SigningKey SigningKey::Parse(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) {
    text.remove_suffix(1);
  }
  std::size_t sp1 = text.find(' ');
  std::size_t sp2 = sp1 == std::string_view::npos ? sp1 : text.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || text.substr(0, sp1) != "ed25519") {
    throw InvalidParam("Signing key must read 'ed25519 <version> <base64 seed>'");
  }
  std::string seed;
  if (!crypto::Base64Decode(text.substr(sp2 + 1), &seed)) {
    throw InvalidParam("Signing key seed is not valid base64");
  }
  SigningKey key = FromSeed(seed, std::string(text.substr(sp1 + 1, sp2 - sp1 - 1)));
  sodium_memzero(seed.data(), seed.size());
  return key;
}

SigningKey::~SigningKey() { sodium_memzero(secret_.data(), secret_.size()); }

std::string SigningKey::Serialize() const {
  std::string seed = Seed();
  std::string out = "ed25519 " + version_ + " " + crypto::Base64(seed);
  sodium_memzero(seed.data(), seed.size());
  return out;
}

std::string SigningKey::Seed() const {
  std::string seed(kSeedBytes, '\0');
  crypto_sign_ed25519_sk_to_seed(reinterpret_cast<unsigned char*>(seed.data()), secret_.data());
  return seed;
}

std::string SigningKey::PublicKey() const {
  return std::string(reinterpret_cast<const char*>(public_.data()), public_.size());
}

std::string SigningKey::PublicKeyBase64() const { return crypto::Base64(PublicKey()); }

std::string SigningKey::Sign(std::string_view message) const {
  std::string sig(kSignatureBytes, '\0');
  crypto_sign_detached(reinterpret_cast<unsigned char*>(sig.data()), nullptr,
                       reinterpret_cast<const unsigned char*>(message.data()), message.size(),
                       secret_.data());
  return sig;
}

bool VerifyEd25519(std::string_view public_key, std::string_view message,
                   std::string_view signature) {
  if (public_key.size() != SigningKey::kPublicKeyBytes ||
      signature.size() != SigningKey::kSignatureBytes) {
    return false;
  }
  crypto::Init();
  return crypto_sign_verify_detached(
             reinterpret_cast<const unsigned char*>(signature.data()),
             reinterpret_cast<const unsigned char*>(message.data()), message.size(),
             reinterpret_cast<const unsigned char*>(public_key.data())) == 0;
}

void SignJson(bj::object& object, std::string_view entity, const SigningKey& key) {
  SignJsonBytes(object, entity, key, SigningBytes(object));
}

void SignJsonBytes(bj::object& object, std::string_view entity, const SigningKey& key,
                   std::string_view signing_bytes) {
  std::string signature = crypto::Base64(key.Sign(signing_bytes));
  bj::value& sigs = object["signatures"];
  if (sigs.is_null()) sigs = bj::object();
  if (!sigs.is_object()) throw BadJson("'signatures' must be an object");
  bj::value& mine = sigs.get_object()[entity];
  if (mine.is_null()) mine = bj::object();
  if (!mine.is_object()) throw BadJson("'signatures' entries must be objects");
  mine.get_object()[key.key_id()] = signature;
}

bool VerifyJsonSignature(const bj::object& object, std::string_view entity, std::string_view key_id,
                         std::string_view public_key) {
  const bj::value* sigs = object.if_contains("signatures");
  if (sigs == nullptr || !sigs->is_object()) return false;
  const bj::value* mine = sigs->get_object().if_contains(entity);
  if (mine == nullptr || !mine->is_object()) return false;
  const bj::value* sig = mine->get_object().if_contains(key_id);
  if (sig == nullptr || !sig->is_string()) return false;
  std::string raw;
  if (!crypto::Base64Decode(sig->get_string(), &raw)) return false;
  try {
    return VerifyEd25519(public_key, SigningBytes(object), raw);
  } catch (const Error&) {
    return false;  // not canonical JSON: nothing can have signed it
  }
}

bool IsSignedBy(const bj::object& object, std::string_view entity, const PublicKeyLookup& keys) {
  if (!keys) return false;
  const bj::value* sigs = object.if_contains("signatures");
  if (sigs == nullptr || !sigs->is_object()) return false;
  const bj::value* mine = sigs->get_object().if_contains(entity);
  if (mine == nullptr || !mine->is_object()) return false;
  int verified = 0;
  for (const auto& kv : mine->get_object()) {
    if (!kv.key().starts_with("ed25519:")) continue;
    std::optional<std::string> key = keys(entity, kv.key());
    if (!key) continue;
    if (!VerifyJsonSignature(object, entity, kv.key(), *key)) return false;
    ++verified;
  }
  return verified > 0;
}

}  // namespace vigie::events
