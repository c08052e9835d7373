#!/usr/bin/python3
"""A small authoritative DNS server for lb's tests (SPEC 13), on UDP loopback.

  dns_server.py ZONE_FILE LOG_FILE

Prints its port on the first line of stdout. ZONE_FILE is JSON, re-read on
every query, so a test changes the answers at run time by rewriting it
(atomically: write a temporary file, rename):

  {"delay_ms": 0,                        # answer this late (every query)
   "names": {"app.test": {"A": ["127.0.0.1"], "AAAA": ["::1"], "ttl": 5,
                          "SRV": [[priority, weight, port, "target.test"]],
                          "rcode": "SERVFAIL"}}}   # or "NXDOMAIN", "REFUSED"

A name absent from "names" is NXDOMAIN; a present name without records of
the asked type is an empty NOERROR answer. Each query is appended to LOG_FILE
as "NAME TYPE" (one line), so tests can count what lb asked.
"""
import json
import socket
import struct
import sys
import threading

TYPES = {1: "A", 28: "AAAA", 33: "SRV"}
RCODES = {"NOERROR": 0, "SERVFAIL": 2, "NXDOMAIN": 3, "REFUSED": 5}


def read_name(msg, pos):
    labels = []
    while True:
        n = msg[pos]
        pos += 1
        if n == 0:
            return ".".join(labels), pos
        labels.append(msg[pos:pos + n].decode("ascii", "replace"))
        pos += n


def encode_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        out += bytes([len(label)]) + label.encode("ascii")
    return out + b"\0"


def answer(query, zone):
    qid, flags = struct.unpack("!HH", query[:4])
    qname, pos = read_name(query, 12)
    qtype, _qclass = struct.unpack("!HH", query[pos:pos + 4])
    question = query[12:pos + 4]
    entry = zone.get("names", {}).get(qname.lower().rstrip("."))
    rcode = RCODES["NXDOMAIN"] if entry is None else RCODES.get(entry.get("rcode") or "NOERROR", 2)
    records = []
    if entry is not None and rcode == 0:
        ttl = int(entry.get("ttl", 5))
        kind = TYPES.get(qtype)
        for value in entry.get(kind, []) if kind else []:
            if kind == "A":
                rdata = socket.inet_pton(socket.AF_INET, value)
            elif kind == "AAAA":
                rdata = socket.inet_pton(socket.AF_INET6, value)
            else:
                prio, weight, port, target = value
                rdata = struct.pack("!HHH", prio, weight, port) + encode_name(target)
            records.append(struct.pack("!HHHIH", 0xC00C, qtype, 1, ttl, len(rdata)) + rdata)
    header = struct.pack("!HHHHHH", qid, 0x8400 | (flags & 0x0100) | rcode, 1, len(records), 0, 0)
    return header + question + b"".join(records), qname, TYPES.get(qtype, str(qtype))


def main():
    zone_path, log_path = sys.argv[1], sys.argv[2]
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    print(sock.getsockname()[1], flush=True)
    lock = threading.Lock()
    while True:
        query, peer = sock.recvfrom(4096)
        try:
            with open(zone_path) as f:
                zone = json.load(f)
            reply, qname, qtype = answer(query, zone)
        except Exception as e:  # a malformed query or zone: say so, keep serving
            print("dns_server: %s" % e, file=sys.stderr, flush=True)
            continue
        with lock, open(log_path, "a") as log:
            log.write("%s %s\n" % (qname.lower(), qtype))
        delay = zone.get("delay_ms", 0) / 1000.0
        if delay > 0:
            threading.Timer(delay, sock.sendto, (reply, peer)).start()
        else:
            sock.sendto(reply, peer)


if __name__ == "__main__":
    main()
