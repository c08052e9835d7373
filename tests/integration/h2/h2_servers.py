"""The server under test in lb's HTTP/2 integration suite: lb, or haproxy.

Lb starts the real lb binary on a JSON configuration written into a temp dir
(listen addresses ending in :0 get free ports) and gives the test its admin
API (/metrics, /stats, /reload), access and error logs, RSS, signals and
diagnostics. Haproxy offers the same interface over haproxy for
H2_REFERENCE=haproxy; start_server picks one. Also here: the configuration
builders (listener, pool, config), Prometheus text parsing (parse_metrics,
metric_sum) and RSS sampling (rss_bytes, RssSampler).
"""

import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import threading
import unittest

from h2_env import (ADMIN_TOKEN, LB_BIN, REFERENCE, T, ServerDied, TempDir, free_port, listening_ports,
                    read_json_lines, read_text, tail, test_cert, wait_until)


# ---- memory ----------------------------------------------------------------------------

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
