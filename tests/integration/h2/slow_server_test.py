#!/usr/bin/env python3
"""Request-body flow control against a slow HTTP/1.1 server (issue 12: "a slow
HTTP/1.1 server never makes lb buffer more than a bounded window per stream").

lb acknowledges a stream's DATA (WINDOW_UPDATE) only once the bytes were
handed to the server's socket and its write queue drained. A server that
stops reading therefore stops the client after about one stream window plus
the kernel's socket buffers — lb itself holds at most one window — and when
the server reads again, the upload completes intact.

Run alone (from the repository root, after `make`):
    LB_BIN=build/lb /usr/bin/python3 tests/integration/h2/slow_server_test.py
"""

import hashlib
import socket
import threading

from harness import *

WINDOW = 65535
UPLOAD = 64 << 20  # far more than the window and the socket buffers


class StalledReader:
    """An HTTP/1.1 server that reads a request head, then reads nothing until
    resume(); then it drains the body (Content-Length or chunked framing is
    not parsed: it reads until the client's chunked terminator) and answers
    200 with the SHA-256 of what it read."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.addr = "127.0.0.1:%d" % self.sock.getsockname()[1]
        self.go = threading.Event()
        self.got_head = threading.Event()
        self.body_sha = None
        self.body_len = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def resume(self):
        self.go.set()

    def close(self):
        self.go.set()
        try:
            self.sock.close()
        except OSError:
            pass

    def _serve(self):
        try:
            c, _ = self.sock.accept()
        except OSError:
            return
        with c:
            buf = b""
            while b"\r\n\r\n" not in buf:
                d = c.recv(65536)
                if not d:
                    return
                buf += d
            head, _, rest = buf.partition(b"\r\n\r\n")
            length = None
            for line in head.split(b"\r\n")[1:]:
                k, _, v = line.partition(b":")
                if k.strip().lower() == b"content-length":
                    length = int(v.strip())
            self.got_head.set()
            self.go.wait(120)
            h = hashlib.sha256()
            h.update(rest)
            n = len(rest)
            while length is None or n < length:
                d = c.recv(1 << 20)
                if not d:
                    break
                h.update(d)
                n += len(d)
            self.body_sha, self.body_len = h.hexdigest(), n
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")


class SlowServer(H2TestCase):
    @classmethod
    def setUpClass(cls):
        if REFERENCE:
            raise unittest.SkipTest("lb-specific")
        cls.stalled = StalledReader()
        try:
            super().setUpClass()
        except BaseException:
            cls.stalled.close()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            cls.stalled.close()

    @classmethod
    def make_config(cls, backend):
        return config([listener("h2c", pool="slow", http2={"cleartext": True, "initial_window_size": WINDOW})],
                      [pool("slow", [cls.stalled.addr], timeouts={"response": "120s"})])

    def test_a_stalled_server_stops_the_upload_after_a_bounded_amount(self):
        base = self.lb.rss()
        c = self.raw()
        body = pattern(UPLOAD)
        sid = c.request("POST", "/upload", [("content-length", str(UPLOAD))], end_stream=False)
        self.assertTrue(self.stalled.got_head.wait(T(10)), "the request head did not reach the server")
        sent = 0
        view = memoryview(body)
        # Send while lb opens windows; stop once nothing moves for a while.
        last_progress = time.monotonic()
        while sent < UPLOAD and time.monotonic() - last_progress < T(1.5):
            n = min(min(c.send_window(sid)), 16384, UPLOAD - sent)
            if n <= 0:
                c.pump(0.05)
                continue
            self.assertTrue(c.send(c.data_frame_bytes(sid, bytes(view[sent:sent + n]))), "lb closed the connection")
            sent += n
            last_progress = time.monotonic()
            c.pump(0)
        print("    %d KiB accepted while the server read nothing" % (sent >> 10))
        self.assertLess(sent, UPLOAD, "the whole upload went through although the server reads nothing")
        # lb holds at most a window; the rest of what was sent sits in the
        # kernel's socket buffers (client→lb and lb→server, a few MB on loopback).
        self.assertLess(sent, 24 << 20, "lb kept acknowledging DATA its server did not take: %d bytes" % sent)
        if not TSAN:
            grown = self.lb.rss() - base
            self.assertLess(grown, 16 << 20, "lb buffered the upload: RSS grew by %d MB" % (grown >> 20))
        # The server reads again: the upload completes, byte for byte.
        self.stalled.resume()
        self.assertTrue(c.send_data(sid, bytes(view[sent:]), end_stream=True, timeout=T(60)),
                        "the upload did not resume: " + c.frame_summary())
        c.wait_stream(sid, T(60))
        self.assertEqual(c.stream(sid).status, 200, c.stream(sid).describe())
        self.assertEqual(self.stalled.body_len, UPLOAD)
        self.assertEqual(self.stalled.body_sha, hashlib.sha256(body).hexdigest())


if __name__ == "__main__":
    main()
