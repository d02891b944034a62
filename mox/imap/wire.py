"""IMAP wire primitives: the one place that knows how values look on the wire.

The command parser (``parse.py``), the response parser (``response_parse.py``), the response
writer (``response_write.py``), the server (through the writer) and the client all use these;
nothing else quotes a string, announces a literal or spells a month.

- Character classes (RFC 9051 9): ``ATOM_CHARS``, ``ASTRING_CHARS`` (atom plus "]"),
  ``TAG_CHARS`` (astring without "+"), ``LIST_CHARS`` (atom plus the list wildcards and "]").
- Strings (RFC 9051 4.3): ``quoted``/``read_quoted``, ``literal``/``literal8`` (RFC 3516 4.2),
  ``literal_announcement``, ``literal_at_end``, and the choosers ``string``, ``astring``,
  ``nstring``. A string is sent quoted unless it holds CR, LF or NUL, or 8-bit data without
  UTF8=ACCEPT/IMAP4rev2 (RFC 6855 3); then as a literal.
- Mailbox names: modified UTF-7 (RFC 3501 5.1.3, ``utf7.py``) unless UTF-8 is enabled.
- Flag lists, sequence sets (RFC 9051 9 sequence-set; ``sequence_set`` writes the compact form
  ``1:3,5``) and dates with English month names (RFC 9051 9 date-time, date-month).

Sans-IO: bytes and str in, bytes and str out.
"""

from __future__ import annotations

import calendar
import datetime
import re
from collections.abc import Iterable

from . import utf7

# ---------------------------------------------------------------------------------------------
# Character classes (RFC 9051 9)

CTL = frozenset(range(0x20)) | {0x7F}
# atom-specials = "(" / ")" / "{" / SP / CTL / list-wildcards / quoted-specials / resp-specials
ATOM_SPECIALS = frozenset(b'(){ %*"\\]') | CTL
ATOM_CHARS = frozenset(c for c in range(0x01, 0x80) if c not in ATOM_SPECIALS)
ASTRING_CHARS = ATOM_CHARS | {ord("]")}
TAG_CHARS = ASTRING_CHARS - {ord("+")}
LIST_CHARS = ATOM_CHARS | frozenset(b"%*]")


def is_atom(b: bytes, chars: frozenset[int] = ATOM_CHARS) -> bool:
    return b != b"" and all(c in chars for c in b)


# ---------------------------------------------------------------------------------------------
# Strings: quoted and literal (RFC 9051 4.3)


class WireError(ValueError):
    """Malformed wire data; ``pos`` is the offset to report (the parsers turn this into their
    own errors: BAD for a command, RemoteProtocolError for a response)."""

    def __init__(self, msg: str, pos: int) -> None:
        super().__init__(msg)
        self.msg = msg
        self.pos = pos


def quotable(b: bytes, utf8: bool) -> bool:
    """Whether ``b`` can be sent as a quoted string: no CR, LF or NUL, and 8-bit only with
    UTF8=ACCEPT/IMAP4rev2 (RFC 6855 3)."""
    return b"\r" not in b and b"\n" not in b and b"\x00" not in b and (utf8 or b.isascii())


def quoted(b: bytes) -> bytes:
    """``b`` as a quoted string: ``"`` and ``\\`` escaped (check ``quotable`` first)."""
    return b'"' + b.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


def read_quoted(data: bytes, pos: int) -> tuple[bytes, int]:
    """The quoted string starting at ``data[pos]`` (a ``"``): its value and the offset after it.
    Raises WireError (unterminated, bad escape, CR/LF/NUL inside)."""
    if data[pos : pos + 1] != b'"':
        raise WireError("expected '\"'", pos)
    pos += 1
    out = bytearray()
    n = len(data)
    while True:
        if pos >= n:
            raise WireError("unterminated quoted string", pos)
        c = data[pos]
        pos += 1
        if c == 0x22:
            return bytes(out), pos
        if c == 0x5C:
            if pos >= n or data[pos] not in (0x22, 0x5C):
                raise WireError("bad escape in quoted string", pos)
            out.append(data[pos])
            pos += 1
            continue
        if c in (0x0D, 0x0A, 0):
            raise WireError("invalid character in quoted string", pos)
        out.append(c)


