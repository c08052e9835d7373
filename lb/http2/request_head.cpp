// lb/http2/request_head.cpp — HTTP/2 header fields → http::RequestHead (see
// request_head.h for the rules and what nghttp2 checks before us).
#include "lb/http2/request_head.h"

#include <charconv>

#include "lb/http/http_syntax.h"
#include "lb/http/websocket.h"

namespace lb::http2 {

std::optional<llhttp_method_t> method_id(std::string_view name) {
#define LB_H2_METHOD(num, id, text) \
  if (name == #text) return static_cast<llhttp_method_t>(num);
  HTTP_METHOD_MAP(LB_H2_METHOD)
#undef LB_H2_METHOD
  return std::nullopt;
}

// What the access line of a refused request shows (views taken now: valid
// until the next append, and none follows a refusal).
int RequestHeadBuilder::refuse(int status, const char* why, std::string_view& reason) {
  if (have_method_) {
    if (auto id = method_id(view(method_))) partial_.method = llhttp_method_name(*id);
  }
  if (have_path_) partial_.path = partial_.target = partial_.origin_target = view(path_);
  reason = why;
  return status;
}

RequestHeadBuilder::Span RequestHeadBuilder::keep(std::string_view s) {
  Span span{static_cast<uint32_t>(storage_.size()), static_cast<uint32_t>(s.size())};
  storage_.append(s);
  return span;
}

void RequestHeadBuilder::add(std::string_view name, std::string_view value) {
  list_size_ += name.size() + value.size() + 32;
  if (list_size_ > limits_.max_header_bytes) return;  // refused at build(); keep nothing more
  if (!name.empty() && name[0] == ':') {
    // nghttp2 has refused unknown, duplicated and misplaced pseudo-headers.
    if (name == ":method") method_ = keep(value), have_method_ = true;
    else if (name == ":scheme") scheme_ = keep(value);
    else if (name == ":authority") authority_ = keep(value), have_authority_ = true;
    else if (name == ":path") path_ = keep(value), have_path_ = true;
    else if (name == ":protocol") protocol_ = keep(value), have_protocol_ = true;
    return;
  }
  if (limits_.max_headers != 0 && ++regular_count_ > limits_.max_headers) return;
  Field f;
  f.name = keep(name);
  f.value = keep(value);
  fields_.push_back(f);
}

int RequestHeadBuilder::build(bool end_stream, http::RequestHead& head, std::string_view& reason) {
  if (list_size_ > limits_.max_header_bytes) return refuse(431, "request header too large", reason);
  if (limits_.max_headers != 0 && regular_count_ > limits_.max_headers) return refuse(431, "too many headers", reason);
  if (!have_method_) return refuse(400, "missing :method", reason);
  auto id = method_id(view(method_));
  if (!id) return refuse(400, "unknown method", reason);
  const bool websocket = *id == HTTP_CONNECT && have_protocol_;
  if (*id == HTTP_CONNECT && !websocket) return refuse(400, "CONNECT not supported", reason);
  if (websocket && view(protocol_) != "websocket") return refuse(400, "unsupported :protocol", reason);
  if (!have_path_ || view(path_).empty()) return refuse(400, "missing :path", reason);
  if (view(path_)[0] != '/' && !(view(path_) == "*" && *id == HTTP_OPTIONS)) return refuse(400, "invalid :path", reason);
  // What the HTTP/1.1 request-target may hold (RFC 3986 visible ASCII, no
  // fragment): nghttp2 lets '#' through, and a server's parser (lb's own
  // among them) would refuse or cut what lb routed on.
  for (char ch : view(path_)) {
    const unsigned char c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c >= 0x7f || c == '#') return refuse(400, "invalid :path", reason);
  }

  // Host: :authority, or the Host field; both present must agree.
  std::optional<Span> host_field;
  size_t cookies = 0;
  for (const Field& f : fields_) {
    if (view(f.name) == "host") {
      if (host_field) return refuse(400, "duplicate host", reason);
      host_field = f.value;
    } else if (view(f.name) == "cookie") {
      ++cookies;
    }
  }
  if (have_authority_ && host_field && view(*host_field) != view(authority_))
    return refuse(400, ":authority and host disagree", reason);
  if (!have_authority_ && !host_field) return refuse(400, "missing :authority", reason);
  // The Host lb forwards: uri-host [":" port] as on HTTP/1.1. nghttp2 lets
  // userinfo ("a@b", RFC 9113 8.3.1 forbids it) through.
  if (!http::detail::is_valid_host(have_authority_ ? view(authority_) : view(*host_field)))
    return refuse(400, have_authority_ ? "invalid :authority" : "invalid host", reason);

  // RFC 9113 8.2.3: cookie crumbs are joined with "; " for HTTP/1.1.
  std::optional<Span> joined_cookie;
  if (cookies > 1) {
    std::string joined;
    for (const Field& f : fields_) {
      if (view(f.name) != "cookie") continue;
      if (!joined.empty()) joined += "; ";
      joined += view(f.value);
    }
    joined_cookie = keep(joined);
  }
  std::optional<Span> ws_key, ws_upgrade_name;
  if (websocket) {
    // The server speaks RFC 6455: it needs a key whose accept value lb checks.
    const std::string key = websocket_new_key();
    if (key.empty()) return refuse(400, "no randomness for the WebSocket key", reason);
    ws_key = keep(key);
    ws_upgrade_name = keep("websocket");
  }
  // No more appends: views into storage_ are stable from here (none may be
  // taken before this line).
  const std::string_view path = view(path_);

  head = http::RequestHead{};
  head.method_id = websocket ? HTTP_GET : *id;
  head.method = llhttp_method_name(head.method_id);
  head.target = head.origin_target = path;
  const size_t q = path.find('?');
  head.path = path.substr(0, q);
  head.query = q == std::string_view::npos ? std::string_view() : path.substr(q + 1);
  head.http_major = 2;
  head.http_minor = 0;
  head.host = have_authority_ ? view(authority_) : view(*host_field);
  head.keep_alive = true;
  bool cookie_written = false;
  head.headers.fields.reserve(fields_.size() + 2);
  for (const Field& f : fields_) {
    const std::string_view name = view(f.name), value = view(f.value);
    if (name == "cookie" && joined_cookie) {
      if (!cookie_written) head.headers.fields.push_back({name, view(*joined_cookie)});
      cookie_written = true;
      continue;
    }
    if (name == "content-length") {
      uint64_t n = 0;
      auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
      if (ec != std::errc() || p != value.data() + value.size()) return refuse(400, "invalid content-length", reason);
      head.content_length = n;
    } else if (name == "expect" && http::iequals(value, "100-continue")) {
      head.expect_continue = true;
    }
    head.headers.fields.push_back({name, value});
  }
  if (websocket) {
    head.headers.fields.push_back({"sec-websocket-key", view(*ws_key)});
    head.upgrade = true;
    head.upgrade_protocol = view(*ws_upgrade_name);
    head.content_length.reset();
  } else {
    // A body of unknown length goes to the HTTP/1.1 server chunked.
    head.has_body = !end_stream && (!head.content_length || *head.content_length > 0);
    head.chunked = !end_stream && !head.content_length;
    if (end_stream && head.content_length && *head.content_length > 0)
      return refuse(400, "content-length without a body", reason);
    if (limits_.max_body_bytes != 0 && head.content_length && *head.content_length > limits_.max_body_bytes)
      return refuse(413, "request body too large", reason);
  }
  return 0;
}

}  // namespace lb::http2
