// lb/http2/request_head.h — turns the header fields of one HTTP/2 request
// (pseudo-headers and regular fields, as nghttp2 decoded them) into the
// http::RequestHead the exchange works with, and enforces what SPEC 9 adds
// on top of nghttp2's own HTTP messaging checks (which already refuse
// upper-case names, CR/LF/NUL, connection-specific fields, TE other than
// "trailers", misplaced, duplicated or unknown pseudo-headers): the header
// list size and count limits (→ 431), :path shape, :authority vs Host, known
// methods, and RFC 8441 extended CONNECT, which becomes an HTTP/1.1
// WebSocket upgrade for the server.
//
// Ownership: the builder owns the bytes every view of the built head points
// into; the head stays valid as long as the builder (one per stream).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "lb/http/http_message.h"

namespace lb::http2 {

class RequestHeadBuilder {
 public:
  explicit RequestHeadBuilder(const http::Limits& limits) : limits_(limits) {}

  // One decoded field (pseudo-headers included), in arrival order. Past the
  // limits fields are counted but no longer kept.
  void add(std::string_view name, std::string_view value);

  // The block is complete. On success returns 0 and fills `head`; otherwise
  // the status lb answers with (400, 431) and a static reason. `end_stream`:
  // the HEADERS frame ended the stream (no body follows).
  int build(bool end_stream, http::RequestHead& head, std::string_view& reason);

  // What is known of a refused request, for its access line (method, path).
  const http::RequestHead& partial() const { return partial_; }

  // The bytes the views of a built head point into (besides static strings):
  // for tests that check the views' ownership.
  std::string_view storage() const { return storage_; }

 private:
  struct Span {
    uint32_t offset = 0, length = 0;
  };
  struct Field {
    Span name, value;
  };
  Span keep(std::string_view s);
  std::string_view view(Span s) const { return std::string_view(storage_).substr(s.offset, s.length); }
  int refuse(int status, const char* why, std::string_view& reason);

  http::Limits limits_;
  std::string storage_;
  std::vector<Field> fields_;  // regular fields
  Span method_, scheme_, authority_, path_, protocol_;
  bool have_method_ = false, have_path_ = false, have_authority_ = false, have_protocol_ = false;
  uint64_t list_size_ = 0;  // RFC 9113 6.5.2: name + value + 32 per field
  uint32_t regular_count_ = 0;
  http::RequestHead partial_;
};

// llhttp's id for an HTTP method name, or nullopt for one llhttp does not know.
std::optional<llhttp_method_t> method_id(std::string_view name);

}  // namespace lb::http2
