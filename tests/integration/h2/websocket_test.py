#!/usr/bin/env python3
"""WebSocket over HTTP/2 (RFC 8441 extended CONNECT) to an HTTP/1.1 WebSocket server.

Run alone (from the repository root, after `make`):
    LB_BIN=build/lb /usr/bin/python3 tests/integration/h2/websocket_test.py
    H2_REFERENCE=haproxy /usr/bin/python3 tests/integration/h2/websocket_test.py

SPEC 9 offers RFC 8441 whenever the listener offers HTTP/2, so lb announces
SETTINGS_ENABLE_CONNECT_PROTOCOL = 1 and turns
    HEADERS :method CONNECT, :protocol websocket, :scheme, :path, :authority
into an HTTP/1.1 `GET path` with `Upgrade: websocket`, `Connection: Upgrade`,
`Sec-WebSocket-Version: 13` and a fresh, valid `Sec-WebSocket-Key` (the h2
client sends none), checks the server's 101 and Sec-WebSocket-Accept, answers
the client :status 200, then carries bytes both ways as DATA ↔ raw TCP.

What is asserted: the recording backend's /ws validates that upgrade request
(rec.ws_ok) and echoes every byte; bytes flow both ways (small, and 1 MiB
through both flow-control windows); the client's END_STREAM half-closes the
tunnel and the server's close ends the stream; RST_STREAM closes the server
connection; a server that refuses (403) is passed on as 403; a malformed
extended CONNECT (no :path, no :scheme) is refused on its stream and never
reaches the server; a plain CONNECT (lb is not a forward proxy) is not
tunnelled anywhere; the tunnel's access line (SPEC 8) carries protocol HTTP/2.
"""

from harness import *


