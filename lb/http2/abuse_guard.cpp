// lb/http2/abuse_guard.cpp — see abuse_guard.h for the thresholds and why.
#include "lb/http2/abuse_guard.h"

namespace lb::http2 {

std::optional<Http2CloseReason> AbuseGuard::on_premature_reset() {
  ++premature_resets_;
  if (premature_resets_ >= kPrematureResetMin && premature_resets_ * 2 >= streams_opened_)
    return Http2CloseReason::rapid_reset;
  return std::nullopt;
}

std::optional<Http2CloseReason> AbuseGuard::on_header_block_frame(bool first, uint64_t length, bool end_headers) {
  if (first) {
    block_bytes_ = 0;
    block_continuations_ = 0;
  } else {
    ++block_continuations_;
  }
  block_bytes_ += length;
  if (!end_headers && (block_bytes_ > max_header_bytes_ || block_continuations_ > max_continuations_))
    return Http2CloseReason::continuation_flood;
  return std::nullopt;
}

std::optional<Http2CloseReason> AbuseGuard::on_ping(uint64_t now_ms) {
  if (data_frames_sent_ != data_frames_at_last_ping_) {
    data_frames_at_last_ping_ = data_frames_sent_;
    return std::nullopt;
  }
  return count_control(now_ms);
}

std::optional<Http2CloseReason> AbuseGuard::count_control(uint64_t now_ms) {
  if (now_ms - control_window_start_ms_ >= 1000 || control_in_window_ == 0) {
    control_window_start_ms_ = now_ms;
    control_in_window_ = 0;
  }
  if (++control_in_window_ > kControlPerSecond) return Http2CloseReason::control_flood;
  return std::nullopt;
}

std::optional<Http2CloseReason> AbuseGuard::on_priority() {
  if (++priority_frames_ > kPriorityBase + kPriorityPerStream * streams_opened_) return Http2CloseReason::control_flood;
  return std::nullopt;
}

std::optional<Http2CloseReason> AbuseGuard::on_window_update() {
  if (++window_updates_ > kWindowUpdateBase + kWindowUpdatePerData * data_frames_sent_)
    return Http2CloseReason::control_flood;
  return std::nullopt;
}

std::optional<Http2CloseReason> AbuseGuard::on_frame(bool empty) {
  if (!empty) {
    consecutive_empty_ = 0;
    return std::nullopt;
  }
  if (++consecutive_empty_ > kMaxConsecutiveEmpty) return Http2CloseReason::empty_frames;
  return std::nullopt;
}

std::optional<Http2CloseReason> AbuseGuard::on_stream_refused() {
  if (++refused_streams_ >= kMaxRefusedStreams) return Http2CloseReason::stream_limit;
  return std::nullopt;
}

}  // namespace lb::http2
