#!/usr/bin/env python3
"""Interoperability: real HTTP/2 clients against lb (curl, nghttp, h2load, Python's ssl ALPN).

Run alone (from the repository root, after `make`):
    LB_BIN=build/lb /usr/bin/python3 tests/integration/h2/interop_test.py
    H2_REFERENCE=haproxy /usr/bin/python3 tests/integration/h2/interop_test.py

The tools come from TEST_PACKAGES (curl, nghttp2-client); a missing tool is a
failure, not a skip. What is asserted: each client negotiates what it asked
for (curl reports `%{http_version}` 2 over ALPN h2 and over prior-knowledge
h2c, 1.1 when asked for HTTP/1.1 on either listener), every request is
answered 200 with the expected body, and the recording backend received the
requests over HTTP/1.1 (h2load: all 2000 of them). lb runs 2 workers here, so
connections spread over threads (the TSan build checks those paths).
"""

import re
import subprocess

from harness import *


def run(args, timeout=None, input_file=None):
    try:
        p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout or T(30))
    except subprocess.TimeoutExpired as e:
        raise AssertionError("%s timed out; output: %s" % (" ".join(args), tail((e.stdout or b"").decode(), 2000)))
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


class Interop(H2TestCase):
    @classmethod
    def make_config(cls, backend):
        return config([listener("h2c", http2={"cleartext": True}), listener("h2tls", tls=True)],
                      [pool("rec", [backend.addr])], workers=2)

    def url(self, name, path):
        scheme = "https" if self.lb.is_tls(name) else "http"
        return "%s://localhost:%d%s" % (scheme, self.lb.port(name), path)

    def curl(self, name, path, *flags):
        """curl → (http_version, status, body); -k for the self-signed certificate."""
        out = self.dir_file("curl-body")
        port = self.lb.port(name)
        rc, so, se = run([tool("curl"), "-sS", "-k", "--resolve", "localhost:%d:127.0.0.1" % port, "-o", out,
                          "-w", "%{http_version} %{http_code}", *flags, self.url(name, path)])
        self.assertEqual(rc, 0, "curl %s failed: %s" % (" ".join(flags), se))
        version, status = so.split()
        with open(out, "rb") as f:
            return version, int(status), f.read()

    def dir_file(self, name):
        if not hasattr(self, "_tmp"):
            self._tmp = TempDir("lb-h2-interop-")
            self.addCleanup(self._tmp.cleanup)
        return self._tmp.file(name)

    def backend_got(self, key, count=1):
        recs = self.backend.wait_path(key, count, T(10))
        self.assertEqual(len(recs), count, "the backend received %d of %d requests for %s" % (len(recs), count, key))
        self.assertEqual({r.version for r in recs}, {"HTTP/1.1"}, "not all over HTTP/1.1")
        return recs

    # -- curl
    def test_curl_http2_over_tls(self):
        key = "/curl-tls/" + self.key()
        version, status, body = self.curl("h2tls", key, "--http2")
        self.assertEqual((version, status), ("2", 200))
        self.assertEqual(body, ("ok GET %s\n" % key).encode())
        rec = self.backend_got(key)[0]
        self.assertTrue((rec.header("user-agent") or "").startswith("curl/"), rec)

    def test_curl_prior_knowledge_on_cleartext(self):
        key = "/curl-h2c/" + self.key()
        self.assertEqual(self.curl("h2c", key, "--http2-prior-knowledge")[:2], ("2", 200))
        self.backend_got(key)

    def test_curl_http11_on_tls_listener(self):
        """ALPN http/1.1 on the same TLS listener still gets HTTP/1.1."""
        key = "/curl-11/" + self.key()
        self.assertEqual(self.curl("h2tls", key, "--http1.1")[:2], ("1.1", 200))
        self.backend_got(key)

    @reference_differs("a haproxy 'proto h2' bind speaks only HTTP/2")
    def test_curl_http11_on_cleartext_listener(self):
        """http2.cleartext *also* accepts h2c: plain HTTP/1.1 still works there."""
        key = "/curl-11c/" + self.key()
        self.assertEqual(self.curl("h2c", key, "--http1.1")[:2], ("1.1", 200))
        self.backend_got(key)

    @reference_differs("a haproxy 'proto h2' bind speaks only HTTP/2")
    def test_curl_upgrade_h2c_is_ignored(self):
        """SPEC 9: `Upgrade: h2c` is not supported: answered in HTTP/1.1, the header dropped."""
        key = "/curl-upg/" + self.key()
        self.assertEqual(self.curl("h2c", key, "--http2")[:2], ("1.1", 200))
        rec = self.backend_got(key)[0]
        self.assertIsNone(rec.header("upgrade"), rec)
        self.assertIsNone(rec.header("http2-settings"), rec)

    def test_curl_post_over_http2(self):
        body = pattern(200000, 9)
        path = self.dir_file("post-body")
        with open(path, "wb") as f:
            f.write(body)
        version, status, got = self.curl("h2tls", "/echo", "--http2", "--data-binary", "@" + path)
        self.assertEqual((version, status), ("2", 200))
        self.assertEqual(got, body)

    def test_curl_parallel_streams(self):
        """curl --parallel multiplexes 10 transfers over HTTP/2."""
        key = self.key()
        port = self.lb.port("h2tls")
        urls = [self.url("h2tls", "/par/%s/%d" % (key, i)) for i in range(10)]
        args = [tool("curl"), "-sS", "-k", "--http2", "--parallel", "--parallel-immediate", "--parallel-max", "10",
                "--resolve", "localhost:%d:127.0.0.1" % port, "-w", "%{http_version} %{http_code}\n"]
        for u in urls:
            args += ["-o", "/dev/null", u]
        rc, so, se = run(args)
        self.assertEqual(rc, 0, se)
        self.assertEqual(sorted(so.split("\n")[:-1]), ["2 200"] * 10, so)
        self.backend_got("/par/" + key, 10)

    # -- nghttp
    def nghttp(self, *args):
        rc, so, se = run([tool("nghttp"), "-v", *args])
        self.assertEqual(rc, 0, "nghttp %s: exit %d\n%s\n%s" % (" ".join(args), rc, tail(so, 2000), se))
        return so

    def test_nghttp_get_over_tls_and_cleartext(self):
        for name in ("h2tls", "h2c"):
            key = "/nghttp/" + self.key()
            out = self.nghttp("-n", self.url(name, key).replace("localhost", "127.0.0.1"))
            self.assertIn(":status: 200", out, out)
            self.assertIn("recv SETTINGS frame", out)
            self.backend_got(key)

    def test_nghttp_post_with_data(self):
        key = self.key()
        path = self.dir_file("nghttp-data")
        data = pattern(70000, 1)
        with open(path, "wb") as f:
            f.write(data)
        out = self.nghttp("-n", "-d", path, self.url("h2tls", "/echo?k=" + key).replace("localhost", "127.0.0.1"))
        self.assertIn(":status: 200", out, out)
        rec = self.backend_got("/echo?k=" + key)[0]
        self.assertEqual((rec.method, rec.body), ("POST", data))

    def test_nghttp_multiple_streams(self):
        key = "/nghttp-m/" + self.key()
        out = self.nghttp("-n", "-m", "10", self.url("h2c", key).replace("localhost", "127.0.0.1"))
        self.assertEqual(out.count(":status: 200"), 10, out)
        self.backend_got(key, 10)

    # -- h2load
    def h2load(self, name):
        key = "/load/" + self.key()
        rc, so, se = run([tool("h2load"), "-n", "2000", "-c", "10", "-m", "10",
                          self.url(name, key).replace("localhost", "127.0.0.1")], timeout=T(60))
        m = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, "
                      r"(\d+) errored, (\d+) timeout", so)
        self.assertTrue(m, "h2load output not understood (exit %d):\n%s\n%s" % (rc, so, se))
        self.assertEqual(int(m.group(4)), 2000, "h2load: %s\n%s" % (m.group(0), so))
        codes = re.search(r"status codes: (\d+) 2xx", so)
        self.assertEqual(int(codes.group(1)) if codes else -1, 2000, so)
        self.assertEqual(rc, 0, se)
        self.backend_got(key, 2000)

    def test_h2load_cleartext(self):
        self.h2load("h2c")

    def test_h2load_tls(self):
        self.h2load("h2tls")

    # -- ALPN
    def test_alpn_selection(self):
        """lb's default ALPN ["h2", "http/1.1"]: h2 when offered, else HTTP/1.1;
        no ALPN at all still gets HTTP/1.1."""
        port = self.lb.port("h2tls")
        for offered, want in ((["h2", "http/1.1"], "h2"), (["http/1.1", "h2"], "h2"), (["h2"], "h2"),
                              (["http/1.1"], "http/1.1")):
            c = RawConn(port, tls=True, alpn=offered)
            self.assertEqual(c.alpn, want, "offered %s" % offered)
            c.close()
        key = "/noalpn/" + self.key()
        got, how = raw_exchange(port, ("GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n" % key).encode(),
                                tls=True, alpn=())
        self.assertTrue(got.startswith(b"HTTP/1.1 200"), got[:200])
        self.backend_got(key)


if __name__ == "__main__":
    main()
