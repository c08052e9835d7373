// lb/http/trailers.h — a trailer section (fields after a chunked body, or an
// HTTP/2 trailing HEADERS), collected piece by piece as a parser reports it
// and handed on as http::Headers. Trailers are rare (gRPC status, digests),
// so this owns its bytes and costs nothing until a trailer arrives.
//
// Ownership: the Headers returned by fields() point into this object and stay
// valid until the next add/append/clear.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "lb/http/http_message.h"

namespace lb::http {

class TrailerFields {
 public:
  void clear() {
    bytes_.clear();
    spans_.clear();
    built_.fields.clear();
  }
  bool empty() const { return spans_.empty(); }
  size_t size_bytes() const { return bytes_.size(); }

  // A whole field (HTTP/2).
  void add(std::string_view name, std::string_view value) {
    begin_field();
    bytes_.append(name);
    spans_.back().name_len = static_cast<uint32_t>(name.size());
    spans_.back().value_off = static_cast<uint32_t>(bytes_.size());
    bytes_.append(value);
    spans_.back().value_len = static_cast<uint32_t>(value.size());
  }
  // Pieces of a field as llhttp reports them: name bytes (possibly in several
  // calls), then value bytes.
  void append_name(std::string_view piece) {
    if (spans_.empty() || spans_.back().value_off != 0) begin_field();
    bytes_.append(piece);
    spans_.back().name_len += static_cast<uint32_t>(piece.size());
  }
  void append_value(std::string_view piece) {
    if (spans_.empty()) return;
    Span& s = spans_.back();
    if (s.value_off == 0) s.value_off = static_cast<uint32_t>(bytes_.size());
    bytes_.append(piece);
    s.value_len += static_cast<uint32_t>(piece.size());
  }

  const Headers& fields() {
    built_.fields.clear();
    const std::string_view all(bytes_);
    for (const Span& s : spans_) {
      std::string_view value = s.value_off ? all.substr(s.value_off, s.value_len) : std::string_view();
      while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
      while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
      built_.fields.push_back({all.substr(s.name_off, s.name_len), value});
    }
    return built_;
  }

 private:
  struct Span {
    uint32_t name_off = 0, name_len = 0, value_off = 0, value_len = 0;
  };
  void begin_field() {
    Span s;
    s.name_off = static_cast<uint32_t>(bytes_.size());
    spans_.push_back(s);
  }

  std::string bytes_;
  std::vector<Span> spans_;
  Headers built_;
};

// Trailer fields that must not be forwarded: framing, routing and
// connection fields (RFC 9110 6.5.1), and HTTP/2 pseudo-headers.
inline bool forbidden_trailer(std::string_view name) {
  return name.empty() || name[0] == ':' || iequals(name, "content-length") || iequals(name, "transfer-encoding") ||
         iequals(name, "host") || iequals(name, "connection") || iequals(name, "keep-alive") ||
         iequals(name, "te") || iequals(name, "trailer") || iequals(name, "upgrade") ||
         iequals(name, "proxy-connection");
}

}  // namespace lb::http
