#include "plugins/auth/password_hash.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <charconv>
#include <climits>
#include <memory>
#include <stdexcept>

namespace tidegate::auth {

namespace {

constexpr char base64_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

// strtok(s, "$") semantics: non-empty fields only.
std::vector<std::string_view> dollar_fields(std::string_view s) {
  std::vector<std::string_view> out;
  std::size_t pos = 0;
  while (pos < s.size()) {
    const auto end = std::min(s.find('$', pos), s.size());
    if (end > pos) out.push_back(s.substr(pos, end - pos));
    pos = end + 1;
  }
  return out;
}

template <std::size_t N>
std::array<std::uint8_t, N> decode_field(std::string_view text, const char* what) {
  const auto bytes = base64_decode(text);
  if (!bytes) throw std::invalid_argument(std::string(what) + " is not valid base64");
  if (bytes->size() != N) {
    throw std::invalid_argument(std::string(what) + " decodes to " + std::to_string(bytes->size()) +
                                " bytes, mosquitto requires " + std::to_string(N));
  }
  std::array<std::uint8_t, N> out{};
  std::copy(bytes->begin(), bytes->end(), out.begin());
  return out;
}

std::array<std::uint8_t, password_hash_size> derive(const PasswordHash& params, std::string_view password) {
  std::array<std::uint8_t, password_hash_size> out{};
  if (password.size() > static_cast<std::size_t>(INT_MAX)) throw std::invalid_argument("password too long");
  if (params.type == HashType::sha512_pbkdf2) {
    if (PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()), params.salt.data(),
                          static_cast<int>(params.salt.size()), params.iterations, EVP_sha512(),
                          static_cast<int>(out.size()), out.data()) != 1) {
      throw std::runtime_error("PKCS5_PBKDF2_HMAC failed");
    }
    return out;
  }
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  unsigned int len = 0;
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha512(), nullptr) != 1 ||
      EVP_DigestUpdate(ctx.get(), password.data(), password.size()) != 1 ||
      EVP_DigestUpdate(ctx.get(), params.salt.data(), params.salt.size()) != 1 ||
      EVP_DigestFinal_ex(ctx.get(), out.data(), &len) != 1 || len != out.size()) {
    throw std::runtime_error("SHA-512 digest failed");
  }
  return out;
}

}  // namespace

std::string base64_encode(std::span<const std::uint8_t> data) {
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= data.size(); i += 3) {
    const std::uint32_t v = (data[i] << 16) | (data[i + 1] << 8) | data[i + 2];
    out += base64_alphabet[(v >> 18) & 63];
    out += base64_alphabet[(v >> 12) & 63];
    out += base64_alphabet[(v >> 6) & 63];
    out += base64_alphabet[v & 63];
  }
  const std::size_t rest = data.size() - i;
  if (rest > 0) {
    std::uint32_t v = data[i] << 16;
    if (rest == 2) v |= data[i + 1] << 8;
    out += base64_alphabet[(v >> 18) & 63];
    out += base64_alphabet[(v >> 12) & 63];
    out += rest == 2 ? base64_alphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::optional<std::vector<std::uint8_t>> base64_decode(std::string_view text) {
  if (text.size() % 4 == 0 && !text.empty()) {
    if (text.back() == '=') text.remove_suffix(1);
    if (text.back() == '=') text.remove_suffix(1);
  }
  if (text.size() % 4 == 1) return std::nullopt;
  std::vector<std::uint8_t> out;
  out.reserve(text.size() * 3 / 4);
  std::uint32_t acc = 0;
  int bits = 0;
  for (const char c : text) {
    const int v = base64_value(c);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<std::uint8_t>((acc >> bits) & 0xFF));
    }
  }
  return out;
}

PasswordHash parse_password_hash(std::string_view text) {
  const auto fields = dollar_fields(text);
  if (fields.empty()) throw std::invalid_argument("empty password hash");
  PasswordHash h;
  std::size_t next = 1;
  if (fields[0] == "7") {
    h.type = HashType::sha512_pbkdf2;
    if (fields.size() < 2) throw std::invalid_argument("$7$ hash without an iteration count");
    const auto it = fields[1];
    const auto [end, ec] = std::from_chars(it.data(), it.data() + it.size(), h.iterations);
    if (ec != std::errc() || end != it.data() + it.size() || h.iterations < 1) {
      throw std::invalid_argument("invalid iteration count '" + std::string(it) + "'");
    }
    next = 2;
  } else if (fields[0] == "6") {
    h.type = HashType::sha512;
  } else if (fields[0] == "8") {
    throw std::invalid_argument("argon2id hashes ($8$, mosquitto 2.1) are not supported");
  } else {
    throw std::invalid_argument(
        "not a mosquitto_passwd hash ($7$ or $6$); plain-text passwords must be hashed first "
        "(tidegate-passwd, or mosquitto_passwd -U)");
  }
  if (fields.size() < next + 1) throw std::invalid_argument("password hash without a salt");
  if (fields.size() < next + 2) throw std::invalid_argument("password hash without the hash field");
  h.salt = decode_field<password_salt_size>(fields[next], "salt");
  h.hash = decode_field<password_hash_size>(fields[next + 1], "hash");
  return h;
}

std::string format_password_hash(const PasswordHash& h) {
  std::string out = "$";
  out += std::to_string(static_cast<int>(h.type));
  out += '$';
  if (h.type == HashType::sha512_pbkdf2) {
    out += std::to_string(h.iterations);
    out += '$';
  }
  out += base64_encode(h.salt);
  out += '$';
  out += base64_encode(h.hash);
  return out;
}

PasswordHash hash_password(std::string_view password, HashType type, int iterations) {
  if (type == HashType::sha512_pbkdf2 && iterations < 1) {
    throw std::invalid_argument("iterations must be at least 1");
  }
  PasswordHash h;
  h.type = type;
  h.iterations = type == HashType::sha512_pbkdf2 ? iterations : 0;
  if (RAND_bytes(h.salt.data(), static_cast<int>(h.salt.size())) != 1) {
    throw std::runtime_error("RAND_bytes failed");
  }
  h.hash = derive(h, password);
  return h;
}

bool password_matches(const PasswordHash& stored, std::string_view password) {
  const auto computed = derive(stored, password);
  return CRYPTO_memcmp(computed.data(), stored.hash.data(), computed.size()) == 0;
}

}  // namespace tidegate::auth
