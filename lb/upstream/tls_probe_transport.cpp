// lb/upstream/tls_probe_transport.cpp — health::ProbeTransport over tls::Connection.
#include "lb/upstream/tls_probe_transport.h"

#include "tls/connection.h"

namespace lb {

TlsProbeTransport::TlsProbeTransport(std::shared_ptr<const tls::ClientContext> ctx, std::string host,
                                     std::string session_key)
    : ctx_(std::move(ctx)), host_(std::move(host)), session_key_(std::move(session_key)) {}

TlsProbeTransport::~TlsProbeTransport() = default;

// Moves the pending ciphertext out (no copy when socket_out is still empty).
void TlsProbeTransport::flush(std::string& socket_out) {
  if (conn_->pending_encrypted() == 0) return;
  if (socket_out.empty()) socket_out = conn_->take_encrypted();
  else socket_out += conn_->take_encrypted();
}

bool TlsProbeTransport::start(std::string& socket_out) {
  std::string err;
  conn_ = tls::Connection::client(ctx_, host_, session_key_, err);
  if (!conn_) {
    error_ = err.empty() ? "setup failed" : std::move(err);
    return false;
  }
  flush(socket_out);  // the ClientHello
  return true;
}

health::ProbeTransport::Status TlsProbeTransport::on_socket_bytes(const char* data, size_t n,
                                                                  std::string& plaintext_out,
                                                                  std::string& socket_out) {
  if (!conn_) {
    error_ = "not started";
    return Status::failed;
  }
  const tls::Connection::Status st = conn_->on_encrypted_input(data, n);
  flush(socket_out);  // handshake records, alerts: also on error
  const std::string_view plain = conn_->plaintext();
  plaintext_out.append(plain);
  conn_->consume_plaintext(plain.size());
  switch (st) {
    case tls::Connection::Status::error:
      error_ = conn_->error_reason().empty() ? "handshake failed" : std::string(conn_->error_reason());
      return Status::failed;
    case tls::Connection::Status::closed: return Status::closed;
    case tls::Connection::Status::ok:
    case tls::Connection::Status::handshake_done: break;
  }
  return Status::ok;
}

bool TlsProbeTransport::send(std::string_view plain, std::string& socket_out) {
  if (!conn_) {
    error_ = "not started";
    return false;
  }
  if (!conn_->write_plain(plain)) {
    error_ = conn_->failed() ? std::string(conn_->error_reason()) : "connection shut down";
    return false;
  }
  flush(socket_out);  // nothing yet while the handshake runs (queued until it completes)
  return true;
}

bool TlsProbeTransport::ready() const { return conn_ && conn_->handshake_done(); }

health::TransportFactory tls_probe_factory(std::shared_ptr<const tls::ClientContext> ctx, std::string host,
                                           std::string session_key) {
  return [ctx = std::move(ctx), host = std::move(host), key = std::move(session_key)] {
    return std::make_unique<TlsProbeTransport>(ctx, host, key);
  };
}

}  // namespace lb
