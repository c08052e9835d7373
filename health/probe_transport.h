// health/probe_transport.h — the seam between a health probe and its socket:
// an optional byte-transforming layer (lb/ plugs TLS in here for pools with
// backend TLS) that sits between the checker's uv stream and the probe's
// plaintext (the HTTP request out, the status line in). health/ knows nothing
// about what the layer does; it only moves bytes.
//
// Contract (what Checker::Probe does with one):
//   start            once, right after the TCP connect; bytes it appends to
//                    socket_out (e.g. a ClientHello) are written first.
//   on_socket_bytes  every read; the checker ALWAYS writes what was appended
//                    to socket_out (handshake replies, alerts — also on
//                    failure), hands plaintext_out to the probe, then acts on
//                    the status.
//   send             the probe's plaintext (the HTTP request); the transport
//                    may hold it until its handshake completes and emit it
//                    from a later on_socket_bytes.
//   ready            the handshake (if any) is complete. A tcp check over a
//                    transport passes only once ready() is true.
// Errors: `failed` (or start/send returning false) ends the probe with
//   "<name()>: <error()>", e.g. "tls: TLS protocol error: … (certificate has
//   expired)". A probe that times out or sees EOF before ready() reports
//   "<name()>: handshake timeout" / "<name()>: connection closed during
//   handshake".
// Threading and lifetime: one object per probe (made by the target's
//   TransportFactory when the probe starts, destroyed with it), used only on
//   the checker's loop thread. A factory is called on that thread too, but it
//   is copied with the CheckTarget, so what it captures must be safe to share.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace lb::health {

class ProbeTransport {
 public:
  enum class Status {
    ok,      // consumed; nothing notable (more bytes needed, or plaintext arrived)
    closed,  // the peer ended the session cleanly (e.g. TLS close_notify)
    failed,  // fatal: see error()
  };

  virtual ~ProbeTransport() = default;

  // Short layer name, the prefix of every error this layer causes ("tls").
  virtual std::string_view name() const = 0;

  // After the TCP connect. Appends bytes to write first to socket_out. False
  // on failure (error() says why).
  virtual bool start(std::string& socket_out) = 0;

  // `n` bytes read from the socket. Appends decrypted/decoded bytes to
  // plaintext_out (possibly with any status, also `closed`) and bytes to write
  // back to socket_out.
  virtual Status on_socket_bytes(const char* data, size_t n, std::string& plaintext_out,
                                 std::string& socket_out) = 0;

  // The probe's plaintext to send; appends the wire bytes to socket_out now,
  // or later from on_socket_bytes once ready. False on failure.
  virtual bool send(std::string_view plain, std::string& socket_out) = 0;

  // Handshake complete (true from start for a layer without one).
  virtual bool ready() const = 0;

  // Why the layer failed; meaningful after `failed` / false.
  virtual std::string_view error() const = 0;
};

// Makes the transport of one probe. An empty factory means plain TCP. A
// factory returning null fails the probe ("transport: unavailable").
using TransportFactory = std::function<std::unique_ptr<ProbeTransport>()>;

}  // namespace lb::health
