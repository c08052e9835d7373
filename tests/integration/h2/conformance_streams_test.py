#!/usr/bin/env python3
"""HTTP/2 conformance of lb's client side, stream level: RFC 9113 5.1 stream
states, 5.2/6.9 flow control, 5.3/6.3 priority, 4.3/6.2/6.10 HPACK, HEADERS
and CONTINUATION, and 8 HTTP semantics through lb to an HTTP/1.1 backend.
Preface, SETTINGS, frames, PING, GOAWAY and lb's connection management:
conformance_connection_test.py.

Run alone (from the repository root, after `make`; words after the file name
run only the cases whose id contains one, e.g. `FlowControl test_get`):
    LB_BIN=build/lb /usr/bin/python3 tests/integration/h2/conformance_streams_test.py
    H2_REFERENCE=haproxy /usr/bin/python3 tests/integration/h2/conformance_streams_test.py

What is asserted (what the RFC lets lb choose, which error codes are
required), lb's configuration and the shared shapes: conformance_base.py.
"""

import struct

from harness import *
from conformance_base import MAX_BODY, MCS, Conformance


# ---------------------------------------------------------------------------
# RFC 9113 5.1 stream states
# ---------------------------------------------------------------------------
class StreamStates(Conformance):
    def test_data_on_idle_stream(self):
        """5.1: DATA on an idle stream is a connection error PROTOCOL_ERROR."""
        self.conn_error(frame(DATA, F_END_STREAM, 1, b"hello"), (PROTOCOL_ERROR, STREAM_CLOSED),
                        "DATA on idle stream 1")

    def test_rst_stream_on_idle_stream(self):
        self.conn_error(frame(RST_STREAM, 0, 1, struct.pack(">I", CANCEL)), PROTOCOL_ERROR,
                        "RST_STREAM on idle stream 1")

    def test_window_update_on_idle_stream(self):
        self.conn_error(frame(WINDOW_UPDATE, 0, 1, struct.pack(">I", 100)), PROTOCOL_ERROR,
                        "WINDOW_UPDATE on idle stream 1")

    def test_even_stream_id_from_client(self):
        """5.1.1: a client-initiated stream must have an odd id."""
        c = self.raw()
        key = self.key()
        self.conn_error(c.headers_frame_bytes(2, c.encode(c.request_headers(path="/even/" + key))),
                        PROTOCOL_ERROR, "HEADERS on stream 2")
        self.assertFalse(self.backend.seen_path("/even/" + key))

    def test_decreasing_stream_id(self):
        """5.1.1: a new stream id lower than one already used is PROTOCOL_ERROR
        (STREAM_CLOSED is accepted too: 5.1 says opening stream 5 closed idle stream 3)."""
        c = self.raw()
        sid = c.request("GET", "/first", sid=5)
        c.wait_stream(sid)
        key = self.key()
        c.send_headers(3, c.request_headers(path="/lower/" + key))
        self.assert_conn_error(c, (PROTOCOL_ERROR, STREAM_CLOSED), "HEADERS on stream 3 after stream 5")
        self.assertFalse(self.backend.seen_path("/lower/" + key))

    def test_headers_on_closed_stream(self):
        """5.1: a new request on a finished stream's id is a connection error
        (PROTOCOL_ERROR per 5.1.1, or STREAM_CLOSED); it never reaches the backend."""
        c = self.raw()
        key = self.key()
        sid = c.request("GET", "/closed/" + key)
        c.wait_stream(sid)
        self.assertEqual(c.stream(sid).status, 200)
        c.send_headers(sid, c.request_headers(path="/closed/" + key))
        self.assert_conn_error(c, (PROTOCOL_ERROR, STREAM_CLOSED), "HEADERS on closed stream 1")
        self.assertEqual(len(self.backend.seen_path("/closed/" + key)), 1, "the second HEADERS reached the backend")

    def test_data_after_end_stream(self):
        """5.1 half-closed (remote): DATA after END_STREAM is STREAM_CLOSED."""
        self.held_stream_error(lambda sid: frame(DATA, 0, sid, b"late"), (STREAM_CLOSED,), "DATA after END_STREAM")

    def test_client_reset_cancels_the_backend_request(self):
        """6.4: after RST_STREAM(CANCEL) the connection goes on, and lb gives up
        the backend request (for HTTP/1.1: closes that backend connection)."""
        c = self.raw()
        key = self.key()
        sid = self.hold(c, key)
        rec = self.backend.seen_path("/hold/" + key)[0]
        c.rst(sid, CANCEL)
        self.assert_stream_ok(c)
        self.assertTrue(wait_until(lambda: rec.aborted, T(5)),
                        "lb kept the backend request of a cancelled stream open")
        self.assertFalse(c.goaways, c.frame_summary())

    def test_max_concurrent_streams(self):
        """5.1.2: HEADERS past the announced MAX_CONCURRENT_STREAMS get
        RST_STREAM(REFUSED_STREAM or PROTOCOL_ERROR) and never reach the backend;
        the streams within the limit complete."""
        c = self.raw()
        key = self.key()
        sids = [c.request("GET", "/hold/%s?i=%d" % (key, i)) for i in range(MCS)]
        self.assertEqual(len(self.backend.wait_path("/hold/" + key, MCS, T(10))), MCS,
                         "the %d allowed streams did not all reach the backend" % MCS)
        over = c.request("GET", "/over/" + key)
        c.wait_stream(over)
        if c.goaways:
            # RFC 9113 5.4.1: an endpoint may treat a stream error as a
            # connection error. nghttp2 (lb's framing library) does so once
            # the client acknowledged the limit; lb names it ENHANCE_YOUR_CALM.
            self.assertIn(c.connection_error(), (ENHANCE_YOUR_CALM, PROTOCOL_ERROR), c.frame_summary())
            self.assertIsNone(c.stream(over).status, c.stream(over).describe())
            self.backend.release(key)
            self.assertFalse(self.backend.seen_path("/over/" + key), "the refused stream reached the backend")
            return
        self.assertIn(c.stream(over).reset, (REFUSED_STREAM, PROTOCOL_ERROR),
                      "stream %d over the limit: %s" % (MCS + 1, c.stream(over).describe()))
        self.backend.release(key)
        self.assertTrue(c.wait(lambda: all(c.stream(s).ended for s in sids), T(15)),
                        "held streams did not complete: %s" % [c.stream(s).describe() for s in sids
                                                              if not c.stream(s).ended][:5])
        self.assertTrue(all(c.stream(s).status == 200 for s in sids))
        self.assertFalse(self.backend.seen_path("/over/" + key), "the refused stream reached the backend")

    def test_stream_id_zero_window_update_is_connection_level(self):
        """6.9: WINDOW_UPDATE on stream 0 applies to the connection (no error)."""
        c = self.raw()
        c.window_update(0, 1000)
        self.assert_stream_ok(c)


