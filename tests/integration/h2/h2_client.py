"""The well-behaved HTTP/2 client of lb's HTTP/2 integration suite.

H2Client runs on h2's own state machine (h2.connection.H2Connection,
client_side=True): an independent HTTP/2 implementation that raises
ProtocolError if lb breaks the protocol. It sends requests with bodies and
trailers within lb's flow-control windows and collects each stream's
Response (status, headers, body, trailers, reset, GOAWAY).
"""

import socket
import ssl
import time

import h2.config
import h2.connection
import h2.events
import h2.settings

from h2_env import T
from h2_frames import ename
from h2_raw_client import recv_once


# ---- a well-behaved client on h2's state machine ------------------------------------------

class Response:
    def __init__(self):
        self.status = None
        self.headers = []     # [(name, value)] str
        self.body = bytearray()
        self.trailers = None
        self.reset = None
        self.ended = False
        self.goaway = None

    def header(self, name):
        for k, v in self.headers:
            if k == name:
                return v
        return None

    def __repr__(self):
        return "<Response status=%s headers=%s body=%r trailers=%s reset=%s goaway=%s>" % (
            self.status, self.headers, bytes(self.body[:200]), self.trailers, ename(self.reset), self.goaway)


class H2Client:
    """HTTP/2 with h2.connection.H2Connection(client_side=True), validating
    everything lb sends (h2 raises ProtocolError on a violation)."""

    def __init__(self, port, tls=False, settings=None, timeout=None):
        self.port, self.tls = port, tls
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout or T(5))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            ctx.set_alpn_protocols(["h2"])
            self.sock = ctx.wrap_socket(self.sock, server_hostname="localhost")
            if self.sock.selected_alpn_protocol() != "h2":
                raise AssertionError("ALPN did not select h2: %r" % self.sock.selected_alpn_protocol())
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        self.conn.local_settings = h2.settings.Settings(client=True, initial_values=settings or {})
        self.conn.initiate_connection()
        self.responses = {}
        self.terminated = None
        self.closed = False
        self.remote_settings_seen = False
        self.ping_acks = 0
        self._flush()

    def _flush(self):
        data = self.conn.data_to_send()
        if data:
            try:
                self.sock.sendall(data)
            except OSError:
                self.closed = True

    def _pump(self, timeout):
        if self.closed:
            return False
        d, how = recv_once(self.sock, timeout)
        if how:
            self.closed = True
            return False
        for ev in self.conn.receive_data(d):
            self._event(ev)
        self._flush()
        return True

    def _event(self, ev):
        r = self.responses.get(getattr(ev, "stream_id", None))
        if isinstance(ev, h2.events.RemoteSettingsChanged):
            self.remote_settings_seen = True
        elif isinstance(ev, h2.events.ResponseReceived):
            r.headers = list(ev.headers)
            r.status = int(dict(ev.headers)[":status"])
        elif isinstance(ev, h2.events.PingAckReceived):
            self.ping_acks += 1
        elif isinstance(ev, h2.events.DataReceived):
            r.body += ev.data
            self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
        elif isinstance(ev, h2.events.TrailersReceived):
            r.trailers = list(ev.headers)
        elif isinstance(ev, h2.events.StreamEnded):
            r.ended = True
        elif isinstance(ev, h2.events.StreamReset):
            if r is not None:
                r.reset = ev.error_code
        elif isinstance(ev, h2.events.ConnectionTerminated):
            self.terminated = (ev.last_stream_id, ev.error_code)
            for sid, resp in self.responses.items():
                resp.goaway = self.terminated

    def start(self, method="GET", path="/", headers=(), body=b"", trailers=None, authority=None):
        """Opens a stream (request head + body + trailers); returns its id."""
        sid = self.conn.get_next_available_stream_id()
        hs = [(":method", method), (":scheme", "https" if self.tls else "http"),
              (":authority", authority or "localhost:%d" % self.port), (":path", path)] + list(headers)
        self.responses[sid] = Response()
        end = not body and not trailers
        self.conn.send_headers(sid, hs, end_stream=end)
        self._flush()
        if body:
            self._send_body(sid, body, end_stream=not trailers)
        if trailers:
            self.conn.send_headers(sid, list(trailers), end_stream=True)
            self._flush()
        return sid

    def _send_body(self, sid, body, end_stream, timeout=None):
        view = memoryview(body)
        deadline = time.monotonic() + (timeout or T(30))
        while view:
            n = min(len(view), self.conn.local_flow_control_window(sid), self.conn.max_outbound_frame_size)
            if n <= 0:
                if self.closed or time.monotonic() > deadline or self.responses[sid].reset is not None:
                    raise AssertionError("request body stalled: lb granted no window (%s)" % self.responses[sid])
                self._pump(0.05)
                continue
            self.conn.send_data(sid, bytes(view[:n]), end_stream=end_stream and n == len(view))
            self._flush()
            view = view[n:]

    def wait(self, sid, timeout=None):
        r = self.responses[sid]
        deadline = time.monotonic() + (timeout or T(15))
        while not (r.ended or r.reset is not None or self.terminated or self.closed):
            if time.monotonic() > deadline:
                break
            self._pump(0.05)
        return r

    def request(self, method="GET", path="/", headers=(), body=b"", trailers=None, timeout=None, authority=None):
        return self.wait(self.start(method, path, headers, body, trailers, authority), timeout)

    def ping(self, timeout=None):
        """PING; True once its ACK arrived."""
        before = self.ping_acks
        self.conn.ping(b"pingpong")
        self._flush()
        deadline = time.monotonic() + (timeout or T(5))
        while self.ping_acks == before and not self.closed and time.monotonic() < deadline:
            self._pump(0.05)
        return self.ping_acks > before

    def close(self):
        try:
            self.conn.close_connection()
            self._flush()
        except Exception:
            pass
        try:
            self.sock.close()
        except OSError:
            pass
