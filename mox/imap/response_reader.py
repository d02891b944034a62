"""The token reader under the IMAP response parser (``response_parse.py``): a cursor over one
complete response with the basic rules of RFC 9051 9 (atoms, numbers, strings and literals,
mailbox names, dates, flags, sequence sets, and a generic value for extension data). Strings,
literals, sequence sets and dates are read with the primitives of ``wire.py``; mailbox names are
decoded from modified UTF-7 (RFC 3501 5.1.3) unless ``utf8`` (UTF8=ACCEPT or IMAP4rev2 enabled).
Sans-IO.
"""

from __future__ import annotations

import re
from typing import Any

from . import utf7, wire


class RemoteProtocolError(Exception):
    """The server sent something that is not a valid IMAP response."""


_NUMBER = re.compile(rb"[0-9]+")


class ResponseReader:
    """A cursor over one response's bytes; every rule raises ``RemoteProtocolError`` on bad input."""

    def __init__(self, b: bytes, utf8: bool) -> None:
        self.b = b
        self.i = 0
        self.utf8 = utf8

    # -- primitives

    def error(self, msg: str) -> None:
        raise RemoteProtocolError(f"{msg} at offset {self.i} in {self.b[:200]!r}")

    def peek(self, s: bytes) -> bool:
        return self.b[self.i : self.i + len(s)].upper() == s

    def take(self, s: bytes) -> bool:
        if self.peek(s):
            self.i += len(s)
            return True
        return False

    def expect(self, s: bytes) -> None:
        if not self.take(s):
            self.error(f"expected {s.decode()!r}")

    def sp(self) -> None:
        self.expect(b" ")

    def at_end_of_line(self) -> bool:
        return self.b.startswith(b"\r\n", self.i)

    def crlf(self) -> None:
        self.expect(b"\r\n")

    def _run(self, chars: frozenset[int]) -> str:
        start = self.i
        b = self.b
        while self.i < len(b) and b[self.i] in chars:
            self.i += 1
        if self.i == start:
            self.error("expected atom")
        return b[start : self.i].decode("ascii")

    def atom(self) -> str:
        return self._run(wire.ATOM_CHARS)

    def number(self) -> int:
        m = _NUMBER.match(self.b, self.i)
        if not m:
            self.error("expected number")
        assert m is not None
        self.i = m.end()
        v = int(m.group())
        if v > 2**63 - 1:
            self.error("number too large")
        return v

    def nz_number(self) -> int:
        if self.b[self.i : self.i + 1] == b"0":
            self.error("expected non-zero number")
        return self.number()

    def text(self) -> str:
        """The rest of the line (before CRLF)."""
        end = self.b.find(b"\r\n", self.i)
        if end < 0:
            self.error("missing crlf")
        s = self.b[self.i : end]
        self.i = end
        return s.decode("utf-8", "surrogateescape")

    def quoted_bytes(self) -> bytes:
        try:
            v, self.i = wire.read_quoted(self.b, self.i)
        except wire.WireError as e:
            self.i = e.pos
            self.error(e.msg)
            raise AssertionError("unreachable") from None
        return v

    def literal_bytes(self, allow8: bool = False) -> bytes:
        m = wire.LITERAL_ANNOUNCEMENT.match(self.b, self.i)
        if m is None or (m.group(1) and not allow8):
            self.error("expected literal")
        assert m is not None
        n = int(m.group(2))
        self.i = m.end()
        if self.i + n > len(self.b):
            self.error("short literal")
        data = self.b[self.i : self.i + n]
        self.i += n
        return data

    def string_bytes(self) -> bytes:
        if self.peek(b'"'):
            return self.quoted_bytes()
        if self.peek(b"{"):
            return self.literal_bytes()
        self.error("expected string")
        return b""

    def nstring_bytes(self, allow8: bool = False) -> bytes | None:
        if self.take(b"NIL"):
            return None
        if allow8 and self.peek(b"~{"):
            return self.literal_bytes(True)
        return self.string_bytes()

    def string(self) -> str:
        return self.string_bytes().decode("utf-8", "surrogateescape")

    def nstring(self) -> str | None:
        v = self.nstring_bytes()
        return None if v is None else v.decode("utf-8", "surrogateescape")

    def astring(self) -> str:
        if self.peek(b'"') or self.peek(b"{"):
            return self.string()
        return self._run(wire.ASTRING_CHARS)

    def mailbox(self) -> str:
        raw = self.astring()
        if raw.upper() == "INBOX":
            return raw
        if self.utf8:
            return raw
        try:
            return utf7.decode(raw)
        except ValueError as e:
            self.error(f"mailbox name {raw!r}: {e}")
            return ""

    def date_time(self) -> str:
        """A quoted date-time (RFC 9051 9), kept as its text."""
        start = self.i
        v = self.quoted_bytes()
        m = wire.DATE_TIME.fullmatch(v)
        if m is None or wire.date_time_value(m) is None:
            self.i = start
            self.error("bad date-time")
        return v.decode("ascii")

    def flag(self) -> str:
        if self.take(b"\\"):
            if self.take(b"*"):
                return "\\*"
            return "\\" + self.atom()
        return self.atom()

    def flag_list(self) -> tuple[str, ...]:
        self.expect(b"(")
        flags: list[str] = []
        if not self.take(b")"):
            flags.append(self.flag())
            while self.take(b" "):
                flags.append(self.flag())
            self.expect(b")")
        return tuple(flags)

    def seq_set(self) -> str:
        m = wire.SEQUENCE_SET.match(self.b, self.i)
        if not m:
            self.error("expected sequence set")
        assert m is not None
        self.i = m.end()
        return m.group().decode("ascii")

    def sexpr(self) -> Any:
        """A generic value: NIL, number, string or parenthesized list (for extension data)."""
        if self.take(b"("):
            items: list[Any] = []
            if not self.take(b")"):
                items.append(self.sexpr())
                while self.take(b" "):
                    items.append(self.sexpr())
                self.expect(b")")
            return tuple(items)
        if self.take(b"NIL"):
            return None
        if self.peek(b'"') or self.peek(b"{"):
            return self.string()
        c = self.b[self.i : self.i + 1]
        if c.isdigit():
            return self.number()
        return self.astring()