# ---------------------------------------------------------------------------
# RFC 9113 5.2 / 6.9 flow control
# ---------------------------------------------------------------------------
class FlowControl(Conformance):
    @lb_only
    def test_connection_receive_window_at_least_1mib(self):
        """SPEC 9: the connection-level receive window is at least 1 MiB (a
        WINDOW_UPDATE on stream 0 raises it from 65535 right away)."""
        c = self.raw()
        ok = c.wait(lambda: 65535 + c.conn_window_updates >= 1 << 20, T(5))
        self.assertTrue(ok, "connection window is %d after the handshake" % (65535 + c.conn_window_updates))

    def test_window_update_overflow_on_connection(self):
        """6.9.1: a connection window above 2^31-1 is FLOW_CONTROL_ERROR."""
        self.conn_error(frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", 0x7FFFFFFF)), FLOW_CONTROL_ERROR,
                        "WINDOW_UPDATE(0, 2^31-1)")

    def test_window_update_overflow_on_stream(self):
        """6.9.1: a stream window above 2^31-1 is a stream error FLOW_CONTROL_ERROR."""
        self.held_stream_error(lambda sid: frame(WINDOW_UPDATE, 0, sid, struct.pack(">I", 0x7FFFFFFF)),
                               (FLOW_CONTROL_ERROR,), "WINDOW_UPDATE(stream, 2^31-1)")

    def test_window_update_zero_on_connection(self):
        """6.9: a zero increment on stream 0 is PROTOCOL_ERROR."""
        self.conn_error(frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", 0)), PROTOCOL_ERROR, "WINDOW_UPDATE(0, 0)")

    def test_window_update_zero_on_stream(self):
        """6.9: a zero increment on a stream is a stream error PROTOCOL_ERROR."""
        self.held_stream_error(lambda sid: frame(WINDOW_UPDATE, 0, sid, struct.pack(">I", 0)), (PROTOCOL_ERROR,),
                               "WINDOW_UPDATE(stream, 0)")

    def test_window_update_wrong_length(self):
        """6.9: a WINDOW_UPDATE whose length is not 4 is FRAME_SIZE_ERROR."""
        self.conn_error(frame(WINDOW_UPDATE, 0, 0, b"\x00\x00\x01\x00\x00"), FRAME_SIZE_ERROR,
                        "WINDOW_UPDATE of 5 bytes")

    def test_small_client_window_is_respected(self):
        """5.2: with INITIAL_WINDOW_SIZE 100 the client gets 100 body bytes and
        no more until it sends WINDOW_UPDATE; then the rest."""
        c = self.raw(settings={S_INITIAL_WINDOW_SIZE: 100})
        c.auto_window = False
        sid = c.request("GET", "/bytes/1000")
        st = c.stream(sid)
        self.assertTrue(c.wait(lambda: len(st.data) >= 100, T(5)), st.describe())
        c.quiet(T(0.3))  # negative check: nothing beyond the window may come
        self.assertEqual(len(st.data), 100, "lb sent past the client's stream window")
        c.window_update(sid, 900)
        self.assertTrue(c.wait(lambda: st.ended, T(5)), st.describe())
        self.assertTrue(is_pattern(bytes(st.data)) and len(st.data) == 1000, st.describe())

    def test_initial_window_change_applies_to_open_streams(self):
        """6.9.2: raising INITIAL_WINDOW_SIZE by SETTINGS widens open streams' windows."""
        c = self.raw(settings={S_INITIAL_WINDOW_SIZE: 100})
        c.auto_window = False
        sid = c.request("GET", "/bytes/1000")
        st = c.stream(sid)
        self.assertTrue(c.wait(lambda: len(st.data) >= 100, T(5)), st.describe())
        c.send_settings({S_INITIAL_WINDOW_SIZE: 1000})
        self.assertTrue(c.wait(lambda: st.ended, T(5)), st.describe())
        self.assertEqual(len(st.data), 1000)

    def test_zero_initial_window_then_window_update(self):
        """6.9.2: INITIAL_WINDOW_SIZE 0: headers come, DATA waits for WINDOW_UPDATE."""
        c = self.raw(settings={S_INITIAL_WINDOW_SIZE: 0})
        c.auto_window = False
        sid = c.request("GET", "/bytes/300")
        st = c.stream(sid)
        self.assertTrue(c.wait_headers(sid), st.describe())
        self.assertEqual(st.status, 200)
        self.assertEqual(len(st.data), 0, "DATA beyond a zero window")
        c.window_update(sid, 300)
        self.assertTrue(c.wait(lambda: st.ended, T(5)), st.describe())
        self.assertEqual(len(st.data), 300)

    def test_large_response_body(self):
        """A response much larger than every window arrives whole (h2's state machine)."""
        for name in ("h2c", "h2tls"):
            r = self.client(name).request("GET", "/bytes/%d" % (8 << 20), timeout=T(30))
            self.assertEqual(r.status, 200, "%s: %r" % (name, r))
            self.assertTrue(len(r.body) == 8 << 20 and is_pattern(bytes(r.body)),
                            "%s: %d bytes, pattern ok=%s" % (name, len(r.body), is_pattern(bytes(r.body))))

    def test_large_request_body(self):
        """A request body larger than lb's windows: lb opens its windows as it forwards."""
        body = pattern(3 << 20, 5)
        r = self.client().request("POST", "/echo", body=body, timeout=T(30))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("x-body-sha256"), hashlib.sha256(body).hexdigest(), "the backend got another body")
        self.assertEqual(bytes(r.body), body)

    @lb_only
    def test_body_over_max_body_bytes(self):
        """SPEC 9: limits apply per stream: content-length over max_body_bytes → 413
        on that stream; the connection goes on."""
        c = self.raw()
        key = self.key()
        sid = c.request("POST", "/big/" + key, [("content-length", str(MAX_BODY + 1))], end_stream=False)
        c.send(c.data_frame_bytes(sid, b"x" * 1000))
        c.wait_headers(sid)
        self.assertEqual(c.stream(sid).status, 413, c.stream(sid).describe())
        self.assert_stream_ok(c)
        self.assertFalse(self.backend.completed(lambda r: r.path == "/big/" + key))


