#!/usr/bin/env python3
"""HTTP/2 abuse: lb stops it, not just survives it (SPEC 9).

Run alone (from the repository root, after `make`):
    LB_BIN=build/lb /usr/bin/python3 tests/integration/h2/abuse_test.py
    ... abuse_test.py RapidReset zero_window       # only ids containing these words
(every case here is lb-specific: under H2_REFERENCE=haproxy they all skip.)

For each attack the suite asserts three things: lb sends GOAWAY with
ENHANCE_YOUR_CALM (0xb) and closes the connection;
`lb_http2_connections_closed_total{listener="h2c",reason=R}` on the admin
/metrics went up by one with the right R (and no other reason moved); and a
normal client on another connection to the same listener was served
meanwhile with a normal status. Next to each attack, a "below the threshold"
case checks that legitimate traffic of the same shape (browsers cancel
streams, gRPC sends many small frames) is never cut off.

The thresholds lb implements (its documented choices; SPEC 9 leaves them to lb):
  rapid_reset         ≥ 100 streams reset by the client before lb sent their
                      response headers, and those ≥ 50% of the streams the
                      connection opened.
  continuation_flood  a header block still open (no END_HEADERS) whose
                      HEADERS+CONTINUATION payload exceeds limits.max_header_bytes,
                      or more than 32 CONTINUATION frames in one block. A
                      *complete* block whose decoded size (name + value + 32 per
                      field) exceeds max_header_bytes gets 431 on its stream.
  control_flood       more than 100 SETTINGS or PING frames within one second;
                      PRIORITY frames beyond 100 + 100 per stream opened;
                      WINDOW_UPDATE frames beyond 100 + 10 per DATA frame lb sent;
                      a stream stalled on a zero window past timeouts.send.
  empty_frames        more than 16 consecutive DATA frames with an empty payload
                      and no END_STREAM, or empty CONTINUATION frames.
  stream_limit        each stream beyond max_concurrent_streams gets
                      RST_STREAM(REFUSED_STREAM); the 10th such refusal on a
                      connection ends it.
  protocol_error      not abuse: a plain protocol violation gets GOAWAY with its
                      own error code (PROTOCOL_ERROR, FRAME_SIZE_ERROR...), never
                      ENHANCE_YOUR_CALM, and is counted under this reason.

How others detect these, and what that means for the assertions:

Rapid Reset (CVE-2023-44487). Envoy closes a connection once it has seen
overload.premature_reset_total_stream_count (500) streams of which more than
half were reset within overload.premature_reset_min_stream_lifetime_seconds;
nghttp2 ≥ 1.57 rate-limits inbound RST_STREAM with a token bucket; HAProxy was
not exposed because a reset stream keeps counting against
tune.h2.max-concurrent-streams until its backend work ends, and since 3.0 it
also counts such "glitches" per connection (tune.h2.fe.glitches-threshold).
lb's rule is Envoy's shape with lower numbers: the attack test resets every
stream at once on a path the backend holds, so the responses never win the
race; the two legitimate shapes (cancel after the response headers arrived,
and a minority of early resets mixed into normal traffic) must not trip it.

CONTINUATION flood (2024, CVE-2024-27316 and siblings). HAProxy was not
affected because it never accepts a header block larger than one buffer;
nghttp2 ≥ 1.61 caps CONTINUATION frames per block (nghttp2_option_set_max_continuations,
default 8 — lb must raise it to honour its 32, see the "within limits" case);
Envoy counts the block's bytes against max_request_headers_kb. The tests send
blocks that never end (by size and by frame count) and expect the connection
closed before END_HEADERS; a complete but oversized block is a stream-level 431.

HPACK bomb (CVE-2016-6581 shape). A small block can decode to megabytes by
referencing one large dynamic-table entry many times. Decoders must bound the
decoded list, not only the table: nghttp2 bounds the table to
SETTINGS_HEADER_TABLE_SIZE, Envoy resets the stream past max_request_headers_kb,
HAProxy refuses once the list outgrows its buffer. The test repeats a 2 MB
bomb on many streams and asserts 431 (or a closed connection), that nothing
reaches the backend, and that lb's VmRSS stays within 50 MB of its baseline.

Control-frame floods (CVE-2019-9512 ping, -9515 settings, -9513 priority,
-9518 empty frames). Envoy bounds queued outbound control frames
(max_outbound_control_frames, 1000), PRIORITY frames per stream
(max_inbound_priority_frames_per_stream, 100), WINDOW_UPDATE frames per DATA
frame sent (max_inbound_window_update_frames_per_data_frame_sent, 10) and
consecutive empty frames (max_consecutive_inbound_frames_with_empty_payload);
nghttp2 bounds queued ACKs (max_outbound_ack) and SETTINGS entries. The tests
send bursts well past lb's numbers, and bursts well below them.

Refused streams. RFC 9113 5.1.2 lets a server refuse streams over its limit;
a client that keeps doing it ignores the SETTINGS it acknowledged, and each
refusal costs lb work, so repeated refusals end the connection.

Zero-window slow reader (CVE-2019-9517, "internal data buffering"). A client
that announces a zero window and never opens it makes a naive proxy buffer
the whole response: Envoy bounds per-stream buffers with watermarks and a
stream idle timeout, nginx has send_timeout, HAProxy timeout client. The test
asks for 200 MB through lb with INITIAL_WINDOW_SIZE 0 and asserts lb's RSS
does not follow the response (backpressure to the server) and that the
connection is closed after timeouts.send (SPEC 11: the client accepts no
response byte; here 2 s, scaled, with client_idle much longer so that it
cannot be the one that closes).
"""