def literal_announcement(size: int, *, non_sync: bool = False, literal8: bool = False) -> bytes:
    """``{n}`` CRLF, ``{n+}`` CRLF (LITERAL+, RFC 7888) or ``~{n}`` CRLF (RFC 3516)."""
    return b"%s{%d%s}\r\n" % (b"~" if literal8 else b"", size, b"+" if non_sync else b"")


def literal(b: bytes) -> bytes:
    return b"{%d}\r\n" % len(b) + b


def literal8(b: bytes) -> bytes:
    """Decoded content for BINARY: a literal8 when it holds NUL (RFC 3516 4.2), else a literal."""
    if b"\x00" in b:
        return b"~{%d}\r\n" % len(b) + b
    return literal(b)


# A literal announcement at the end of a line (without CRLF), and one followed by its CRLF.
LITERAL_AT_END = re.compile(rb"(~?)\{([0-9]+)(\+?)\}$")
LITERAL_ANNOUNCEMENT = re.compile(rb"(~?)\{([0-9]{1,19})(\+?)\}\r\n")
# The largest size we take from an announcement: number64 (RFC 9051 9) is 63 bits.
MAX_LITERAL_SIZE = (1 << 63) - 1


def literal_at_end(line: bytes) -> tuple[int, bool, bool] | None:
    """For a line (without CRLF) that ends in a literal announcement: (size, non_sync, literal8).
    A size beyond 63 bits is returned as ``1 << 63``, so any size limit refuses it."""
    m = LITERAL_AT_END.search(line)
    if m is None:
        return None
    size = int(m.group(2)) if len(m.group(2)) <= 19 else 1 << 63
    return size, m.group(3) == b"+", m.group(1) == b"~"


def string(b: bytes, utf8: bool) -> bytes:
    """A string (RFC 9051 9): quoted when it can be, else a literal."""
    if quotable(b, utf8):
        return quoted(b)
    return literal(b)


def astring(s: str, utf8: bool) -> bytes:
    """An astring: an atom (``]`` allowed) when it is one and not ``NIL``, else a string."""
    b = s.encode("utf-8", "surrogateescape")
    if is_atom(b, ASTRING_CHARS) and b.upper() != b"NIL":
        return b
    return string(b, utf8)


def nstring(v: str | bytes | None, utf8: bool) -> bytes:
    """NIL or a string."""
    if v is None:
        return b"NIL"
    return string(v.encode("utf-8", "surrogateescape") if isinstance(v, str) else v, utf8)


def mailbox(name: str, utf8: bool) -> bytes:
    """A mailbox name as an astring: modified UTF-7 unless UTF-8 is enabled (RFC 9051 5.1,
    RFC 6855 3)."""
    return astring(name if utf8 else utf7.encode(name), utf8)


def mailbox_string(name: str, utf8: bool) -> bytes:
    """A mailbox name as a string (never an atom), as in LIST's OLDNAME (RFC 9051 7.3.1)."""
    return string((name if utf8 else utf7.encode(name)).encode("utf-8", "surrogateescape"), utf8)


def flag_list(flags: Iterable[str]) -> bytes:
    """``(\\Seen $Forwarded)``: flags are atoms (the parsers only let those through)."""
    return b"(" + " ".join(flags).encode("ascii") + b")"


# ---------------------------------------------------------------------------------------------
# Sequence sets (RFC 9051 9 sequence-set)

SEQUENCE_SET = re.compile(rb"(?:[0-9]+|\*)(?::(?:[0-9]+|\*))?(?:,(?:[0-9]+|\*)(?::(?:[0-9]+|\*))?)*")