# ---------------------------------------------------------------------------
# RFC 9113 5.3 / 6.3 priority (deprecated, still parsed)
# ---------------------------------------------------------------------------
class Priority(Conformance):
    def test_priority_frames_are_accepted(self):
        """5.3.2: PRIORITY frames (idle, open and closed streams) are accepted and ignored."""
        c = self.raw()
        key = self.key()
        sid = self.hold(c, key)
        c.priority(101, depends_on=0, weight=200)
        c.priority(sid, depends_on=101, weight=1, exclusive=True)
        self.assert_stream_ok(c)
        c.priority(3, depends_on=sid)  # stream 3 is closed by now
        self.backend.release(key)
        c.wait_stream(sid)
        self.assertEqual(c.stream(sid).status, 200)
        self.assert_stream_ok(c)
        self.assertFalse(c.goaways, c.frame_summary())

    def test_priority_self_dependency(self):
        """5.3.1: a stream depending on itself is PROTOCOL_ERROR (stream or connection)."""
        self.held_stream_error(lambda sid: frame(PRIORITY, 0, sid, struct.pack(">IB", sid, 15)), (PROTOCOL_ERROR,),
                               "PRIORITY depending on itself")

    def test_headers_self_dependency(self):
        """5.3.1: HEADERS whose priority names its own stream is PROTOCOL_ERROR; never forwarded."""
        c = self.raw()
        key = self.key()
        sid = c.new_sid()
        c.send(c.headers_frame_bytes(sid, c.encode(c.request_headers(path="/self/" + key)), priority=(sid, 16, False)))
        self.stream_or_conn_error(c, sid, (PROTOCOL_ERROR,), "HEADERS depending on itself")
        self.assertFalse(self.backend.seen_path("/self/" + key))

    def test_priority_wrong_length(self):
        """6.3: a PRIORITY of length other than 5 is FRAME_SIZE_ERROR."""
        self.held_stream_error(lambda sid: frame(PRIORITY, 0, sid, b"\x00\x00\x00\x00"), (FRAME_SIZE_ERROR,),
                               "PRIORITY of 4 bytes")

    def test_priority_on_stream_zero(self):
        self.conn_error(frame(PRIORITY, 0, 0, struct.pack(">IB", 1, 15)), PROTOCOL_ERROR, "PRIORITY on stream 0")


