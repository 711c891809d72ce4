// Incremental framing of an MQTT byte stream: collects socket reads and hands
// out one complete packet (fixed header + body) at a time. No I/O; one
// FrameReader per connection, used from the connection's thread only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace tidegate::mqtt {

class FrameReader {
 public:
  // max_packet_size: largest total packet size accepted, fixed header included
  // (MQTT 5 Maximum Packet Size semantics). 0 means no limit beyond the
  // protocol's own (remaining length <= 268435455).
  explicit FrameReader(uint32_t max_packet_size);

  // Writable space for a socket read of up to n bytes; valid until the next
  // call to any non-const member. Invalidates the span of the last frame.
  std::span<uint8_t> prepare(std::size_t n);
  // n bytes were written into prepare()'s span (n <= the size asked for).
  void commit(std::size_t n);

  struct Frame {
    uint8_t first_byte;
    std::span<const uint8_t> body;  // variable header + payload
    std::size_t total_size;         // fixed header + body
  };
  enum class Status { frame, need_more, malformed_remaining_length, packet_too_large };

  // Next complete frame; the span stays valid until the next call to
  // next()/prepare(). malformed_remaining_length (more than four
  // bytes, or a non-minimal encoding) and packet_too_large are reported as
  // soon as the fixed header shows them, before the body arrives, and are
  // sticky: the stream cannot be resynchronised, the connection must close.
  Status next(Frame& out);

  // Bytes received and not yet returned as a frame.
  std::size_t buffered() const;
  // The total size of the frame the last next() found incomplete, when its
  // fixed header had arrived (0 otherwise): how much a packet being read needs.
  std::size_t incomplete_frame_size() const { return incomplete_total_; }

  // Frees the buffer when it holds nothing unread, so that a connection
  // waiting for its next packet keeps no read buffer. Invalidates the span of
  // the last frame; the next prepare() allocates again.
  void release_if_empty();

 private:
  void compact();

  std::vector<uint8_t> buf_;
  std::size_t begin_ = 0;     // first byte not yet handed out
  std::size_t end_ = 0;       // one past the last committed byte
  std::size_t prepared_ = 0;  // size of the span prepare() last returned
  std::size_t incomplete_total_ = 0;  // see incomplete_frame_size()
  uint32_t max_packet_size_;
};

}  // namespace tidegate::mqtt
