#include "storeclient/message_codec.hpp"

#include <cstring>

namespace tidegate::store {
namespace {

void put_i64(std::string& out, std::int64_t v) { put_u64_be(out, static_cast<std::uint64_t>(v)); }
void put_str(std::string& out, std::string_view s) {
  put_u32_be(out, static_cast<std::uint32_t>(s.size()));
  out.append(s);
}
void put_opt_str(std::string& out, const std::optional<std::string>& s) {
  out.push_back(s ? 1 : 0);
  if (s) put_str(out, *s);
}

class Reader {
 public:
  explicit Reader(std::string_view b) : b_(b) {}
  bool u8(std::uint8_t& v) {
    if (b_.size() < 1) return false;
    v = static_cast<std::uint8_t>(b_[0]);
    b_.remove_prefix(1);
    return true;
  }
  bool u32(std::uint32_t& v) { return take_u32_be(b_, v); }
  bool i64(std::int64_t& v) {
    if (b_.size() < 8) return false;
    v = static_cast<std::int64_t>(get_u64_be(b_));
    b_.remove_prefix(8);
    return true;
  }
  bool str(std::string& s) {
    std::uint32_t n;
    if (!u32(n) || b_.size() < n) return false;
    s.assign(b_.data(), n);
    b_.remove_prefix(n);
    return true;
  }
  bool opt_str(std::optional<std::string>& s) {
    std::uint8_t present;
    if (!u8(present)) return false;
    if (!present) return true;
    s.emplace();
    return str(*s);
  }
  bool done() const { return b_.empty(); }

 private:
  std::string_view b_;
};

}  // namespace

void put_u64_be(std::string& out, std::uint64_t v) {
  char b[8];
  for (int i = 7; i >= 0; --i) {
    b[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
  out.append(b, 8);
}

void put_u32_be(std::string& out, std::uint32_t v) {
  char b[4] = {char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
  out.append(b, 4);
}

bool take_u32_be(std::string_view& in, std::uint32_t& v) {
  if (in.size() < 4) return false;
  auto p = reinterpret_cast<const unsigned char*>(in.data());
  v = (std::uint32_t(p[0]) << 24) | (std::uint32_t(p[1]) << 16) | (std::uint32_t(p[2]) << 8) | p[3];
  in.remove_prefix(4);
  return true;
}

std::uint64_t get_u64_be(std::string_view bytes) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(bytes[i]);
  return v;
}

void encode_message(const Message& m, std::string& out) {
  out.push_back(static_cast<char>(kMessageFormatVersion));
  put_u64_be(out, m.seq);
  put_str(out, m.topic);
  put_str(out, m.payload);
  out.push_back(static_cast<char>(m.qos | (m.retain ? 0x80 : 0)));
  put_str(out, m.origin_client_id);
  put_i64(out, m.created_ms);
  out.push_back(m.expires_at_ms ? 1 : 0);
  if (m.expires_at_ms) put_i64(out, *m.expires_at_ms);
  out.push_back(m.payload_format_indicator ? 1 : 0);
  if (m.payload_format_indicator) out.push_back(static_cast<char>(*m.payload_format_indicator));
  put_opt_str(out, m.content_type);
  put_opt_str(out, m.response_topic);
  put_opt_str(out, m.correlation_data);
  put_u32_be(out, static_cast<std::uint32_t>(m.user_properties.size()));
  for (const auto& p : m.user_properties) {
    put_str(out, p.key);
    put_str(out, p.value);
  }
}

std::optional<Message> decode_message(std::string_view bytes) {
  Reader r(bytes);
  Message m;
  std::uint8_t version, flags, present;
  std::int64_t seq;
  if (!r.u8(version) || version != kMessageFormatVersion) return std::nullopt;
  if (!r.i64(seq) || !r.str(m.topic) || !r.str(m.payload) || !r.u8(flags)) return std::nullopt;
  m.seq = static_cast<std::uint64_t>(seq);
  m.qos = flags & 0x03;
  m.retain = (flags & 0x80) != 0;
  if (!r.str(m.origin_client_id) || !r.i64(m.created_ms) || !r.u8(present)) return std::nullopt;
  if (present) {
    std::int64_t e;
    if (!r.i64(e)) return std::nullopt;
    m.expires_at_ms = e;
  }
  if (!r.u8(present)) return std::nullopt;
  if (present) {
    std::uint8_t pfi;
    if (!r.u8(pfi)) return std::nullopt;
    m.payload_format_indicator = pfi;
  }
  if (!r.opt_str(m.content_type) || !r.opt_str(m.response_topic) || !r.opt_str(m.correlation_data))
    return std::nullopt;
  std::uint32_t count;
  if (!r.u32(count)) return std::nullopt;
  for (std::uint32_t i = 0; i < count; ++i) {
    UserProperty p;
    if (!r.str(p.key) || !r.str(p.value)) return std::nullopt;
    m.user_properties.push_back(std::move(p));
  }
  if (!r.done()) return std::nullopt;
  return m;
}

}  // namespace tidegate::store
