// tls/connection.h — one TLS connection as a pure bytes-in/bytes-out state
// machine between a socket (driven by lb/ with libuv) and the session code.
// No sockets, no libuv, no timers here: the caller moves ciphertext between
// the socket and this object, and plaintext between this object and its
// protocol handler.
//
// Contract (what an lb/ session does):
//   create     server(ctx) on accept, or client(ctx, host, key) after the TCP
//              connect; a client queues its ClientHello immediately.
//   on read    st = on_encrypted_input(buf, nread); then ALWAYS
//                - flush encrypted output to the socket (handshake records,
//                  session tickets, KeyUpdate replies, alerts — even on error),
//                - hand plaintext() to the protocol and consume_plaintext()
//                  what it took (plaintext may arrive with any status, also
//                  with `closed`: deliver it before closing),
//              then act on st: handshake_done → stop the handshake timer,
//              read alpn()/sni()/peer_subject(); closed → peer sent
//              close_notify; error → log error_reason(), flush, close.
//   on write   write_plain(data, len) (false once failed or shut down), then
//              flush encrypted output. Plaintext written before the
//              handshake completes is queued and sent once it does.
//   on close   shutdown() queues close_notify; flush it, then close the
//              socket. Skip it after an error (there is nothing clean to say).
//   flush      pending_encrypted() > 0 → take_encrypted() (moves the bytes out
//              with no copy: give that string to uv_write and free it in the
//              write callback), or encrypted_output() + consume_encrypted(n)
//              to copy into your own buffers.
//   socket EOF without close_notify: just close (a truncation the protocol
//              layer detects by its own framing).
// Backpressure is the caller's: a 1 MiB write_plain() yields ~1 MiB of
// ciphertext at once; stop reading the other side while pending_encrypted()
// (plus what is in flight in uv_write) is above your bound.
//
// Memory: no buffer is kept while idle — every internal buffer is freed once
// drained, and contexts set SSL_MODE_RELEASE_BUFFERS so OpenSSL's record
// buffers are released too. Input is decrypted straight from the caller's
// buffer (no copy of ciphertext in), via a custom BIO.
//
// Errors: every OpenSSL call is preceded by ERR_clear_error() and followed by
// SSL_get_error(); a failure is sticky (error status, error_reason() text)
// and never throws or aborts, whatever bytes the peer sends.
//
// Threading: a Connection belongs to one thread (its worker loop); it is
// neither copyable nor movable (OpenSSL holds a pointer to it). It keeps its
// ServerContext/ClientContext alive.
#pragma once

#include <openssl/ssl.h>

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "tls/byte_buffer.h"
#include "tls/client_context.h"
#include "tls/openssl_util.h"
#include "tls/server_context.h"

namespace lb::tls {

class Connection {
 public:
  enum class Status {
    ok,              // consumed; nothing notable (need more bytes, or plaintext arrived)
    handshake_done,  // the handshake completed during this call (reported once; when the
                     // same bytes also carried close_notify or a fatal error, that status
                     // wins — handshake_done() still tells)
    closed,          // the peer sent close_notify (reported once; further input is ignored)
    error,           // fatal: see error_reason(); sticky
  };

  // Server side of an accepted connection. Null (and `error`) only when
  // OpenSSL cannot allocate.
  static std::unique_ptr<Connection> server(std::shared_ptr<const ServerContext> ctx, std::string& error);

  // Client side towards a backend. `host` is the server address's host (the
  // context's configured sni overrides it, see ClientContext::server_name);
  // `session_key` (e.g. the backend's "ip:port") enables session resumption
  // through the context's cache; empty = no resumption. The ClientHello is
  // pending in encrypted output on return.
  static std::unique_ptr<Connection> client(std::shared_ptr<const ClientContext> ctx, std::string_view host,
                                            std::string session_key, std::string& error);

