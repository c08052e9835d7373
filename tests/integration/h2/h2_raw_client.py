"""The frame-level HTTP/2 client of lb's HTTP/2 integration suite.

RawConn drives a connection frame by frame: it sends anything, including
malformed frames, parses every frame lb sends with hyperframe (SETTINGS,
GOAWAY, RST_STREAM, WINDOW_UPDATE, ...), decodes header blocks with an hpack
Decoder into StreamState, acknowledges SETTINGS and PING and grants flow-
control credit automatically (each switchable), and waits by polling
(RawConn.wait; RawConn.quiet is the bounded look for what must NOT happen).
Also here: parse_frames, raw_exchange (send bytes, read until lb closes) and
recv_once (one read from a plain or TLS socket, shared with H2Client).
"""

import collections
import select
import socket
import ssl
import struct
import threading
import time

import hpack
import hyperframe.exceptions
import hyperframe.frame as hf

from h2_env import T
from h2_frames import (CANCEL, CONTINUATION, DATA, F_ACK, F_END_HEADERS, F_END_STREAM, F_PADDED, F_PRIORITY,
                       GOAWAY, HEADERS, NO_ERROR, PING, PREFACE, PRIORITY, RST_STREAM, S_ENABLE_PUSH,
                       S_INITIAL_WINDOW_SIZE, SETTINGS, WINDOW_UPDATE, ename, frame, settings_payload)


def parse_frames(data):
    """hyperframe frames of a byte string (stops at the first incomplete or
    unparsable frame); returns (frames, rest)."""
    out, buf = [], bytes(data)
    while len(buf) >= 9:
        n = int.from_bytes(buf[:3], "big")
        if len(buf) < 9 + n:
            break
        try:
            f, _ = hf.Frame.parse_frame_header(memoryview(buf[:9]))
            f.parse_body(memoryview(buf[9:9 + n]))
        except Exception:
            break
        out.append(f)
        buf = buf[9 + n:]
    return out, buf


def raw_exchange(port, data, tls=False, alpn=("h2",), timeout=None):
    """Connects (TLS with `alpn` when tls), sends `data`, reads until lb closes
    or `timeout`. Returns (bytes received, how it ended: "eof", "reset" or "timeout")."""
    s = socket.create_connection(("127.0.0.1", port), timeout=T(5))
    if tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        if alpn:
            ctx.set_alpn_protocols(list(alpn))
        s = ctx.wrap_socket(s, server_hostname="localhost")
    got = bytearray()
    how = "timeout"
    deadline = time.monotonic() + (timeout or T(5))
    try:
        s.sendall(data)
        while time.monotonic() < deadline:
            s.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                d = s.recv(65536)
            except socket.timeout:
                break
            if not d:
                how = "eof"
                break
            got += d
    except (OSError, ssl.SSLError):
        how = "reset"
    finally:
        s.close()
    return bytes(got), how


def recv_once(sock, timeout):
    """One read from a plain or TLS socket within `timeout`:
    (data, None) with data possibly b"" when nothing arrived yet,
    or (b"", "eof" | "reset") once the peer closed."""
    try:
        if not (isinstance(sock, ssl.SSLSocket) and sock.pending()):
            rd, _, _ = select.select([sock], [], [], max(0, timeout))
            if not rd:
                return b"", None
        d = sock.recv(1 << 18)
    except ssl.SSLWantReadError:
        return b"", None
    except (OSError, ssl.SSLError):
        return b"", "reset"
    return (d, None) if d else (b"", "eof")


# ---- frame-level HTTP/2 client ----------------------------------------------------------

class StreamState:
    def __init__(self, sid):
        self.sid = sid
        self.blocks = []          # decoded header blocks: [[(name, value)], ...] (bytes)
        self.data = bytearray()
        self.data_frames = 0
        self.ended = False        # END_STREAM seen
        self.reset = None         # RST_STREAM error code
        self.window_updates = 0   # increments lb granted on this stream

    @property
    def headers(self):
        return self.blocks[0] if self.blocks else None

    def header(self, name, block=0):
        if len(self.blocks) <= block:
            return None
        name = name.encode() if isinstance(name, str) else name
        for k, v in self.blocks[block]:
            if k == name:
                return v.decode("latin-1")
        return None

    @property
    def status(self):
        s = self.header(":status")
        return int(s) if s else None

    @property
    def trailers(self):
        return self.blocks[-1] if len(self.blocks) > 1 and self.ended else None

    def describe(self):
        return "stream %d: status=%s blocks=%d data=%dB ended=%s reset=%s" % (
            self.sid, self.status, len(self.blocks), len(self.data), self.ended, ename(self.reset))


