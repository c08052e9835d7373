// lb/http1/connection_http2.cpp — placeholder for the HTTP/2 hand-over.
#include "lb/http1/connection.h"
#include "lb/http2/session.h"

namespace lb {
bool HttpConnection::wants_http2(const char*, size_t) { return false; }
void HttpConnection::start_http2(const char*, size_t) {}
}  // namespace lb
