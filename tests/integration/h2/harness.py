"""Shared harness of lb's HTTP/2 integration suite (tests/integration/h2/).

Black box, like the C++ harness (tests/integration/harness.h): nothing here
links lb's code. A test class starts the real lb binary ($LB_BIN, default
build/lb) on free 127.0.0.1 ports with a JSON configuration written into a
temp dir, a RecordingBackend (an HTTP/1.1 server written here that records
every request it receives), and talks to lb with real clients:

  RawConn    frame-level HTTP/2 client (hyperframe frames, hpack blocks):
             sends anything, including malformed frames, and records every
             frame lb sends (SETTINGS, GOAWAY, RST_STREAM, WINDOW_UPDATE, ...).
  H2Client   a well-behaved client on h2's own state machine (h2.connection,
             client_side=True): an independent HTTP/2 implementation that
             raises if lb breaks the protocol.
  Lb         the lb process: config, ports, admin API (/metrics, /stats,
             /reload), access and error logs, RSS, signals, diagnostics.
  Haproxy    the same interface over haproxy, for H2_REFERENCE=haproxy
             (developing the suite's mechanics against a reference server).

Every wait polls a condition until a deadline (wait_until, RawConn.wait);
nothing uses a fixed sleep as the assertion mechanism. The only fixed waits
are "quiet periods" that prove something does NOT happen (RawConn.quiet),
each documented where used.

Environment:
  LB_BIN, BACKEND_BIN   binaries (defaults: build/lb, build/backend)
  LB_TEST_SLOW=1        scale every timeout (automatic when LB_BIN contains
                        build-san or build-tsan); LB_TEST_SCALE=N overrides the factor
  H2_REFERENCE=haproxy  run against haproxy instead of lb (lb-only cases skip)
  IT_KEEP_TMP=1         keep temp dirs (configs, logs) after the run
  H2_VERBOSE=1          print lb's stderr tail after every test, not only failures
"""

import base64
import collections
import hashlib
import http.client
import json
import os
import random
import re
import select
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import unittest
import urllib.parse

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
import hpack
import hyperframe.exceptions
import hyperframe.frame as hf

# ---- environment ---------------------------------------------------------------

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
LB_BIN = os.environ.get("LB_BIN") or os.path.join(ROOT, "build", "lb")
BACKEND_BIN = os.environ.get("BACKEND_BIN") or os.path.join(ROOT, "build", "backend")
ASAN = "build-san" in LB_BIN
TSAN = "build-tsan" in LB_BIN
SLOW = os.environ.get("LB_TEST_SLOW") == "1" or ASAN or TSAN
SCALE = float(os.environ.get("LB_TEST_SCALE") or (6 if TSAN else 4 if SLOW else 1))
REFERENCE = os.environ.get("H2_REFERENCE", "")
VERBOSE = os.environ.get("H2_VERBOSE") == "1"
ADMIN_TOKEN = "h2-test-token"


def T(seconds):
    """A timeout scaled for slow (sanitizer) builds."""
    return seconds * SCALE


def dur(seconds):
    """A duration string for lb's configuration, e.g. dur(1.5) == '1500ms'."""
    return "%dms" % int(round(seconds * 1000))


# ---- HTTP/2 constants -----------------------------------------------------------

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

NO_ERROR, PROTOCOL_ERROR, INTERNAL_ERROR, FLOW_CONTROL_ERROR = 0x0, 0x1, 0x2, 0x3
SETTINGS_TIMEOUT, STREAM_CLOSED, FRAME_SIZE_ERROR, REFUSED_STREAM = 0x4, 0x5, 0x6, 0x7
CANCEL, COMPRESSION_ERROR, CONNECT_ERROR, ENHANCE_YOUR_CALM = 0x8, 0x9, 0xA, 0xB
INADEQUATE_SECURITY, HTTP_1_1_REQUIRED = 0xC, 0xD
ERROR_NAMES = {
    0x0: "NO_ERROR", 0x1: "PROTOCOL_ERROR", 0x2: "INTERNAL_ERROR", 0x3: "FLOW_CONTROL_ERROR",
    0x4: "SETTINGS_TIMEOUT", 0x5: "STREAM_CLOSED", 0x6: "FRAME_SIZE_ERROR", 0x7: "REFUSED_STREAM",
    0x8: "CANCEL", 0x9: "COMPRESSION_ERROR", 0xA: "CONNECT_ERROR", 0xB: "ENHANCE_YOUR_CALM",
    0xC: "INADEQUATE_SECURITY", 0xD: "HTTP_1_1_REQUIRED",
}


