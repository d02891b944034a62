"""Canonicalization (RFC 6376 3.4) and the header split DKIM needs.

Messages are bytes with CRLF line endings; a bare CR or LF is an ordinary byte inside a line.
Body hashing streams through the body in chunks that end at a CRLF, so a large message is not
copied whole (relaxed canonicalization works per line, and trailing empty lines are counted, not
kept).
"""

from __future__ import annotations

import re
from typing import NamedTuple, Protocol

CRLF = b"\r\n"
_CHUNK = 1 << 20

_WSP_RUN = re.compile(rb"[ \t]+")
_WSP_BEFORE_CRLF = re.compile(rb"[ \t]+\r\n")


class MalformedHeader(ValueError):
    """The message header cannot be split into fields (a DKIM permanent error)."""


class Header(NamedTuple):
    """One header field: ``key`` as written, ``lkey`` lower case, ``raw`` the whole field as it
    is in the message (name, colon, folded value and the final CRLF): what "simple" hashes."""

    key: str
    lkey: str
    raw: bytes


def parse_headers(data: bytes) -> tuple[list[Header], int]:
    """The header fields of ``data`` and the offset of the body (after the empty line).

    Raises MalformedHeader for a header that does not end in an empty line, a line starting
    with whitespace before any field, a line without colon, or an invalid field name
    (RFC 5322 2.2: printable US-ASCII except colon; RFC 6532 allows no 8-bit names either).
    """
    fields: list[Header] = []
    pos = 0
    start = -1
    key = ""
    while True:
        end = data.find(CRLF, pos)
        if end < 0:
            raise MalformedHeader("header does not end with an empty line")
        line = data[pos:end]
        if not line:
            if start >= 0:
                fields.append(Header(key, key.lower(), data[start:pos]))
            return fields, end + 2
        if line[:1] in (b" ", b"\t"):
            if start < 0:
                raise MalformedHeader("message starts with space/tab")
            pos = end + 2
            continue
        if start >= 0:
            fields.append(Header(key, key.lower(), data[start:pos]))
        colon = line.find(b":")
        if colon < 0:
            raise MalformedHeader("header line without colon")
        name = line[:colon].rstrip(b" \t")
        if not name:
            raise MalformedHeader("empty header field name")
        if any(c <= 0x20 or c >= 0x7F for c in name):
            raise MalformedHeader("invalid header field name")
        key = name.decode("ascii")
        start = pos
        pos = end + 2


def relaxed_header(raw: bytes) -> bytes:
    """RFC 6376 3.4.2: the field with its name lower-cased, unfolded, runs of whitespace made
    one space, whitespace around the colon and at the ends removed; without the final CRLF."""
    name, colon, value = raw.partition(b":")
    if not colon:
        raise MalformedHeader(f"invalid header {raw[:40]!r}")
    if value.endswith(CRLF):
        value = value[:-2]
    value = value.replace(CRLF, b"")
    value = _WSP_RUN.sub(b" ", value).strip(b" \t")
    return name.rstrip(b" \t").lower() + b":" + value


def canonical_header(raw: bytes, *, relaxed: bool) -> bytes:
    """A header field for hashing, with its CRLF (RFC 6376 3.4.1 simple: as is)."""
    if relaxed:
        return relaxed_header(raw) + CRLF
    return raw


class Hasher(Protocol):
    """A hashlib hash object (sha256, sha1)."""

    def update(self, data: bytes, /) -> None: ...
    def digest(self) -> bytes: ...


def body_hash(h: Hasher, body: bytes, *, relaxed: bool) -> bytes:
    """Feed the canonicalized ``body`` to hash object ``h`` and return its digest.

    Simple (RFC 6376 3.4.3): trailing empty lines are removed; an empty body, or one not ending
    in CRLF, gets one CRLF. Relaxed (3.4.4): whitespace at the end of each line removed, runs of
    whitespace within a line made one space, trailing empty lines removed; an empty body stays
    empty, a non-empty one not ending in CRLF gets one. The l= body length is never applied.
    """
    pending = 0  # CRLFs seen but not yet hashed: they may be trailing empty lines
    wrote = False
    pos = 0
    n = len(body)
    while pos < n:
        end = body.find(CRLF, pos + _CHUNK) if n - pos > _CHUNK else -1
        end = n if end < 0 else end + 2
        chunk = body[pos:end]
        pos = end
        if relaxed:
            chunk = _WSP_RUN.sub(b" ", _WSP_BEFORE_CRLF.sub(CRLF, chunk))
        trail = 0
        stop = len(chunk)
        while stop >= 2 and chunk[stop - 2 : stop] == CRLF:
            stop -= 2
            trail += 1
        if stop == 0:
            pending += trail
            continue
        if pending:
            h.update(CRLF * pending)
        h.update(chunk[:stop])
        wrote = True
        pending = trail
    if wrote:
        h.update(CRLF)
    elif not relaxed:
        h.update(CRLF)
    return h.digest()
