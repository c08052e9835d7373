// lb/http1/connection_proxy.cpp — the PROXY protocol header on http listeners
// (SPEC 11, proxy_protocol.accept): every connection must begin with a v1 or
// v2 header, read before TLS and before anything looks at the client
// address; its source address is the client from then on (access rules,
// rate limits, hashing, X-Forwarded-For, logs). A connection without a valid
// header is closed; a v2 LOCAL command (a health check from the proxy) keeps
// the socket's own address.
#include <cstring>

#include "lb/http1/connection.h"
#include "lb/io/log.h"
#include "lb/l4/proxy_protocol.h"

namespace lb {

void HttpConnection::handle_client_bytes(const char* data, size_t len) {
  if (awaiting_proxy_header_) {
    // Almost always the whole header is in the first read; only a split one
    // is copied.
    std::string_view input(data, len);
    if (!proxy_header_.empty()) {
      proxy_header_.append(data, len);
      input = proxy_header_;
    }
    auto r = proxy_protocol::parse(input.data(), input.size());
    if (r.status == proxy_protocol::ParseResult::Status::incomplete) {
      if (proxy_header_.empty()) proxy_header_.assign(data, len);
      return;
    }
    if (r.status == proxy_protocol::ParseResult::Status::invalid) {
      log_debug("missing or invalid PROXY header", {{"listener", listener().config->name},
                                                    {"client", format_address(client_address().get())}});
      close_session();
      return;
    }
    awaiting_proxy_header_ = false;
    if (r.has_addresses) {
      std::memcpy(&client_addr_, &r.src, sizeof client_addr_);
      have_client_addr_ = true;
      client_ip_.clear();
    }
    if (listener().per_client) check_per_client();
    std::string rest(input.substr(r.consumed));
    std::string().swap(proxy_header_);
    if (rest.empty()) return;
    handle_client_bytes(rest.data(), rest.size());
    return;
  }
  if (tls_) handle_client_ciphertext(data, len);
  else handle_client_data(data, len);
}

}  // namespace lb
