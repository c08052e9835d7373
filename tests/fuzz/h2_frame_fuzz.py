#!/usr/bin/python3
"""tests/fuzz/h2_frame_fuzz.py — mutated HTTP/2 frame sequences against a
running lb (normally the sanitizer build, see run_h2_campaign.sh).

  h2_frame_fuzz.py --port P[,P2...] [--seconds N] [--seed S] [--conns C]
                   [--lb-pid PID] [--log-dir DIR]
  h2_frame_fuzz.py --port P --seed S --replay-conn N[:M]  connection N (to M, one at a time) again
  h2_frame_fuzz.py --port P --replay FILE                 a saved script again

Each connection is an h2c prior-knowledge conversation generated from
(seed, connection index) alone: the preface, SETTINGS, then requests on
several streams — HEADERS (HPACK blocks from hpack's Encoder or literals built
by hand, split into CONTINUATIONs, padded, with priority), DATA bodies,
trailers, RST_STREAM, PING, SETTINGS, WINDOW_UPDATE, PRIORITY, GOAWAY,
unknown frame types — to the test backend's routes (/, /echo, /bytes/N,
/chunked/N, /delay/MS, /status/N, /drop, /close/N, WebSocket extended
CONNECT to /ws). Then some frames are mutated: length, type, flags, stream
id, padding length, truncation, bit flips in HPACK blocks, oversized or
malformed field values, random bytes, duplicates. The bytes go out in random
pieces with short pauses and reads (or none, so lb's output backs up), and
the connection ends with a clean close, a half-close or a reset (SO_LINGER 0)
at a random point. C connections run at once (one asyncio loop).

A checker thread meanwhile asks each port, about once a second, for
GET / over HTTP/2 (the h2 package's client state machine, which raises on a
protocol violation by lb) and over HTTP/1.1, expecting the backend's 200
"hello from"; with --lb-pid it also watches the process. It fails the run
when lb died or when checks failed for 30 s in a row (a hang); the final check
after the traffic stops must pass.

The bytes a connection sends depend only on --seed and its index (timing
does not), so a failure is replayed with the same seed. On failure the
driver names the connections open in its last 5 s (--replay-conn A:B sends
them one at a time and stops at the first after which lb is dead) and writes
the scripts of the last ones started to --log-dir as conn-N.json (--replay
FILE sends one again).

Exit: 0 pass, 1 lb died or stopped answering, 2 usage.
"""

import argparse
import asyncio
import collections
import http.client
import json
import os
import random
import socket
import struct
import sys
import threading
import time

import h2.config
import h2.connection
import h2.events
import hpack
import hyperframe.frame as hf

# Frame and HPACK builders and constants: the h2 integration suite's own
# (tests/integration/h2/harness.py), which builds anything, malformed too.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration", "h2"))
from harness import (CONTINUATION, DATA, F_ACK, F_END_HEADERS, F_END_STREAM, F_PADDED,  # noqa: E402
                     F_PRIORITY, GOAWAY, HEADERS, PING, PREFACE, PRIORITY, PUSH_PROMISE, RST_STREAM,
                     SETTINGS, WINDOW_UPDATE, frame, hpack_int, literal)


# ---- generation --------------------------------------------------------------------

PATHS = [b"/", b"/", b"/echo", b"/echo/x?y=1", b"/bytes/0", b"/bytes/100", b"/bytes/70000",
         b"/chunked/5000", b"/chunked/200000", b"/delay/20", b"/delay/300", b"/status/204",
         b"/status/304", b"/status/503", b"/status/101", b"/drop", b"/close/3000", b"/health",
         b"/stats", b"*", b"/a?b=1&c", b"/%00", b"/ws"]
METHODS = [b"GET", b"GET", b"POST", b"POST", b"PUT", b"HEAD", b"OPTIONS", b"DELETE", b"CONNECT",
           b"PATCH", b"get", b"BREW"]