def ename(code):
    return ERROR_NAMES.get(code, "0x%x" % code) if code is not None else "None"


# Frame types and flags (RFC 9113 section 6).
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE = 0x0, 0x1, 0x2, 0x3, 0x4, 0x5
PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = 0x6, 0x7, 0x8, 0x9
F_END_STREAM, F_ACK, F_END_HEADERS, F_PADDED, F_PRIORITY = 0x1, 0x1, 0x4, 0x8, 0x20

# SETTINGS identifiers.
S_HEADER_TABLE_SIZE, S_ENABLE_PUSH, S_MAX_CONCURRENT_STREAMS = 0x1, 0x2, 0x3
S_INITIAL_WINDOW_SIZE, S_MAX_FRAME_SIZE, S_MAX_HEADER_LIST_SIZE = 0x4, 0x5, 0x6
S_ENABLE_CONNECT_PROTOCOL, S_NO_RFC7540_PRIORITIES = 0x8, 0x9


def frame(ftype, flags, stream_id, payload=b""):
    """Raw frame bytes: nothing is validated, so anything can be built."""
    n = len(payload)
    return struct.pack(">BHBBI", (n >> 16) & 0xFF, n & 0xFFFF, ftype, flags, stream_id & 0xFFFFFFFF) + payload


def settings_payload(settings):
    """settings: dict or list of (id, value); values are not validated."""
    items = settings.items() if isinstance(settings, dict) else settings
    return b"".join(struct.pack(">HI", k, v & 0xFFFFFFFF) for k, v in items)


def hpack_int(value, prefix_bits, first_byte_flags=0):
    """An HPACK integer (RFC 7541 5.1) with an N-bit prefix."""
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first_byte_flags | value])
    out = bytearray([first_byte_flags | limit])
    value -= limit
    while value >= 128:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    out.append(value)
    return bytes(out)


def literal(name, value, indexing=False):
    """One HPACK field as a literal with a new name, no Huffman (RFC 7541 6.2):
    without indexing, or with incremental indexing (it enters the dynamic
    table). Built by hand so flood payloads never touch a client's Encoder."""
    name = name.encode() if isinstance(name, str) else name
    value = value.encode() if isinstance(value, str) else value
    return (b"\x40" if indexing else b"\x00") + hpack_int(len(name), 7) + name + hpack_int(len(value), 7) + value


def pattern(n, offset=0):
    """The backends' body pattern: byte i is (i*31+7) & 0xff (as bench/backend.cpp)."""
    return _pattern_block(offset % 256, n)


_PATTERN_UNIT = bytes(((i * 31 + 7) & 0xFF) for i in range(256))
_PATTERN_BIG = _PATTERN_UNIT * (1 << 14)  # 4 MiB


def _pattern_block(start, n):
    out = bytearray()
    while n > 0:
        take = min(n, len(_PATTERN_BIG) - 256)
        out += _PATTERN_BIG[start:start + take]
        n -= take
        start = (start + take) % 256
    return bytes(out)


def is_pattern(data, offset=0):
    return data == pattern(len(data), offset)


# ---- waiting, files, ports --------------------------------------------------------

