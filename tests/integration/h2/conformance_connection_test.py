#!/usr/bin/env python3
"""HTTP/2 conformance of lb's client side, connection level: RFC 9113 3.4
preface and 6.5 SETTINGS, 4 frame size, unknown types and flags and padding,
6.7 PING, 5.4/6.4/6.8/7 RST_STREAM, GOAWAY and error codes, and lb's own
connection management from SPEC section 9 (access log, max_requests_per_connection,
client_idle, reload, SIGTERM). Stream states, flow control, priority, header
blocks and HTTP semantics: conformance_streams_test.py.

Run alone (from the repository root, after `make`; words after the file name
run only the cases whose id contains one, e.g. `Settings test_ping`):
    LB_BIN=build/lb /usr/bin/python3 tests/integration/h2/conformance_connection_test.py
    H2_REFERENCE=haproxy /usr/bin/python3 tests/integration/h2/conformance_connection_test.py

What is asserted (what the RFC lets lb choose, which error codes are
required), lb's configuration and the shared shapes: conformance_base.py.
"""

import signal
import struct
import time

from harness import *
from conformance_base import IDLE, IWS, MAXREQ, MCS, Conformance


# ---------------------------------------------------------------------------
# RFC 9113 3.4 connection preface, 6.5 SETTINGS
# ---------------------------------------------------------------------------
class PrefaceAndSettings(Conformance):
    def test_server_preface_is_a_settings_frame(self):
        """3.4: the server's preface is a SETTINGS frame, its first frame."""
        c = self.raw(handshake=False)
        c.preface()
        self.assertTrue(c.wait(lambda: c.frames, T(5)), "no frame from lb after the preface")
        f = c.frames[0]
        self.assertEqual((f.type, "ACK" in f.flags), (SETTINGS, False),
                         "first frame should be a non-ACK SETTINGS: %s" % c.frame_summary())

    def test_settings_values_of_configured_listener(self):
        """lb's SETTINGS carry the configured MAX_CONCURRENT_STREAMS and INITIAL_WINDOW_SIZE,
        HEADER_TABLE_SIZE <= 4096 (or absent), ENABLE_CONNECT_PROTOCOL = 1 (RFC 8441)."""
        c = self.raw()
        s = c.settings_frames[0]
        self.assertEqual(s.get(S_MAX_CONCURRENT_STREAMS), MCS, "MAX_CONCURRENT_STREAMS in %s" % s)
        self.assertEqual(s.get(S_INITIAL_WINDOW_SIZE), IWS, "INITIAL_WINDOW_SIZE in %s" % s)
        self.assertLessEqual(s.get(S_HEADER_TABLE_SIZE, 4096), 4096, "HEADER_TABLE_SIZE in %s" % s)
        self.assertEqual(s.get(S_ENABLE_CONNECT_PROTOCOL), 1, "ENABLE_CONNECT_PROTOCOL in %s" % s)
        self.assertIn(s.get(S_ENABLE_PUSH, 0), (0,), "a server must not announce ENABLE_PUSH=1: %s" % s)
        self.assertGreaterEqual(s.get(S_MAX_FRAME_SIZE, 16384), 16384, "MAX_FRAME_SIZE in %s" % s)

    @lb_only
    def test_settings_defaults_on_tls_listener(self):
        """A TLS listener without an http2 block offers h2 by ALPN with SPEC 9's defaults."""
        c = self.raw("h2tls")
        self.assertEqual(c.alpn, "h2")
        s = c.settings_frames[0]
        self.assertEqual(s.get(S_MAX_CONCURRENT_STREAMS), 100, "MAX_CONCURRENT_STREAMS in %s" % s)
        self.assertEqual(s.get(S_INITIAL_WINDOW_SIZE, 65535), 65535, "INITIAL_WINDOW_SIZE in %s" % s)
        self.assertEqual(s.get(S_ENABLE_CONNECT_PROTOCOL), 1, "ENABLE_CONNECT_PROTOCOL in %s" % s)

    def test_settings_are_acknowledged(self):
        """6.5.3: every SETTINGS frame is acknowledged."""
        c = self.raw()
        c.send_settings({S_MAX_HEADER_LIST_SIZE: 1 << 16})
        c.send_settings({})
        self.assertTrue(c.wait(lambda: c.settings_acks >= 3, T(5)),
                        "expected 3 SETTINGS ACKs, saw %d" % c.settings_acks)

    def test_bad_preface_over_tls(self):
        """3.4: an invalid preface on an h2 connection (ALPN h2) is a connection
        error PROTOCOL_ERROR: lb closes it, with GOAWAY(PROTOCOL_ERROR) if any."""
        got, how = raw_exchange(self.lb.port("h2tls"), b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", tls=True)
        self.assertIn(how, ("eof", "reset"), "lb did not close the connection (got %r)" % got[:200])
        frames, _ = parse_frames(got)
        codes = [f.error_code for f in frames if f.type == GOAWAY]
        self.assertTrue(all(code == PROTOCOL_ERROR for code in codes), "GOAWAY codes %s" % codes)
        self.assertFalse(got.startswith(b"HTTP/1"), "an HTTP/1 answer on an h2 connection: %r" % got[:200])

    def test_bad_preface_on_cleartext_listener(self):
        """A preface that starts like HTTP/2's and then differs: closed, with
        GOAWAY(PROTOCOL_ERROR) or an HTTP/1.1 error answer, never served."""
        key = self.key()
        got, how = raw_exchange(self.lb.port("h2c"), b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n" +
                                frame(SETTINGS, 0, 0) + b"GET /%s HTTP/1.1\r\n\r\n" % key.encode())
        self.assertIn(how, ("eof", "reset"), "lb did not close the connection (got %r)" % got[:200])
        if got.startswith(b"HTTP/1."):
            self.assertRegex(got[:12], rb"HTTP/1\.[01] [45]\d\d", "an HTTP/1 answer that is not an error")
        else:
            frames, _ = parse_frames(got)
            codes = [f.error_code for f in frames if f.type == GOAWAY]
            self.assertTrue(all(code == PROTOCOL_ERROR for code in codes), "GOAWAY codes %s" % codes)
        self.assertFalse(self.backend.seen_path("/" + key), "the bytes after a bad preface reached the backend")

    def test_first_frame_not_settings(self):
        """3.4: the client preface must be followed by SETTINGS: a PING first is PROTOCOL_ERROR."""
        self.conn_error(PREFACE + frame(PING, 0, 0, b"12345678"), (PROTOCOL_ERROR, None),
                        "PING instead of SETTINGS after the preface", handshake=False)

    def test_settings_ack_with_payload(self):
        """6.5: a SETTINGS ACK with a payload is FRAME_SIZE_ERROR."""
        self.conn_error(frame(SETTINGS, F_ACK, 0, settings_payload({S_ENABLE_PUSH: 0})), FRAME_SIZE_ERROR,
                        "SETTINGS ACK with payload")

    def test_settings_length_not_multiple_of_six(self):
        """6.5: a SETTINGS length that is not a multiple of 6 is FRAME_SIZE_ERROR."""
        self.conn_error(frame(SETTINGS, 0, 0, b"\x00\x03\x00\x00\x00\x64\x00"), FRAME_SIZE_ERROR,
                        "SETTINGS of 7 bytes")

    def test_settings_on_a_stream(self):
        """6.5: SETTINGS on a stream other than 0 is PROTOCOL_ERROR."""
        self.conn_error(frame(SETTINGS, 0, 1, settings_payload({S_ENABLE_PUSH: 0})), PROTOCOL_ERROR,
                        "SETTINGS on stream 1")

    def test_settings_enable_push_2(self):
        """6.5.2: ENABLE_PUSH other than 0 or 1 is PROTOCOL_ERROR."""
        self.conn_error(frame(SETTINGS, 0, 0, settings_payload({S_ENABLE_PUSH: 2})), PROTOCOL_ERROR,
                        "ENABLE_PUSH=2")

    def test_settings_initial_window_size_too_large(self):
        """6.5.2: INITIAL_WINDOW_SIZE above 2^31-1 is FLOW_CONTROL_ERROR."""
        self.conn_error(frame(SETTINGS, 0, 0, settings_payload({S_INITIAL_WINDOW_SIZE: 1 << 31})),
                        FLOW_CONTROL_ERROR, "INITIAL_WINDOW_SIZE=2^31")

    def test_settings_max_frame_size_too_small(self):
        """6.5.2: MAX_FRAME_SIZE below 16384 is PROTOCOL_ERROR."""
        self.conn_error(frame(SETTINGS, 0, 0, settings_payload({S_MAX_FRAME_SIZE: 16383})), PROTOCOL_ERROR,
                        "MAX_FRAME_SIZE=16383")

    def test_settings_max_frame_size_too_large(self):
        """6.5.2: MAX_FRAME_SIZE above 2^24-1 is PROTOCOL_ERROR."""
        self.conn_error(frame(SETTINGS, 0, 0, settings_payload({S_MAX_FRAME_SIZE: 1 << 24})), PROTOCOL_ERROR,
                        "MAX_FRAME_SIZE=2^24")

    def test_unknown_setting_is_ignored(self):
        """6.5.2: an unknown SETTINGS identifier is ignored."""
        c = self.raw(settings={0x4242: 7, 0xFF: 1})
        self.assert_stream_ok(c)


# ---------------------------------------------------------------------------
# RFC 9113 4 frames: size, unknown types and flags, padding
# ---------------------------------------------------------------------------
class Frames(Conformance):
    def test_data_frame_over_max_frame_size(self):
        """4.2: a frame over SETTINGS_MAX_FRAME_SIZE (16384) is FRAME_SIZE_ERROR
        (a stream error is allowed for DATA)."""
        c = self.raw()
        sid = c.request("POST", "/echo", body=None, end_stream=False)
        c.send(frame(DATA, F_END_STREAM, sid, b"x" * 16385))
        self.stream_or_conn_error(c, sid, (FRAME_SIZE_ERROR,), "DATA of 16385 bytes")

    def test_headers_frame_over_max_frame_size(self):
        """4.2: an oversized frame carrying a field block is a connection error FRAME_SIZE_ERROR."""
        c = self.raw()
        block = c.encode(c.request_headers(extra=[("x-pad", "p" * 17000)]), huffman=False)
        c.send(frame(HEADERS, F_END_STREAM | F_END_HEADERS, c.new_sid(), block))
        self.assert_conn_error(c, (FRAME_SIZE_ERROR,), "HEADERS of %d bytes" % len(block))
        self.assert_closed(c, "oversized HEADERS")

    def test_unknown_frame_types_are_ignored(self):
        """4.1/5.5: frames of unknown types are ignored, on stream 0 and on an open
        stream (one whose request body is still coming: in half-closed streams
        RFC 9113 5.1 and 4.1 disagree, so that state is not tested)."""
        c = self.raw()
        c.send(frame(0x42, 0xFF, 0, b"whatever"))
        sid = c.request("POST", "/echo", end_stream=False)
        c.send(frame(0xFA, 0, sid, b"x" * 100))
        c.send_data(sid, b"body after an unknown frame", end_stream=True)
        c.wait_stream(sid)
        st = c.stream(sid)
        self.assertEqual((st.status, bytes(st.data)), (200, b"body after an unknown frame"),
                         "%s; frames %s" % (st.describe(), c.frame_summary()))
        self.assert_stream_ok(c)

    def test_unknown_flags_are_ignored(self):
        """4.1: flags without a meaning for the frame type are ignored."""
        c = self.raw()
        sid = c.new_sid()
        block = c.encode(c.request_headers(path="/flags/" + self.key()))
        c.send(frame(HEADERS, F_END_STREAM | F_END_HEADERS | 0x10 | 0x40 | 0x80, sid, block))
        c.wait_stream(sid)
        self.assertEqual(c.stream(sid).status, 200, c.stream(sid).describe())

    def test_reserved_bit_of_stream_id_is_ignored(self):
        """4.1: the reserved bit of the stream identifier is ignored on receipt."""
        c = self.raw()
        block = c.encode(c.request_headers(path="/rbit/" + self.key()))
        c.send(frame(HEADERS, F_END_STREAM | F_END_HEADERS, 0x80000001, block))
        c.next_sid = 3
        c.wait_stream(1)
        self.assertEqual(c.stream(1).status, 200, "%s; frames %s" % (c.stream(1).describe(), c.frame_summary()))

    @reference_differs("haproxy 2.6 answers GOAWAY(PROTOCOL_ERROR) to DATA with a non-zero pad length")
    def test_padded_data_and_headers(self):
        """6.1/6.2: padding and the PRIORITY flag are stripped; the body arrives intact."""
        c = self.raw()
        sid = c.new_sid()
        body = b"padded body " * 100
        block = c.encode(c.request_headers("POST", "/echo", [("content-length", str(len(body)))]))
        c.send(c.headers_frame_bytes(sid, block, end_stream=False, pad=17, priority=(0, 32, False)))
        c.send(c.data_frame_bytes(sid, body[:500], pad=0) + c.data_frame_bytes(sid, body[500:], True, pad=200))
        c.wait_stream(sid)
        st = c.stream(sid)
        self.assertEqual((st.status, bytes(st.data)), (200, body), st.describe())

    def test_padding_longer_than_payload(self):
        """6.1: a pad length >= the payload length is a connection error PROTOCOL_ERROR."""
        c = self.raw()
        sid = c.request("POST", "/echo", body=None, end_stream=False)
        c.send(frame(DATA, F_PADDED | F_END_STREAM, sid, bytes([20]) + b"abc"))
        self.assert_conn_error(c, (PROTOCOL_ERROR,), "DATA with pad length 20 in 4 bytes")

    def test_headers_on_stream_zero(self):
        """6.2: HEADERS on stream 0 is PROTOCOL_ERROR."""
        c = self.raw()
        self.conn_error(c.headers_frame_bytes(0, c.encode(c.request_headers())), PROTOCOL_ERROR,
                        "HEADERS on stream 0")


# ---------------------------------------------------------------------------
# RFC 9113 6.7 PING
# ---------------------------------------------------------------------------
class Ping(Conformance):
    def test_ping_is_acknowledged_with_same_payload(self):
        c = self.raw()
        c.ping(b"lb-ping1")
        self.assertTrue(c.wait(lambda: c.ping_acks, T(5)), "no PING ACK")
        self.assertEqual(c.ping_acks, [b"lb-ping1"])

    def test_ping_ack_is_not_answered(self):
        """6.7: a PING with ACK is never answered."""
        c = self.raw()
        c.ping(b"unsolici", ack=True)
        c.ping(b"realping")
        self.assertTrue(c.wait(lambda: c.ping_acks, T(5)), "no PING ACK")
        self.assertEqual(c.ping_acks, [b"realping"], "lb answered a PING ACK")

    def test_ping_wrong_length(self):
        """6.7: a PING whose length is not 8 is FRAME_SIZE_ERROR."""
        self.conn_error(frame(PING, 0, 0, b"1234567"), FRAME_SIZE_ERROR, "PING of 7 bytes")

    def test_ping_on_a_stream(self):
        """6.7: a PING on a stream is PROTOCOL_ERROR."""
        self.conn_error(frame(PING, 0, 1, b"12345678"), PROTOCOL_ERROR, "PING on stream 1")


# ---------------------------------------------------------------------------
# RFC 9113 5.4, 6.4 RST_STREAM, 6.8 GOAWAY, 7 error codes
# ---------------------------------------------------------------------------
class ErrorsAndGoaway(Conformance):
    def test_client_goaway_lets_inflight_stream_finish(self):
        """6.8: after the client's GOAWAY, streams already open still complete."""
        c = self.raw()
        key = self.key()
        sid = self.hold(c, key)
        c.goaway(0, NO_ERROR)
        self.backend.release(key)
        c.wait_stream(sid)
        st = c.stream(sid)
        self.assertEqual((st.status, st.ended), (200, True), st.describe())
        self.assertTrue(all(g[1] == NO_ERROR for g in c.goaways), c.frame_summary())

    def test_goaway_on_a_stream(self):
        """6.8: GOAWAY on a stream other than 0 is PROTOCOL_ERROR."""
        self.conn_error(frame(GOAWAY, 0, 1, struct.pack(">II", 0, 0)), PROTOCOL_ERROR, "GOAWAY on stream 1")

    def test_unknown_error_code_has_no_special_meaning(self):
        """7: an unknown error code in RST_STREAM is treated like any reset."""
        c = self.raw()
        key = self.key()
        sid = self.hold(c, key)
        c.rst(sid, 0xDEAD)
        self.assert_stream_ok(c)
        self.assertFalse(c.goaways, c.frame_summary())
        self.backend.release(key)

    def test_rst_stream_wrong_length(self):
        """6.4: an RST_STREAM of length other than 4 is FRAME_SIZE_ERROR."""
        c = self.raw()
        key = self.key()
        sid = self.hold(c, key)
        c.send(frame(RST_STREAM, 0, sid, b"\x00\x00\x00\x08\x00"))
        self.assert_conn_error(c, (FRAME_SIZE_ERROR,), "RST_STREAM of 5 bytes")
        self.backend.release(key)

    def test_rst_stream_on_stream_zero(self):
        self.conn_error(frame(RST_STREAM, 0, 0, struct.pack(">I", CANCEL)), PROTOCOL_ERROR, "RST_STREAM on stream 0")


# ---------------------------------------------------------------------------
# lb's connection management (SPEC 9): access log, limits, idle, reload, stop
# ---------------------------------------------------------------------------
class ConnectionManagement(Conformance):
    @lb_only
    def test_access_log_line_of_a_stream(self):
        """SPEC 8: one access line per stream with protocol "HTTP/2", the TLS version, bytes."""
        key = self.key()
        r = self.client("h2tls").request("GET", "/logged/%s?q=1" % key, [("user-agent", "h2-suite")])
        self.assertEqual(r.status, 200)
        lines = self.access_lines(lambda l: l.get("path") == "/logged/" + key)
        self.assertEqual(len(lines), 1, "access lines for the stream: %s" % lines)
        l = lines[0]
        self.assertEqual(l.get("protocol"), "HTTP/2", l)
        self.assertEqual((l.get("method"), l.get("status"), l.get("query"), l.get("listener")),
                         ("GET", 200, "q=1", "h2tls"), l)
        self.assertEqual((l.get("tls") or "").startswith("TLSv1."), True, l)
        self.assertEqual(l.get("user_agent"), "h2-suite", l)
        self.assertGreater(l.get("bytes_in", 0), 0, l)
        self.assertGreater(l.get("bytes_out", 0), 0, l)

    @lb_only
    def test_a_complete_stream_keeps_its_server_connection(self):
        """A response whose last frame goes out at once, with the client's
        END_STREAM already in, ends the stream inside the exchange's own
        completion: the exchange still completes normally — the server
        connection goes back to the pool for the next request and the access
        line does not say "aborted" (found by the HTTP/2 frame campaign)."""
        key = self.key()
        c = self.client("h2c")
        for i in range(3):
            self.assertEqual(c.request("GET", "/ka/%s/%d" % (key, i)).status, 200)
        recs = [self.backend.seen_path("/ka/%s/%d" % (key, i))[0] for i in range(3)]
        self.assertEqual(len({r.conn_id for r in recs}), 1,
                         "one server connection for three sequential requests: %s" % [r.conn_id for r in recs])
        lines = self.access_lines(lambda l: (l.get("path") or "").startswith("/ka/%s/" % key), count=3)
        self.assertEqual([l.get("aborted") for l in lines], [False] * 3, lines)

    @lb_only
    def test_max_requests_per_connection(self):
        """SPEC 9: GOAWAY goes out when the N-th stream opens, naming it as the
        last stream; that stream still completes; later streams are not served."""
        c = self.raw("h2c-maxreq")
        key = self.key()
        for i in range(MAXREQ - 1):
            sid = c.request("GET", "/mr/%s/%d" % (key, i))
            c.wait_stream(sid)
            self.assertEqual(c.stream(sid).status, 200)
            self.assertFalse(c.goaways, "GOAWAY before the %d-th stream: %s" % (MAXREQ, c.frame_summary()))
        last = c.request("GET", "/hold/" + key)
        self.assertTrue(c.wait_goaway(), "no GOAWAY once stream %d opened: %s" % (last, c.frame_summary()))
        self.assertEqual(c.goaways[-1][:2], (last, NO_ERROR), "GOAWAY %s" % (c.goaways,))
        self.backend.release(key)
        c.wait_stream(last)
        self.assertEqual((c.stream(last).status, c.stream(last).ended), (200, True), c.stream(last).describe())
        extra = c.request("GET", "/mr-extra/" + key)
        c.wait(lambda: c.stream(extra).reset is not None or c.closed, T(3))
        self.assertIsNone(c.stream(extra).status, "a stream after GOAWAY was served")
        self.assertFalse(self.backend.seen_path("/mr-extra/" + key))
        self.assert_closed(c, "connection after its last stream")

    def idle_connection(self):
        """A connection to h2c-idle whose one stream just finished: (conn, the time it became idle)."""
        c = self.raw("h2c-idle")
        sid = c.request("GET", "/idle/" + self.key())
        c.wait_stream(sid)
        self.assertEqual(c.stream(sid).status, 200)
        return c, time.monotonic()

    @lb_only
    def test_client_idle_closes_with_goaway(self):
        """timeouts.client_idle applies to a connection with no open stream: GOAWAY(NO_ERROR), closed."""
        c, t0 = self.idle_connection()
        self.assertTrue(c.wait_goaway(IDLE + T(3)), "no GOAWAY after client_idle: " + c.frame_summary())
        elapsed = time.monotonic() - t0
        self.assertGreaterEqual(elapsed, IDLE * 0.8, "GOAWAY came before client_idle")
        self.assertEqual(c.connection_error(), NO_ERROR, c.frame_summary())
        self.assert_closed(c, "idle connection")

    @lb_only
    def test_ping_is_not_activity(self):
        """SPEC 9: a PING does not keep an idle connection open."""
        c, t0 = self.idle_connection()
        deadline = t0 + IDLE + T(3)
        while not c.goaways and not c.closed and time.monotonic() < deadline:
            c.ping(b"keepaliv")
            c.wait(lambda: c.goaways, IDLE / 5)
        self.assertTrue(c.goaways, "PINGs kept the connection open for %.1f s" % (time.monotonic() - t0))
        self.assertGreaterEqual(len(c.ping_acks), 2, "PINGs were not answered meanwhile")
        self.assertLessEqual(time.monotonic() - t0, IDLE + T(3))

    @lb_only
    def test_open_stream_is_activity(self):
        """SPEC 9: a connection with an open stream is not idle."""
        c = self.raw("h2c-idle")
        key = self.key()
        sid = self.hold(c, key)
        c.quiet(IDLE * 1.5)  # negative check: no GOAWAY while the stream is open
        self.assertFalse(c.goaways or c.closed, "closed while a stream was open: " + c.frame_summary())
        self.backend.release(key)
        c.wait_stream(sid)
        self.assertEqual(c.stream(sid).status, 200)

    def _reload_goaway(self, trigger):
        c = self.raw()
        key = self.key()
        sid = self.hold(c, key)
        trigger()
        self.assertTrue(c.wait_goaway(T(10)), "no GOAWAY on reload: " + c.frame_summary())
        last, code, _ = c.goaways[-1]
        self.assertEqual(code, NO_ERROR, c.frame_summary())
        self.assertGreaterEqual(last, sid, "GOAWAY's last stream id excludes the stream in flight")
        self.assert_served(what="a new connection after the reload")
        self.backend.release(key)
        c.wait_stream(sid)
        st = c.stream(sid)
        self.assertEqual((st.status, st.ended, st.reset), (200, True, None), st.describe())
        self.assert_closed(c, "old connection once its streams finished", T(10))

    @lb_only
    def test_reload_by_admin_api_sends_goaway(self):
        """SPEC 5/9: POST /reload: GOAWAY on open connections; in-flight streams complete."""
        self._reload_goaway(lambda: self.assertEqual(self.lb.reload()[0], 200))

    @lb_only
    def test_reload_by_sighup_sends_goaway(self):
        self._reload_goaway(lambda: self.lb.signal(signal.SIGHUP))

    @lb_only
    def test_sigterm_graceful_stop(self):
        """SPEC 2/9: SIGTERM: GOAWAY, in-flight streams complete, lb exits 0."""
        srv = start_server(self.make_config(self.backend))
        try:
            c = self.raw(server=srv)
            key = self.key()
            sid = self.hold(c, key)
            srv.signal(signal.SIGTERM)
            self.assertTrue(c.wait_goaway(T(5)), "no GOAWAY on SIGTERM: " + c.frame_summary())
            self.assertEqual(c.connection_error(), NO_ERROR)
            self.assertGreaterEqual(c.goaways[-1][0], sid)
            self.backend.release(key)
            c.wait_stream(sid)
            self.assertEqual((c.stream(sid).status, c.stream(sid).ended), (200, True), c.stream(sid).describe())
            self.assertEqual(srv.wait(T(10)), 0, "lb did not exit 0 after the stream finished\n" + srv.diagnostics())
        finally:
            srv.kill()
            srv.cleanup()


if __name__ == "__main__":
    main()
