// lb/http2/transport.h — what the HTTP/2 codec needs from the client
// connection it runs on (lb/http1/connection.h implements it): writing bytes
// (encrypted when TLS), knowing whether writes are queued, the connection's
// one deadline timer, closing, and facts about the client.
//
// Ownership: the connection owns the http2::Session and outlives it.
#pragma once

#include <uv.h>

#include <cstdint>
#include <string_view>

#include "lb/io/net_util.h"

namespace lb::http2 {

class Transport {
 public:
  virtual void write_bytes(const uv_buf_t* bufs, size_t n) = 0;
  virtual bool write_queued() const = 0;
  // Deadline for Session::on_timer, in ms from now (the latest call wins).
  virtual void arm_deadline(uint64_t ms) = 0;
  // Closes once what was written has left (a GOAWAY must reach the client).
  virtual void close_after_flush() = 0;
  virtual void close_now() = 0;
  virtual const PeerAddress& peer_address() = 0;
  virtual std::string_view peer_ip() = 0;
  virtual std::string_view peer_cert_subject() const = 0;
  virtual std::string_view negotiated_tls_version() const = 0;
  virtual std::string_view negotiated_tls_sni() const = 0;
  virtual bool over_tls() const = 0;
  virtual uint32_t per_client_refusal() const = 0;  // see ClientStream

 protected:
  ~Transport() = default;
};

}  // namespace lb::http2