def wait_until(pred, timeout, interval=0.01):
    """Polls pred until it is true (-> True) or timeout passes (-> its last value)."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval)


def tail(text, n=3000):
    if text is None:
        return "(none)"
    return text if len(text) <= n else "..." + text[-n:]


def read_text(path):
    try:
        with open(path, "r", errors="replace") as f:
            return f.read()
    except OSError:
        return None


def read_json_lines(path):
    out = []
    text = read_text(path) or ""
    for line in text.split("\n")[:-1]:  # a trailing partial line is left out
        try:
            out.append(json.loads(line))
        except ValueError:
            pass
    return out


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def listening_ports(pid):
    """TCP ports `pid` holds in LISTEN state (via /proc, no probe connection)."""
    inodes = set()
    try:
        for fd in os.listdir("/proc/%d/fd" % pid):
            try:
                link = os.readlink("/proc/%d/fd/%s" % (pid, fd))
            except OSError:
                continue
            if link.startswith("socket:["):
                inodes.add(link[8:-1])
    except OSError:
        return set()
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    parts = line.split()
                    if len(parts) > 9 and parts[3] == "0A" and parts[9] in inodes:
                        ports.add(int(parts[1].rsplit(":", 1)[1], 16))
        except OSError:
            pass
    return ports


def rss_bytes(pid):
    text = read_text("/proc/%d/status" % pid) or ""
    m = re.search(r"^VmRSS:\s+(\d+)\s+kB", text, re.M)
    return int(m.group(1)) * 1024 if m else None


class RssSampler:
    """Samples a process's VmRSS every few ms in a thread; .peak is the maximum."""

    def __init__(self, pid, interval=0.02):
        self.pid, self.interval = pid, interval
        self.peak = rss_bytes(pid) or 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        while not self._stop.is_set():
            r = rss_bytes(self.pid)
            if r:
                self.peak = max(self.peak, r)
            self._stop.wait(self.interval)

    def stop(self):
        self._stop.set()
        self._t.join(2)
        return self.peak


class TempDir:
    def __init__(self, prefix="lb-h2-"):
        self.path = tempfile.mkdtemp(prefix=prefix)

    def file(self, name):
        return os.path.join(self.path, name)

    def cleanup(self):
        if os.environ.get("IT_KEEP_TMP") != "1":
            shutil.rmtree(self.path, ignore_errors=True)


_CERT = None


def test_cert():
    """(cert, key) paths of a self-signed certificate for localhost/127.0.0.1,
    made once per process with the openssl CLI."""
    global _CERT
    if _CERT is None:
        d = TempDir("lb-h2-cert-")
        cert, key = d.file("cert.pem"), d.file("key.pem")
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=localhost",
             "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _CERT = (cert, key, d)
    return _CERT[0], _CERT[1]


def tool(name):
    """Path of a command-line tool; fails the test (not skips) when missing:
    `make deps` installs TEST_PACKAGES, so a missing tool is a setup bug."""
    path = shutil.which(name)
    if not path:
        raise AssertionError("%s not found in PATH (make deps installs it: see TEST_PACKAGES)" % name)
    return path


# ---- Prometheus text ----------------------------------------------------------------

_METRIC_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)')
_LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    """[(name, {label: value}, float)] of a Prometheus text exposition."""
    out = []
    for line in (text or "").splitlines():
        if not line or line.startswith("#"):
            continue
        m = _METRIC_RE.match(line)
        if not m:
            continue
        labels = {k: v.replace('\\"', '"').replace("\\\\", "\\") for k, v in _LABEL_RE.findall(m.group(2) or "")}
        try:
            out.append((m.group(1), labels, float(m.group(3))))
        except ValueError:
            pass
    return out


def metric_sum(samples, name, **labels):
    return sum(v for n, l, v in samples if n == name and all(l.get(k) == w for k, w in labels.items()))


# ---- the lb process -------------------------------------------------------------------

class ServerDied(AssertionError):
    pass


class _Server:
    """What lb and the reference server share: the process (self.proc), the
    configuration dict (self.config) and the temp dir (self.dir)."""

    @property
    def pid(self):
        return self.proc.pid

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        if self.running():
            self.proc.send_signal(sig)

    def wait(self, timeout):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self):
        if self.running():
            self.proc.kill()
        if self.proc:
            self.proc.wait()

    def cleanup(self):
        self.dir.cleanup()

    def rss(self):
        return rss_bytes(self.pid)

    def listener(self, name):
        for l in self.config["listeners"]:
            if l["name"] == name:
                return l
        raise KeyError("no listener named %s" % name)

    def port(self, name):
        return int(self.listener(name)["listen"].rsplit(":", 1)[1])

    def is_tls(self, name):
        return "tls" in self.listener(name)


