"""Environment and plumbing of lb's HTTP/2 integration suite (tests/integration/h2/).

What every other h2_*.py module builds on: the binaries and timeout scale
taken from the environment (T() scales a timeout, dur() writes one for lb's
configuration), wait_until (every wait in the suite polls a condition until
a deadline), log and /proc readers, free ports, temp dirs, the self-signed
test certificate, and ServerDied.

Environment:
  LB_BIN, BACKEND_BIN   binaries (defaults: build/lb, build/backend)
  LB_TEST_SLOW=1        scale every timeout (automatic when LB_BIN contains
                        build-san or build-tsan); LB_TEST_SCALE=N overrides the factor
  H2_REFERENCE=haproxy  run against haproxy instead of lb (lb-only cases skip)
  IT_KEEP_TMP=1         keep temp dirs (configs, logs) after the run
  H2_VERBOSE=1          print lb's stderr tail after every test, not only failures
"""

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time


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


class ServerDied(AssertionError):
    """A process the suite started (lb, haproxy, a backend) died or did not start."""
