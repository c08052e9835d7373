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

This module only gathers the pieces, so that a test file's
`from harness import *` gets all of them:

  h2_env.py         environment (LB_BIN, T(), REFERENCE, ...), wait_until,
                    logs, ports, temp dirs, the test certificate, ServerDied
  h2_frames.py      RFC 9113 constants, raw frame and HPACK encoding, pattern()
  h2_raw_client.py  RawConn and StreamState, parse_frames, raw_exchange, recv_once
  h2_client.py      H2Client and Response
  h2_backends.py    RecordingBackend (and Record), CppBackend
  h2_servers.py     Lb, Haproxy, start_server, configuration builders,
                    Prometheus parsing, RSS sampling
  h2_testcase.py    H2TestCase, lb_only, reference_differs, main()

The environment variables are described in h2_env.py.
"""

# The modules the single-file harness imported: test files get them (socket,
# struct, time, hf, ...) from `from harness import *` as before.
import base64  # noqa: F401
import collections  # noqa: F401
import hashlib  # noqa: F401
import http.client  # noqa: F401
import json  # noqa: F401
import os  # noqa: F401
import random  # noqa: F401
import re  # noqa: F401
import select  # noqa: F401
import shutil  # noqa: F401
import signal  # noqa: F401
import socket  # noqa: F401
import ssl  # noqa: F401
import struct  # noqa: F401
import subprocess  # noqa: F401
import sys  # noqa: F401
import tempfile  # noqa: F401
import threading  # noqa: F401
import time  # noqa: F401
import traceback  # noqa: F401
import unittest  # noqa: F401
import urllib.parse  # noqa: F401

import h2.config  # noqa: F401
import h2.connection  # noqa: F401
import h2.events  # noqa: F401
import h2.exceptions  # noqa: F401
import h2.settings  # noqa: F401
import hpack  # noqa: F401
import hyperframe.exceptions  # noqa: F401
import hyperframe.frame as hf  # noqa: F401

from h2_env import *  # noqa: F401,F403
from h2_frames import *  # noqa: F401,F403
from h2_raw_client import *  # noqa: F401,F403
from h2_client import *  # noqa: F401,F403
from h2_backends import *  # noqa: F401,F403
from h2_servers import *  # noqa: F401,F403
from h2_testcase import *  # noqa: F401,F403