# ---------------------------------------------------------------------------
# RFC 9113 4.3 HPACK, 6.2/6.10 HEADERS and CONTINUATION
# ---------------------------------------------------------------------------
class HeaderBlocks(Conformance):
    def test_large_header_across_continuation_frames(self):
        """6.10: a header block split over HEADERS + CONTINUATION frames is reassembled."""
        c = self.raw()
        key = self.key()
        big = "v" * 12000
        sid = c.new_sid()
        c.send_block(sid, c.encode(c.request_headers(path="/big/" + key, extra=[("x-big", big)]), huffman=False),
                     pieces=4)
        c.wait_stream(sid)
        self.assertEqual(c.stream(sid).status, 200, c.stream(sid).describe())
        recs = self.backend.seen_path("/big/" + key)
        self.assertTrue(recs and recs[0].header("x-big") == big, "x-big did not arrive intact: %r" % recs)

    def test_continuation_without_headers(self):
        """6.10: a CONTINUATION not preceded by HEADERS is PROTOCOL_ERROR."""
        c = self.raw()
        self.conn_error(frame(CONTINUATION, F_END_HEADERS, 1, c.encode(c.request_headers())), PROTOCOL_ERROR,
                        "CONTINUATION without HEADERS")

    def test_other_frame_inside_header_block(self):
        """6.10/4.3: any frame between HEADERS and its CONTINUATION is PROTOCOL_ERROR."""
        c = self.raw()
        block = c.encode(c.request_headers(path="/interleaved"))
        c.send(c.headers_frame_bytes(1, block[:5], end_headers=False) + frame(PING, 0, 0, b"12345678") +
               frame(CONTINUATION, F_END_HEADERS, 1, block[5:]))
        self.assert_conn_error(c, (PROTOCOL_ERROR,), "PING inside a header block")

    def test_continuation_on_another_stream(self):
        c = self.raw()
        block = c.encode(c.request_headers(path="/otherstream"))
        c.send(c.headers_frame_bytes(1, block[:5], end_headers=False) + frame(CONTINUATION, F_END_HEADERS, 3, block[5:]))
        self.assert_conn_error(c, (PROTOCOL_ERROR,), "CONTINUATION for stream 3 inside stream 1's block")

    def test_hpack_invalid_index(self):
        """4.3: a field block that cannot be decoded is COMPRESSION_ERROR."""
        c = self.raw()
        c.send(c.headers_frame_bytes(1, b"\x82\xff\x49"))  # :method GET, then index 200 (nonexistent)
        self.assert_conn_error(c, (COMPRESSION_ERROR,), "HPACK index 200")

    def test_hpack_table_size_update_over_settings(self):
        """HPACK 6.3: a dynamic table size update above SETTINGS_HEADER_TABLE_SIZE is COMPRESSION_ERROR."""
        c = self.raw()
        limit = c.settings.get(S_HEADER_TABLE_SIZE, 4096)
        update = hpack_int(limit + 4096, 5, 0x20)  # dynamic table size update
        c.send(c.headers_frame_bytes(1, update + c.encode(c.request_headers())))
        self.assert_conn_error(c, (COMPRESSION_ERROR,), "table size update to %d (limit %d)" % (limit + 4096, limit))

    def test_hpack_dynamic_table_across_requests(self):
        """HPACK: fields indexed in the dynamic table by one request decode in the next ones."""
        c = self.raw()
        key = self.key()
        for i in range(4):
            sid = c.request("GET", "/dyn/%s/%d" % (key, i), [("x-token", "tok-" + key), ("x-i", str(i))])
            c.wait_stream(sid)
            self.assertEqual(c.stream(sid).status, 200)
        recs = self.backend.seen_path("/dyn/" + key)
        self.assertEqual([(r.header("x-token"), r.header("x-i")) for r in recs],
                         [("tok-" + key, str(i)) for i in range(4)])

    def test_response_headers_are_valid_http2(self):
        """8.2: lb's response fields are lower-case and carry no connection-specific
        fields (the backend answered with Transfer-Encoding: chunked)."""
        c = self.raw()
        sid = c.request("GET", "/chunked/40000")
        c.wait_stream(sid)
        st = c.stream(sid)
        names = [k for k, _ in st.headers]
        self.assertEqual(st.status, 200, st.describe())
        self.assertTrue(all(n == n.lower() for n in names), names)
        for bad in (b"connection", b"keep-alive", b"transfer-encoding", b"upgrade", b"proxy-connection"):
            self.assertNotIn(bad, names, "connection-specific field in an h2 response")
        self.assertTrue(is_pattern(bytes(st.data)) and len(st.data) == 40000, st.describe())
        self.assertIsNone(c.hpack_error)