WEIRD_FIELDS = [
    (b"connection", b"close"), (b"transfer-encoding", b"chunked"), (b"te", b"gzip"),
    (b"te", b"trailers"), (b"upgrade", b"h2c"), (b"keep-alive", b"1"), (b"Host", b"UPPER"),
    (b"host", b"other.example"), (b"content-length", b"5"), (b"content-length", b"0"),
    (b"content-length", b"-1"), (b"content-length", b"1, 1"), (b"content-length", b"99999999999999999999"),
    (b"expect", b"100-continue"), (b"cookie", b"a=1"), (b"cookie", b"b=2"), (b":path", b"/dup"),
    (b":status", b"200"), (b":method", b"GET"), (b":unknown", b"x"), (b"x-bad", b"a\r\nb"),
    (b"x-bad", b"a\x00b"), (b"x-sp", b" lead"), (b"x-sp", b"trail "), (b"", b"empty-name"),
    (b"x y", b"space"), (b"x-forwarded-for", b"1.2.3.4"), (b"x-request-id", b"rid"),
    (b"x-client-cert-subject", b"CN=evil"), (b"proxy-connection", b"keep-alive"),
    (b":protocol", b"websocket"), (b"sec-websocket-version", b"13"), (b"trailer", b"x-t"),
]
BODY = bytes(97 + (i % 26) for i in range(1 << 15))
SETTING_IDS = [0x1, 0x2, 0x3, 0x4, 0x5, 0x6, 0x8, 0x9, 0x0, 0x7, 0xFF, 0xFFFF]


FORCE_KIND = os.environ.get("H2_FUZZ_KIND")  # valid / hostile / mutated: every connection (debugging)