def sequence_set(nums: Iterable[int]) -> str:
    """``[1, 2, 3, 5]`` -> ``1:3,5`` (ascending; consecutive runs become ranges)."""
    return sequence_set_ordered(sorted(nums))


def sequence_set_ordered(nums: Iterable[int]) -> str:
    """``[4, 5, 1, 2, 3]`` -> ``4:5,1:3``: the numbers in their given order (SORT results, RFC
    5267 3.2), runs of consecutive ascending numbers as ranges (never ``5:4``)."""
    parts: list[str] = []
    ns = list(nums)
    i = 0
    while i < len(ns):
        j = i
        while j + 1 < len(ns) and ns[j + 1] == ns[j] + 1:
            j += 1
        parts.append(str(ns[i]) if i == j else f"{ns[i]}:{ns[j]}")
        i = j + 1
    return ",".join(parts)


def sequence_set_numbers(text: str) -> list[int]:
    """The numbers of a sequence set without ``*`` in their written order (``4:5,1:3`` ->
    ``[4, 5, 1, 2, 3]``; ``7:5`` -> ``[5, 6, 7]``, ranges expand ascending, RFC 5267 3.2)."""
    out: list[int] = []
    for part in text.split(","):
        a, _, b = part.partition(":")
        lo, hi = int(a), int(b or a)
        if lo > hi:
            lo, hi = hi, lo
        out.extend(range(lo, hi + 1))
    return out


# ---------------------------------------------------------------------------------------------
# Dates (RFC 9051 9: date-month, date-time; English month names whatever the locale)

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTH_NUMBER = {m.lower(): i + 1 for i, m in enumerate(MONTHS)}

# date-time without its quotes: "dd-Mon-yyyy hh:mm:ss +zzzz" (the day may be space-padded).
DATE_TIME = re.compile(rb"([ 0-9]?[0-9])-([A-Za-z]{3})-([0-9]{4}) ([0-9]{2}):([0-9]{2}):([0-9]{2}) ([+-])([0-9]{2})([0-9]{2})")
# date (SEARCH): "d-Mon-yyyy", 1 or 2 digit day.
DATE = re.compile(rb"([0-9]{1,2})-([A-Za-z]{3})-([0-9]{4})")


def month_number(name: bytes | str) -> int:
    """1 for ``Jan`` (any case) ... 12 for ``Dec``; 0 for anything else."""
    if isinstance(name, bytes):
        name = name.decode("ascii", "replace")
    return _MONTH_NUMBER.get(name.lower(), 0)


def valid_day(year: int, month: int, day: int) -> bool:
    return 1 <= month <= 12 and 1 <= day <= calendar.monthrange(year, month)[1]


def date_time_value(m: re.Match[bytes]) -> float | None:
    """The timestamp of a ``DATE_TIME`` match, or None when a field is out of range."""
    day, mon, year = int(m.group(1).strip()), month_number(m.group(2)), int(m.group(3))
    hh, mm, ss = int(m.group(4)), int(m.group(5)), int(m.group(6))
    if not mon or not valid_day(year, mon, day) or hh > 23 or mm > 59 or ss > 60:
        return None
    zone = (int(m.group(8)) * 60 + int(m.group(9))) * 60
    if m.group(7) == b"-":
        zone = -zone
    return calendar.timegm((year, mon, day, hh, mm, ss, 0, 0, 0)) - zone


def date_time(ts: float) -> str:
    """A timestamp as date-time text in UTC (without quotes): `` 7-Feb-2024 10:20:30 +0000``."""
    d = datetime.datetime.fromtimestamp(ts, datetime.timezone.utc)
    return f"{d.day:2d}-{MONTHS[d.month - 1]}-{d.year:04d} {d.hour:02d}:{d.minute:02d}:{d.second:02d} +0000"
