// lb/http1/connection_http2.cpp — a client connection that speaks HTTP/2:
// chosen by ALPN "h2" after the TLS handshake, or by the HTTP/2 preface as
// the first bytes on a cleartext listener with http2.cleartext (prior
// knowledge; Upgrade: h2c is not offered). The socket, TLS and the deadline
// timer stay with the connection; the codec (lb/http2/session.h) gets the
// bytes and writes through the Transport methods below.
#include <cstring>

#include "lb/http1/connection.h"
#include "lb/http2/session.h"
#include "lb/io/log.h"

namespace lb {

namespace {
constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
}

// Only the very first bytes of a cleartext connection can be the preface
// (an HTTP/1.1 request line never starts with "PRI * HTTP/2.0").
bool HttpConnection::wants_http2(const char* data, size_t len) const {
  if (!first_request_ || tls_ || !listener().config->http2.cleartext) return false;
  if (!in_.empty() || parsing_ || (parser_ && parser_->in_message())) return false;
  const size_t n = std::min(len, kPreface.size());
  return n > 0 && memcmp(data, kPreface.data(), n) == 0;
}

void HttpConnection::start_http2(const char* data, size_t len) {
  phase_ = Phase::http2;
  end_exchange();  // the HTTP/1.1 request that never was
  worker_.request_parsers().release(std::move(parser_));
  disarm_timer();
  http2_ = std::make_unique<http2::Session>(worker_, rt_, listener_, *this);
  if (!http2_->start()) {
    log_error("http2 setup failed", {{"listener", listener().config->name}});
    close_session();
    return;
  }
  if (stopping_) http2_->on_stopping();
  if (len > 0 && !closing()) http2_->on_input(data, len);
  start_client_reading();
}

void HttpConnection::close_after_flush() {
  close_after_flush_ = true;
  stop_client_reading();
  maybe_close_after_flush();
}

void HttpConnection::on_runtime_replaced() {
  if (phase_ == Phase::http2) http2_->on_runtime_replaced();
}

}  // namespace lb