# ---------------------------------------------------------------------------
# RFC 9113 8: HTTP semantics through lb to an HTTP/1.1 backend
# ---------------------------------------------------------------------------
class Semantics(Conformance):
    def test_get(self):
        """8.3.1: :authority becomes Host, the request reaches the backend as HTTP/1.1."""
        for name in ("h2c", "h2tls"):
            key = self.key()
            c = self.client(name)
            r = c.request("GET", "/get/%s?x=1&y=%%41" % key)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(bytes(r.body), ("ok GET /get/%s?x=1&y=%%41\n" % key).encode())
            rec = self.backend.seen_path("/get/" + key)[0]
            self.assertEqual((rec.method, rec.version), ("GET", "HTTP/1.1"))
            self.assertEqual(rec.header("host"), "localhost:%d" % self.lb.port(name))
            self.assertFalse([k for k, _ in rec.headers if k.startswith(":")], "pseudo-headers forwarded: %r" % rec)

    def test_post_with_content_length(self):
        body = b"0123456789" * 1000
        key = self.key()
        r = self.client().request("POST", "/echo", [("content-length", str(len(body))), ("x-key", key)], body=body)
        self.assertEqual((r.status, bytes(r.body)), (200, body), r)
        rec = self.backend.seen_header("x-key", key)[0]
        self.assertEqual((rec.method, rec.body), ("POST", body))

    def test_post_without_content_length(self):
        """8.1: a body without content-length (DATA until END_STREAM) reaches the backend whole."""
        c = self.raw()
        key = self.key()
        sid = c.request("POST", "/echo", [("x-key", key)], end_stream=False)
        c.send_data(sid, b"part1-", end_stream=False)
        c.send_data(sid, b"part2-", end_stream=False)
        c.send_data(sid, b"part3", end_stream=True)
        c.wait_stream(sid)
        self.assertEqual((c.stream(sid).status, bytes(c.stream(sid).data)), (200, b"part1-part2-part3"))
        self.assertEqual(self.backend.seen_header("x-key", key)[0].body, b"part1-part2-part3")

    def test_head(self):
        """8.1: a HEAD response has no DATA; END_STREAM comes on HEADERS or an empty DATA."""
        c = self.raw()
        sid = c.request("HEAD", "/bytes/5000")
        c.wait_stream(sid)
        st = c.stream(sid)
        self.assertEqual((st.status, len(st.data), st.ended), (200, 0, True), st.describe())
        self.assertEqual(st.header("content-length"), "5000")

    def test_status_codes_pass_through(self):
        c = self.client()
        r = c.request("GET", "/status/404")
        self.assertEqual((r.status, bytes(r.body)), (404, b"status 404\n"))
        r = c.request("GET", "/status/204")
        self.assertEqual((r.status, bytes(r.body)), (204, b""))
        r = c.request("DELETE", "/status/503")
        self.assertEqual(r.status, 503)

    def test_response_is_streamed(self):
        """The first body bytes reach the client while the backend still holds the rest."""
        c = self.raw()
        key = self.key()
        sid = c.request("GET", "/hold/%s?head=1&size=100000&first=1000" % key)
        st = c.stream(sid)
        self.assertTrue(c.wait(lambda: len(st.data) >= 1000, T(5)), "first chunk not streamed: " + st.describe())
        self.assertFalse(st.ended)
        self.backend.release(key)
        self.assertTrue(c.wait(lambda: st.ended, T(5)), st.describe())
        self.assertEqual(len(st.data), 100000)
        self.assertTrue(is_pattern(bytes(st.data)))

    def test_concurrent_streams_on_one_connection(self):
        """5: many streams in flight at once, answers matched to their streams."""
        c = self.raw()
        key = self.key()
        sids = {c.request("GET", "/bytes/%d?k=%s" % (1000 + i, key)): 1000 + i for i in range(30)}
        self.assertTrue(c.wait(lambda: all(c.stream(s).ended for s in sids), T(10)))
        for s, n in sids.items():
            self.assertEqual((c.stream(s).status, len(c.stream(s).data)), (200, n))

    def test_cookie_crumbs_are_joined(self):
        """8.2.3: several cookie fields are joined with '; ' for HTTP/1.1."""
        c = self.raw()
        key = self.key()
        sid = c.request("GET", "/cookie/" + key, [("cookie", "a=1"), ("cookie", "b=2"), ("cookie", "c=3")])
        c.wait_stream(sid)
        rec = self.backend.seen_path("/cookie/" + key)[0]
        self.assertEqual(rec.headers_named("cookie"), ["a=1; b=2; c=3"], rec)

    @lb_only
    def test_lb_error_answer_is_json_and_ends_only_the_stream(self):
        """SPEC 9: lb's own answers keep their JSON bodies; only the stream ends."""
        c = self.raw()
        sid = c.request("GET", "/dead/x")
        c.wait_stream(sid, T(10))
        st = c.stream(sid)
        self.assertIn(st.status, (502, 503), st.describe())
        self.assertEqual((st.header("content-type") or "").split(";")[0], "application/json")
        self.assertIn(b'"error"', bytes(st.data))
        self.assert_stream_ok(c)

    @lb_only
    def test_forwarded_headers(self):
        """X-Forwarded-Proto names the client's scheme; X-Forwarded-For its address."""
        for name, proto in (("h2c", "http"), ("h2tls", "https")):
            key = self.key()
            self.client(name).request("GET", "/fwd/" + key)
            rec = self.backend.seen_path("/fwd/" + key)[0]
            self.assertEqual(rec.header("x-forwarded-proto"), proto, rec)
            self.assertEqual((rec.header("x-forwarded-for") or "").split(",")[-1].strip(), "127.0.0.1", rec)


if __name__ == "__main__":
    main()
