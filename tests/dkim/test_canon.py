"""Canonicalization (RFC 6376 3.4): the RFC's own examples, the edge cases of 3.4.3/3.4.4
(whitespace, empty bodies, trailing empty lines, a missing final CRLF) and agreement with
dkimpy's canonicalization on random bodies; the streamed body hash equals the whole-body one
across chunk boundaries."""

from __future__ import annotations

import base64
import hashlib

import pytest
from dkim import canonicalization as dkimpy_canon
from hypothesis import given, settings
from hypothesis import strategies as st

from mox.dkim import canon
from mox.dkim.canon import MalformedHeader, body_hash, parse_headers, relaxed_header


def canonical_body(body: bytes, *, relaxed: bool) -> bytes:
    """What body_hash feeds its hash: collected with a recording hash object."""

    class Recorder:
        def __init__(self) -> None:
            self.data = b""

        def update(self, b: bytes) -> None:
            self.data += b

        def digest(self) -> bytes:
            return self.data

    return body_hash(Recorder(), body, relaxed=relaxed)


# RFC 6376 3.4.5, the message of the examples.
RFC_MESSAGE = b"A: X\r\nB : Y\t\r\n\tZ  \r\n\r\n C \r\nD \t E\r\n\r\n\r\n"


def test_rfc6376_examples() -> None:
    fields, off = parse_headers(RFC_MESSAGE)
    body = RFC_MESSAGE[off:]
    # Example 1: relaxed header and body.
    assert [relaxed_header(f.raw) + b"\r\n" for f in fields] == [b"a:X\r\n", b"b:Y Z\r\n"]
    assert canonical_body(body, relaxed=True) == b" C\r\nD E\r\n"
    # Example 2: simple header and body.
    assert [canon.canonical_header(f.raw, relaxed=False) for f in fields] == [b"A: X\r\n", b"B : Y\t\r\n\tZ  \r\n"]
    assert canonical_body(body, relaxed=False) == b" C \r\nD \t E\r\n"


@pytest.mark.parametrize(
    ("body", "simple", "relaxed"),
    [
        # RFC 6376 3.4.3: an empty body is one CRLF; 3.4.4: relaxed leaves it empty.
        (b"", b"\r\n", b""),
        (b"\r\n", b"\r\n", b""),
        (b"\r\n\r\n\r\n", b"\r\n", b""),
        # Trailing empty lines are ignored, also whitespace-only ones in relaxed.
        (b"a\r\n\r\n\r\n", b"a\r\n", b"a\r\n"),
        (b"a\r\n \t\r\n\r\n", b"a\r\n \t\r\n", b"a\r\n"),
        # Empty lines in the middle stay.
        (b"a\r\n\r\n\r\nb\r\n", b"a\r\n\r\n\r\nb\r\n", b"a\r\n\r\n\r\nb\r\n"),
        # A missing final CRLF is added (not to an empty relaxed body).
        (b"a", b"a\r\n", b"a\r\n"),
        (b"a  ", b"a  \r\n", b"a \r\n"),
        # Whitespace: at line ends removed, runs made one space; leading whitespace stays (one SP).
        (b"  a \t b \t\r\n", b"  a \t b \t\r\n", b" a b\r\n"),
        (b"\ta\r\n", b"\ta\r\n", b" a\r\n"),
        # A bare CR or LF is an ordinary byte inside a line.
        (b"a\rb\nc\r\n", b"a\rb\nc\r\n", b"a\rb\nc\r\n"),
        (b"a \r\r\n", b"a \r\r\n", b"a \r\r\n"),
    ],
)
def test_body_edge_cases(body: bytes, simple: bytes, relaxed: bytes) -> None:
    assert canonical_body(body, relaxed=False) == simple
    assert canonical_body(body, relaxed=True) == relaxed
    # dkimpy agrees on each (an independent implementation).
    assert dkimpy_canon.Simple.canonicalize_body(body) == simple
    assert dkimpy_canon.Relaxed.canonicalize_body(body) == relaxed


