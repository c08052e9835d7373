"""HTTP/2 on the wire, by hand, for lb's HTTP/2 integration suite.

RFC 9113 constants (the connection preface, error codes and their names,
frame types and flags, SETTINGS identifiers), raw frame encoding that
validates nothing so malformed frames can be built (frame,
settings_payload), hand-made HPACK pieces (hpack_int, literal), and the
backends' body pattern (pattern, is_pattern) that bodies are checked against.
"""

import struct


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