class Lb(_Server):
    """lb started on `config` (a dict). Listen addresses '127.0.0.1:0' (listeners
    and admin) get free ports; logging defaults to files in the temp dir."""

    kind = "lb"

    def __init__(self, config, env=None, ready_timeout=None, bind_retries=3):
        self.dir = TempDir()
        self.config_path = self.dir.file("lb.json")
        self.stdout_path, self.stderr_path = self.dir.file("lb.stdout"), self.dir.file("lb.stderr")
        self.proc = None
        self.exit_status = None
        template = json.loads(json.dumps(config))
        last = ""
        for _ in range(bind_retries):
            self.config = self._fill(json.loads(json.dumps(template)))
            self._write_config()
            self._start(env)
            ok = wait_until(lambda: not self.running() or self._all_listening(), ready_timeout or T(10))
            if ok and self.running():
                return
            exited = not self.running()
            last = ("lb exited with status %s" % self.proc.returncode if exited else "lb did not listen in time")
            last += "\nconfig: %s\n%s" % (json.dumps(self.config), self.diagnostics())
            self.kill()
            if not exited:
                break
        self.dir.cleanup()
        raise ServerDied(last)

    # -- setup
    def _fill(self, cfg):
        cfg.setdefault("workers", 1)
        cfg.setdefault("shutdown_timeout", "5s")
        cfg.setdefault("logging", {"level": os.environ.get("LB_TEST_LOG_LEVEL", "info"), "error_log": self.dir.file("error.log"),
                                   "access_log": self.dir.file("access.log")})

        def fill(addr):
            host, port = addr.rsplit(":", 1)
            return "%s:%d" % (host, free_port()) if port == "0" else addr
        for l in cfg.get("listeners", []):
            l["listen"] = fill(l["listen"])
        if "admin" in cfg:
            cfg["admin"]["listen"] = fill(cfg["admin"]["listen"])
        return cfg

    def _write_config(self):
        with open(self.config_path, "w") as f:
            json.dump(self.config, f, indent=2)

    def _start(self, env):
        e = dict(os.environ)
        if env:
            e.update(env)
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen([LB_BIN, "-c", self.config_path], stdout=out, stderr=err,
                                         stdin=subprocess.DEVNULL, env=e)

    def _ports(self):
        ports = [int(l["listen"].rsplit(":", 1)[1]) for l in self.config.get("listeners", [])]
        if "admin" in self.config:
            ports.append(int(self.config["admin"]["listen"].rsplit(":", 1)[1]))
        return ports

    def _all_listening(self):
        have = listening_ports(self.proc.pid)
        return all(p in have for p in self._ports())

    # -- process
    def stop(self, timeout=None):
        """SIGTERM, wait; the exit status, or None if it did not exit in time."""
        if self.running():
            self.proc.send_signal(signal.SIGTERM)
        st = self.wait(timeout or T(10))
        self.exit_status = st
        return st

    def close(self):
        """Graceful stop (the exit status is returned), then the temp dir goes."""
        st = self.stop() if self.running() else (self.proc.returncode if self.proc else None)
        self.kill()
        return st

    # -- configuration
    @property
    def admin_port(self):
        return int(self.config["admin"]["listen"].rsplit(":", 1)[1])

    def rewrite_config(self, config):
        self.config = self._fill(json.loads(json.dumps(config)))
        self._write_config()

    # -- admin API
    def admin(self, method, path, body=None, token=ADMIN_TOKEN, timeout=None):
        c = http.client.HTTPConnection("127.0.0.1", self.admin_port, timeout=timeout or T(5))
        try:
            headers = {"Authorization": "Bearer " + token} if token else {}
            c.request(method, path, body=body, headers=headers)
            r = c.getresponse()
            return r.status, r.read().decode("utf-8", "replace")
        finally:
            c.close()

    def metrics(self):
        st, body = self.admin("GET", "/metrics", token=None)
        if st != 200:
            raise AssertionError("GET /metrics answered %d: %s" % (st, body[:300]))
        return parse_metrics(body)

    def metric(self, name, **labels):
        return metric_sum(self.metrics(), name, **labels)

    def stats(self):
        st, body = self.admin("GET", "/stats", token=None)
        return json.loads(body) if st == 200 else {}

    def reload(self):
        return self.admin("POST", "/reload")

    # -- logs
    def access_log(self):
        return read_json_lines(self.config["logging"]["access_log"])

    def error_log(self):
        return read_json_lines(self.config["logging"]["error_log"])

    def diagnostics(self, n=3000):
        d = "lb stderr (tail): " + tail(read_text(self.stderr_path), n)
        el = self.config.get("logging", {}).get("error_log") if hasattr(self, "config") else None
        if el and el != "-":
            d += "\nlb error log (tail): " + tail(read_text(el), n)
        return d