def test_empty_body_hashes() -> None:
    """RFC 6376 errata 1376/1377: the sha256 of an empty body, simple and relaxed."""
    assert base64.b64encode(body_hash(hashlib.sha256(), b"", relaxed=False)) == b"frcCV1k9oG9oKj3dpUqdJg1PxRT2RSN/XKdLCPjaYaY="
    assert base64.b64encode(body_hash(hashlib.sha256(), b"", relaxed=True)) == b"47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        (b"Subject: hi\r\n", b"subject:hi"),
        (b"SUBJECT  \t:  a   b \t\r\n", b"subject:a b"),
        (b"Subject: a\r\n\tb\r\n  c\r\n", b"subject:a b c"),  # unfolded, runs of whitespace one space
        (b"X-Empty:\r\n", b"x-empty:"),
        (b"X-Empty: \t \r\n", b"x-empty:"),
        (b"To: =?utf-8?q?caf=C3=A9?= <a@b>\r\n", b"to:=?utf-8?q?caf=C3=A9?= <a@b>"),
    ],
)
def test_relaxed_header(raw: bytes, want: bytes) -> None:
    assert relaxed_header(raw) == want
    name, value = raw.split(b":", 1)
    assert dkimpy_canon.Relaxed.canonicalize_headers([(name, value)]) == [(want.split(b":", 1)[0], want.split(b":", 1)[1] + b"\r\n")]


def test_parse_headers() -> None:
    fields, off = parse_headers(b"From: a\r\nTo: b,\r\n c\r\nSubject:\r\n\r\nbody")
    assert [(f.key, f.lkey, f.raw) for f in fields] == [
        ("From", "from", b"From: a\r\n"),
        ("To", "to", b"To: b,\r\n c\r\n"),
        ("Subject", "subject", b"Subject:\r\n"),
    ]
    assert off == len(b"From: a\r\nTo: b,\r\n c\r\nSubject:\r\n\r\n")
    assert parse_headers(b"\r\nbody only") == ([], 2)
    for bad in (b"From: a\r\n", b" x: y\r\n\r\n", b"no colon\r\n\r\n", b": empty name\r\n\r\n", b"b\xc3\xa4d: x\r\n\r\n"):
        with pytest.raises(MalformedHeader):
            parse_headers(bad)


def test_chunked_body_hash_matches_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks end at a CRLF; trailing empty lines of a chunk are held back, not lost or kept."""
    body = b"line  with  spaces \t\r\n" * 50 + b"\r\n" * 7 + b"x \r\n" + b" \r\n\r\n" * 30
    want = {r: canonical_body(body, relaxed=r) for r in (False, True)}
    monkeypatch.setattr(canon, "_CHUNK", 5)
    for r in (False, True):
        assert canonical_body(body, relaxed=r) == want[r]
        assert canonical_body(b"\r\n" * 40, relaxed=r) == (b"\r\n" if not r else b"")


_body = st.lists(st.sampled_from([b"a", b"b", b" ", b"\t", b"\r\n", b"\r\n", b"\r", b"\n", b"\xc3\xa9"]), max_size=40).map(b"".join)


@settings(max_examples=400, deadline=None)
@given(_body)
def test_bodies_as_dkimpy(body: bytes) -> None:
    assert canonical_body(body, relaxed=False) == dkimpy_canon.Simple.canonicalize_body(body)
    assert canonical_body(body, relaxed=True) == dkimpy_canon.Relaxed.canonicalize_body(body)


@settings(max_examples=200, deadline=None)
@given(_body)
def test_chunking_never_changes_the_hash(body: bytes) -> None:
    whole = {r: canonical_body(body, relaxed=r) for r in (False, True)}
    old = canon._CHUNK
    canon._CHUNK = 3
    try:
        for r in (False, True):
            assert canonical_body(body, relaxed=r) == whole[r]
    finally:
        canon._CHUNK = old
