#!/usr/bin/env python3
"""Trailers across the HTTP/2 ↔ HTTP/1.1 translation (RFC 9113 8.1, RFC 9112 7.1.2).

Run alone (from the repository root, after `make`):
    LB_BIN=build/lb /usr/bin/python3 tests/integration/h2/trailers_test.py
    H2_REFERENCE=haproxy /usr/bin/python3 tests/integration/h2/trailers_test.py

SPEC 9 is silent on trailers, so the suite expects what gRPC needs and what
HAProxy and Envoy do:
  - request trailers (a trailing HEADERS with END_STREAM after the DATA)
    reach the HTTP/1.1 server as chunked trailers after the body;
  - response trailers of a chunked HTTP/1.1 response reach the HTTP/2 client
    as a trailing HEADERS frame with END_STREAM;
  - a chunked response without trailers ends with END_STREAM on DATA and no
    extra HEADERS;
  - malformed trailers (a pseudo-header in them, or a trailer HEADERS without
    END_STREAM: RFC 9113 8.1) end the stream with RST_STREAM(PROTOCOL_ERROR)
    or 400, and the server never gets a complete request.
"""

from harness import *


class Trailers(H2TestCase):
    def post_with_trailers(self, c, path, body, trailers, extra=()):
        sid = c.request("POST", path, list(extra), end_stream=False)
        if body:
            c.send_data(sid, body, end_stream=False)
        c.send_headers(sid, trailers, end_stream=True)
        return sid

    def test_request_trailers_reach_the_server(self):
        """Request trailers become HTTP/1.1 chunked trailers; the body is intact."""
        for name in ("h2c", "h2tls"):
            c = self.raw(name)
            key = self.key()
            body = pattern(50000)
            sid = self.post_with_trailers(c, "/echo?k=" + key, body, [("x-checksum", "abc123"), ("x-count", "2")])
            c.wait_stream(sid)
            self.assertEqual(c.stream(sid).status, 200, "%s: %s" % (name, c.stream(sid).describe()))
            recs = self.backend.completed(lambda r: r.target == "/echo?k=" + key)
            self.assertEqual(len(recs), 1, recs)
            rec = recs[0]
            self.assertEqual(rec.body, body)
            got = {k.lower(): v for k, v in rec.trailers}
            self.assertEqual(got, {"x-checksum": "abc123", "x-count": "2"}, "%s: trailers at the server: %r" % (name, rec))

    def test_request_trailers_without_body(self):
        """HEADERS, then trailers with END_STREAM and no DATA in between."""
        c = self.raw()
        key = self.key()
        sid = self.post_with_trailers(c, "/echo?k=" + key, b"", [("x-only", "trailer")])
        c.wait_stream(sid)
        self.assertEqual(c.stream(sid).status, 200, c.stream(sid).describe())
        rec = self.backend.completed(lambda r: r.target == "/echo?k=" + key)[0]
        self.assertEqual((rec.body, [(k.lower(), v) for k, v in rec.trailers]), (b"", [("x-only", "trailer")]), rec)

    def test_request_with_content_length_and_trailers(self):
        """content-length and trailers together: the request still arrives whole
        (the trailers may be dropped: HTTP/1.1 carries trailers only when chunked)."""
        c = self.raw()
        key = self.key()
        body = b"0123456789" * 10
        sid = self.post_with_trailers(c, "/echo?k=" + key, body, [("x-t", "1")],
                                      extra=[("content-length", str(len(body)))])
        c.wait_stream(sid)
        st = c.stream(sid)
        self.assertEqual((st.status, bytes(st.data)), (200, body), st.describe())

    @reference_differs("haproxy 2.6 resets with INTERNAL_ERROR")
    def test_pseudo_header_in_request_trailers(self):
        """8.1: trailers must not carry pseudo-headers: the request is malformed."""
        c = self.raw()
        key = self.key()
        sid = self.post_with_trailers(c, "/echo?k=" + key, b"abc", [(":path", "/evil"), ("x-t", "1")])
        self.assert_stream_refused(c, sid, "a pseudo-header in request trailers")
        self.assertFalse(self.backend.completed(lambda r: r.target == "/echo?k=" + key),
                         "the malformed request completed at the server")
        self.assert_stream_ok(c)

    @reference_differs("haproxy 2.6 makes it a connection error (GOAWAY PROTOCOL_ERROR)")
    def test_trailers_without_end_stream(self):
        """8.1: a second HEADERS without END_STREAM makes the request malformed."""
        c = self.raw()
        key = self.key()
        sid = c.request("POST", "/echo?k=" + key, end_stream=False)
        c.send_data(sid, b"abc", end_stream=False)
        c.send_headers(sid, [("x-t", "1")], end_stream=False)
        self.assert_stream_refused(c, sid, "trailers without END_STREAM")
        self.assertFalse(self.backend.completed(lambda r: r.target == "/echo?k=" + key))
        self.assert_stream_ok(c)

    def test_response_trailers_reach_the_client(self):
        """A chunked response's trailers come as a trailing HEADERS with END_STREAM."""
        c = self.raw()
        sid = c.request("GET", "/chunked/30000?trailers=x-t:1;grpc-status:0;grpc-message:fine", [("te", "trailers")])
        c.wait_stream(sid)
        st = c.stream(sid)
        self.assertEqual((st.status, len(st.data)), (200, 30000), st.describe())
        self.assertTrue(is_pattern(bytes(st.data)))
        self.assertEqual(len(st.blocks), 2, "expected a response head and trailers: %s" % c.frame_summary())
        self.assertEqual(sorted(st.blocks[1]), sorted([(b"x-t", b"1"), (b"grpc-status", b"0"),
                                                        (b"grpc-message", b"fine")]))
        last = [f for f in c.frames if f.stream_id == sid][-1]
        self.assertEqual((last.type, "END_STREAM" in last.flags), (HEADERS, True),
                         "the trailers must end the stream: %s" % c.frame_summary())

    def test_response_trailers_with_h2_state_machine(self):
        """The same over TLS, checked by h2's client (trailers validated by h2)."""
        r = self.client("h2tls").request("GET", "/chunked/5000?trailers=x-sum:42", [("te", "trailers")])
        self.assertEqual((r.status, len(r.body), r.trailers), (200, 5000, [("x-sum", "42")]), r)

    def test_chunked_response_without_trailers(self):
        """No trailers: one header block, END_STREAM on DATA, no Transfer-Encoding."""
        c = self.raw()
        sid = c.request("GET", "/chunked/70000")
        c.wait_stream(sid)
        st = c.stream(sid)
        self.assertEqual((st.status, len(st.data), len(st.blocks)), (200, 70000, 1), c.frame_summary())
        self.assertIsNone(st.header("transfer-encoding"))
        last = [f for f in c.frames if f.stream_id == sid][-1]
        self.assertEqual((last.type, "END_STREAM" in last.flags), (DATA, True), c.frame_summary())

    def test_grpc_shaped_exchange(self):
        """A gRPC-like POST (content-type application/grpc, te: trailers, trailers
        back with grpc-status) passes both ways."""
        frame_ = b"\x00" + struct.pack(">I", 5) + b"hello"
        r = self.client("h2tls").request(
            "POST", "/chunked/7?trailers=grpc-status:0",
            [("content-type", "application/grpc"), ("te", "trailers")], body=frame_)
        self.assertEqual((r.status, r.trailers), (200, [("grpc-status", "0")]), r)
        rec = self.backend.completed(lambda r: r.target == "/chunked/7?trailers=grpc-status:0")[-1]
        self.assertEqual((rec.body, rec.header("content-type")), (frame_, "application/grpc"))


if __name__ == "__main__":
    main()