import os
import threading

from harness import *

MCS = 10                      # http2.max_concurrent_streams of the attacked listener
MAX_HEADER_BYTES = 32768      # limits.max_header_bytes (the default)
REASONS = ("rapid_reset", "continuation_flood", "control_flood", "empty_frames", "stream_limit", "protocol_error")
RSS_BOUND = 50 << 20
METRIC = "lb_http2_connections_closed_total"


def asan_env():
    """Under ASan, a small quarantine: freed memory must not look like a leak of RSS."""
    if not ASAN:
        return None
    return {"ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=16:thread_local_quarantine_size_kb=256"}


class Abuse(H2TestCase):
    server_env = asan_env()

    @classmethod
    def make_config(cls, backend):
        return config([listener("h2c", http2={"cleartext": True, "max_concurrent_streams": MCS},
                                limits={"max_header_bytes": MAX_HEADER_BYTES, "max_headers": 200})],
                      [pool("rec", [backend.addr])])

    def setUp(self):
        if REFERENCE:
            self.skipTest("lb-specific thresholds and metrics (H2_REFERENCE=%s)" % REFERENCE)
        super().setUp()

    # -- shared assertions
    def counts(self):
        samples = self.lb.metrics()
        return {r: metric_sum(samples, METRIC, listener="h2c", reason=r) for r in REASONS}

    def assert_counted(self, before, reason):
        """The reason's counter went up by exactly one; no other reason moved."""
        ok = wait_until(lambda: self.counts()[reason] >= before[reason] + 1, T(5), 0.05)
        after = self.counts()
        self.assertTrue(ok, "%s{listener=\"h2c\",reason=\"%s\"} did not go up: before %s, after %s" % (
            METRIC, reason, before, after))
        self.assertEqual(after[reason], before[reason] + 1, "counted more than once: %s → %s" % (before, after))
        moved = {r: (before[r], after[r]) for r in REASONS if r != reason and after[r] != before[r]}
        self.assertFalse(moved, "other reasons moved: %s" % moved)

    def assert_not_counted(self, before):
        after = self.counts()
        self.assertEqual(after, before, "a connection was counted as abusive")

    def assert_calm_goaway(self, c, what):
        self.assert_conn_error(c, (ENHANCE_YOUR_CALM,), what, T(5))
        self.assert_closed(c, what)

    def assert_still_fine(self, c, what):
        self.assertFalse(c.goaways or c.closed, "%s: lb ended a legitimate connection: %s" % (what, c.frame_summary()))
        self.assert_stream_ok(c)

    def pseudo(self, c, path):
        return b"".join(literal(k, v) for k, v in c.request_headers(path=path))

    def flood(self, c, data, reason, what):
        """Sends the flood, checks a normal client meanwhile, then GOAWAY + counter."""
        before = self.counts()
        c.send(data)
        self.assert_served()
        self.assert_calm_goaway(c, what)
        self.assert_counted(before, reason)


