// lb/upstream/tls_probe_transport.h — health probes over TLS for pools with backend
// TLS: a health::ProbeTransport on top of tls::Connection (the memory-BIO
// adapter), so health/ stays free of OpenSSL and tls/. The probe verifies the
// backend exactly as the data path does (same ClientContext: CA, verify, SNI)
// and shares its session cache, keyed by the server's address text.
//
// Threading: made and used on the health checker's loop (main thread). The
// factory only captures a shared_ptr<const ClientContext> and two strings, so
// copies of it may live in any CheckTarget.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "health/probe_transport.h"

namespace lb {

namespace tls { class ClientContext; class Connection; }

class TlsProbeTransport final : public health::ProbeTransport {
 public:
  // `host`: the server address's host (SNI / certificate check unless the
  // context's sni overrides it); `session_key`: resumption key ("" = none).
  TlsProbeTransport(std::shared_ptr<const tls::ClientContext> ctx, std::string host, std::string session_key);
  ~TlsProbeTransport() override;

  std::string_view name() const override { return "tls"; }
  bool start(std::string& socket_out) override;
  Status on_socket_bytes(const char* data, size_t n, std::string& plaintext_out, std::string& socket_out) override;
  bool send(std::string_view plain, std::string& socket_out) override;
  bool ready() const override;
  std::string_view error() const override { return error_; }

 private:
  void flush(std::string& socket_out);

  std::shared_ptr<const tls::ClientContext> ctx_;
  std::string host_;
  std::string session_key_;
  std::unique_ptr<tls::Connection> conn_;  // made by start()
  std::string error_;
};

// A factory for health::CheckTarget::transport: one TlsProbeTransport per probe.
health::TransportFactory tls_probe_factory(std::shared_ptr<const tls::ClientContext> ctx, std::string host,
                                           std::string session_key);

}  // namespace lb
