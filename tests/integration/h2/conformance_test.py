#!/usr/bin/env python3
"""HTTP/2 conformance of lb's client side, walking RFC 9113 sections 3-8
(plus lb's own connection management from SPEC section 9).

Run alone (from the repository root, after `make`):
    LB_BIN=build/lb /usr/bin/python3 tests/integration/h2/conformance_test.py
    ... conformance_test.py Settings test_ping      # only ids containing these words
    H2_REFERENCE=haproxy /usr/bin/python3 tests/integration/h2/conformance_test.py
                                                    # the same cases against haproxy
                                                    # (lb-only cases skip)
Use Debian's /usr/bin/python3 (python3-h2 lives there); tests/integration/h2/run.sh
picks it for you and runs every file.

What is asserted: each case opens its own connection to a class-wide lb and
checks lb's frames (RawConn records every frame; H2Client is h2's own state
machine, which raises when lb breaks the protocol) and what the recording
backend received. Where the RFC allows a stream error or a connection error,
both are accepted; where it names an error code, that code is required.
Where the RFC allows RST_STREAM(REFUSED_STREAM) or PROTOCOL_ERROR, both pass.

lb configuration (make_config below): listener "h2c" (prior-knowledge h2c,
max_concurrent_streams 50, initial_window_size 98304, max_body_bytes 4 MiB,
a route /dead/ to a pool whose only server refuses connections), "h2tls"
(TLS, default ALPN and http2 block), "h2c-maxreq"
(max_requests_per_connection 3) and "h2c-idle" (client_idle 1 s, scaled).
"""

import signal
import struct
import time

from harness import *

MCS = 50                # http2.max_concurrent_streams of listener h2c
IWS = 98304             # http2.initial_window_size of listener h2c
MAX_BODY = 4 << 20      # limits.max_body_bytes
IDLE = T(1.0)           # timeouts.client_idle of listener h2c-idle
MAXREQ = 3              # http2.max_requests_per_connection of listener h2c-maxreq


class Conformance(H2TestCase):
    @classmethod
    def make_config(cls, backend):
        limits = {"max_body_bytes": MAX_BODY}
        return config([
            listener("h2c", http2={"cleartext": True, "max_concurrent_streams": MCS, "initial_window_size": IWS},
                     limits=limits, routes=[{"path_prefix": "/dead/", "pool": "dead"}]),
            listener("h2tls", tls=True, limits=limits),
            listener("h2c-maxreq", http2={"cleartext": True, "max_requests_per_connection": MAXREQ}),
            listener("h2c-idle", http2={"cleartext": True}, timeouts={"client_idle": dur(IDLE)}),
        ], [pool("rec", [backend.addr]), pool("dead", ["127.0.0.1:%d" % free_port()])])

    # -- shared shapes
    def conn_error(self, data, codes, what, name="h2c", settings=None, handshake=True):
        """Sends `data` on a fresh connection: lb answers GOAWAY(code in codes) and closes."""
        c = self.raw(name, settings, handshake=handshake)
        c.send(data)
        self.assert_conn_error(c, codes, what)
        self.assert_closed(c, what)
        return c

    def stream_or_conn_error(self, c, sid, codes, what):
        """RST_STREAM(code) on sid, or GOAWAY(code): the RFC lets lb choose."""
        st = c.stream(sid)
        c.wait(lambda: st.reset is not None or c.goaways or c.closed, T(5))
        if c.goaways and c.connection_error() in codes:
            return "connection"  # a connection error ends every stream (an RST may follow)
        if st.reset is not None:
            self.assertIn(st.reset, codes, "%s: RST_STREAM(%s), expected %s; frames %s" % (
                what, ename(st.reset), "/".join(map(ename, codes)), c.frame_summary()))
            return "stream"
        self.assert_conn_error(c, codes, what)
        return "connection"

    def held_stream_error(self, make_frame, codes, what):
        """A held stream (request sent, backend not answering yet) gets
        make_frame(sid); lb answers RST_STREAM or GOAWAY with a code in codes."""
        c = self.raw()
        key = self.key()
        sid = self.hold(c, key)
        c.send(make_frame(sid))
        try:
            return self.stream_or_conn_error(c, sid, codes, what)
        finally:
            self.backend.release(key)

    def hold(self, c, key, extra_query=""):
        """Opens GET /hold/KEY (the backend answers on release) and waits until it reached the backend."""
        sid = c.request("GET", "/hold/%s%s" % (key, extra_query))
        self.assertTrue(self.backend.wait_path("/hold/%s" % key), "the held request did not reach the backend")
        return sid


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
