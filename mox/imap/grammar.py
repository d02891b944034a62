"""The basic rules of the IMAP command grammar (RFC 9051 9), shared by every command's grammar in
``parse.py``, ``parse_fetch.py`` and ``parse_search.py``: a cursor over one command's bytes with
``take``/``expect`` for literal text, ``parse_<rule>`` for rules (tag, atom, numbers, strings and
literals, mailbox, flags, sequence sets, dates, RFC 9394 partial ranges) and ``maybe_<rule>`` for
optional ones (None when absent). The wire syntax itself (character classes, quoting, literal
announcements, month names) is ``wire.py``'s.
"""

from __future__ import annotations

import re

from . import wire
from .errors import BadCommand
from .types import MessageLiteral, NumRange, NumSet, PartialRange


#: seq-number [":" seq-number] (RFC 9051 9 seq-range) without leading zeros; _SEQ_MORE: the bytes
#: that may not follow it for the match to be the whole range.
_SEQ_RANGE = re.compile(rb"(\*|[1-9][0-9]*)(?::(\*|[1-9][0-9]*))?")
_SEQ_MORE = (b":", b"*", b"0", b"1", b"2", b"3", b"4", b"5", b"6", b"7", b"8", b"9")

#: A compiled pattern per character class of ``Grammar._run`` (the classes are module constants).
_RUNS: dict[frozenset[int], re.Pattern[bytes]] = {}


class MessageLiteralHere(Exception):
    """Probing: the literal announced at the end of the text holds message data."""


