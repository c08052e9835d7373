// lb/http2/abuse_guard.h — the counters and thresholds that decide when an
// HTTP/2 client is abusing the protocol rather than using it (SPEC 9): the
// connection is then closed with GOAWAY ENHANCE_YOUR_CALM and the reason is
// counted. Pure bookkeeping (no I/O, time passed in) so every threshold is
// unit-tested; the session feeds it frame by frame.
//
// Thresholds (README "HTTP/2 abuse defences" explains the choice; a browser
// or gRPC client stays far below each):
//  - rapid_reset: ≥ 100 streams reset by the client within 1 s of opening
//    and before lb answered them, and those are ≥ half of the streams it
//    opened (Envoy's premature-reset rule; CVE-2023-44487).
//  - continuation_flood: a header block still arriving past max_header_bytes
//    of HEADERS+CONTINUATION payload, or with more CONTINUATION frames than
//    max(32, max_header_bytes / 1 KiB) (CVE-2024-27316 class).
//  - control_flood: more than 100 SETTINGS or PING frames in one second
//    (a PING that arrives while lb has sent DATA since the previous one is
//    not counted: gRPC's bandwidth probes do exactly that);
//    more PRIORITY frames than 100 + 100 per stream opened; more
//    WINDOW_UPDATE frames than 100 + 10 per DATA frame lb sent (Envoy's
//    ratios); a client holding lb's data back with a zero window for longer
//    than client_idle (checked by the session's timer).
//  - empty_frames: more than 16 consecutive frames without payload that do
//    nothing (DATA without END_STREAM, CONTINUATION) — HAProxy counts these
//    as glitches.
//  - stream_limit: the 10th stream refused for exceeding
//    max_concurrent_streams on one connection.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>

#include "lb/core/live_state.h"

namespace lb::http2 {

class AbuseGuard {
 public:
  static constexpr uint32_t kPrematureResetMin = 100;
  static constexpr uint32_t kMinContinuations = 32;
  static constexpr uint64_t kPrematureResetWindowMs = 1000;
  static constexpr uint32_t kControlPerSecond = 100;
  static constexpr uint32_t kPriorityBase = 100, kPriorityPerStream = 100;
  static constexpr uint32_t kWindowUpdateBase = 100, kWindowUpdatePerData = 10;
  static constexpr uint32_t kMaxConsecutiveEmpty = 16;
  static constexpr uint32_t kMaxRefusedStreams = 10;

  explicit AbuseGuard(uint64_t max_header_bytes)
      : max_header_bytes_(max_header_bytes),
        max_continuations_(std::max<uint64_t>(kMinContinuations, max_header_bytes / 1024)) {}
  uint64_t max_continuations() const { return max_continuations_; }

  // Each returns the reason to close for, or nothing.
  void on_stream_opened() { ++streams_opened_; }
  std::optional<Http2CloseReason> on_premature_reset();
  // A HEADERS (first == true) or CONTINUATION frame header arrived.
  std::optional<Http2CloseReason> on_header_block_frame(bool first, uint64_t length, bool end_headers);
  // SETTINGS or PING (not ACKs), at monotonic time now_ms.
  std::optional<Http2CloseReason> on_settings(uint64_t now_ms) { return count_control(now_ms); }
  std::optional<Http2CloseReason> on_ping(uint64_t now_ms);
  std::optional<Http2CloseReason> on_priority();
  std::optional<Http2CloseReason> on_window_update();
  void on_data_frame_sent() { ++data_frames_sent_; }
  // Any frame: `empty` when it carries no payload and does nothing.
  std::optional<Http2CloseReason> on_frame(bool empty);
  std::optional<Http2CloseReason> on_stream_refused();

  uint64_t block_bytes() const { return block_bytes_; }  // raw bytes of the current/last header block

 private:
  std::optional<Http2CloseReason> count_control(uint64_t now_ms);

  uint64_t max_header_bytes_;
  uint64_t max_continuations_;
  uint64_t data_frames_at_last_ping_ = 0;
  uint64_t streams_opened_ = 0;
  uint64_t premature_resets_ = 0;
  uint64_t block_bytes_ = 0;
  uint32_t block_continuations_ = 0;
  uint64_t control_window_start_ms_ = 0;
  uint32_t control_in_window_ = 0;
  uint64_t priority_frames_ = 0;
  uint64_t window_updates_ = 0;
  uint64_t data_frames_sent_ = 0;
  uint32_t consecutive_empty_ = 0;
  uint32_t refused_streams_ = 0;
};

}  // namespace lb::http2
