// Ed25519 signing keys and the JSON signing algorithm (appendices, "Signing
// JSON"): signatures cover the canonical JSON of an object without its
// `signatures` and `unsigned` members.
#pragma once

#include <array>
#include <boost/json.hpp>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace vigie::events {

// A server's Ed25519 signing key. The secret is wiped on destruction.
class SigningKey {
 public:
  static constexpr std::size_t kSeedBytes = 32;
  static constexpr std::size_t kPublicKeyBytes = 32;
  static constexpr std::size_t kSignatureBytes = 64;

  // A fresh random key. `version` is the key id without the algorithm
  // ("a_XyZ1" for key id "ed25519:a_XyZ1"); it must be non-empty and only
  // contain [A-Za-z0-9_], else Error(kInvalidParam).
  static SigningKey Generate(std::string version);
  // The key derived from a 32-byte seed. Throws Error(kInvalidParam) on a
  // wrong seed size or an invalid `version`.
  static SigningKey FromSeed(std::string_view seed, std::string version);
  // Parses "ed25519 <version> <unpadded base64 seed>" (the signing key file
  // format Synapse also uses). Throws Error(kInvalidParam).
  static SigningKey Parse(std::string_view text);

  SigningKey(const SigningKey&) = default;
  SigningKey& operator=(const SigningKey&) = default;
  ~SigningKey();

  // The Parse format, containing the secret seed.
  std::string Serialize() const;

  const std::string& version() const { return version_; }
  // "ed25519:" + version.
  std::string key_id() const { return "ed25519:" + version_; }
  std::string Seed() const;                          // 32 raw bytes (secret)
  std::string PublicKey() const;                     // 32 raw bytes
  std::string PublicKeyBase64() const;               // unpadded standard base64
  std::string Sign(std::string_view message) const;  // 64 raw bytes

 private:
  SigningKey() = default;

  std::string version_;
  std::array<unsigned char, 64> secret_{};  // libsodium's seed || public key
  std::array<unsigned char, kPublicKeyBytes> public_{};
};

// True if `signature` (64 raw bytes) is a valid signature of `message` by
// `public_key` (32 raw bytes). False on any size mismatch.
bool VerifyEd25519(std::string_view public_key, std::string_view message,
                   std::string_view signature);

// Adds `signatures[entity][key.key_id()]` to `object`, keeping the other
// signatures. Throws Error(kBadJson) if `object` is not canonical-JSON
// encodable or its `signatures` member is not an object of objects.
void SignJson(boost::json::object& object, std::string_view entity, const SigningKey& key);
// What SignJson signs: the canonical JSON of `object` without `signatures`
// and `unsigned`. Throws Error(kBadJson) if it is not encodable.
std::string SigningBytes(const boost::json::object& object);
// SignJson with SigningBytes(object) already at hand.
void SignJsonBytes(boost::json::object& object, std::string_view entity, const SigningKey& key,
                   std::string_view signing_bytes);

// True if `object.signatures[entity][key_id]` is an unpadded base64 Ed25519
// signature of `object` (without signatures/unsigned) by `public_key` (raw
// bytes). False on any malformed or non-canonical input; never throws.
bool VerifyJsonSignature(const boost::json::object& object, std::string_view entity,
                         std::string_view key_id, std::string_view public_key);

// Returns the raw public key of `entity` (a server name) with id `key_id`
// ("ed25519:abc"), or nullopt if it is unknown or expired.
using PublicKeyLookup =
    std::function<std::optional<std::string>(std::string_view entity, std::string_view key_id)>;

// The "Checking for a signature" algorithm: true if `object` carries at
// least one `ed25519:` signature from `entity` whose key `keys` knows, and
// every such signature is valid. Signatures with unknown algorithms or
// unknown keys are skipped. False if `keys` is empty. Never throws.
bool IsSignedBy(const boost::json::object& object, std::string_view entity,
                const PublicKeyLookup& keys);

}  // namespace vigie::events