class Grammar:
    """A cursor over one command's bytes. ``take``/``expect`` for literal text, ``parse_<rule>``
    for grammar rules, ``maybe_<rule>`` for optional ones (None when absent)."""

    def __init__(self, data: bytes, streamed: frozenset[int] = frozenset()) -> None:
        self.data = data
        self.pos = 0
        # Offsets where the data of a streamed APPEND message literal would start: the
        # announcement is in ``data``, the bytes went elsewhere (protocol.py).
        self.streamed = streamed
        #: Set while parsing the arguments of LOGIN/AUTHENTICATE: errors then never quote the
        #: input (it holds credentials; the reply also ends up in logs and transcripts).
        self.secret = False
        #: Set when the data is a command so far that ends in a literal announcement (without
        #: its CRLF and data): the parser only finds out whether that literal is message data.
        self.probe = False

    # -- primitives

    def error(self, msg: str) -> BadCommand:
        if self.secret:
            return BadCommand(f"{msg} (in credentials, not shown)")
        near = self.data[self.pos : self.pos + 20].decode("utf-8", "replace")
        if near:
            return BadCommand(f"{msg} (near {ascii(near)})")
        return BadCommand(f"{msg} (at end of line)")

    def at_end(self) -> bool:
        return self.pos >= len(self.data)

    def peek(self, s: bytes) -> bool:
        seg = self.data[self.pos : self.pos + len(s)]
        return seg == s or seg.upper() == s.upper()  # the first: as clients usually write it

    def take(self, s: bytes) -> bool:
        n = len(s)
        seg = self.data[self.pos : self.pos + n]
        if seg == s or seg.upper() == s.upper():  # peek(s), without the call
            self.pos += n
            return True
        return False

    def expect(self, s: bytes, what: str | None = None) -> None:
        if not self.take(s):
            raise self.error(f"expected {what}" if what else f"expected {s.decode()!r}")

    def sp(self) -> None:
        self.expect(b" ", "space")

    def expect_end(self) -> None:
        if not self.at_end():
            raise self.error("unexpected data at end of command")

    def _run(self, chars: frozenset[int]) -> bytes:
        """The longest run of ``chars`` at the cursor (possibly empty); the cursor moves past it."""
        r = _RUNS.get(chars)
        if r is None:
            r = _RUNS[chars] = re.compile(b"[" + b"".join(re.escape(bytes([c])) for c in sorted(chars)) + b"]*")
        m = r.match(self.data, self.pos)
        assert m is not None  # "*" matches the empty run
        self.pos = m.end()
        return m.group()

    # -- RFC 9051 9 rules

    def parse_tag(self) -> str:
        t = self._run(wire.TAG_CHARS)
        if not t:
            raise self.error("expected tag")
        return t.decode("ascii")

    def parse_atom(self) -> str:
        a = self._run(wire.ATOM_CHARS)
        if not a:
            raise self.error("expected atom")
        return a.decode("ascii")

    def parse_number64(self) -> int:
        # RFC 9051 9: number64 = 1*DIGIT, an unsigned 63-bit integer.
        start = self.pos
        while self.pos < len(self.data) and 0x30 <= self.data[self.pos] <= 0x39:
            self.pos += 1
        if start == self.pos:
            raise self.error("expected number")
        if self.pos - start > 19 or int(self.data[start : self.pos]) >= 1 << 63:
            self.pos = start
            raise self.error("number too large")
        return int(self.data[start : self.pos])

    def parse_number(self) -> int:
        # RFC 9051 9: number = 1*DIGIT, an unsigned 32-bit integer (also sequence numbers, UIDs
        # and section parts: nz-number).
        start = self.pos
        n = self.parse_number64()
        if n > 0xFFFFFFFF:
            self.pos = start
            raise self.error("number too large")
        return n

    def parse_nz_number(self) -> int:
        n = self.parse_number()
        if n == 0:
            raise self.error("expected non-zero number")
        return n

    parse_number32 = parse_number

    def parse_mod_sequence_value(self) -> int:
        # RFC 7162 7: mod-sequence-value = 1*DIGIT, positive unsigned 63-bit.
        return self.parse_number64()

    def parse_quoted(self) -> bytes:
        if not self.peek(b'"'):
            raise self.error("expected '\"'")
        try:
            v, self.pos = wire.read_quoted(self.data, self.pos)
        except wire.WireError as e:
            self.pos = e.pos
            raise self.error(e.msg) from None
        return v

    def maybe_literal(self, allow8: bool = False) -> bytes | None:
        m = wire.LITERAL_ANNOUNCEMENT.match(self.data, self.pos)
        if m is None:
            return None
        if m.group(1) and not allow8:
            raise self.error("literal8 not allowed here")
        n = int(m.group(2))
        start = m.end()
        if start + n > len(self.data):
            raise self.error("short literal")
        self.pos = start + n
        return self.data[start : self.pos]

    def maybe_message_literal(self) -> bytes | MessageLiteral | None:
        """APPEND's message: a literal or literal8, or a streamed one (RFC 9051 6.3.12). Probing
        (``is_append_message``), an announcement that ends the text is where the message data
        would follow: ``MessageLiteralHere``."""
        if self.probe and wire.LITERAL_AT_END.fullmatch(self.data, self.pos):
            raise MessageLiteralHere()
        m = wire.LITERAL_ANNOUNCEMENT.match(self.data, self.pos)
        if m is not None and m.end() in self.streamed:
            self.pos = m.end()
            return MessageLiteral(int(m.group(2)))
        return self.maybe_literal(allow8=True)

    def parse_string(self) -> bytes:
        if self.peek(b'"'):
            return self.parse_quoted()
        lit = self.maybe_literal()
        if lit is None:
            raise self.error("expected string")
        return lit

    def _text(self, b: bytes) -> str:
        try:
            s = b.decode("utf-8")
        except UnicodeDecodeError:
            raise self.error("invalid utf-8") from None
        if "\x00" in s:
            raise self.error("NUL not allowed")
        return s

    def parse_astring(self) -> str:
        if self.peek(b'"') or self.peek(b"{"):
            return self._text(self.parse_string())
        a = self._run(wire.ASTRING_CHARS)
        if not a:
            raise self.error("expected astring")
        return a.decode("ascii")

    def parse_nstring(self) -> str | None:
        if self.take(b"NIL"):
            return None
        return self._text(self.parse_string())

    def parse_mailbox(self) -> str:
        # "INBOX" is case-insensitive; the session maps it (also as prefix) to the stored name.
        return self.parse_astring()

    def parse_one_or_more_mailbox(self) -> tuple[str, ...]:
        """A mailbox or a parenthesized list of them (RFC 5465 one-or-more-mailbox, also the
        filter-mailboxes of RFC 7377 MULTISEARCH)."""
        if not self.take(b"("):
            return (self.parse_mailbox(),)
        names = [self.parse_mailbox()]
        while self.take(b" "):
            names.append(self.parse_mailbox())
        self.expect(b")")
        return tuple(names)

    def parse_list_mailbox(self) -> str:
        if self.peek(b'"') or self.peek(b"{"):
            return self._text(self.parse_string())
        a = self._run(wire.LIST_CHARS)
        if not a:
            raise self.error("expected list-mailbox")
        return a.decode("ascii")

    def parse_flag(self) -> str:
        if self.take(b"\\"):
            if self.take(b"*"):
                raise self.error("\\* is not a flag")
            return "\\" + self.parse_atom()
        return self.parse_atom()

    def parse_flag_list(self) -> list[str]:
        self.expect(b"(")
        flags: list[str] = []
        if self.take(b")"):
            return flags
        while True:
            flags.append(self.parse_flag())
            if self.take(b")"):
                return flags
            self.sp()

    def parse_seq_number(self) -> int | None:
        if self.take(b"*"):
            return None
        return self.parse_nz_number()

    def parse_sequence_set(self) -> NumSet:
        if self.take(b"$"):
            return NumSet(search_result=True)
        ranges: list[NumRange] = []
        while True:
            # A well-formed range in one match; anything else (and every error) by the rules below.
            m = _SEQ_RANGE.match(self.data, self.pos)
            if m is not None and self.data[m.end() : m.end() + 1] not in _SEQ_MORE:
                first, last = m.group(1), m.group(2)
                a = None if first == b"*" else int(first)
                b = None if last is None or last == b"*" else int(last)
                if (a is None or a <= 0xFFFFFFFF) and (b is None or b <= 0xFFFFFFFF):
                    self.pos = m.end()
                    ranges.append(NumRange(a) if last is None else NumRange(a, b, single=False))
                    if not self.take(b","):
                        return NumSet(tuple(ranges))
                    continue
            a = self.parse_seq_number()
            if self.take(b":"):
                ranges.append(NumRange(a, self.parse_seq_number(), single=False))
            else:
                ranges.append(NumRange(a))
            if not self.take(b","):
                return NumSet(tuple(ranges))

    def parse_date(self) -> tuple[int, int, int]:
        # RFC 9051 9: date = date-text / DQUOTE date-text DQUOTE
        quoted = self.take(b'"')
        m = wire.DATE.match(self.data, self.pos)
        if m is None:
            raise self.error("expected date")
        mon = wire.month_number(m.group(2))
        if not mon:
            raise self.error("bad month")
        day, year = int(m.group(1)), int(m.group(3))
        if not wire.valid_day(year, mon, day):
            raise self.error("bad day")
        self.pos = m.end()
        if quoted:
            self.expect(b'"')
        return (year, mon, day)

    def parse_date_time(self) -> float:
        # RFC 9051 9: date-time = DQUOTE date-day-fixed "-" date-month "-" date-year SP time SP zone DQUOTE
        d = self.data
        m = wire.DATE_TIME.match(d, self.pos + 1) if d[self.pos : self.pos + 1] == b'"' else None
        if m is None or d[m.end() : m.end() + 1] != b'"':
            raise self.error("expected date-time")
        if not wire.month_number(m.group(2)):
            raise self.error("bad month")
        ts = wire.date_time_value(m)
        if ts is None:
            raise self.error("bad date-time")
        self.pos = m.end() + 1
        return ts

    def parse_partial_range(self) -> PartialRange:
        """RFC 9394 4 partial-range: ``nz-number ":" nz-number`` or both negated (counted from
        the last result); either order means the same range."""
        start = self.pos
        neg = self.take(b"-")
        a = self.parse_nz_number()
        self.expect(b":")
        if self.take(b"-") != neg:
            raise self.error("partial range mixes positive and negative positions")
        b = self.parse_nz_number()
        text = self.data[start : self.pos].decode("ascii")
        return PartialRange(min(a, b), max(a, b), neg, text)
