"""Sans-IO IMAP server connection: bytes in, events out (h11 style).

``conn.receive_data(data)`` feeds bytes (``b""`` at end of stream); ``conn.next_event()`` returns
the next event or ``NEED_DATA``. A command arrives as one ``Command`` event after all of its
literals were read. Events:

- ``Command``: a parsed command (``types.Command``).
- ``NeedLiteral(tag, size)``: a synchronizing literal was announced and accepted; the driver
  sends ``+ `` (RFC 9051 7.5: the space is required by some clients).
- ``BadSyntax(tag, text, code)``: answer ``<tag> BAD [code] text``; the connection goes on.
- ``Line(data)``: in line mode (``set_line_mode()``), one raw line without CRLF (SASL responses,
  IDLE's DONE).
- ``Fatal(text)``: answer ``* BYE text`` and close (line too long, oversized LITERAL+ literal,
  end of stream mid-command).
- ``NotImap``: the first line was not IMAP: ``* BYE please try again speaking imap`` and close.
- ``EndOfStream``: the client closed the connection between commands.

Limits (reference 3.7): 16 KiB per line; literals in commands at most 100 KiB each, 1000 KiB in
total, 1000 per command; APPEND's message literal is limited only by ``max_append``.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import BadCommand
from .parse import literal_at_end, parse_command, parse_tag_and_name
from .types import Command

NEED_DATA = object()

MAX_LINE = 16 * 1024
MAX_LITERAL = 100 * 1024
MAX_LITERALS_TOTAL = 1000 * 1024
MAX_LITERALS = 1000


@dataclass(frozen=True)
class NeedLiteral:
    tag: str
    size: int


@dataclass(frozen=True)
class BadSyntax:
    tag: str
    text: str
    code: str | None = None


@dataclass(frozen=True)
class Line:
    data: bytes


@dataclass(frozen=True)
class Fatal:
    text: str


@dataclass(frozen=True)
class NotImap:
    pass


@dataclass(frozen=True)
class EndOfStream:
    pass


Event = Command | NeedLiteral | BadSyntax | Line | Fatal | NotImap | EndOfStream


class ImapServerConnection:
    def __init__(self, *, max_append: int = 1 << 63, max_line: int = MAX_LINE) -> None:
        self._buf = bytearray()
        self._eof = False
        self._line_mode = False
        self._cmd = bytearray()  # the command so far: lines with CRLF and literal data
        self._literal_remaining = 0
        self._literal_count = 0
        self._literal_total = 0
        self._scan = 0  # where to continue looking for CRLF
        self.ncommands = 0
        self.last_command = b""  # raw bytes of the last complete command, for trace logging
        self.max_append = max_append
        self.max_line = max_line

    def receive_data(self, data: bytes) -> None:
        if data:
            self._buf += data
        else:
            self._eof = True

    def set_line_mode(self, on: bool = True) -> None:
        """Line mode hands out raw lines (AUTHENTICATE continuations, IDLE's DONE)."""
        self._line_mode = on

    def in_command(self) -> bool:
        """Whether a command is partially received (e.g. waiting for literal data)."""
        return bool(self._cmd) or self._literal_remaining > 0

    def _reset(self) -> None:
        self._cmd = bytearray()
        self._literal_remaining = 0
        self._literal_count = 0
        self._literal_total = 0

    def _take_line(self) -> bytes | None:
        i = self._buf.find(b"\r\n", self._scan)
        if i < 0:
            self._scan = max(0, len(self._buf) - 1)
            return None
        line = bytes(self._buf[:i])
        del self._buf[: i + 2]
        self._scan = 0
        return line

    def next_event(self) -> object:
        while True:
            if self._literal_remaining:
                if len(self._buf) < self._literal_remaining:
                    if self._eof:
                        return Fatal("connection closed while reading literal")
                    return NEED_DATA
                n = self._literal_remaining
                self._cmd += self._buf[:n]
                del self._buf[:n]
                self._literal_remaining = 0
                continue
            line = self._take_line()
            if line is None:
                if len(self._buf) > self.max_line:
                    self._buf.clear()
                    return Fatal("line too long")
                if self._eof:
                    if self._buf or self._cmd:
                        return Fatal("connection closed in the middle of a command")
                    return EndOfStream()
                return NEED_DATA
            if len(line) > self.max_line:
                return Fatal("line too long")
            if self._line_mode:
                return Line(line)
            ev = self._command_line(line)
            if ev is not None:
                return ev

    def _command_line(self, line: bytes) -> object | None:
        self._cmd += line
        lit = literal_at_end(line)
        if lit is None:
            data = bytes(self._cmd)
            self._reset()
            return self._parse(data)
        size, non_sync, _lit8 = lit
        tag, name = parse_tag_and_name(bytes(self._cmd[:200]))
        if self.ncommands == 0 and (tag is None or name is None):
            self._reset()
            return NotImap()
        self._literal_count += 1
        self._literal_total += size
        if name == "APPEND":
            # The message literal is exempt from the command literal limits (reference 3.7).
            too_big = size > self.max_append
        else:
            too_big = (
                size > MAX_LITERAL or self._literal_total > MAX_LITERALS_TOTAL or self._literal_count > MAX_LITERALS
            )
        if too_big:
            self._reset()
            if non_sync:
                return Fatal("[ALERT] literal too big")
            self.ncommands += 1
            return BadSyntax(tag or "*", "literal too big", "TOOBIG")
        self._cmd += b"\r\n"
        self._literal_remaining = size
        if not non_sync:
            return NeedLiteral(tag or "*", size)
        return None

    def _parse(self, data: bytes) -> object:
        first = self.ncommands == 0
        self.ncommands += 1
        self.last_command = data
        try:
            return parse_command(data)
        except BadCommand as e:
            tag, name = parse_tag_and_name(data[:200])
            if first and (tag is None or name is None or e.code == "unknown"):
                return NotImap()
            code = None if e.code == "unknown" else e.code
            return BadSyntax(tag or "*", e.text, code)