class RawConn:
    """An HTTP/2 connection driven frame by frame. Received frames are parsed
    with hyperframe and recorded; header blocks are decoded with an hpack
    Decoder; SETTINGS and PING are acknowledged automatically (switchable);
    DATA is acknowledged with WINDOW_UPDATEs when auto_window is on."""

    def __init__(self, port, tls=False, alpn=("h2",), timeout=None, server_hostname="localhost"):
        self.port, self.tls = port, tls
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout or T(5))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.alpn = None
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            if alpn:
                ctx.set_alpn_protocols(list(alpn))
            self.sock = ctx.wrap_socket(self.sock, server_hostname=server_hostname)
            self.alpn = self.sock.selected_alpn_protocol()
        self.enc = hpack.Encoder()
        self.dec = hpack.Decoder()
        self.dec.max_header_list_size = 1 << 30
        self.frames = []                 # every frame received, in order
        self.bad_frames = []             # frames hyperframe refused (lb sent garbage)
        self.streams = {}
        self.settings = {}               # lb's settings, merged
        self.settings_frames = []        # each non-ACK SETTINGS frame's dict, in order
        self.settings_acks = 0
        self.goaways = []                # [(last_stream_id, error_code, debug data)]
        self.conn_window_updates = 0     # increments lb granted on stream 0
        self.ping_acks = []
        self.pings_received = 0
        self.closed = None               # None, "eof" or "reset"
        self.closed_at = None
        self.auto_ack_settings = True
        self.auto_ack_ping = True
        self.auto_window = True
        self.next_sid = 1
        self.sent_data = collections.Counter()  # DATA bytes sent per stream (flow-controlled)
        self.sent_conn = 0
        self.hpack_error = None
        self._buf = bytearray()
        self._block = None               # (stream_id, flags of HEADERS, bytearray) while a block is open
        self._lock = threading.Lock()

    # -- sending
    def send(self, data):
        """Writes bytes; False once the connection is gone (lb closed it)."""
        try:
            with self._lock:
                self.sock.sendall(data)
            return True
        except (OSError, ssl.SSLError):
            self._mark_closed("reset")
            return False

    def new_sid(self):
        sid = self.next_sid
        self.next_sid += 2
        return sid

    def preface(self, settings=None):
        s = {S_ENABLE_PUSH: 0}
        if settings:
            s.update(settings)
        return self.send(PREFACE + frame(SETTINGS, 0, 0, settings_payload(s)))

    def handshake(self, settings=None, timeout=None):
        """Preface + our SETTINGS; waits for lb's SETTINGS and its ACK of ours."""
        self.preface(settings)
        ok = self.wait(lambda: self.settings_frames and self.settings_acks >= 1, timeout or T(5))
        if not ok:
            raise AssertionError("no HTTP/2 handshake: settings frames=%d acks=%d closed=%s goaways=%s frames=%s"
                                 % (len(self.settings_frames), self.settings_acks, self.closed, self.goaways,
                                    self.frame_summary()))
        return self

    def send_settings(self, settings):
        return self.send(frame(SETTINGS, 0, 0, settings_payload(settings)))

    def ping(self, payload=b"12345678", ack=False):
        return self.send(frame(PING, F_ACK if ack else 0, 0, payload))

    def rst(self, sid, code=CANCEL):
        return self.send(frame(RST_STREAM, 0, sid, struct.pack(">I", code)))

    def window_update(self, sid, inc):
        return self.send(frame(WINDOW_UPDATE, 0, sid, struct.pack(">I", inc & 0xFFFFFFFF)))

    def priority(self, sid, depends_on=0, weight=16, exclusive=False):
        dep = (depends_on | (0x80000000 if exclusive else 0)) & 0xFFFFFFFF
        return self.send(frame(PRIORITY, 0, sid, struct.pack(">IB", dep, weight - 1)))

    def goaway(self, last_sid=0, code=NO_ERROR, debug=b""):
        return self.send(frame(GOAWAY, 0, 0, struct.pack(">II", last_sid, code) + debug))

    def encode(self, headers, huffman=True):
        hs = [(k.encode() if isinstance(k, str) else k, v.encode() if isinstance(v, str) else v) for k, v in headers]
        return self.enc.encode(hs, huffman=huffman)

    def authority(self):
        return "localhost:%d" % self.port

    def request_headers(self, method="GET", path="/", extra=(), authority=None, scheme=None):
        return [(":method", method), (":scheme", scheme or ("https" if self.tls else "http")),
                (":authority", authority or self.authority()), (":path", path)] + list(extra)

    def headers_frame_bytes(self, sid, block, end_stream=True, end_headers=True, pad=None, priority=None):
        flags = (F_END_STREAM if end_stream else 0) | (F_END_HEADERS if end_headers else 0)
        payload = block
        if priority is not None:
            dep, weight, excl = priority
            payload = struct.pack(">IB", dep | (0x80000000 if excl else 0), weight - 1) + payload
            flags |= F_PRIORITY
        if pad is not None:
            payload = bytes([pad]) + payload + b"\0" * pad
            flags |= F_PADDED
        return frame(HEADERS, flags, sid, payload)

    def send_block(self, sid, block, end_stream=True, max_frame=16384, pieces=None):
        """A header block as HEADERS (+ CONTINUATION frames): split every
        max_frame bytes, or into `pieces` equal parts."""
        if pieces:
            step = max(1, -(-len(block) // pieces))
        else:
            step = max_frame
        parts = [block[i:i + step] for i in range(0, len(block), step)] or [b""]
        out = self.headers_frame_bytes(sid, parts[0], end_stream, len(parts) == 1)
        for i, p in enumerate(parts[1:], 1):
            out += frame(CONTINUATION, F_END_HEADERS if i == len(parts) - 1 else 0, sid, p)
        return self.send(out)

    def send_headers(self, sid, headers, end_stream=True, **kw):
        return self.send_block(sid, self.encode(headers), end_stream, **kw)

    def request(self, method="GET", path="/", extra=(), body=None, end_stream=True, authority=None, sid=None):
        """Opens a stream; with a body, DATA follows (END_STREAM on the last)."""
        sid = sid or self.new_sid()
        hs = self.request_headers(method, path, extra, authority)
        self.send_headers(sid, hs, end_stream=end_stream and body is None)
        if body is not None:
            self.send_data(sid, body, end_stream=end_stream)
        return sid

    def data_frame_bytes(self, sid, data, end_stream=False, pad=None):
        flags = F_END_STREAM if end_stream else 0
        payload = data
        if pad is not None:
            payload = bytes([pad]) + data + b"\0" * pad
            flags |= F_PADDED
        self.sent_data[sid] += len(payload)
        self.sent_conn += len(payload)
        return frame(DATA, flags, sid, payload)

    def send_window(self, sid):
        """lb's receive windows as this client sees them: (connection, stream)."""
        init = self.settings.get(S_INITIAL_WINDOW_SIZE, 65535)
        st = self.streams.get(sid)
        sw = init + (st.window_updates if st else 0) - self.sent_data[sid]
        return 65535 + self.conn_window_updates - self.sent_conn, sw

    def send_data(self, sid, data, end_stream=True, timeout=None, chunk=16384):
        """DATA frames within lb's flow-control windows (waits for WINDOW_UPDATEs)."""
        view = memoryview(data)
        deadline = time.monotonic() + (timeout or T(20))
        if not data:
            return self.send(self.data_frame_bytes(sid, b"", end_stream))
        while view:
            cw, sw = self.send_window(sid)
            n = min(len(view), cw, sw, chunk)
            if n <= 0:
                if self.closed or time.monotonic() > deadline:
                    return False
                self.pump(0.05)
                continue
            last = n == len(view)
            if not self.send(self.data_frame_bytes(sid, bytes(view[:n]), end_stream and last)):
                return False
            view = view[n:]
            self.pump(0)
        return True

    # -- receiving
    def stream(self, sid):
        st = self.streams.get(sid)
        if st is None:
            st = self.streams[sid] = StreamState(sid)
        return st

    def _mark_closed(self, how):
        if not self.closed:
            self.closed = how
            self.closed_at = time.monotonic()

    def pump(self, timeout):
        """Reads what arrives within `timeout` (one read) and processes it.
        False once the connection is closed."""
        if self.closed:
            return False
        d, how = recv_once(self.sock, timeout)
        if how:
            self._mark_closed(how)
            return False
        self._buf += d
        self._parse()
        return True

    def wait(self, pred, timeout):
        """Pumps until pred() is true (-> True) or the deadline passes or the
        connection closes (-> pred() once more)."""
        deadline = time.monotonic() + timeout
        while True:
            if pred():
                return True
            left = deadline - time.monotonic()
            if left <= 0 or self.closed:
                return bool(pred())
            self.pump(min(left, 0.05))

    def quiet(self, seconds):
        """Keeps reading for `seconds` (a bounded look for something that must
        NOT happen: used only for negative checks)."""
        deadline = time.monotonic() + seconds
        while not self.closed and time.monotonic() < deadline:
            self.pump(min(0.05, deadline - time.monotonic()))

    def wait_closed(self, timeout=None):
        return self.wait(lambda: self.closed is not None, timeout or T(5))

    def wait_goaway(self, timeout=None):
        return self.wait(lambda: self.goaways, timeout or T(5))

    def wait_stream(self, sid, timeout=None):
        """Until the stream ended, was reset, or the connection ended (GOAWAY or close)."""
        st = self.stream(sid)
        return self.wait(lambda: st.ended or st.reset is not None or self.closed or
                         any(g[1] != NO_ERROR or g[0] < sid for g in self.goaways), timeout or T(10))

    def wait_headers(self, sid, timeout=None):
        st = self.stream(sid)
        return self.wait(lambda: st.blocks or st.reset is not None or self.closed, timeout or T(10))

    def connection_error(self):
        """The error code of lb's last GOAWAY, or None."""
        return self.goaways[-1][1] if self.goaways else None

    def _parse(self):
        while len(self._buf) >= 9:
            length = int.from_bytes(self._buf[0:3], "big")
            if len(self._buf) < 9 + length:
                return
            head, body = bytes(self._buf[:9]), bytes(self._buf[9:9 + length])
            del self._buf[:9 + length]
            try:
                f, _ = hf.Frame.parse_frame_header(memoryview(head))
                f.parse_body(memoryview(body))
            except (hyperframe.exceptions.HyperframeError, ValueError, struct.error) as e:
                self.bad_frames.append((head, body, repr(e)))
                continue
            self.frames.append(f)
            self._on_frame(f)

    def _on_frame(self, f):
        t = f.type
        if t == SETTINGS:
            if "ACK" in f.flags:
                self.settings_acks += 1
            else:
                self.settings.update(f.settings)
                self.settings_frames.append(dict(f.settings))
                if self.auto_ack_settings:
                    self.send(frame(SETTINGS, F_ACK, 0))
        elif t == PING:
            if "ACK" in f.flags:
                self.ping_acks.append(f.opaque_data)
            else:
                self.pings_received += 1
                if self.auto_ack_ping:
                    self.send(frame(PING, F_ACK, 0, f.opaque_data))
        elif t == GOAWAY:
            self.goaways.append((f.last_stream_id, f.error_code, f.additional_data))
        elif t == RST_STREAM:
            self.stream(f.stream_id).reset = f.error_code
        elif t == WINDOW_UPDATE:
            if f.stream_id == 0:
                self.conn_window_updates += f.window_increment
            else:
                self.stream(f.stream_id).window_updates += f.window_increment
        elif t == HEADERS:
            self._block = (f.stream_id, f.flags, bytearray(f.data))
            if "END_HEADERS" in f.flags:
                self._end_block()
        elif t == CONTINUATION:
            if self._block and self._block[0] == f.stream_id:
                self._block[2].extend(f.data)
                if "END_HEADERS" in f.flags:
                    self._end_block()
        elif t == DATA:
            st = self.stream(f.stream_id)
            st.data += f.data
            st.data_frames += 1
            if "END_STREAM" in f.flags:
                st.ended = True
            n = f.flow_controlled_length
            if self.auto_window and n:
                self.window_update(0, n)
                if not st.ended:
                    self.window_update(f.stream_id, n)

    def _end_block(self):
        sid, flags, block = self._block
        self._block = None
        st = self.stream(sid)
        try:
            st.blocks.append(self.dec.decode(bytes(block), raw=True))
        except Exception as e:  # lb's HPACK output is broken: the test will fail on it
            self.hpack_error = repr(e)
            st.blocks.append([])
        if "END_STREAM" in flags:
            st.ended = True

    def frame_summary(self, last=30):
        out = []
        for f in self.frames[-last:]:
            name = type(f).__name__.replace("Frame", "")
            extra = ""
            if f.type == GOAWAY:
                extra = " last=%d %s %r" % (f.last_stream_id, ename(f.error_code), f.additional_data[:80])
            elif f.type == RST_STREAM:
                extra = " " + ename(f.error_code)
            elif f.type == SETTINGS:
                extra = " " + ("ACK" if "ACK" in f.flags else repr(dict(f.settings)))
            elif f.type == WINDOW_UPDATE:
                extra = " +%d" % f.window_increment
            elif f.type == DATA:
                extra = " %dB%s" % (len(f.data), " END_STREAM" if "END_STREAM" in f.flags else "")
            elif f.type in (HEADERS, CONTINUATION):
                extra = " " + ",".join(sorted(f.flags))
            out.append("%s(%d)%s" % (name, f.stream_id, extra))
        return "[" + ", ".join(out) + "]" + (" closed=%s" % self.closed if self.closed else "")

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
        self._mark_closed("eof")
