#pragma once
// Standard base64 (RFC 4648, padded) of bytes, for JSON answers and events
// that must carry a binary payload. Any thread.
#include <openssl/evp.h>

#include <string>
#include <string_view>

namespace tidegate {

inline std::string base64(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), reinterpret_cast<const unsigned char*>(bytes.data()),
                  static_cast<int>(bytes.size()));
  return out;
}

}  // namespace tidegate