class WebSocket(H2TestCase):
    def connect_headers(self, c, path="/ws", protocol="websocket", drop=()):
        hs = [(":method", "CONNECT"), (":protocol", protocol), (":scheme", "https" if c.tls else "http"),
              (":path", path), (":authority", c.authority()), ("sec-websocket-version", "13"),
              ("origin", "http://localhost")]
        return [h for h in hs if h[0] not in drop]

    def open_tunnel(self, name="h2c", path="/ws"):
        c = self.raw(name)
        self.assertEqual(c.settings.get(S_ENABLE_CONNECT_PROTOCOL), 1, "no SETTINGS_ENABLE_CONNECT_PROTOCOL=1")
        key = self.key()
        sid = c.new_sid()
        c.send_headers(sid, self.connect_headers(c, "%s?k=%s" % (path, key)), end_stream=False)
        self.assertTrue(c.wait_headers(sid), "no answer to the extended CONNECT: " + c.frame_summary())
        return c, sid, key

    def echo(self, c, sid, payload, timeout=None):
        st = c.stream(sid)
        start = len(st.data)
        self.assertTrue(c.send_data(sid, payload, end_stream=False), "could not send through the tunnel")
        ok = c.wait(lambda: len(st.data) >= start + len(payload), timeout or T(10))
        self.assertTrue(ok, "echoed %d of %d bytes: %s" % (len(st.data) - start, len(payload), c.frame_summary()))
        self.assertEqual(bytes(st.data[start:start + len(payload)]), payload)

    def backend_record(self, key):
        recs = self.backend.wait_path("/ws?k=" + key)
        self.assertTrue(recs, "the upgrade request did not reach the backend")
        return recs[0]

    def check_tunnel(self, name):
        c, sid, key = self.open_tunnel(name)
        st = c.stream(sid)
        self.assertEqual(st.status, 200, "extended CONNECT answered %s" % st.describe())
        self.assertFalse(st.ended, "the tunnel's stream ended at once: %r %r" % (st.headers, bytes(st.data)))
        names = [k for k, _ in st.headers]
        for bad in (b"connection", b"upgrade"):
            self.assertNotIn(bad, names, "connection-specific fields in the h2 answer: %r" % st.headers)
        for msg in (b"hello ws", b"\x81\x05hello", bytes(range(256)) * 40):
            self.echo(c, sid, msg)
        rec = self.backend_record(key)
        self.assertTrue(rec.ws_ok, "the server got an invalid upgrade request: %r" % rec)
        self.assertEqual((rec.method, rec.version), ("GET", "HTTP/1.1"))
        self.assertEqual((rec.header("upgrade") or "").lower(), "websocket")
        return c, sid, key

    def test_echo_over_cleartext(self):
        self.check_tunnel("h2c")

    def test_echo_over_tls(self):
        self.check_tunnel("h2tls")

    def test_large_transfer_through_flow_control(self):
        """1 MiB each way: more than every initial window, so WINDOW_UPDATEs must flow."""
        c, sid, key = self.check_tunnel("h2c")
        self.echo(c, sid, pattern(1 << 20, 3), T(30))

    def test_client_end_stream_closes_the_tunnel(self):
        """END_STREAM from the client half-closes toward the server; the server's
        close comes back as END_STREAM."""
        c, sid, key = self.check_tunnel("h2c")
        c.send(c.data_frame_bytes(sid, b"last words", end_stream=True))
        st = c.stream(sid)
        self.assertTrue(c.wait(lambda: st.ended or st.reset is not None, T(5)), "tunnel not closed: " + st.describe())
        self.assertTrue(bytes(st.data).endswith(b"last words"), st.describe())
        self.assertTrue(wait_until(lambda: self.backend_record(key).ws_closed, T(5)))
        self.assert_stream_ok(c, "a new stream after the tunnel closed")

    @lb_only
    def test_tunnel_access_log_line(self):
        """SPEC 8: an upgraded exchange gets its access line when the tunnel closes."""
        c, sid, key = self.check_tunnel("h2c")
        c.send(c.data_frame_bytes(sid, b"", end_stream=True))
        c.wait_stream(sid)
        lines = self.access_lines(lambda l: l.get("query") == "k=" + key)
        self.assertEqual(len(lines), 1, "access lines: %s" % lines)
        self.assertEqual((lines[0].get("protocol"), lines[0].get("path")), ("HTTP/2", "/ws"), lines[0])
        self.assertGreater(lines[0].get("bytes_out", 0), 0, lines[0])

    def test_client_reset_closes_the_server_connection(self):
        c, sid, key = self.check_tunnel("h2c")
        c.rst(sid, CANCEL)
        self.assertTrue(wait_until(lambda: self.backend_record(key).ws_closed, T(5)),
                        "the server side of a reset tunnel stayed open")
        self.assert_stream_ok(c)

    def test_server_refusal_is_passed_on(self):
        """A server that answers 403 instead of 101: the client gets 403, not a tunnel."""
        c = self.raw()
        sid = c.new_sid()
        c.send_headers(sid, self.connect_headers(c, "/ws-refuse"), end_stream=False)
        c.wait_headers(sid)
        st = c.stream(sid)
        if st.reset is None:
            self.assertEqual(st.status, 403, st.describe())
        self.assert_stream_ok(c)

    def test_malformed_extended_connect_is_refused(self):
        """RFC 8441 4: an extended CONNECT needs :scheme and :path."""
        for missing in (":path", ":scheme"):
            c = self.raw()
            key = self.key()
            sid = c.new_sid()
            c.send_headers(sid, self.connect_headers(c, "/ws?k=" + key, drop=(missing,)), end_stream=False)
            self.assert_stream_refused(c, sid, "extended CONNECT without " + missing)
            self.assert_stream_ok(c)
            self.assertFalse(self.backend.seen_path("/ws?k=" + key))

    @reference_differs("haproxy 2.6 forwards a plain CONNECT to the server")
    def test_plain_connect_is_not_tunnelled(self):
        """A classic CONNECT host:port (RFC 9113 8.5) is not forwarded: lb is no
        forward proxy (its HTTP/1.1 side answers CONNECT with 400 too)."""
        c = self.raw()
        sid = c.new_sid()
        c.send_headers(sid, [(":method", "CONNECT"), (":authority", "127.0.0.1:%d" % self.backend.port)],
                       end_stream=False)
        c.wait_headers(sid)
        st = c.stream(sid)
        self.assertTrue(st.reset is not None or (st.status or 0) >= 400,
                        "a plain CONNECT was answered %s" % st.describe())
        self.assertFalse(self.backend.seen(lambda r: r.method == "CONNECT"), "CONNECT reached the backend")


if __name__ == "__main__":
    main()
