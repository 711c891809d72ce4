// mosquitto_passwd's password hashes: "$7$<iterations>$<salt>$<hash>" (PBKDF2-HMAC-SHA512,
// mosquitto 2's default) and "$6$<salt>$<hash>" (SHA-512 of password then salt, the
// mosquitto 1.x default). Salt and hash are standard base64 of 12 and 64 bytes; the
// broker refuses other sizes (src/security_default.c, unpwd__decode_passwords).
// Pure functions; thread-safe (OpenSSL 3 digests need no locking).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tidegate::auth {

// PW_DEFAULT_ITERATIONS of mosquitto 2.0.x (mosquitto_passwd writes "$7$101$...").
// mosquitto 2.1 raises it to 1000; any count >= 1 is read back.
inline constexpr int mosquitto_default_iterations = 101;
inline constexpr std::size_t password_salt_size = 12;
inline constexpr std::size_t password_hash_size = 64;

enum class HashType : std::uint8_t { sha512 = 6, sha512_pbkdf2 = 7 };

struct PasswordHash {
  HashType type = HashType::sha512_pbkdf2;
  int iterations = 0;  // sha512_pbkdf2 only
  std::array<std::uint8_t, password_salt_size> salt{};
  std::array<std::uint8_t, password_hash_size> hash{};
};

// Parses the part after "user:". Fields are split on '$' the way mosquitto's strtok
// does (empty fields skipped, fields after the hash ignored). Throws
// std::invalid_argument with the reason for anything mosquitto would drop.
PasswordHash parse_password_hash(std::string_view text);

// The text mosquitto_passwd writes after "user:".
std::string format_password_hash(const PasswordHash& h);

// A new hash with a random salt (RAND_bytes). Throws std::runtime_error if OpenSSL
// fails, std::invalid_argument for iterations < 1.
PasswordHash hash_password(std::string_view password, HashType type = HashType::sha512_pbkdf2,
                           int iterations = mosquitto_default_iterations);

// Recomputes the hash of `password` with the stored salt and compares in constant time
// (CRYPTO_memcmp). All bytes of `password` are hashed, where mosquitto stops at the
// first NUL (strlen) -- stricter, never looser. (HMAC zero-pads its key, so for $7$
// trailing NUL bytes are the one thing that makes no difference.)
bool password_matches(const PasswordHash& stored, std::string_view password);

std::string base64_encode(std::span<const std::uint8_t> data);
// Standard alphabet; '=' padding optional; nullopt on any other character.
std::optional<std::vector<std::uint8_t>> base64_decode(std::string_view text);

}  // namespace tidegate::auth
