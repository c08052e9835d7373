"""Test base class and runner of lb's HTTP/2 integration suite.

H2TestCase starts a class-wide lb (or haproxy) and RecordingBackend, hands
out RawConn and H2Client connections closed after each test, and carries the
shared assertions (a stream served, refused or reset, a connection error,
access-log lines). lb_only and reference_differs skip cases under
H2_REFERENCE. main() runs the calling test file, prints the server's
diagnostics with every failure, and ends with the summary line run.sh reads.
"""

import collections
import os
import re
import sys
import time
import unittest

from h2_backends import RecordingBackend
from h2_client import H2Client
from h2_env import LB_BIN, REFERENCE, SCALE, VERBOSE, T, wait_until
from h2_frames import PROTOCOL_ERROR, ename
from h2_raw_client import RawConn
from h2_servers import config, listener, pool, start_server


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
    run only those (e.g. `python3 conformance_connection_test.py settings GoAway`)."""
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
