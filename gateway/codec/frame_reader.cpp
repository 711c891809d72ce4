#include "gateway/codec/frame_reader.hpp"

#include <cstring>
#include <stdexcept>

namespace tidegate::mqtt {

namespace {
// A buffer grown past this by one large packet is released once drained, so
// idle connections do not keep the memory of their largest packet.
constexpr std::size_t retained_capacity = 64 * 1024;
}  // namespace

FrameReader::FrameReader(uint32_t max_packet_size) : max_packet_size_(max_packet_size) {}

// Moves the unread bytes to the front. Called only where the last frame's
// span may be invalidated, and at most once per read, so each byte is moved
// at most once per socket read rather than once per frame.
void FrameReader::compact() {
  if (begin_ == end_ && buf_.size() > retained_capacity) {
    std::vector<uint8_t>().swap(buf_);
    begin_ = end_ = 0;
    return;
  }
  if (begin_ == 0) return;
  std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
  end_ -= begin_;
  begin_ = 0;
}

void FrameReader::release_if_empty() {
  if (begin_ != end_ || prepared_ != 0) return;
  std::vector<uint8_t>().swap(buf_);
  begin_ = end_ = 0;
}

std::span<uint8_t> FrameReader::prepare(std::size_t n) {
  compact();
  if (buf_.size() < end_ + n) buf_.resize(end_ + n);
  prepared_ = n;
  return {buf_.data() + end_, n};
}

void FrameReader::commit(std::size_t n) {
  if (n > prepared_) throw std::logic_error("FrameReader::commit: more than prepared");
  end_ += n;
  prepared_ = 0;
}

FrameReader::Status FrameReader::next(Frame& out) {
  incomplete_total_ = 0;
  if (begin_ == end_) {
    begin_ = end_ = 0;
    return Status::need_more;
  }
  const std::size_t avail = end_ - begin_;
  const uint8_t* p = buf_.data() + begin_;

  // Remaining Length: a Variable Byte Integer after the first byte.
  uint32_t remaining = 0;
  std::size_t header = 0;
  for (std::size_t i = 0;; ++i) {
    if (i == 4) return Status::malformed_remaining_length;
    if (1 + i >= avail) return Status::need_more;
    const uint8_t b = p[1 + i];
    remaining |= uint32_t{static_cast<uint8_t>(b & 0x7F)} << (7 * i);
    if ((b & 0x80) == 0) {
      if (i > 0 && b == 0) return Status::malformed_remaining_length;  // non-minimal
      header = 2 + i;
      break;
    }
  }

  const std::size_t total = header + remaining;
  if (max_packet_size_ != 0 && total > max_packet_size_) return Status::packet_too_large;
  if (avail < total) {
    incomplete_total_ = total;
    return Status::need_more;
  }

  out.first_byte = p[0];
  out.body = {p + header, remaining};
  out.total_size = total;
  begin_ += total;
  return Status::frame;
}

std::size_t FrameReader::buffered() const { return end_ - begin_; }

}  // namespace tidegate::mqtt
