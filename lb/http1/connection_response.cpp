// lb/http1/connection_response.cpp — the HTTP/1.1 response side of an
// HttpConnection, as the ClientStream of its current exchange: heads
// serialized with the right framing and Connection header, bodies re-chunked
// when needed, the head held back to leave in one write with the first body
// bytes, lb's own answers, and the WebSocket tunnel after a 101.
#include "lb/http1/connection.h"
#include "lb/http1/http_serialize.h"
#include "lb/io/access_log.h"
#include "lb/io/log.h"

namespace lb {

std::string_view HttpConnection::protocol_name() const {
  const http::RequestHead* head = in_exchange_ ? exchange_.head() : nullptr;
  return http1_protocol_name(head ? head->http_minor : 1);
}

void HttpConnection::send_interim(const http::ResponseHead& head) {
  note_body_progress();  // a client waiting for 100 Continue was not idle
  http::ResponseHeadOptions opt;
  opt.framing = http::Framing::none();
  opt.connection = http::ConnectionMode::Omit;
  std::string& head_buf = worker_.scratch();
  head_buf.clear();
  http::serialize_response_head(head, opt, head_buf);
  write_client(head_buf);
}

void HttpConnection::send_response_head(const http::ResponseHead& head) {
  const http::RequestHead& req = *exchange_.head();
  http::ResponseHeadOptions opt;
  if (head.upgrade) {
    opt.framing = http::Framing::none();
    opt.connection = http::ConnectionMode::Upgrade;
  } else {
    opt.framing = http::response_framing(head, req.http_minor >= 1);
    bool keep = client_keep_alive_ && !stopping_ && opt.framing.kind != http::Framing::Kind::UntilClose;
    client_keep_alive_ = keep;
    // Keep-alive is HTTP/1.1's default; only an HTTP/1.0 client needs it said.
    if (!keep) opt.connection = http::ConnectionMode::Close;
    else opt.connection = req.http_minor >= 1 ? http::ConnectionMode::Omit : http::ConnectionMode::KeepAlive;
  }
  chunk_response_ = opt.framing.kind == http::Framing::Kind::Chunked && req.method_id != HTTP_HEAD;
  // The head waits in the worker's buffer so it leaves in one write with the
  // first body bytes (or the end of the response) of this same read.
  std::string& head_buf = worker_.response_head();
  head_buf.clear();
  http::serialize_response_head(head, opt, head_buf);
  head_pending_ = true;
  if (head.upgrade) flush_response();
}

uv_buf_t HttpConnection::pending_head_buf() {
  std::string& h = worker_.response_head();
  return uv_buf_init(h.data(), static_cast<unsigned>(h.size()));
}

void HttpConnection::send_response_body(std::string_view data) {
  uv_buf_t bufs[4];
  size_t n = 0;
  if (head_pending_) bufs[n++] = pending_head_buf();
  http::ChunkHeaderBuf hb;
  if (chunk_response_) {
    std::string_view h = http::chunk_header(data.size(), hb);
    bufs[n++] = uv_buf_init(const_cast<char*>(h.data()), static_cast<unsigned>(h.size()));
  }
  bufs[n++] = uv_buf_init(const_cast<char*>(data.data()), static_cast<unsigned>(data.size()));
  if (chunk_response_) bufs[n++] = uv_buf_init(const_cast<char*>(http::kChunkEnd.data()), 2);
  head_pending_ = false;
  write_client(bufs, n);
}

void HttpConnection::send_response_end(const http::Headers* trailers) {
  uv_buf_t bufs[2];
  size_t n = 0;
  if (head_pending_) bufs[n++] = pending_head_buf();
  if (chunk_response_ && trailers) {
    std::string& last = worker_.scratch();
    http::serialize_last_chunk(trailers, last);
    bufs[n++] = uv_buf_init(last.data(), static_cast<unsigned>(last.size()));
  } else if (chunk_response_) {
    bufs[n++] = uv_buf_init(const_cast<char*>(http::kLastChunk.data()), static_cast<unsigned>(http::kLastChunk.size()));
  }
  head_pending_ = false;
  if (n > 0) write_client(bufs, n);  // a failed write closes the connection, which tells the exchange
}

void HttpConnection::flush_response() {
  if (!head_pending_) return;
  head_pending_ = false;
  uv_buf_t b = pending_head_buf();
  write_client(&b, 1);
}

void HttpConnection::send_local_response(const LocalResponse& r) {
  std::string& head_buf = worker_.scratch();
  head_buf.clear();
  head_buf += "HTTP/1.1 ";
  head_buf += std::to_string(r.status);
  head_buf += ' ';
  head_buf += http::default_reason(r.status);
  head_buf += "\r\n";
  if (!r.content_type.empty()) {
    head_buf += "Content-Type: ";
    head_buf += r.content_type;
    head_buf += "\r\n";
  }
  head_buf += "Content-Length: ";
  head_buf += std::to_string(r.body.size());
  head_buf += "\r\n";
  if (r.retry_after_s != 0) head_buf += "Retry-After: " + std::to_string(r.retry_after_s) + "\r\n";
  for (const http::Header& h : r.headers) {
    head_buf += h.name;
    head_buf += ": ";
    head_buf += h.value;
    head_buf += "\r\n";
  }
  if (r.close_after) head_buf += "Connection: close\r\n";
  head_buf += "\r\n";
  uv_buf_t bufs[2] = {uv_buf_init(head_buf.data(), static_cast<unsigned>(head_buf.size())),
                      uv_buf_init(const_cast<char*>(r.body.data()), static_cast<unsigned>(r.body.size()))};
  write_client(bufs, r.body.empty() || r.head_only ? 1 : 2);
  if (r.close_after) {
    // The request body will not be read: the connection ends after this answer.
    close_after_flush_ = true;
    client_keep_alive_ = false;
    stop_client_reading();
    disarm_timer();
  }
}

void HttpConnection::abort_response() { close_session(); }

void HttpConnection::start_tunnel() {
  if (closing()) return;
  if (!in_.empty()) {
    // Bytes the client sent after its upgrade request belong to the tunnel.
    std::string early;
    early.swap(in_);
    exchange_.on_tunnel_data(early);
    if (closing() || !tunnel()) return;
  }
  start_client_reading();
}

void HttpConnection::send_tunnel_data(std::string_view data) { write_client(data); }

void HttpConnection::end_tunnel() {
  close_after_flush_ = true;
  maybe_close_after_flush();
}

}  // namespace lb