class Gen:
    """The script of one connection, from its own Random.

    Three kinds of connection, so that some traffic gets deep into lb (to the
    servers and back) and some is hostile:
      valid    requests a correct client may send (within the listener's
               stream window, sane SETTINGS/WINDOW_UPDATE/PRIORITY/RST/PING);
      hostile  also invalid fields, frames on idle or closed streams, bad
               SETTINGS values, self-dependencies, odd stream ids, floods;
      mutated  hostile, then bytes of some frames mutated.
    """

    def __init__(self, rng, tight=False):
        self.r = rng
        self.tight = tight  # the tight listener: 1000-byte stream window and bodies
        self.enc = hpack.Encoder()
        self.next_id = 1
        self.frames = []  # (bytes, kind) before mutation; kind 'hpack' marks header blocks
        c = rng.random()
        self.kind = FORCE_KIND or ("valid" if c < 0.4 else "hostile" if c < 0.7 else "mutated")
        self.valid = self.kind == "valid"

    def pick(self, seq):
        return seq[self.r.randrange(len(seq))]

    def chance(self, p):
        return self.r.random() < p

    def bad(self, p):
        """A chance taken only on hostile and mutated connections."""
        return not self.valid and self.r.random() < p

    def add(self, data, kind="frame"):
        self.frames.append((data, kind))

    # -- header blocks
    def header_list(self):
        r = self.r
        method = self.pick(METHODS if not self.valid else METHODS[:8])
        path = self.pick(PATHS)
        if method == b"CONNECT" and (self.valid or self.chance(0.7)):
            fields = [(b":method", b"CONNECT"), (b":protocol", b"websocket"), (b":scheme", b"http"),
                      (b":path", b"/ws"), (b":authority", b"fuzz"), (b"sec-websocket-version", b"13")]
        else:
            if self.valid and path == b"*":
                method = b"OPTIONS"
            authorities = [b"fuzz", b"fuzz:80", b"[::1]:1"] + ([] if self.valid else [b"", b"a@b", b"x" * 300])
            fields = [(b":method", method), (b":scheme", self.pick([b"http", b"https"] + [b"ftp"] * (not self.valid))),
                      (b":authority", self.pick(authorities)), (b":path", path)]
            if self.bad(0.1):
                del fields[r.randrange(len(fields))]
            if self.bad(0.1):
                r.shuffle(fields)
        # (On valid connections the block stays within the listener's
        # max_header_bytes: a larger one still arriving is a continuation flood.)
        small = self.valid and self.tight
        for _ in range(r.choice([0, 0, 1, 2, 5] + [30] * (not small))):
            fields.append((b"x-f%d" % r.randrange(100), b"v" * r.choice([0, 1, 10] + [100] * (not small))))
        if self.chance(0.1):
            fields.append(self.pick([(b"cookie", b"a=1"), (b"cookie", b"b=2"), (b"te", b"trailers"),
                                     (b"expect", b"100-continue"), (b"x-request-id", b"rid")]))
        if self.bad(0.3):
            fields.append(self.pick(WEIRD_FIELDS))
        if self.chance(0.05) and not small:  # (over 64 KiB: nghttp2's limit on one field)
            fields.append((b"x-big", b"b" * r.choice([4000, 17000] + [40000, 70000] * (not self.valid))))
        if self.bad(0.03):
            fields += [(b"x-many-%d" % i, b"") for i in range(r.choice([100, 200, 1000]))]
        return fields

    def block(self, fields):
        r = self.r
        if self.valid or self.chance(0.75):
            try:
                # hpack's Encoder keeps a dynamic table: later blocks depend on it.
                # (Huffman only on small blocks: hpack's coder is slow Python.)
                small = sum(len(n) + len(v) for n, v in fields) < 2000
                return self.enc.encode([(n, v) for n, v in fields], huffman=small and self.chance(0.5))
            except Exception:
                pass
        out = b""
        if self.chance(0.05):
            out += hpack_int(r.choice([0, 100, 4096, 5000, 1 << 20]), 5, 0x20)  # table size update
        for n, v in fields:
            out += literal(n, v, indexing=self.chance(0.2))
        if self.chance(0.05):
            out += bytes([self.r.randrange(256) for _ in range(r.randrange(1, 8))])  # junk
        return out

    def headers_frames(self, sid, block, end_stream):
        r = self.r
        flags = F_END_STREAM if end_stream else 0
        prefix, pad = b"", b""
        if self.chance(0.15):
            pad = b"\0" * r.choice([0, 1, 10, 255])
            prefix += bytes([len(pad)])
            flags |= F_PADDED
        if self.chance(0.15):
            dep = self.pick([0, 1 if sid > 1 else 0] + ([] if self.valid else [sid, sid + 2, 0x80000000 | 3]))
            prefix += struct.pack(">IB", dep, r.randrange(256))
            flags |= F_PRIORITY
        # Split into HEADERS + CONTINUATIONs; the max frame size is 16384.
        cut = 16384 - len(prefix) - len(pad)
        if self.chance(0.3):
            cut = max(r.choice([1, 5, 100, 1000]), len(block) // (30 if self.valid else 40))
        pieces = [block[i:i + cut] for i in range(0, max(len(block), 1), cut)] or [b""]
        if len(pieces) > 1 and self.chance(0.2) and len(pieces) < 60:
            pieces.insert(r.randrange(1, len(pieces)), b"")  # an empty CONTINUATION
        for i, p in enumerate(pieces):
            last = i == len(pieces) - 1
            if i == 0:
                self.add(frame(HEADERS, flags | (F_END_HEADERS if last else 0), sid, prefix + p + pad), "hpack")
            else:
                self.add(frame(CONTINUATION, F_END_HEADERS if last else 0, sid, p), "hpack")

    def data_frames(self, sid, total, end_stream):
        r = self.r
        sent = 0
        while True:
            n = min(total - sent, r.choice([1, 10, 1000, 16384] + [0] * (not self.valid)))
            last = sent + n >= total
            flags = F_END_STREAM if (last and end_stream) else 0
            payload = BODY[:n]
            if self.chance(0.1) and sid > 0 and n + 256 <= 16384:
                f = hf.DataFrame(sid, data=payload, pad_length=r.randrange(0, 256))
                f.flags.add("PADDED")
                if flags:
                    f.flags.add("END_STREAM")
                self.add(f.serialize())
            elif self.bad(0.05):
                pad = r.randrange(0, 256)
                self.add(frame(DATA, flags | F_PADDED, sid, bytes([pad]) + payload + b"\0" * pad))
            else:
                self.add(frame(DATA, flags, sid, payload))
            sent += n
            if last or len(self.frames) > 400:
                return

    # -- one request on a new stream
    def request(self):
        r = self.r
        sid = self.next_id
        self.next_id += 2
        if self.bad(0.03):
            sid = self.pick([0, 2, 4, sid - 2 if sid > 2 else 1, 0x7FFFFFFF, 0x80000001])
        fields = self.header_list()
        sizes = [0, 0, 0, 1, 5, 100, 1000] + ([] if self.tight else [20000, 60000])
        if not self.valid:
            sizes += [20000, 70000]
        body = r.choice(sizes) if self.chance(0.5) else 0
        if self.bad(0.02):
            body = 300000  # past any stream window: lb must not take it
        with_trailers = self.chance(0.15)
        end_on_headers = body == 0 and not with_trailers and self.chance(0.8)
        self.headers_frames(sid, self.block(fields), end_on_headers)
        if end_on_headers:
            return sid
        if body or self.chance(0.5):
            self.data_frames(sid, body, not with_trailers and (self.valid or self.chance(0.9)))
        if with_trailers:
            tf = [(b"x-trailer", b"t"), (b"grpc-status", b"0")]
            if self.bad(0.2):
                tf.append(self.pick([(b":path", b"/t"), (b"content-length", b"1"), (b"te", b"trailers")]))
            self.headers_frames(sid, self.block(tf), self.valid or self.chance(0.9))
        return sid

    def control(self, open_ids):
        r = self.r
        if self.valid:
            sid = self.pick(open_ids) if open_ids else 0
            k = self.pick([0, 1, 3, 4, 5, 6, 10] if sid else [0, 1, 6, 10])
        else:
            # (Mostly on the connection's own streams: a stream error keeps the
            # connection, and what follows on it, going.)
            sid = self.pick(open_ids) if open_ids and self.chance(0.85) else self.pick([0, 1, 2, 99, 0x7FFFFFFF])
            k = r.randrange(11)
        if k == 0:
            self.add(frame(PING, self.pick([0, 0, F_ACK]) if not self.valid else 0, 0,
                           bytes(r.randrange(256) for _ in range(8))))
        elif k == 1:
            if self.valid:
                items = [self.pick([(0x1, 4096), (0x1, 100), (0x3, 100), (0x4, 65535), (0x4, 1 << 20),
                                    (0x5, 16384), (0x5, 65535), (0x6, 8192)]) for _ in range(r.randrange(0, 3))]
            else:
                items = [(self.pick(SETTING_IDS), self.pick([0, 1, 100, 4096, 16383, 16384, 65535, 65536,
                                                             (1 << 24) - 1, 1 << 24, (1 << 31) - 1, 1 << 31,
                                                             0xFFFFFFFF])) for _ in range(r.randrange(0, 5))]
            self.add(frame(SETTINGS, 0, 0, b"".join(struct.pack(">HI", a, b) for a, b in items)))
        elif k == 2:
            self.add(frame(SETTINGS, F_ACK, 0))
        elif k == 3:
            incs = [1, 1000, 65535] + ([] if self.valid else [0, (1 << 31) - 1, 1 << 31])
            self.add(frame(WINDOW_UPDATE, 0, self.pick([0, sid]), struct.pack(">I", self.pick(incs))))
        elif k == 4:
            deps = [0] + ([] if self.valid else [sid, 1, 0x80000000])
            self.add(frame(PRIORITY, 0, sid, struct.pack(">IB", self.pick(deps), r.randrange(256))))
        elif k == 5:
            self.add(frame(RST_STREAM, 0, sid, struct.pack(">I", self.pick([0, 1, 2, 5, 8, 0xB, 0xFFFF]))))
        elif k == 6:
            # (A client's GOAWAY names the last stream lb initiated: none, 0.)
            self.add(frame(GOAWAY, 0, 0, struct.pack(">II", 0 if self.valid else self.pick([0, sid, 0x7FFFFFFF]),
                                                     self.pick([0, 1, 0xB])) + b"debug"[:r.randrange(6)]))
        elif k == 7:
            self.add(frame(self.pick([0xA, 0xB, 0x10, 0xFF]), r.randrange(256), sid, b"ext" * r.randrange(4)))
        elif k == 8:
            self.add(frame(PUSH_PROMISE, F_END_HEADERS, sid, struct.pack(">I", 2) + self.block([(b":method", b"GET")])),
                     "hpack")
        elif k == 9:
            self.add(frame(DATA, r.choice([0, F_END_STREAM]), sid, b"d" * r.choice([0, 10, 17000])))
        else:
            self.add(frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", 1 << 20)))

    def mutate(self, data, kind):
        r = self.r
        b = bytearray(data)
        k = r.randrange(10)
        if kind == "hpack" and self.chance(0.4):
            k = 6  # header blocks: bit flips above all
        if k == 0 and len(b) >= 3:    # length field
            n = self.pick([0, 1, len(b) - 9 + 1, len(b) - 9 - 1, 16384, 16385, 0xFFFFFF, r.randrange(1 << 24)])
            b[0:3] = bytes([(n >> 16) & 0xFF, (n >> 8) & 0xFF, n & 0xFF])
        elif k == 1 and len(b) >= 4:  # type
            b[3] = self.pick([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 0xFF])
        elif k == 2 and len(b) >= 5:  # flags
            b[4] = r.randrange(256)
        elif k == 3 and len(b) >= 9:  # stream id
            b[5:9] = struct.pack(">I", self.pick([0, 1, 2, 3, 5, 0x7FFFFFFF, 0x80000001, r.randrange(1 << 32)]))
        elif k == 4 and len(b) > 9:   # padding length / first payload byte
            b[9] = r.randrange(256)
        elif k == 5:                  # truncation
            b = b[:r.randrange(len(b) + 1)]
        elif k == 6 and len(b) > 9:   # bit flips (HPACK blocks above all)
            for _ in range(r.randrange(1, 6)):
                i = r.randrange(9, len(b))
                b[i] ^= 1 << r.randrange(8)
        elif k == 7:                  # random bytes inserted
            i = r.randrange(len(b) + 1)
            b[i:i] = bytes(r.randrange(256) for _ in range(r.randrange(1, 12)))
        elif k == 8:                  # duplicated
            b = b + b
        else:                         # payload grown past what the length says
            b += b"\0" * r.choice([1, 100, 20000])
        return bytes(b)

    def script(self):
        """-> list of actions: ["send", bytes] / ["sleep", ms] / ["read", ms] / ["end", how]."""
        r = self.r
        pre = PREFACE
        if self.kind == "mutated" and self.chance(0.02):
            pre = self.mutate(pre, "preface")
        self.add(pre, "preface")
        windows = [65535, 1 << 20, (1 << 31) - 1] + ([] if self.valid else [0, 10])
        sett = [(0x4, self.pick(windows)), (0x2, 0)]
        if self.chance(0.3):
            sett.append((0x1, self.pick([0, 100, 4096, 65536])))
        if self.valid or self.chance(0.95):  # (without it: "SETTINGS expected", a connection error)
            self.add(frame(SETTINGS, 0, 0, b"".join(struct.pack(">HI", a, b) for a, b in sett)))
        if self.chance(0.8):
            self.add(frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", 1 << 30)))
        if self.chance(0.5):
            self.add(frame(SETTINGS, F_ACK, 0))
        open_ids = []
        for _ in range(r.choice([1, 1, 2, 3, 5, 10, 40])):
            if self.chance(0.7):
                open_ids.append(self.request())
            for _ in range(r.choice([0, 0, 1, 3])):
                self.control(open_ids)
            if len(self.frames) > 500:
                break
        if self.bad(0.05):  # a rapid-reset burst
            for _ in range(r.choice([20, 120])):
                sid = self.next_id
                self.next_id += 2
                self.headers_frames(sid, self.block([(b":method", b"GET"), (b":scheme", b"http"),
                                                     (b":authority", b"f"), (b":path", b"/delay/50")]), True)
                self.add(frame(RST_STREAM, 0, sid, struct.pack(">I", 8)))
        frames = self.frames
        if self.kind == "mutated":
            for _ in range(r.choice([1, 1, 2, 4])):
                i = r.randrange(len(frames))
                data, kind = frames[i]
                frames[i] = (self.mutate(data, kind), kind)
            if self.chance(0.1):
                i = r.randrange(len(frames))
                j = r.randrange(len(frames))
                frames[i], frames[j] = frames[j], frames[i]
        stream = b"".join(d for d, _ in frames)
        if self.bad(0.1):
            stream = stream[:r.randrange(len(stream) + 1)]  # cut anywhere
        actions = []
        pos = 0
        while pos < len(stream):
            n = r.choice([1, 9, 50, 1000, 16384, 100000, len(stream)])
            actions.append(["send", stream[pos:pos + n]])
            pos += n
            c = r.random()
            if c < 0.1:
                actions.append(["sleep", r.choice([1, 5, 20])])
            elif c < 0.25:
                actions.append(["read", r.choice([0, 5, 50])])
        c = r.random()
        if c < 0.6:
            actions.append(["read", r.choice([10, 100, 500, 1500])])
        elif c < 0.7:
            actions.append(["sleep", r.choice([50, 500])])  # lb's output backs up unread
        actions.append(["end", self.pick(["close", "close", "half", "rst", "rst"])])
        if self.chance(0.05):  # an early end: reset or close somewhere in the middle
            cut = r.randrange(len(actions))
            actions = actions[:cut] + [["end", self.pick(["rst", "close"])]]
        return actions


def conn_rng(seed, index):
    return random.Random((seed * 1000003) ^ (index * 7919) ^ 0x5EED)


def script_for(seed, index, nports=2):
    # Connection i goes to port i % nports; the second port is the tight listener.
    return Gen(conn_rng(seed, index), tight=index % nports == 1).script()


# ---- running scripts -------------------------------------------------------------------

FRAME_NAMES = {DATA: "DATA", HEADERS: "HEADERS", RST_STREAM: "RST_STREAM", SETTINGS: "SETTINGS",
               PING: "PING", GOAWAY: "GOAWAY", WINDOW_UPDATE: "WINDOW_UPDATE"}
GOAWAY_CODES = {0: "NO_ERROR", 1: "PROTOCOL_ERROR", 3: "FLOW_CONTROL_ERROR", 6: "FRAME_SIZE_ERROR",
                9: "COMPRESSION_ERROR", 0xB: "ENHANCE_YOUR_CALM"}


class Tally:
    """Counts the frames lb sent (as far as they were read): what the traffic reached."""

    def __init__(self, stats):
        self.stats, self.buf = stats, b""

    def feed(self, data):
        self.buf += data
        while len(self.buf) >= 9:
            n = int.from_bytes(self.buf[0:3], "big")
            if len(self.buf) < 9 + n:
                return
            ftype = self.buf[3]
            self.stats["lb " + FRAME_NAMES.get(ftype, "other")] += 1
            if ftype == GOAWAY and n >= 8:
                code = int.from_bytes(self.buf[13:17], "big")
                self.stats["lb GOAWAY " + GOAWAY_CODES.get(code, hex(code))] += 1
                if FORCE_KIND and code:
                    self.stats["lb GOAWAY debug " + self.buf[17:9 + n].decode(errors="replace")] += 1
            self.buf = self.buf[9 + n:]


async def run_script(host, port, actions, stats):
    tally = Tally(stats)
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 10)
    except Exception:
        stats["connect_failed"] += 1
        return
    sock = writer.get_extra_info("socket")
    try:
        for act, arg in actions:
            if act == "send":
                writer.write(arg)
                try:
                    await asyncio.wait_for(writer.drain(), 5)
                except asyncio.TimeoutError:
                    stats["send_stalled"] += 1
                    break
                stats["bytes"] += len(arg)
            elif act == "sleep":
                await asyncio.sleep(arg / 1000)
            elif act == "read":
                try:
                    got = await asyncio.wait_for(reader.read(1 << 20), arg / 1000)
                    stats["read"] += len(got)
                    tally.feed(got)
                    if not got:
                        stats["eof"] += 1
                        break
                except asyncio.TimeoutError:
                    pass
            elif act == "end":
                if arg == "rst":
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    writer.transport.abort()
                    stats["rst"] += 1
                    return
                if arg == "half":
                    writer.write_eof()
                    deadline = time.monotonic() + 2
                    while time.monotonic() < deadline:
                        try:
                            got = await asyncio.wait_for(reader.read(1 << 20), 0.5)
                        except asyncio.TimeoutError:
                            continue
                        tally.feed(got)
                        if not got:
                            break
                break
    except (ConnectionError, OSError):
        stats["conn_error"] += 1
    finally:
        writer.close()
        try:
            await asyncio.wait_for(writer.wait_closed(), 1)
        except Exception:
            pass


# ---- the checker -----------------------------------------------------------------------

def check_h2(port, timeout):
    """GET / over h2c prior knowledge with the h2 state machine -> (status, body)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        conn.initiate_connection()
        sid = conn.get_next_available_stream_id()
        conn.send_headers(sid, [(":method", "GET"), (":scheme", "http"), (":authority", "check"), (":path", "/")],
                          end_stream=True)
        s.sendall(conn.data_to_send())
        status, body = None, b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            data = s.recv(65536)
            if not data:
                raise ConnectionError("lb closed the h2 check connection")
            for ev in conn.receive_data(data):
                if isinstance(ev, h2.events.ResponseReceived):
                    status = dict(ev.headers).get(":status")
                elif isinstance(ev, h2.events.DataReceived):
                    body += ev.data
                    conn.acknowledge_received_data(ev.flow_controlled_length, sid)
                elif isinstance(ev, h2.events.StreamEnded):
                    conn.close_connection()
                    s.sendall(conn.data_to_send())
                    return status, body
                elif isinstance(ev, h2.events.StreamReset):
                    raise ConnectionError("h2 check stream reset (code %s)" % ev.error_code)
            s.sendall(conn.data_to_send())
        raise TimeoutError("h2 check timed out")
    finally:
        s.close()


def check_h1(port, timeout):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", "/", headers={"Host": "check"})
        resp = c.getresponse()
        return str(resp.status), resp.read()
    finally:
        c.close()


def check_once(ports, timeout):
    """-> None when every port answered both ways, else what went wrong."""
    for port in ports:
        for name, fn in (("h2", check_h2), ("http/1.1", check_h1)):
            try:
                status, body = fn(port, timeout)
            except Exception as e:  # noqa: BLE001 - any failure is a failed check
                return "%s :%d: %s: %s" % (name, port, type(e).__name__, e)
            if status != "200" or b"hello from" not in body:
                return "%s :%d: status %s body %r" % (name, port, status, body[:80])
    return None


def pid_alive(pid):
    if not pid:
        return True
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(") ")[-1][0] not in "ZX"
    except OSError:
        return False


class Checker(threading.Thread):
    def __init__(self, ports, lb_pid, hang_seconds):
        super().__init__(daemon=True)
        self.ports, self.lb_pid, self.hang = ports, lb_pid, hang_seconds
        self.stop = threading.Event()
        self.failure = None
        self.checks = self.failed_checks = 0

    def run(self):
        first_bad = None
        while not self.stop.is_set():
            if not pid_alive(self.lb_pid):
                self.failure = "lb (pid %d) is not running" % self.lb_pid
                return
            err = check_once(self.ports, 10)
            self.checks += 1
            if err is None:
                first_bad = None
            else:
                self.failed_checks += 1
                print("check failed: %s" % err, flush=True)
                first_bad = first_bad or time.monotonic()
                if time.monotonic() - first_bad >= self.hang:
                    self.failure = "lb stopped answering for %d s (last: %s)" % (self.hang, err)
                    return
            self.stop.wait(1.0)


# ---- main ------------------------------------------------------------------------------

async def campaign(args, ports, checker, stats):
    seed = args.seed
    deadline = time.monotonic() + args.seconds
    index = 0
    started = collections.deque()  # (index, start time) of the last 5 s
    running = {}  # task -> index

    async def one(i):
        port = ports[i % len(ports)]
        await run_script("127.0.0.1", port, script_for(seed, i, len(ports)), stats)
        stats["conns"] += 1

    while time.monotonic() < deadline and checker.failure is None:
        while len(running) < args.conns and time.monotonic() < deadline:
            t = asyncio.ensure_future(one(index))
            started.append((index, time.monotonic()))
            running[t] = index
            t.add_done_callback(lambda t: running.pop(t, None))
            index += 1
        while started and started[0][1] < time.monotonic() - 5:
            started.popleft()
        await asyncio.sleep(0.01)
    # Suspects, should lb have failed: every connection open or started in the last 5 s.
    first = min([i for i, _ in started] + list(running.values()) + [index])
    if running:
        await asyncio.wait(list(running), timeout=15)
    return index, first


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", required=True, help="lb port(s), comma-separated (h2c listeners)")
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--conns", type=int, default=32)
    ap.add_argument("--lb-pid", type=int, default=0)
    ap.add_argument("--log-dir", default=None)
    ap.add_argument("--hang-seconds", type=float, default=30)
    ap.add_argument("--replay-conn", default=None,
                    help="N or A:B: connection N (or A..B one at a time) of --seed, alone")
    ap.add_argument("--replay", default=None, help="run a saved conn-N.json script")
    args = ap.parse_args()
    try:
        ports = [int(p) for p in args.port.split(",") if p]
    except ValueError:
        ap.error("--port: numbers")
    if args.seed is None:
        args.seed = int(time.time())
    stats = collections.Counter()

    if args.replay is not None or args.replay_conn is not None:
        if args.replay is not None:
            with open(args.replay) as f:
                saved = json.load(f)
            actions = [[a, bytes.fromhex(v) if a == "send" else v] for a, v in saved["actions"]]
            port = ports[saved.get("port_index", 0) % len(ports)]
            asyncio.run(run_script("127.0.0.1", port, actions, stats))
        else:
            a, _, b = args.replay_conn.partition(":")
            for i in range(int(a), int(b or a) + 1):
                asyncio.run(run_script("127.0.0.1", ports[i % len(ports)], script_for(args.seed, i, len(ports)), stats))
                # (A sanitizer report takes lb a while to print: the check
                # catches it meanwhile.)
                err = check_once(ports, 10) if pid_alive(args.lb_pid) else "lb is not running"
                if err is not None:
                    print("replay: after connection %d of seed %d: %s" % (i, args.seed, err))
                    for _ in range(100):
                        if not pid_alive(args.lb_pid):
                            break
                        time.sleep(0.1)
                    return 1
        err = check_once(ports, 10)
        print("replay: sent %d bytes; lb %s" % (stats["bytes"], "answers" if err is None else "FAILED: " + err))
        return 0 if err is None and pid_alive(args.lb_pid) else 1

    print("h2 frame fuzz: ports %s, %g s, seed %d, %d connections at once"
          % (",".join(map(str, ports)), args.seconds, args.seed, args.conns), flush=True)
    checker = Checker(ports, args.lb_pid, args.hang_seconds)
    checker.start()
    t0 = time.monotonic()
    total, first_suspect = asyncio.run(campaign(args, ports, checker, stats))
    checker.stop.set()
    checker.join(30)
    elapsed = time.monotonic() - t0
    failure = checker.failure
    if failure is None:
        # The final word: lb still answers both ways.
        if not pid_alive(args.lb_pid):
            failure = "lb (pid %d) is not running" % args.lb_pid
        else:
            err = None
            for _ in range(3):
                err = check_once(ports, 15)
                if err is None:
                    break
                time.sleep(2)
            if err is not None:
                failure = "final check: " + err
    print("h2 frame fuzz: %d connections in %.0f s (%d bytes sent, %d read, %d resets, %d connection errors, "
          "%d stalled sends); %d checks, %d failed"
          % (total, elapsed, stats["bytes"], stats["read"], stats["rst"], stats["conn_error"],
             stats["send_stalled"], checker.checks, checker.failed_checks), flush=True)
    print("  frames read from lb: " + ", ".join("%s %d" % (k[3:], v) for k, v in sorted(stats.items())
                                                  if k.startswith("lb ")), flush=True)
    if failure is None:
        print("PASS: lb alive and answering GET / over h2 and HTTP/1.1 (seed %d)" % args.seed)
        return 0
    print("FAIL: %s (seed %d)" % (failure, args.seed))
    last = total - 1
    print("  connections %d..%d were open in the last 5 s; one at a time, the first after which lb is dead: "
          "FUZZ_SEED=%d FUZZ_H2_REPLAY_CONN=%d:%d tests/fuzz/run_h2_campaign.sh"
          % (first_suspect, last, args.seed, first_suspect, last))
    if args.log_dir:
        # The last ones started, as files (readable, and replayable without the seed).
        for i in range(max(first_suspect, last - 2 * args.conns + 1), last + 1):
            with open(os.path.join(args.log_dir, "conn-%d.json" % i), "w") as f:
                json.dump({"seed": args.seed, "index": i, "port_index": i % len(ports),
                           "actions": [[a, v.hex() if a == "send" else v]
                                       for a, v in script_for(args.seed, i, len(ports))]}, f)
        print("  scripts of the last ones started: %s/conn-N.json (FUZZ_H2_REPLAY=FILE tests/fuzz/run_h2_campaign.sh)"
              % args.log_dir)
    return 1


if __name__ == "__main__":
    sys.exit(main())
