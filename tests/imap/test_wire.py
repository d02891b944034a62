"""The IMAP wire primitives (mox/imap/wire.py), and that they are the only ones: no other module of
the IMAP package quotes a string, announces a literal, lists atom-specials or spells a month."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mox.imap import wire

# RFC 9051 9: quoted strings hold no CR, LF or NUL.
quotable_bytes = st.binary(max_size=60).filter(lambda b: not (set(b) & {0, 10, 13}))


@settings(max_examples=300, deadline=None)
@given(quotable_bytes, st.binary(max_size=5))
def test_quoted_round_trip(b: bytes, after: bytes) -> None:
    q = wire.quoted(b)
    assert wire.read_quoted(q + after, 0) == (b, len(q))
    assert wire.read_quoted(b"xy" + q, 2) == (b, 2 + len(q))


@pytest.mark.parametrize(
    "data,msg,pos",
    [
        (b'"abc', "unterminated quoted string", 4),
        (b'"a\\x"', "bad escape in quoted string", 3),
        (b'"a\\', "bad escape in quoted string", 3),
        (b'"a\rb"', "invalid character in quoted string", 3),
        (b'"a\x00"', "invalid character in quoted string", 3),
        (b"abc", "expected '\"'", 0),
    ],
)
def test_read_quoted_errors(data: bytes, msg: str, pos: int) -> None:
    with pytest.raises(wire.WireError) as e:
        wire.read_quoted(data, 0)
    assert (e.value.msg, e.value.pos) == (msg, pos)


def test_strings() -> None:
    # RFC 9051 4.3: quoted when possible, else a literal; RFC 6855 3: 8-bit quoted only with UTF-8.
    assert wire.string(b'a "b" \\c', utf8=False) == b'"a \\"b\\" \\\\c"'
    assert wire.string(b"a\r\nb", utf8=True) == b"{4}\r\na\r\nb"
    assert wire.string(b"a\x00", utf8=True) == b"{2}\r\na\x00"
    assert wire.string("é".encode(), utf8=False) == b"{2}\r\n\xc3\xa9"
    assert wire.string("é".encode(), utf8=True) == b'"\xc3\xa9"'
    assert wire.string(b"x" * 5000, utf8=False) == b'"' + b"x" * 5000 + b'"'  # no length limit
    assert wire.astring("Inbox", utf8=False) == b"Inbox"
    assert wire.astring("a]b", utf8=False) == b"a]b"  # "]" is an astring char
    assert wire.astring("nil", utf8=False) == b'"nil"'  # would read as NIL
    assert wire.astring("", utf8=False) == b'""'
    assert wire.astring("a b", utf8=False) == b'"a b"'
    assert wire.astring("a%", utf8=False) == b'"a%"'
    assert wire.nstring(None, utf8=False) == b"NIL"
    assert wire.nstring("NIL", utf8=False) == b'"NIL"'
    assert wire.mailbox("Entwürfe", utf8=False) == b"Entw&APw-rfe"
    assert wire.mailbox("Entwürfe", utf8=True) == '"Entwürfe"'.encode()
    assert wire.mailbox_string("Inbox", utf8=False) == b'"Inbox"'
    assert wire.flag_list(["\\Seen", "kw"]) == b"(\\Seen kw)"
    assert wire.flag_list([]) == b"()"


def test_literals() -> None:
    assert wire.literal(b"abc") == b"{3}\r\nabc"
    assert wire.literal8(b"a\x00c") == b"~{3}\r\na\x00c"  # RFC 3516 4.2
    assert wire.literal8(b"abc") == b"{3}\r\nabc"
    assert wire.literal_announcement(5) == b"{5}\r\n"
    assert wire.literal_announcement(5, non_sync=True) == b"{5+}\r\n"  # RFC 7888
    assert wire.literal_announcement(5, literal8=True) == b"~{5}\r\n"
    assert wire.literal_at_end(b"a APPEND x {12}") == (12, False, False)
    assert wire.literal_at_end(b"a APPEND x ~{12+}") == (12, True, True)
    assert wire.literal_at_end(b"a x {12} y") is None
    assert wire.literal_at_end(b"a x {" + b"9" * 30 + b"}") == (1 << 63, False, False)


def test_character_classes() -> None:
    # RFC 9051 9: atom-specials = "(" / ")" / "{" / SP / CTL / list-wildcards / quoted-specials / resp-specials
    specials = set(b'(){ %*"\\]') | set(range(0x20)) | {0x7F}
    assert wire.ATOM_CHARS == {c for c in range(1, 0x80) if c not in specials}
    assert wire.ASTRING_CHARS - wire.ATOM_CHARS == {ord("]")}
    assert wire.ATOM_CHARS - wire.TAG_CHARS == {ord("+")}
    assert wire.LIST_CHARS - wire.ATOM_CHARS == set(b"%*]")


def test_sequence_set() -> None:
    assert wire.sequence_set([5, 1, 2, 3, 7, 8]) == "1:3,5,7:8"
    assert wire.sequence_set([]) == ""
    assert wire.SEQUENCE_SET.fullmatch(b"1:3,5,7:*")
    # RFC 5267 3.2: SORT results keep their order; ranges only where numbers ascend.
    assert wire.sequence_set_ordered([4, 5, 1, 2, 3, 9, 8]) == "4:5,1:3,9,8"
    assert wire.sequence_set_ordered([]) == ""
    assert wire.sequence_set_numbers("4:5,1:3,9,8") == [4, 5, 1, 2, 3, 9, 8]
    assert wire.sequence_set_numbers("7:5") == [5, 6, 7]


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 4102444800))
def test_date_time_round_trip(ts: int) -> None:
    text = wire.date_time(ts)
    m = wire.DATE_TIME.fullmatch(text.encode())
    assert m is not None
    assert wire.date_time_value(m) == ts
    d = time.gmtime(ts)
    assert text[3:6] == ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")[d.tm_mon - 1]


def test_dates() -> None:
    assert wire.date_time(0) == " 1-Jan-1970 00:00:00 +0000"  # day space-padded (RFC 9051 9 date-day-fixed)
    assert wire.month_number("feb") == wire.month_number(b"FEB") == 2
    assert wire.month_number("Foo") == 0
    m = wire.DATE_TIME.fullmatch(b"17-Jul-1996 02:44:25 -0700")
    assert m is not None and wire.date_time_value(m) == 837596665
    m = wire.DATE_TIME.fullmatch(b"30-Feb-2024 00:00:00 +0000")
    assert m is not None and wire.date_time_value(m) is None
    assert not wire.valid_day(2023, 2, 29) and wire.valid_day(2024, 2, 29)


# Hand-built wire syntax that belongs in wire.py (and nowhere else in the IMAP package).
HAND_BUILT = [
    (re.compile(r"""replace\(\s*b?["']\\\\["']"""), "quoting (escaping a backslash)"),
    (re.compile(r"""b?'"'\s*\+|\+\s*b?'"'"""), "quoting (concatenating a double quote)"),
    (re.compile(r"""\{%d\+?\}|~\{%d"""), "a literal announcement"),
    (re.compile(r"""["'](?:Jan|jan)["']"""), "month names"),
    (re.compile(r"""\(\)\{ %\*"""), "atom-specials"),
    (re.compile(r"""\\\{\(?(?:\\d|\[0-9\])"""), "a literal regular expression"),
    (re.compile(r"""\(\?:(?:\\d|\[0-9\])\+\|\\\*\)"""), "a sequence-set regular expression"),
]


def test_one_wire_encoder() -> None:
    root = Path(__file__).resolve().parents[2] / "mox" / "imap"
    found = []
    for path in sorted(root.glob("*.py")):
        if path.name == "wire.py":
            continue
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for rx, what in HAND_BUILT:
                if rx.search(line):
                    found.append(f"{path.name}:{i}: {what}: {line.strip()}")
    assert found == []
    # The patterns do find what they look for.
    src = (root / "wire.py").read_text(encoding="utf-8")
    assert all(rx.search(src) for rx, _ in HAND_BUILT)
