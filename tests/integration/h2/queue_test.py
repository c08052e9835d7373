#!/usr/bin/env python3
"""HTTP/2 streams in a pool's queue (SPEC 11 "Queue").

Run alone (from the repository root, after `make`):
    LB_BIN=build/lb /usr/bin/python3 tests/integration/h2/queue_test.py

The pool has one server with max_connections 1 and a queue (max 4). A stream
to /hold/KEY takes the slot until the test releases KEY; the streams after it
wait in the queue, are served in the order they were opened, and a stream the
client resets (RST_STREAM CANCEL) while waiting leaves the queue at once and
never reaches the server. lb only (the admin API's /stats).
"""

from harness import *


class Queue(H2TestCase):
    @classmethod
    def make_config(cls, backend):
        p = pool("rec", [backend.addr], queue={"max": 4, "timeout": "20s"})
        p["servers"][0]["max_connections"] = 1
        return config([listener("h2c", http2={"cleartext": True})], [p])

    def queue(self):
        for p in self.lb.stats().get("pools", []):
            if p.get("name") == "rec":
                return p.get("queue") or {}
        return {}

    def wait_waiting(self, n):
        return wait_until(lambda: self.queue().get("waiting") == n, T(5), 0.02)

    def hold_slot(self):
        """A connection, a key, and a stream to /hold/KEY that has the server's one slot."""
        c = self.raw()
        key = self.key()
        hold = c.request("GET", "/hold/" + key)
        self.backend.wait_path("/hold/" + key)
        return c, key, hold

    @lb_only
    def test_queued_streams_are_served_in_order(self):
        """Streams that find the slot taken wait, then reach the server in the order they were opened."""
        c, key, hold = self.hold_slot()
        before = self.queue().get("served_total", 0)
        sids = []
        for i in range(3):
            sids.append(c.request("GET", "/q%d/%s" % (i, key)))
            self.assertTrue(self.wait_waiting(i + 1), self.queue())
        self.assertFalse(self.backend.seen_path("/q0/" + key))
        self.backend.release(key)
        for sid in [hold] + sids:
            c.wait_stream(sid)
            self.assertEqual(c.stream(sid).status, 200, c.stream(sid).describe())
        order = [r.target for r in self.backend.heads if r.target.endswith(key)]
        self.assertEqual(order, ["/hold/" + key] + ["/q%d/%s" % (i, key) for i in range(3)])
        self.assertEqual(self.queue().get("served_total", 0) - before, 3)

    @lb_only
    def test_reset_stream_leaves_the_queue(self):
        """RST_STREAM on a waiting stream removes it: the waiting count drops, the server never sees it."""
        c, key, hold = self.hold_slot()
        abandoned = self.queue().get("abandoned_total", 0)
        sid = c.request("GET", "/gone/" + key)
        self.assertTrue(self.wait_waiting(1), self.queue())
        c.rst(sid)
        self.assertTrue(self.wait_waiting(0), self.queue())
        self.assertEqual(self.queue().get("abandoned_total", 0), abandoned + 1)
        self.backend.release(key)
        c.wait_stream(hold)
        self.assertEqual(c.stream(hold).status, 200, c.stream(hold).describe())
        self.assert_stream_ok(c, "the next stream after the reset one")
        self.assertFalse(self.backend.seen_path("/gone/" + key), "the reset stream reached the server")
        lines = self.access_lines(lambda l: l.get("path") == "/gone/" + key)
        self.assertEqual([l.get("status") for l in lines], [499], lines)


if __name__ == "__main__":
    main()
