// tests/fuzz/http_reset_seeds.h — the seed set of the HTTP reset campaign
// (http_reset_fuzz.cpp): client byte streams aimed at bench/backend.cpp's
// routes through lb, and the tokens mutations splice in. Host is always
// present so unmutated seeds are valid HTTP/1.1.
#pragma once

#include <string_view>

namespace fuzz {

using namespace std::string_view_literals;

inline constexpr std::string_view kSeeds[] = {
    // Plain requests and bodies.
    "GET / HTTP/1.1\r\nHost: f\r\n\r\n",
    "GET /bytes/200000 HTTP/1.1\r\nHost: f\r\n\r\n",
    "GET /chunked/70000 HTTP/1.1\r\nHost: f\r\n\r\n",
    "GET /close/50000 HTTP/1.1\r\nHost: f\r\n\r\n",
    "GET /delay/5 HTTP/1.1\r\nHost: f\r\n\r\n",
    "GET /status/204 HTTP/1.1\r\nHost: f\r\n\r\nGET /status/304 HTTP/1.1\r\nHost: f\r\n\r\n",
    "GET /status/503 HTTP/1.1\r\nHost: f\r\n\r\n",
    "GET /drop HTTP/1.1\r\nHost: f\r\n\r\n",
    "POST /echo HTTP/1.1\r\nHost: f\r\nContent-Length: 11\r\n\r\nhello world",
    "POST /echo HTTP/1.1\r\nHost: f\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;x=y\r\n world\r\n0\r\nT: 1\r\n\r\n",
    "PUT /echo HTTP/1.1\r\nHost: f\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\nbody",
    "GET /echo HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.0\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: f\r\nX-Close: 1\r\n\r\n",
    // Pipelined pairs, HEAD before a second request (pooled server connection
    // answering HEAD, then a reset while the second request waits).
    "GET /a HTTP/1.1\r\nHost: f\r\n\r\nGET /b HTTP/1.1\r\nHost: f\r\n\r\n",
    "HEAD / HTTP/1.1\r\nHost: f\r\n\r\nGET / HTTP/1.1\r\nHost: f\r\n\r\n",
    "HEAD /bytes/5000 HTTP/1.1\r\nHost: f\r\n\r\nHEAD /chunked/100 HTTP/1.1\r\nHost: f\r\n\r\nGET /bytes/10 HTTP/1.1\r\nHost: f\r\n\r\n",
    "HEAD /delay/3 HTTP/1.1\r\nHost: f\r\n\r\nPOST /echo HTTP/1.1\r\nHost: f\r\nContent-Length: 3\r\n\r\nabc",
    "POST /echo HTTP/1.1\r\nHost: f\r\nContent-Length: 3\r\n\r\nabcGET /bytes/100000 HTTP/1.1\r\nHost: f\r\n\r\n",
    // WebSocket upgrade: the backend answers 101 and echoes bytes.
    "GET /ws HTTP/1.1\r\nHost: f\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    "GET /ws HTTP/1.1\r\nHost: f\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==\r\nSec-WebSocket-Version: 13\r\n\r\n\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58",
    "GET /ws HTTP/1.1\r\nHost: f\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
    // Smuggling shapes lb must refuse (400) without confusing its state.
    "POST / HTTP/1.1\r\nHost: f\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /x HTTP/1.1\r\nHost: f\r\n\r\n",
    "POST / HTTP/1.1\r\nHost: f\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n",
    "POST / HTTP/1.1\r\nHost: f\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
    "GET / HTTP/1.1\nHost: f\n\nGET / HTTP/1.1\r\nHost: f\r\n\r\n",
    "POST / HTTP/1.1\r\nHost: f\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n",
    "POST /echo HTTP/1.1\r\nHost: f\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: f\r\nHost: g\r\n\r\n",
};

// Spliced in by insertions.
inline constexpr std::string_view kTokens[] = {
    "\r\n", "\r\n\r\n", "\n", "\r", " ", "\t", ":", "\0"sv, "0\r\n\r\n", "Content-Length: 5\r\n",
    "Transfer-Encoding: chunked\r\n", "Connection: close\r\n", "Connection: Upgrade\r\n",
    "Upgrade: websocket\r\n", "Expect: 100-continue\r\n", "HEAD / HTTP/1.1\r\nHost: f\r\n\r\n",
    "GET /ws HTTP/1.1\r\nHost: f\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
    "ffffffff\r\n", "HTTP/1.0", "HTTP/1.1", "Host: f\r\n",
};

}  // namespace fuzz
