// Small wrappers over libsodium: randomness, hashing, encodings and
// constant-time comparison. All functions are thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace vigie::crypto {

// Must be called once before any other function (idempotent).
void Init();

std::string RandomBytes(std::size_t n);
// `n` random characters from [A-Za-z0-9].
std::string RandomAlnum(std::size_t n);

// Unpadded standard base64 (Matrix's encoding for keys, hashes, signatures).
std::string Base64(std::string_view bytes);
// URL-safe unpadded base64 (event ids in room versions >= 4).
std::string Base64Url(std::string_view bytes);
// Decodes standard or URL-safe base64, padded or not. Returns false on bad input.
bool Base64Decode(std::string_view text, std::string* out);

std::string Hex(std::string_view bytes);
std::string Sha256(std::string_view data);  // raw 32 bytes
std::string Sha256Hex(std::string_view data);

// Constant-time equality of two byte strings (false when lengths differ).
bool ConstantTimeEqual(std::string_view a, std::string_view b);

}  // namespace vigie::crypto
