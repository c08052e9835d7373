"""The lb configuration and shared shapes of the HTTP/2 conformance files
(conformance_connection_test.py, conformance_streams_test.py): not a test
file itself (run.sh runs *_test.py).

What is asserted: each case opens its own connection to a class-wide lb and
checks lb's frames (RawConn records every frame; H2Client is h2's own state
machine, which raises when lb breaks the protocol) and what the recording
backend received. Where the RFC allows a stream error or a connection error,
both are accepted; where it names an error code, that code is required.
Where the RFC allows RST_STREAM(REFUSED_STREAM) or PROTOCOL_ERROR, both pass.
The shared shapes below: conn_error (a connection error on a fresh
connection), stream_or_conn_error and held_stream_error (either, where the
RFC lets lb choose), hold (a stream the backend answers on release).

lb configuration (Conformance.make_config): listener "h2c" (prior-knowledge h2c,
max_concurrent_streams 50, initial_window_size 98304, max_body_bytes 4 MiB,
a route /dead/ to a pool whose only server refuses connections), "h2tls"
(TLS, default ALPN and http2 block), "h2c-maxreq"
(max_requests_per_connection 3) and "h2c-idle" (client_idle 1 s, scaled).
Every test class of those files derives from Conformance and so gets its own
lb with this configuration.
"""

from harness import H2TestCase, T, config, dur, ename, free_port, listener, pool

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
