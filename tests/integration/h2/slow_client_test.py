#!/usr/bin/env python3
"""Slow clients over HTTP/2 (SPEC 11: timeouts.body_idle and timeouts.send).

body_idle: a stream whose request body stops arriving while the client has
window to send is answered 408 on that stream (JSON body, then RST_STREAM
NO_ERROR since the request never ended); the server connection carrying the
unfinished request is closed; the client's other streams go on. A body the
client keeps sending, slowly, is not cut.

send: a client that stops reading the socket while lb has response bytes
queued towards it is closed once its write queue made no progress for
`send`, on h2c and over TLS. (A client that reads the socket but holds the
HTTP/2 window at zero is abuse_test.py's zero-window reader.)

The HTTP/1.1 side of the same defences is in ../slow_client_test.cpp.

Run alone (from the repository root, after `make`):
    LB_BIN=build/lb /usr/bin/python3 tests/integration/h2/slow_client_test.py
"""

from harness import *

BODY_IDLE = T(1.0)
SEND = T(1.0)
HUGE = 1 << 30  # a response far larger than every buffer on the way


class SlowClients(H2TestCase):
    @classmethod
    def setUpClass(cls):
        if REFERENCE:
            raise unittest.SkipTest("lb-specific timeouts")
        super().setUpClass()

    @classmethod
    def make_config(cls, backend):
        t = {"body_idle": dur(BODY_IDLE), "send": dur(SEND)}
        return config([listener("h2c", http2={"cleartext": True}, timeouts=t),
                       listener("h2tls", tls=True, timeouts=t)],
                      [pool("rec", [backend.addr])])

    # -- body_idle
    def stalled_body(self, name):
        c = self.raw(name)
        path = "/upload/" + self.key()
        sid = c.request("POST", path, [("content-length", "100000")], end_stream=False)
        self.assertTrue(c.send_data(sid, b"x" * 30000, end_stream=False), "lb closed the connection")
        t0 = time.monotonic()
        heads = self.backend.wait_path(path)
        self.assertEqual(len(heads), 1, "the request head did not reach the server")
        st = c.stream(sid)
        c.wait(lambda: st.status is not None or st.reset is not None or c.closed, BODY_IDLE + T(5))
        elapsed = time.monotonic() - t0
        self.assertEqual(st.status, 408, st.describe() + "; frames " + c.frame_summary())
        self.assertGreaterEqual(elapsed, BODY_IDLE * 0.8, "408 before body_idle (%.2f s)" % elapsed)
        self.assertEqual(st.header("content-type"), "application/json")
        c.wait(lambda: st.reset is not None or c.closed, T(3))
        self.assertEqual(json.loads(bytes(st.data))["error"], "request body timeout")
        self.assertTrue(st.ended, st.describe())
        self.assertEqual(st.reset, NO_ERROR, "the unfinished request was not ended: " + st.describe())
        # The server saw the request begin; lb closed the connection that
        # carried it, unfinished.
        self.assertTrue(wait_until(lambda: heads[0].conn_id in self.backend.ended, T(3)),
                        "lb kept the server connection of the timed-out request")
        self.assertFalse(self.backend.completed(lambda r: r.target == path), "the request reached the server whole")
        self.assertFalse(c.goaways, "the connection was ended: %s" % c.goaways)
        self.assert_stream_ok(c, "another stream on the same connection after the 408")
        lines = self.access_lines(lambda l: l.get("path") == path)
        self.assertTrue(lines and lines[0]["status"] == 408, lines)

    def test_stalled_body_gets_408_on_its_stream_h2c(self):
        self.stalled_body("h2c")

    def test_stalled_body_gets_408_on_its_stream_tls(self):
        self.stalled_body("h2tls")

    def test_a_body_that_keeps_coming_is_not_cut(self):
        c = self.raw()
        path = "/echo"
        pieces = 5
        sid = c.request("POST", path, [("content-length", str(pieces * 100))], end_stream=False)
        t0 = time.monotonic()
        for i in range(pieces):
            if i:
                time.sleep(BODY_IDLE * 0.4)  # the client's pace: never body_idle without a byte
            self.assertTrue(c.send_data(sid, b"a" * 100, end_stream=i == pieces - 1))
            c.pump(0)
        c.wait_stream(sid, T(5))
        st = c.stream(sid)
        self.assertEqual(st.status, 200, st.describe())
        self.assertEqual(bytes(st.data), b"a" * pieces * 100)
        self.assertGreaterEqual(time.monotonic() - t0, BODY_IDLE * 1.5)

    # -- send
    def stops_reading(self, name):
        before = len([l for l in self.lb.access_log() if l.get("aborted")])
        # Wide HTTP/2 windows: only the socket holds the bytes back.
        c = self.raw(name, settings={S_INITIAL_WINDOW_SIZE: 2 ** 31 - 1})
        c.window_update(0, 2 ** 31 - 1 - 65535)
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        path = "/bytes/%d" % HUGE
        t0 = time.monotonic()
        c.request("GET", path)
        # The client reads nothing from here on.
        lines = self.access_lines(lambda l: l.get("listener") == name and l.get("path") == path and l.get("aborted"),
                                  timeout=SEND * 2 + T(8))
        elapsed = time.monotonic() - t0
        self.assertTrue(lines, "lb did not close a client that reads nothing")
        self.assertGreaterEqual(elapsed, SEND * 0.8, "closed before send (%.2f s)" % elapsed)
        self.assertLess(lines[0]["bytes_out"], HUGE)
        self.assertTrue(wait_until(lambda: self.listener_stats(name)["connections_active"] == 0, T(3)),
                        "lb still holds the connection: %s" % self.listener_stats(name))
        self.assertEqual(len([l for l in self.lb.access_log() if l.get("aborted")]), before + 1)
        self.assert_served(name)

    def listener_stats(self, name):
        for l in self.lb.stats()["listeners"]:
            if l["name"] == name:
                return l
        raise KeyError(name)

    def test_a_client_that_stops_reading_is_closed_after_send_h2c(self):
        self.stops_reading("h2c")

    def test_a_client_that_stops_reading_is_closed_after_send_tls(self):
        self.stops_reading("h2tls")


if __name__ == "__main__":
    main()