# ---------------------------------------------------------------------------
class RapidReset(Abuse):
    def test_rapid_reset_is_stopped(self):
        """HEADERS + RST_STREAM(CANCEL) in a loop on a path the backend holds."""
        before = self.counts()
        c = self.raw()
        key = self.key()
        sent = 0
        while sent < 1000 and not c.goaways and not c.closed:
            batch = b""
            for _ in range(20):
                sid = c.new_sid()
                batch += c.headers_frame_bytes(sid, self.pseudo(c, "/hold/%s?s=%d" % (key, sid))) + \
                    frame(RST_STREAM, 0, sid, struct.pack(">I", CANCEL))
            c.send(batch)
            sent += 20
            c.pump(0)
            if sent == 60:
                self.assert_served(what="a normal client during the rapid reset")
        self.assert_calm_goaway(c, "rapid reset after %d streams" % sent)
        self.assertGreaterEqual(c.goaways[-1][0], 199, "GOAWAY before 100 streams were reset: %s" % c.goaways)
        self.assert_counted(before, "rapid_reset")

    def test_cancel_after_response_headers_is_fine(self):
        """Browsers cancel streams whose response started (navigation, scrolling): 150 of them."""
        before = self.counts()
        c = self.raw()
        for _ in range(150 // 6):
            key = self.key()
            sids = [c.request("GET", "/hold/%s?head=1&size=100000" % key) for _ in range(6)]
            self.assertTrue(c.wait(lambda: all(c.stream(s).blocks or c.stream(s).reset is not None for s in sids),
                                   T(5)), c.frame_summary())
            self.assertEqual([c.stream(s).reset for s in sids], [None] * 6, "streams refused: " + c.frame_summary())
            for s in sids:
                c.rst(s, CANCEL)
            self.backend.release(key)  # the server finishes its side, as a real one would
        self.assert_still_fine(c, "150 streams cancelled after their response headers")
        self.assert_not_counted(before)

    def test_minority_of_early_resets_is_fine(self):
        """Early resets mixed 3 in 8 with completed requests: 105 resets in 280 streams
        (at most 8 streams open at once, under max_concurrent_streams)."""
        before = self.counts()
        c = self.raw()
        key = self.key()
        for _ in range(35):
            done = [c.request("GET", "/ok/" + key) for _ in range(5)]
            for _ in range(3):
                sid = c.request("GET", "/hold/" + key)
                c.rst(sid, CANCEL)
            self.assertTrue(c.wait(lambda: all(c.stream(s).ended for s in done) or c.goaways, T(5)),
                            c.frame_summary())
            self.assertFalse(c.goaways, "GOAWAY after a third of the streams were reset: %s" % c.frame_summary())
        self.assert_still_fine(c, "a minority of early resets")
        self.assert_not_counted(before)


# ---------------------------------------------------------------------------
class ContinuationFlood(Abuse):
    def test_block_bytes_past_max_header_bytes(self):
        """HEADERS + CONTINUATION past max_header_bytes without END_HEADERS."""
        c = self.raw()
        data = c.headers_frame_bytes(c.new_sid(), self.pseudo(c, "/cf/" + self.key()), end_headers=False)
        for i in range(4):  # 4 x 16 KiB: twice the limit, never ended
            data += frame(CONTINUATION, 0, 1, literal("x-f%d" % i, "v" * 16370))
        self.flood(c, data, "continuation_flood", "a header block past max_header_bytes")

    def test_too_many_continuation_frames(self):
        """More than 32 CONTINUATION frames in one block (each small)."""
        c = self.raw()
        data = c.headers_frame_bytes(c.new_sid(), self.pseudo(c, "/cf/" + self.key()), end_headers=False)
        for i in range(40):
            data += frame(CONTINUATION, 0, 1, literal("x-c%d" % i, "v"))
        self.flood(c, data, "continuation_flood", "40 CONTINUATION frames")

    def test_many_continuation_frames_within_limits_are_fine(self):
        """A complete block in HEADERS + 20 CONTINUATION frames is a normal request."""
        before = self.counts()
        c = self.raw()
        key = self.key()
        sid = c.new_sid()
        data = c.headers_frame_bytes(sid, self.pseudo(c, "/cf-ok/" + key), end_headers=False)
        for i in range(20):
            data += frame(CONTINUATION, F_END_HEADERS if i == 19 else 0, sid, literal("x-c%d" % i, str(i)))
        c.send(data)
        c.wait_stream(sid)
        self.assertEqual(c.stream(sid).status, 200, "%s; frames %s" % (c.stream(sid).describe(), c.frame_summary()))
        rec = self.backend.seen_path("/cf-ok/" + key)[0]
        self.assertEqual([rec.header("x-c%d" % i) for i in range(20)], [str(i) for i in range(20)])
        self.assert_still_fine(c, "20 CONTINUATION frames")
        self.assert_not_counted(before)

    def test_complete_block_over_max_header_bytes_gets_431(self):
        """A complete block whose wire size is under max_header_bytes but whose
        decoded size (name + value + 32 per field) is over it: 431 on its stream,
        the connection stays up."""
        before = self.counts()
        c = self.raw()
        key = self.key()
        sid = c.new_sid()
        fields = c.request_headers(path="/431/" + key) + [("x-h%02d" % i, "v" * 322) for i in range(95)]
        block = b"".join(literal(k, v) for k, v in fields)
        decoded = sum(len(k) + len(v) + 32 for k, v in fields)
        self.assertLess(len(block), MAX_HEADER_BYTES)  # the test's own premise
        self.assertGreater(decoded, MAX_HEADER_BYTES)
        c.send_block(sid, block, max_frame=16384)
        c.wait_stream(sid)
        st = c.stream(sid)
        self.assertEqual(st.status, 431, "decoded %d > %d, wire %d: %s; frames %s" % (
            decoded, MAX_HEADER_BYTES, len(block), st.describe(), c.frame_summary()))
        self.assertFalse(self.backend.seen_path("/431/" + key))
        self.assert_still_fine(c, "a 431 block")
        self.assert_not_counted(before)


# ---------------------------------------------------------------------------
class HpackBomb(Abuse):
    def test_hpack_bomb(self):
        """One 4000-byte entry in the dynamic table, referenced 500 times per
        block (2 MB decoded from ~600 bytes), on 40 streams."""
        self.assert_served(what="warm-up")
        base = self.lb.rss()
        sampler = RssSampler(self.lb.pid)
        key = self.key()
        outcomes = collections.Counter()
        c, inserted = None, False
        try:
            for i in range(40):
                if c is None or c.closed or c.goaways:
                    c, inserted = self.raw(), False
                table = c.settings.get(S_HEADER_TABLE_SIZE, 4096)
                size = max(16, min(4000, table - 32 - 3))
                block = self.pseudo(c, "/bomb/%s/%d" % (key, i))
                if not inserted:
                    block += literal("x-b", "b" * size, indexing=True)
                    inserted = True
                block += b"\xbe" * 500  # index 62: the newest dynamic entry
                sid = c.new_sid()
                c.send(c.headers_frame_bytes(sid, block))
                c.wait_stream(sid)
                st = c.stream(sid)
                outcome = ("status %s" % st.status if st.status else
                           "RST %s" % ename(st.reset) if st.reset is not None else
                           "GOAWAY %s" % ename(c.connection_error()) if c.goaways else "closed" if c.closed else "none")
                outcomes[outcome] += 1
                self.assertNotEqual(outcome, "none", "no answer to bomb %d: %s" % (i, c.frame_summary()))
                self.assertNotEqual(st.status, 200, "a bomb was served")
                if i == 20:
                    self.assert_served(what="a normal client during the HPACK bombs")
        finally:
            peak = sampler.stop()
        self.assertFalse(self.backend.seen_path("/bomb/" + key), "a bomb reached the backend")
        self.assertTrue(set(outcomes) <= {"status 431", "RST PROTOCOL_ERROR", "RST REFUSED_STREAM",
                                          "RST ENHANCE_YOUR_CALM", "GOAWAY COMPRESSION_ERROR",
                                          "GOAWAY ENHANCE_YOUR_CALM", "GOAWAY PROTOCOL_ERROR", "closed"},
                        "outcomes %s" % dict(outcomes))
        if not TSAN:  # TSan's shadow memory makes RSS meaningless
            self.assertLess(peak - base, RSS_BOUND, "lb's RSS grew by %d MB (outcomes %s)" % (
                (peak - base) >> 20, dict(outcomes)))


# ---------------------------------------------------------------------------
class ControlFlood(Abuse):
    def test_settings_flood(self):
        c = self.raw()
        self.flood(c, frame(SETTINGS, 0, 0) * 150, "control_flood", "150 SETTINGS frames")

    def test_ping_flood(self):
        c = self.raw()
        self.flood(c, b"".join(frame(PING, 0, 0, struct.pack(">Q", i)) for i in range(150)), "control_flood",
                   "150 PING frames")

    def test_priority_flood(self):
        c = self.raw()
        data = b"".join(frame(PRIORITY, 0, 2 * i + 101, struct.pack(">IB", 0, 15)) for i in range(150))
        self.flood(c, data, "control_flood", "150 PRIORITY frames, no stream opened")

    def test_window_update_flood(self):
        c = self.raw()
        self.flood(c, frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", 1)) * 150, "control_flood",
                   "150 WINDOW_UPDATE frames, no DATA sent by lb")

    def test_pings_and_settings_below_threshold(self):
        """50 PINGs and 30 SETTINGS in a burst are answered, not punished."""
        before = self.counts()
        c = self.raw()
        c.send(b"".join(frame(PING, 0, 0, struct.pack(">Q", i)) for i in range(50)) + frame(SETTINGS, 0, 0) * 30)
        self.assertTrue(c.wait(lambda: len(c.ping_acks) >= 50 and c.settings_acks >= 31, T(5)),
                        "acks: %d PING, %d SETTINGS" % (len(c.ping_acks), c.settings_acks))
        self.assert_still_fine(c, "50 PINGs + 30 SETTINGS")
        self.assert_not_counted(before)

    def test_priority_frames_scale_with_streams(self):
        """After 3 streams the allowance is 400 PRIORITY frames: 150 are fine."""
        before = self.counts()
        c = self.raw()
        for _ in range(3):
            sid = c.request("GET", "/ok")
            c.wait_stream(sid)
        c.send(b"".join(frame(PRIORITY, 0, 2 * i + 101, struct.pack(">IB", 0, 15)) for i in range(150)))
        self.assert_still_fine(c, "150 PRIORITY frames after 3 streams")
        self.assert_not_counted(before)

    def test_window_updates_scale_with_data_frames(self):
        """After a 1 MiB response (≥ 64 DATA frames) the allowance is ≥ 740 WINDOW_UPDATEs."""
        before = self.counts()
        c = self.raw()
        sid = c.request("GET", "/bytes/%d" % (1 << 20))
        c.wait_stream(sid, T(15))
        st = c.stream(sid)
        self.assertEqual((st.status, len(st.data)), (200, 1 << 20), st.describe())
        self.assertGreaterEqual(st.data_frames, 64)
        c.send(frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", 1)) * 150)
        self.assert_still_fine(c, "150 WINDOW_UPDATEs after %d DATA frames" % st.data_frames)
        self.assert_not_counted(before)


# ---------------------------------------------------------------------------
class EmptyFrames(Abuse):
    def test_empty_data_frames(self):
        c = self.raw()
        sid = c.request("POST", "/echo", end_stream=False)
        self.flood(c, frame(DATA, 0, sid) * 20, "empty_frames", "20 empty DATA frames")

    def test_empty_continuation_frames(self):
        c = self.raw()
        data = c.headers_frame_bytes(1, self.pseudo(c, "/empty-cont"), end_headers=False) + frame(CONTINUATION, 0, 1) * 20
        self.flood(c, data, "empty_frames", "20 empty CONTINUATION frames")

    def test_few_empty_frames_are_fine(self):
        before = self.counts()
        c = self.raw()
        sid = c.request("POST", "/echo", end_stream=False)
        c.send(frame(DATA, 0, sid) * 8 + frame(DATA, F_END_STREAM, sid, b"fine"))
        c.wait_stream(sid)
        self.assertEqual((c.stream(sid).status, bytes(c.stream(sid).data)), (200, b"fine"))
        self.assert_still_fine(c, "8 empty DATA frames")
        self.assert_not_counted(before)


# ---------------------------------------------------------------------------
class StreamLimit(Abuse):
    def fill(self, c, key):
        sids = [c.request("GET", "/hold/%s?i=%d" % (key, i)) for i in range(MCS)]
        self.assertEqual(len(self.backend.wait_path("/hold/" + key, MCS, T(10))), MCS)
        return sids

    def refuse_one(self, c, key):
        sid = c.request("GET", "/over/" + key)
        c.wait(lambda: c.stream(sid).reset is not None or c.stream(sid).blocks or c.goaways or c.closed, T(5))
        return c.stream(sid)

    def test_repeated_refusals_end_the_connection(self):
        before = self.counts()
        c = self.raw()
        key = self.key()
        self.fill(c, key)
        over = []
        for _ in range(12):
            st = self.refuse_one(c, key)
            over.append(st.sid)
            self.assertIsNone(st.status, "a stream over the limit was served: " + st.describe())
            if c.goaways or c.closed:
                break
        self.assert_served(what="a normal client while streams are refused")
        self.assert_calm_goaway(c, "after %d streams over the limit" % len(over))
        # Refusals lb sent before its GOAWAY, in frame order.
        refused = 0
        for f in c.frames:
            if f.type == GOAWAY:
                break
            if f.type == RST_STREAM and f.stream_id in over and f.error_code in (REFUSED_STREAM, PROTOCOL_ERROR):
                refused += 1
        # Before the client acknowledges lb's SETTINGS, nghttp2 refuses each
        # stream (REFUSED_STREAM) and lb closes at the 10th; once it has, the
        # first stream over the limit ends the connection (RFC 9113 5.4.1).
        self.assertLessEqual(refused, 10, "GOAWAY after %d refusals (expected by the 10th): %s" % (
            refused, c.frame_summary()))
        self.assertFalse(self.backend.seen_path("/over/" + key))
        self.backend.release(key)
        self.assert_counted(before, "stream_limit")

    def test_a_client_at_the_limit_is_never_refused(self):
        """A client that keeps exactly max_concurrent_streams open, again and
        again (what browsers and gRPC clients do), trips nothing."""
        before = self.counts()
        c = self.raw()
        for round_ in range(3):
            key = self.key()
            sids = self.fill(c, key)
            self.backend.release(key)
            self.assertTrue(c.wait(lambda: all(c.stream(s).ended for s in sids), T(10)),
                            "round %d: held streams did not complete" % round_)
            self.assertTrue(all(c.stream(s).status == 200 and c.stream(s).reset is None for s in sids))
        self.assert_still_fine(c, "3 rounds at max_concurrent_streams")
        self.assert_not_counted(before)


# ---------------------------------------------------------------------------
class ZeroWindow(Abuse):
    """A reader that never opens its window, against the fast C++ backend ($BACKEND_BIN)."""
    IDLE = T(2.0)

    @classmethod
    def setUpClass(cls):
        if REFERENCE:
            raise unittest.SkipTest("lb-specific")
        cls.cpp = CppBackend()
        try:
            super().setUpClass()
        except BaseException:
            cls.cpp.close()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            cls.cpp.close()

    @classmethod
    def make_config(cls, backend):
        return config([listener("h2c", pool="big", http2={"cleartext": True, "max_concurrent_streams": MCS},
                                timeouts={"send": dur(cls.IDLE), "client_idle": dur(cls.IDLE * 10)})],
                      [pool("big", [cls.cpp.addr])])

    def test_zero_window_reader(self):
        self.assert_served(what="warm-up")
        before = self.counts()
        base = self.lb.rss()
        sampler = RssSampler(self.lb.pid)
        try:
            c = self.raw(settings={S_INITIAL_WINDOW_SIZE: 0})
            c.auto_window = False
            sid = c.request("GET", "/bytes/%d" % 200_000_000)
            t0 = time.monotonic()
            c.wait(lambda: c.goaways or c.closed, self.IDLE / 2)
            self.assert_served(what="a normal client while a reader stalls")
            self.assertTrue(c.wait(lambda: c.goaways or c.closed, self.IDLE + T(5)),
                            "the zero-window connection was not closed: " + c.frame_summary())
            elapsed = time.monotonic() - t0
        finally:
            peak = sampler.stop()
        self.assert_calm_goaway(c, "a stream stalled on a zero window")
        self.assertGreaterEqual(elapsed, self.IDLE * 0.8, "closed before timeouts.send (%.2f s)" % elapsed)
        self.assertEqual(len(c.stream(sid).data), 0, "DATA beyond a zero window")
        self.assert_counted(before, "control_flood")
        if not TSAN:
            self.assertLess(peak - base, RSS_BOUND, "lb buffered the response: RSS grew by %d MB" % (
                (peak - base) >> 20))


# ---------------------------------------------------------------------------
class ProtocolError(Abuse):
    def violation(self, data, codes, what):
        before = self.counts()
        c = self.raw()
        c.send(data)
        self.assert_served()
        self.assert_conn_error(c, codes, what)
        self.assert_closed(c, what)
        self.assert_counted(before, "protocol_error")

    def test_data_on_stream_zero(self):
        self.violation(frame(DATA, 0, 0, b"garbage"), (PROTOCOL_ERROR,), "DATA on stream 0")

    def test_continuation_without_headers(self):
        self.violation(frame(CONTINUATION, F_END_HEADERS, 1, b"\x82"), (PROTOCOL_ERROR,), "CONTINUATION alone")

    def test_http1_bytes_after_the_preface(self):
        """Garbage where frames should be: GOAWAY with a protocol code, never ENHANCE_YOUR_CALM."""
        self.violation(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", (PROTOCOL_ERROR, FRAME_SIZE_ERROR), "HTTP/1.1 bytes")


if __name__ == "__main__":
    main()
