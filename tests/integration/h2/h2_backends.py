"""The backends behind lb in its HTTP/2 integration suite.

RecordingBackend: an HTTP/1.1 keep-alive server written here that records
every request head and every complete request (Record) lb forwards, with
routes for statuses, pattern bodies (Content-Length or chunked, with
trailers), echo, held answers released by the test, slow answers and a
WebSocket echo. CppBackend: bench/backend.cpp ($BACKEND_BIN), for bodies too
large for a python server.
"""

import base64
import collections
import hashlib
import http.client
import re
import select
import socket
import subprocess
import threading
import time
import urllib.parse

from h2_env import BACKEND_BIN, T, ServerDied, TempDir, read_text, wait_until
from h2_frames import pattern


# ---- the recording backend ------------------------------------------------------------

class Record:
    """One request the backend received. complete: its body arrived whole."""

    def __init__(self, conn_id, peer_port):
        self.conn_id, self.peer_port = conn_id, peer_port
        self.method = self.target = self.version = None
        self.headers = []        # [(name, value)] as received (names keep their case)
        self.body = b""
        self.trailers = []
        self.chunked = False
        self.complete = False
        self.ws_ok = None        # WebSocket upgrade accepted (valid key etc.)
        self.ws_bytes = 0        # tunnel bytes echoed
        self.ws_closed = False   # the tunnel ended (lb closed or half-closed it)
        self.aborted = False     # a /hold request whose client (lb) went away before the release
        self.t = time.monotonic()

    @property
    def path(self):
        return self.target.split("?", 1)[0] if self.target else None

    def header(self, name):
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return None

    def headers_named(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def __repr__(self):
        return "<%s %s %s hdrs=%s body=%dB trailers=%s complete=%s>" % (
            self.method, self.target, self.version, self.headers, len(self.body), self.trailers, self.complete)


class _Reader:
    def __init__(self, sock):
        self.sock, self.buf = sock, bytearray()

    def _fill(self):
        d = self.sock.recv(65536)
        if not d:
            raise EOFError()
        self.buf += d

    def until(self, delim, limit=1 << 20):
        while True:
            i = self.buf.find(delim)
            if i >= 0:
                out = bytes(self.buf[:i + len(delim)])
                del self.buf[:i + len(delim)]
                return out
            if len(self.buf) > limit:
                raise ValueError("line too long")
            self._fill()

    def exact(self, n):
        while len(self.buf) < n:
            self._fill()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out


class RecordingBackend:
    """An HTTP/1.1 keep-alive server (a thread per connection) that records
    every request head as it arrives (.heads), every complete request
    (.requests) and the ids of the connections that are over (.ended, for
    Record.conn_id). Routes, on the path without the query, any method:

      /status/N                 status N, short body ("status N\\n")
      /bytes/N                  N pattern bytes (Content-Length)
      /chunked/N[?trailers=k:v;k2:v2]  the same bytes chunked (16 KiB chunks),
                                then the given trailers (none without the parameter)
      /echo                     the request body; X-Echo-Method, X-Body-Sha256
      /hold/KEY[?head=1&size=N] waits until release(KEY) (or the client goes away)
                                before answering; head=1: the head and the first
                                chunk go out at once, the rest after the release
      /slow/MS                  200 after MS milliseconds
      /ws                       WebSocket upgrade (validates Upgrade, Connection,
                                Sec-WebSocket-Version 13 and a Sec-WebSocket-Key of
                                16 base64 bytes) → 101 + raw byte echo; else 400
      /ws-refuse                403 (a WebSocket server that says no)
      anything else             200 "ok METHOD TARGET\\n"
    """

    def __init__(self, name="rec"):
        self.name = name
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1024)
        self.port = self.sock.getsockname()[1]
        self.addr = "127.0.0.1:%d" % self.port
        self.cv = threading.Condition()
        self.heads, self.requests = [], []
        self.request_lines = []  # every request line as received, even unparsable ones
        self.conn_total = 0
        self.ended = set()       # ids of connections that are over (either side closed)
        self.gates = collections.defaultdict(threading.Event)
        self.closing = threading.Event()
        self._conns = set()
        self._threads = []
        self._accept_thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._accept_thread.start()

    # -- test API
    def release(self, key):
        self.gates[key].set()

    def released(self, key):
        return self.gates[key].is_set()

    def seen(self, pred):
        with self.cv:
            return [r for r in self.heads if pred(r)]

    def seen_path(self, prefix):
        return self.seen(lambda r: r.target is not None and r.target.startswith(prefix))

    def seen_header(self, name, value):
        return self.seen(lambda r: r.header(name) == value)

    def completed(self, pred=lambda r: True):
        with self.cv:
            return [r for r in self.requests if pred(r)]

    def wait_seen(self, pred, count=1, timeout=None):
        deadline = time.monotonic() + (timeout or T(5))
        with self.cv:
            while True:
                got = [r for r in self.heads if pred(r)]
                left = deadline - time.monotonic()
                if len(got) >= count or left <= 0:
                    return got
                self.cv.wait(min(left, 0.05))

    def wait_path(self, prefix, count=1, timeout=None):
        return self.wait_seen(lambda r: r.target is not None and r.target.startswith(prefix), count, timeout)

    def close(self):
        self.closing.set()
        for g in list(self.gates.values()):
            g.set()
        try:
            self.sock.close()
        except OSError:
            pass
        with self.cv:
            conns = list(self._conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for t in self._threads[-200:]:
            if t.ident is not None:  # appended by the accept loop just before start()
                t.join(0.5)

    # -- server
    def _accept_loop(self):
        self.sock.settimeout(0.2)
        while not self.closing.is_set():
            try:
                c, addr = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self.cv:
                self.conn_total += 1
                cid = self.conn_total
                self._conns.add(c)
            t = threading.Thread(target=self._serve, args=(c, cid, addr[1]), daemon=True)
            self._threads.append(t)
            if len(self._threads) > 2000:
                self._threads = [x for x in self._threads if x.is_alive()]
            t.start()

    def _serve(self, c, cid, peer_port):
        r = _Reader(c)
        try:
            while not self.closing.is_set():
                if not self._one(c, r, cid, peer_port):
                    break
        except (EOFError, OSError, ValueError):
            pass
        finally:
            with self.cv:
                self._conns.discard(c)
                self.ended.add(cid)
                self.cv.notify_all()
            try:
                c.close()
            except OSError:
                pass

    def _one(self, c, r, cid, peer_port):
        head = r.until(b"\r\n\r\n").decode("latin-1")
        lines = head[:-4].split("\r\n")
        with self.cv:
            self.request_lines.append(lines[0])
        rec = Record(cid, peer_port)
        parts = lines[0].split(" ")
        if len(parts) != 3:
            self._send(c, 400, [], b"bad request line\n", close=True)
            return False
        rec.method, rec.target, rec.version = parts
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep or not name or name != name.strip() or line[:1] in " \t":
                self._send(c, 400, [], b"bad header line\n", close=True)
                return False
            rec.headers.append((name, value.strip(" \t")))
        with self.cv:
            self.heads.append(rec)
            self.cv.notify_all()
        te = (rec.header("transfer-encoding") or "").lower()
        if te == "chunked":
            rec.chunked = True
            body = bytearray()
            while True:
                size = int(r.until(b"\r\n").split(b";")[0].strip(), 16)
                if size == 0:
                    break
                body += r.exact(size)
                r.exact(2)
            while True:
                line = r.until(b"\r\n").decode("latin-1")[:-2]
                if not line:
                    break
                n, _, v = line.partition(":")
                rec.trailers.append((n, v.strip()))
            rec.body = bytes(body)
        elif rec.header("content-length") is not None:
            rec.body = r.exact(int(rec.header("content-length")))
        rec.complete = True
        with self.cv:
            self.requests.append(rec)
            self.cv.notify_all()
        close = "close" in (rec.header("connection") or "").lower()
        return self._route(c, r, rec, close)

    def _send(self, c, status, headers, body, close=False, head_only=False, length=True):
        out = ["HTTP/1.1 %d %s" % (status, http.client.responses.get(status, "X"))]
        hs = [("X-Backend", self.name)] + list(headers)
        if length:
            hs.append(("Content-Length", str(len(body))))
        if close:
            hs.append(("Connection", "close"))
        out += ["%s: %s" % kv for kv in hs]
        data = ("\r\n".join(out) + "\r\n\r\n").encode("latin-1")
        if not head_only:
            data += body
        c.sendall(data)
        return not close

    def _gate(self, key, c, rec):
        """Waits for release(key); False if the client (lb) went away first."""
        g = self.gates[key]
        while not g.wait(0.05):
            if self.closing.is_set():
                return False
            try:
                rd, _, _ = select.select([c], [], [], 0)
                gone = rd and c.recv(1, socket.MSG_PEEK) == b""
            except OSError:
                gone = True
            if gone:
                rec.aborted = True
                return False
        return True

    def _route(self, c, r, rec, close):
        path, _, query = rec.target.partition("?")
        q = dict(urllib.parse.parse_qsl(query))
        head_only = rec.method == "HEAD"
        seg = path.split("/")
        if path.startswith("/status/"):
            st = int(seg[2])
            body = b"" if st in (204, 304) else ("status %d\n" % st).encode()
            return self._send(c, st, [], body, close, head_only, length=st not in (204, 304))
        if path.startswith("/bytes/"):
            n = int(seg[2])
            c.sendall(("HTTP/1.1 200 OK\r\nX-Backend: %s\r\nContent-Length: %d\r\n%s\r\n"
                       % (self.name, n, "Connection: close\r\n" if close else "")).encode())
            if not head_only:
                off = 0
                while off < n:
                    take = min(1 << 20, n - off)
                    c.sendall(pattern(take, off))
                    off += take
            return not close
        if path.startswith("/chunked/"):
            n = int(seg[2])
            c.sendall(("HTTP/1.1 200 OK\r\nX-Backend: %s\r\nTransfer-Encoding: chunked\r\n\r\n"
                       % self.name).encode())
            off = 0
            while off < n and not head_only:
                take = min(16384, n - off)
                c.sendall(b"%x\r\n" % take + pattern(take, off) + b"\r\n")
                off += take
            trailers = [t.split(":", 1) for t in q.get("trailers", "").split(";") if ":" in t]
            c.sendall(b"0\r\n" + b"".join(("%s: %s\r\n" % (k, v)).encode() for k, v in trailers) + b"\r\n")
            return not close
        if path == "/echo":
            hs = [("X-Echo-Method", rec.method), ("X-Body-Sha256", hashlib.sha256(rec.body).hexdigest())]
            return self._send(c, 200, hs, rec.body, close, head_only)
        if path.startswith("/hold/"):
            key = seg[2]
            if q.get("head") == "1":
                size = int(q.get("size", "10"))
                first = min(size, int(q.get("first", "1")))
                c.sendall(("HTTP/1.1 200 OK\r\nX-Backend: %s\r\nContent-Length: %d\r\n\r\n"
                           % (self.name, size)).encode() + pattern(first))
                if not self._gate(key, c, rec):
                    return False
                c.sendall(pattern(size - first, first))
                return not close
            if not self._gate(key, c, rec):
                return False
            return self._send(c, 200, [], ("released %s\n" % key).encode(), close, head_only)
        if path.startswith("/slow/"):
            if self.closing.wait(int(seg[2]) / 1000.0):
                return False
            return self._send(c, 200, [], b"slow\n", close, head_only)
        if path == "/ws-refuse":
            return self._send(c, 403, [], b"no websocket here\n", close, head_only)
        if path == "/ws":
            return self._websocket(c, r, rec)
        return self._send(c, 200, [("Content-Type", "text/plain")],
                          ("ok %s %s\n" % (rec.method, rec.target)).encode(), close, head_only)

    def _websocket(self, c, r, rec):
        key = rec.header("sec-websocket-key") or ""
        try:
            valid_key = len(base64.b64decode(key, validate=True)) == 16
        except ValueError:
            valid_key = False
        ok = (rec.method == "GET" and (rec.header("upgrade") or "").lower() == "websocket"
              and "upgrade" in (rec.header("connection") or "").lower()
              and rec.header("sec-websocket-version") == "13" and valid_key)
        rec.ws_ok = ok
        if not ok:
            return self._send(c, 400, [], b"bad websocket upgrade\n", close=True)
        accept = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest())
        c.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n")
        if r.buf:
            c.sendall(bytes(r.buf))
            rec.ws_bytes += len(r.buf)
            r.buf.clear()
        try:
            while True:
                d = c.recv(65536)
                if not d:
                    c.shutdown(socket.SHUT_WR)
                    return False
                c.sendall(d)
                rec.ws_bytes += len(d)
        finally:
            rec.ws_closed = True


class CppBackend:
    """bench/backend.cpp ($BACKEND_BIN), the fast C++ backend of the C++ suite:
    here for the 200 MB response of the zero-window test."""

    def __init__(self):
        self.dir = TempDir("lb-h2-backend-")
        out = self.dir.file("stdout")
        self.proc = subprocess.Popen([BACKEND_BIN, "--host", "127.0.0.1", "--http", "0"],
                                     stdout=open(out, "wb"), stderr=subprocess.DEVNULL)
        ok = wait_until(lambda: "ready" in (read_text(out) or "") or self.proc.poll() is not None, T(10))
        m = re.search(r"listening http (\d+)", read_text(out) or "")
        if not ok or not m:
            self.close()
            raise ServerDied("backend (%s) did not start" % BACKEND_BIN)
        self.port = int(m.group(1))
        self.addr = "127.0.0.1:%d" % self.port

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(T(5))
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.dir.cleanup()
