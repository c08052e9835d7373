// lb/exchange/client_stream.h — what an exchange needs from the client side
// of its request: the narrow interface both codecs implement (an HTTP/1.1
// connection for its current request, an HTTP/2 stream). The exchange never
// sees bytes of the client protocol: it hands over parsed response heads and
// body bytes, and the codec frames them (HTTP/1.1 chunking and keep-alive,
// HTTP/2 HEADERS/DATA with flow control).
//
// Ownership: the codec owns the Exchange and outlives it; the exchange calls
// these methods only while it is alive and never after the codec told it the
// client is gone. Threading: the owning worker's thread only.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "lb/http/http_message.h"
#include "lb/io/net_util.h"

namespace lb {

// An answer lb gives itself (SPEC 7 and 10): its JSON error, an error page,
// a redirect or a fixed response.
struct LocalResponse {
  int status = 0;
  std::string_view body;
  std::string_view content_type;
  std::span<const http::Header> headers;  // Location, header rules, Set-Cookie…
  // The request body will not be read, so an HTTP/1.1 connection must end
  // after the answer; HTTP/2 just ends the stream.
  bool close_after = false;
  uint32_t retry_after_s = 0;  // Retry-After (a 503 without one says 1)
  // A HEAD request: Content-Length says the body's size, the body is not sent.
  bool head_only = false;
};

class ClientStream {
 public:
  // ---- response direction
  // A 1xx other than 101 (HTTP/1.1 passes it on; HTTP/2 may drop it).
  virtual void send_interim(const http::ResponseHead& head) = 0;
  // The final response head (or a 101 for an upgrade the exchange accepted).
  // May be held back and coalesced with the first body bytes.
  virtual void send_response_head(const http::ResponseHead& head) = 0;
  virtual void send_response_body(std::string_view data) = 0;
  // The response is complete (HTTP/1.1: last chunk; HTTP/2: END_STREAM).
  // `trailers` may be null.
  virtual void send_response_end(const http::Headers* trailers) = 0;
  // Everything from one upstream read was handed over: write what is held.
  virtual void flush_response() = 0;
  // lb's own answer, whole (head and body at once).
  virtual void send_local_response(const LocalResponse& response) = 0;
  // Part of the response reached the client and the rest cannot follow:
  // HTTP/1.1 closes the connection, HTTP/2 resets the stream.
  virtual void abort_response() = 0;
  // True while bytes wait towards the client: the exchange stops reading its
  // server until on_client_drained().
  virtual bool output_blocked() const = 0;

  // ---- request direction
  // The exchange can take request body bytes now (its server connection is
  // ready): deliver what is buffered and keep reading.
  virtual void want_request_body() = 0;
  // Stop / resume reading request body bytes (the server is slow to take them).
  virtual void pause_request_body() = 0;
  virtual void resume_request_body() = 0;
  // The request waits without a server (the pool's queue, SPEC 11): notice
  // the client going away meanwhile, so that it leaves the queue at once.
  // (HTTP/1.1 watches the socket for its end; HTTP/2 reads anyway.)
  virtual void watch_client() {}

  // ---- tunnel (after a 101)
  // The server accepted an upgrade: bytes flow raw both ways from now on.
  virtual void start_tunnel() = 0;
  virtual void send_tunnel_data(std::string_view data) = 0;
  virtual void end_tunnel() = 0;  // the server closed its side

  // ---- lifecycle
  // Request read and response sent: the exchange is over (the codec writes
  // nothing more for it, logs it and frees it).
  virtual void exchange_complete() = 0;
  // Deadlines of the exchange (connect, backoff, response). One at a time;
  // the codec calls Exchange::on_timeout when it passes.
  virtual void arm_exchange_timer(uint64_t ms) = 0;
  virtual void disarm_exchange_timer() = 0;
  // The connection is draining (stop, reload): no retries, no keep-alive.
  virtual bool stopping() const = 0;

  // ---- about the client
  virtual const PeerAddress& client_address() = 0;
  virtual std::string_view client_ip() = 0;
  virtual std::string_view client_cert_subject() const = 0;  // verified mTLS subject, or empty
  virtual std::string_view tls_version() const = 0;          // empty on cleartext
  virtual std::string_view tls_sni() const = 0;              // the client's SNI, or empty
  virtual std::string_view protocol_name() const = 0;        // "HTTP/1.1", "HTTP/2.0", … for the log
  virtual bool is_tls() const = 0;
  // Non-zero when the connection's client was over a per_client limit when
  // it connected (SPEC 11): the Retry-After its requests are answered 429 with.
  virtual uint32_t per_client_refusal() const = 0;

 protected:
  ~ClientStream() = default;
};

}  // namespace lb