class Haproxy(_Server):
    """H2_REFERENCE=haproxy: haproxy in place of lb, configured from the same
    dict (listeners, their http2 block, the first server of each pool). Only
    what haproxy can express is translated; tests that need lb's admin API,
    logs or thresholds are marked lb_only and skip."""

    kind = "haproxy"

    def __init__(self, config, env=None, ready_timeout=None, bind_retries=3):
        self.dir = TempDir("lb-h2-haproxy-")
        self.config = json.loads(json.dumps(config))
        self.exit_status = None
        for l in self.config["listeners"]:
            if l["listen"].endswith(":0"):
                l["listen"] = "127.0.0.1:%d" % free_port()
        self.cfg_path = self.dir.file("haproxy.cfg")
        self.stderr_path = self.dir.file("haproxy.stderr")
        with open(self.cfg_path, "w") as f:
            f.write(self._render())
        with open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen([shutil.which("haproxy") or "haproxy", "-db", "-f", self.cfg_path],
                                         stdout=err, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        ports = [self.port(l["name"]) for l in self.config["listeners"]]
        if not wait_until(lambda: not self.running() or all(p in listening_ports(self.pid) for p in ports), T(10)) \
                or not self.running():
            raise ServerDied("haproxy did not start\n" + self.diagnostics())

    def _render(self):
        h2 = {}
        for l in self.config["listeners"]:
            h2.update(l.get("http2", {}))
        crt = None
        lines = ["global", "  maxconn 4096",
                 "  tune.h2.max-concurrent-streams %d" % h2.get("max_concurrent_streams", 100),
                 "  tune.h2.initial-window-size %d" % h2.get("initial_window_size", 65535),
                 "  tune.h2.header-table-size 4096",
                 "defaults", "  mode http", "  timeout connect 5s", "  timeout client 60s",
                 "  timeout server 60s", "  timeout http-request 10s", "  timeout tunnel 60s"]
        pools = {p["name"]: p for p in self.config["pools"]}
        for l in self.config["listeners"]:
            bind = "  bind %s" % l["listen"]
            if "tls" in l:
                if crt is None:
                    cert, key = test_cert()
                    crt = self.dir.file("combined.pem")
                    with open(crt, "w") as f:
                        f.write(read_text(cert) + read_text(key))
                alpn = ",".join(l["tls"].get("alpn", ["h2", "http/1.1"]))
                bind += " ssl crt %s alpn %s" % (crt, alpn)
            elif l.get("http2", {}).get("cleartext"):
                bind += " proto h2"
            idle = l.get("timeouts", {}).get("client_idle")
            lines += ["frontend %s" % l["name"], bind, "  default_backend be_%s" % l["pool"]]
            if idle:
                lines += ["  timeout client %s" % idle, "  timeout http-keep-alive %s" % idle]
        for name, p in pools.items():
            lines += ["backend be_%s" % name]
            for i, s in enumerate(p["servers"]):
                lines += ["  server s%d %s" % (i, s["address"])]
        return "\n".join(lines) + "\n"

    def stop(self, timeout=None):
        if self.running():
            self.proc.send_signal(signal.SIGUSR1)  # haproxy's soft stop
        self.exit_status = self.wait(timeout or T(10))
        return self.exit_status

    def close(self):
        self.stop(T(3))
        self.kill()
        return 0

    def diagnostics(self, n=3000):
        return "haproxy output (tail): " + tail(read_text(self.stderr_path), n)

    def _unsupported(self, *a, **k):
        raise unittest.SkipTest("not available with H2_REFERENCE=haproxy")

    admin = metrics = metric = stats = reload = access_log = error_log = rewrite_config = _unsupported


def start_server(config, **kw):
    """lb, or haproxy under H2_REFERENCE=haproxy."""
    if REFERENCE == "haproxy":
        return Haproxy(config, **kw)
    if REFERENCE:
        raise SystemExit("H2_REFERENCE=%s: only 'haproxy' is supported" % REFERENCE)
    return Lb(config, **kw)


def lb_only(fn):
    """A case that needs lb itself (admin API, logs, lb's own thresholds)."""
    def wrapper(self, *a, **k):
        if REFERENCE:
            self.skipTest("lb-specific (H2_REFERENCE=%s)" % REFERENCE)
        return fn(self, *a, **k)
    wrapper.__name__, wrapper.__doc__ = fn.__name__, fn.__doc__
    return wrapper


def reference_differs(reason):
    """A case where the reference server (haproxy 2.6) is known to answer
    differently from what the RFC or SPEC asks of lb: skipped under
    H2_REFERENCE with the reason, run normally against lb."""
    def deco(fn):
        def wrapper(self, *a, **k):
            if REFERENCE:
                self.skipTest("reference differs: " + reason)
            return fn(self, *a, **k)
        wrapper.__name__, wrapper.__doc__ = fn.__name__, fn.__doc__
        return wrapper
    return deco


# ---- configuration builders ---------------------------------------------------------

def listener(name, pool="rec", tls=False, http2=None, **extra):
    """An http listener on 127.0.0.1:0. tls=True: the test certificate with lb's
    default ALPN (["h2", "http/1.1"]); a dict: more tls keys."""
    l = {"name": name, "listen": "127.0.0.1:0", "protocol": "http", "pool": pool}
    if tls:
        cert, key = test_cert()
        l["tls"] = {"certificates": [{"cert": cert, "key": key}]}
        if isinstance(tls, dict):
            l["tls"].update(tls)
    if http2 is not None:
        l["http2"] = http2
    l.update(extra)
    return l


def pool(name, addresses, **extra):
    p = {"name": name, "algorithm": "round_robin",
         "servers": [{"address": a} for a in addresses],
         # A reset or refused stream must never be retried on another try.
         "retries": {"attempts": 0}}
    p.update(extra)
    return p


def config(listeners, pools, admin=True, **extra):
    c = {"listeners": listeners, "pools": pools}
    if admin:
        c["admin"] = {"listen": "127.0.0.1:0", "token": ADMIN_TOKEN}
    c.update(extra)
    return c


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
    every request head as it arrives (.heads) and every complete request
    (.requests). Routes, on the path without the query, any method:

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


# ---- test base class and runner ----------------------------------------------------------

class H2TestCase(unittest.TestCase):
    """A class-wide lb (or haproxy) and RecordingBackend. Subclasses override
    make_config(backend) → dict. Connections made through raw()/client() are
    closed after each test. A test's failure output carries the server's
    stderr and error log tails (see Runner)."""

    server = None
    backend = None
    server_env = None
    _n = 0

    @classmethod
    def make_config(cls, backend):
        return config([listener("h2c", http2={"cleartext": True}), listener("h2tls", tls=True)],
                      [pool("rec", [backend.addr])])

    @classmethod
    def setUpClass(cls):
        cls.backend = RecordingBackend()
        try:
            cls.server = start_server(cls.make_config(cls.backend), env=cls.server_env)
        except BaseException:
            cls.backend.close()
            raise

    @classmethod
    def tearDownClass(cls):
        srv, cls.server = cls.server, None
        status = srv.close() if srv else 0
        cls.backend.close()
        if srv and srv.kind == "lb" and status != 0:
            diag = srv.diagnostics(6000)
            raise AssertionError("%s exited with status %s at the end of the class (a crash, or a sanitizer "
                                 "report at exit?)\n%s" % (srv.kind, status, diag))
        if srv:
            srv.cleanup()

    def setUp(self):
        self._conns = []
        srv = type(self).server
        if srv is not None and not srv.running():
            diag = srv.diagnostics()
            # Restart so that one crash does not fail every later case of the class.
            type(self).server = start_server(self.make_config(self.backend), env=self.server_env)
            self.fail("the server had died before this test (restarted it)\n" + diag)

    def tearDown(self):
        for c in self._conns:
            c.close()

    # -- helpers
    @property
    def lb(self):
        return type(self).server

    def key(self, tag=""):
        H2TestCase._n += 1
        return "%s%s-%d" % (self._testMethodName.replace("_", "-"), tag, H2TestCase._n)

    def raw(self, name="h2c", settings=None, handshake=True, server=None, **kw):
        srv = server or self.lb
        c = RawConn(srv.port(name), tls=srv.is_tls(name), **kw)
        self._conns.append(c)
        if handshake:
            c.handshake(settings)
        return c

    def client(self, name="h2c", server=None, settings=None):
        srv = server or self.lb
        c = H2Client(srv.port(name), tls=srv.is_tls(name), settings=settings)
        self._conns.append(c)
        return c

    def assert_served(self, name="h2c", server=None, what="a normal client on another connection"):
        """A fresh, well-behaved connection gets 200 for GET /."""
        c = self.client(name, server)
        path = "/served/" + self.key()
        r = c.request("GET", path)
        self.assertEqual(r.status, 200, "%s was not served: %r" % (what, r))
        c.close()
        return r

    def assert_stream_ok(self, conn, what="the next valid stream on the same connection"):
        sid = conn.request("GET", "/after/" + self.key())
        conn.wait_stream(sid)
        st = conn.stream(sid)
        self.assertEqual(st.status, 200, "%s failed: %s; frames %s" % (what, st.describe(), conn.frame_summary()))
        self.assertTrue(st.ended, "%s did not end: %s" % (what, st.describe()))

    def assert_conn_error(self, conn, codes, what, timeout=None):
        """lb ends the connection with GOAWAY(code in codes) (and closes it).
        Being closed without a GOAWAY is accepted only when codes contains None."""
        codes = codes if isinstance(codes, (tuple, list, set)) else (codes,)
        conn.wait(lambda: conn.goaways or conn.closed, timeout or T(5))
        err = conn.connection_error()
        if err is None and None in codes and conn.closed:
            return None
        self.assertTrue(conn.goaways, "%s: expected GOAWAY(%s), saw none; frames %s" % (
            what, "/".join(ename(c) for c in codes if c is not None), conn.frame_summary()))
        self.assertIn(err, codes, "%s: expected GOAWAY(%s), saw GOAWAY(%s); frames %s" % (
            what, "/".join(ename(c) for c in codes if c is not None), ename(err), conn.frame_summary()))
        return err

    def assert_closed(self, conn, what, timeout=None):
        self.assertTrue(conn.wait_closed(timeout or T(5)),
                        "%s: the connection was not closed; frames %s" % (what, conn.frame_summary()))

    def assert_stream_refused(self, conn, sid, what, allowed_status=(400,), reset_codes=(PROTOCOL_ERROR,),
                              conn_codes=()):
        """The stream is answered with an allowed status or reset with an
        allowed code (or, when conn_codes is given, the connection fails with
        one of them). Returns a description of what happened."""
        conn.wait_stream(sid)
        st = conn.stream(sid)
        if st.reset is not None:
            self.assertIn(st.reset, reset_codes, "%s: stream reset with %s, expected %s; frames %s" % (
                what, ename(st.reset), "/".join(map(ename, reset_codes)), conn.frame_summary()))
            return "RST_STREAM(%s)" % ename(st.reset)
        if st.status is not None:
            self.assertIn(st.status, allowed_status, "%s: answered %s, expected %s or RST_STREAM(%s); %s" % (
                what, st.status, allowed_status, "/".join(map(ename, reset_codes)), st.describe()))
            conn.wait(lambda: st.ended or st.reset is not None, T(5))
            return "status %d" % st.status
        err = conn.connection_error()
        if conn_codes and err in conn_codes:
            return "GOAWAY(%s)" % ename(err)
        self.fail("%s: expected status %s or RST_STREAM(%s), saw %s; goaways %s; frames %s" % (
            what, allowed_status, "/".join(map(ename, reset_codes)), st.describe(), conn.goaways,
            conn.frame_summary()))

    def access_lines(self, pred, count=1, timeout=None):
        """Access-log lines matching pred, once at least `count` are there (or the deadline passed)."""
        found = []

        def poll():
            found[:] = [l for l in self.lb.access_log() if pred(l)]
            return len(found) >= count
        wait_until(poll, timeout or T(5), 0.02)
        return found

    def diagnostics(self):
        parts = []
        srv = type(self).server
        if srv is not None:
            parts.append(srv.diagnostics())
        for c in getattr(self, "_conns", []):
            if isinstance(c, RawConn):
                parts.append("connection to port %d: frames %s" % (c.port, c.frame_summary(15)))
        return "\n".join(parts)


class _Result(unittest.TextTestResult):
    def startTest(self, test):
        self._t0 = time.monotonic()
        super().startTest(test)

    def _diag(self, test):
        fn = getattr(test, "diagnostics", None)
        if fn:
            try:
                self.stream.writeln("---- diagnostics of %s ----\n%s\n----" % (test.id(), fn()))
            except Exception as e:
                self.stream.writeln("(diagnostics failed: %r)" % e)

    def addSuccess(self, test):
        super().addSuccess(test)
        if VERBOSE:
            self._diag(test)

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self.stream.writeln(self._exc_info_to_string(err, test))
        self._diag(test)

    def addError(self, test, err):
        super().addError(test, err)
        self.stream.writeln(self._exc_info_to_string(err, test))
        self._diag(test)

    def stopTest(self, test):
        super().stopTest(test)
        self.stream.writeln("    (%.2f s)" % (time.monotonic() - self._t0))


def main():
    """Runs the calling module's tests. Arguments: substrings of test ids to
    run only those (e.g. `python3 conformance_test.py settings GoAway`)."""
    module = sys.modules["__main__"]
    name = os.path.basename(module.__file__)
    filters = [a for a in sys.argv[1:] if not a.startswith("-")]
    suite = unittest.TestSuite()

    def walk(s):
        for t in s:
            if isinstance(t, unittest.TestSuite):
                walk(t)
            elif not filters or any(f.lower() in t.id().lower() for f in filters):
                suite.addTest(t)
    walk(unittest.defaultTestLoader.loadTestsFromModule(module))
    print("%s: %d cases; LB_BIN=%s%s; timeouts x%g" % (
        name, suite.countTestCases(), LB_BIN, " (H2_REFERENCE=%s)" % REFERENCE if REFERENCE else "", SCALE),
        flush=True)
    t0 = time.monotonic()
    # A class whose setUpClass failed runs none of its cases: they count as failed.
    per_class = collections.Counter(t.id().rsplit(".", 1)[0] for t in suite)
    runner = unittest.TextTestRunner(stream=sys.stdout, verbosity=2, resultclass=_Result)
    res = runner.run(suite)
    failed_ids = set()
    for t, _ in res.failures + res.errors:
        m = re.match(r"(setUpClass|tearDownClass) \((.*)\)", str(t))
        if m and m.group(1) == "setUpClass":
            failed_ids.update("%s#%d" % (m.group(2), i) for i in range(per_class[m.group(2)]))
        else:
            failed_ids.add(t.id())
    failed = len(failed_ids) + len(res.unexpectedSuccesses)
    passed = max(0, res.testsRun - len([f for f in failed_ids if "#" not in f]) - len(res.skipped)
                 - len(res.unexpectedSuccesses))
    print("%s: %.1f s" % (name, time.monotonic() - t0))
    print("%s: %d passed, %d failed, %d skipped" % (name, passed, failed, len(res.skipped)), flush=True)
    sys.exit(1 if failed or passed + len(res.skipped) == 0 else 0)