  struct Private {};  // server()/client() are the only way in
  explicit Connection(Private) {}
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Ciphertext read from the socket. Drives the handshake, then decrypts
  // everything available into plaintext(). See the contract above.
  Status on_encrypted_input(const char* data, size_t len);
  Status on_encrypted_input(std::string_view data) { return on_encrypted_input(data.data(), data.size()); }

  // Decrypted bytes not yet consumed by the caller.
  std::string_view plaintext() const { return plain_in_.view(); }
  void consume_plaintext(size_t n) { plain_in_.consume(n); }

  // Encrypts `len` bytes (queued until the handshake is done). False when the
  // connection failed or shutdown() was called; the bytes are then dropped.
  bool write_plain(const char* data, size_t len);
  bool write_plain(std::string_view data) { return write_plain(data.data(), data.size()); }

  // Ciphertext to write to the socket.
  size_t pending_encrypted() const { return cipher_out_.size(); }
  std::string_view encrypted_output() const { return cipher_out_; }
  void consume_encrypted(size_t n);
  std::string take_encrypted();  // all of it, by move; leaves nothing behind

  // Queues close_notify (after any plaintext still queued). Idempotent; after
  // it write_plain() refuses. Input is still accepted (the peer's close_notify
  // or last bytes). Before the handshake completes, or after an error, nothing
  // is queued.
  void shutdown();

  bool is_server() const { return is_server_; }
  bool handshake_done() const { return handshake_done_; }
  bool peer_closed() const { return peer_closed_; }  // close_notify received
  bool shutdown_sent() const { return shutdown_sent_; }
  bool failed() const { return failed_; }
  std::string_view error_reason() const { return error_; }
  // Plaintext accepted by write_plain() but not yet encrypted (pre-handshake).
  size_t pending_plain_output() const { return plain_out_.size(); }
  // Bytes of buffer memory this object holds right now (capacities, not
  // OpenSSL's own state). Near zero for an idle, drained connection.
  size_t buffer_capacity() const {
    return plain_in_.capacity() + plain_out_.capacity() + leftover_in_.capacity() + cipher_out_.capacity();
  }

  // Negotiated details; empty until the handshake is done (sni(): the name
  // the client asked for / sent; may be empty).
  std::string_view alpn() const;
  std::string_view sni() const;
  std::string_view version() const;  // "TLSv1.2", "TLSv1.3"
  bool session_reused() const;
  // The peer certificate's subject in RFC 2253 form ("CN=client,O=acme") when
  // the peer presented one AND it was verified (client_ca on a listener,
  // verify on a pool); "" otherwise.
  std::string peer_subject() const;
  // A new reference to the current session (client side: what a later
  // connection could resume); null before the handshake.
  SessionPtr session() const;

  // Escape hatch for logging or tests; do not drive I/O through it.
  SSL* native_handle() const { return ssl_.get(); }

 private:
  struct BioGlue;
  static std::unique_ptr<Connection> make(SSL_CTX* ctx, std::string& error);

  Status drive();
  bool flush_plain_out();
  Status fail(int ssl_error);

  std::shared_ptr<const ServerContext> server_ctx_;
  std::shared_ptr<const ClientContext> client_ctx_;
  std::string session_key_;  // ClientContext's session callback reads it through SSL ex_data

  ByteBuffer plain_in_;      // decrypted, waiting for the caller
  ByteBuffer plain_out_;     // written by the caller, not yet accepted by SSL_write
  ByteBuffer leftover_in_;   // ciphertext OpenSSL did not consume (should stay empty)
  std::string cipher_out_;   // ciphertext for the socket (the BIO appends here)
  const char* in_ptr_ = nullptr;  // ciphertext being fed during on_encrypted_input
  size_t in_len_ = 0;

  std::string error_;
  bool is_server_ = false;
  bool handshake_done_ = false;
  bool peer_closed_ = false;
  bool shutdown_sent_ = false;
  bool failed_ = false;

  SslPtr ssl_;  // last: freed first, while everything it points at is alive
};

}  // namespace lb::tls
