"""Sans-IO IMAP server connection: bytes in, events out (h11 style).

``conn.receive_data(data)`` feeds bytes (``b""`` at end of stream); ``conn.next_event()`` returns
the next event or ``NEED_DATA``. A command arrives as one ``Command`` event after all of its
literals were read. Events:

- ``Command``: a parsed command (``types.Command``).
- ``NeedLiteral(tag, size)``: a synchronizing literal was announced and accepted; the driver
  sends ``+ `` (RFC 9051 7.5: the space is required by some clients).
- ``AppendLiteral(tag, size, sync)``: with ``stream_append`` on, an APPEND message literal (each
  message of a MULTIAPPEND, each TEXT part of a CATENATE) was announced and accepted; its data
  follows as ``AppendData(data)`` events, as it arrives, and is not kept here (the driver
  streams it to a file, one per literal). For ``sync`` the driver sends ``+ ``. In the
  command's ``args["messages"]`` it is then a ``types.MessageLiteral(size)``.
- ``BadSyntax(tag, text, code)``: answer ``<tag> BAD [code] text``; the connection goes on.
- ``Line(data)``: in line mode (``set_line_mode()``), one raw line without CRLF (SASL responses,
  IDLE's DONE).
- ``Fatal(text)``: answer ``* BYE text`` and close (oversized LITERAL+ literal, a too long line in
  line mode, end of stream mid-command).
- ``NotImap``: the first line was not IMAP: ``* BYE please try again speaking imap`` and close.
- ``EndOfStream``: the client closed the connection between commands.

Limits: 64 KiB of command text (the lines of a command, without literal data; Dovecot's
``imap_max_line_length``, where mox has 16 KiB, too little for ``ID`` with long values); literals
in commands at most 100 KiB each, 1000 KiB in total, 1000 per command (mox ``imapserver/server.go``); APPEND's
message literals (not e.g. a mailbox name sent as a literal) are limited by ``max_append`` in
total per command instead. Memory held for a connection: the buffered input (one read plus the
unfinished line) and the command text and its small literals; never a streamed message.

A command whose text outgrows the limit is answered ``<tag> BAD [TOOBIG]`` once all of it went
by, and the connection goes on: the rest of the line is discarded as it arrives (only a short
tail is kept, to see a literal announced at its end), the data of a LITERAL+ literal announced
there is skipped with the lines after it, and a synchronizing literal is never invited (the
client sends nothing after the BAD). Memory stays bounded by the limit plus one read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import BadCommand
from .parse import is_append_message, parse_command, parse_tag_and_name
from .types import Command
from .wire import literal_at_end

NEED_DATA = object()

MAX_LINE = 64 * 1024
MAX_LITERAL = 100 * 1024
MAX_LITERALS_TOTAL = 1000 * 1024
MAX_LITERALS = 1000


@dataclass(frozen=True)
class NeedLiteral:
    tag: str
    size: int


@dataclass(frozen=True)
class AppendLiteral:
    tag: str
    size: int
    sync: bool


@dataclass(frozen=True)
class AppendData:
    data: bytes


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


_TAIL = 64  # bytes kept of a discarded line: enough for a literal announcement ("~{<20 digits>+}")


@dataclass
class _Skip:
    """A command being discarded because its text outgrew ``max_line``."""

    tag: str
    tail: bytes = b""  # the end of the line so far
    literal: int = 0  # LITERAL+ data still to skip


Event = Command | NeedLiteral | AppendLiteral | AppendData | BadSyntax | Line | Fatal | NotImap | EndOfStream


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
        self._text = 0  # bytes of command text (lines, not literal data) in the command so far
        self._skip: _Skip | None = None  # discarding a command that outgrew max_line
        self._append_total = 0  # bytes of APPEND message literals in the command so far
        self._streamed: set[int] = set()  # offsets in _cmd where a streamed literal's data was
        self._stream_remaining = 0  # bytes of a streamed literal still to hand out
        self.ncommands = 0
        self.last_command = b""  # raw bytes of the last complete command, for trace logging
        self.max_append = max_append
        self.max_line = max_line
        #: Stream APPEND message literals (AppendLiteral/AppendData) instead of buffering them;
        #: the driver turns it on once authenticated (before, they are limited as any literal).
        self.stream_append = False

    def receive_data(self, data: bytes | bytearray) -> None:
        if data:
            self._buf += data
        else:
            self._eof = True

    def replace_buffered(self, f: Any) -> None:
        """Input received but not processed yet becomes ``f(input)`` (COMPRESS: it was
        compressed data, to be inflated)."""
        if self._buf:
            self._buf = bytearray(f(bytes(self._buf)))
            self._scan = 0

    def set_line_mode(self, on: bool = True) -> None:
        """Line mode hands out raw lines (AUTHENTICATE continuations, IDLE's DONE)."""
        self._line_mode = on

    def in_command(self) -> bool:
        """Whether a command is partially received (e.g. waiting for literal data)."""
        return bool(self._cmd) or self._literal_remaining > 0 or self._skip is not None or self._stream_remaining > 0

    def buffered(self) -> int:
        """Bytes this connection holds in memory: unprocessed input and the command so far."""
        return len(self._buf) + len(self._cmd)

    def _reset(self) -> None:
        self._cmd = bytearray()
        self._literal_remaining = 0
        self._literal_count = 0
        self._literal_total = 0
        self._text = 0
        self._append_total = 0
        self._streamed = set()
        self._stream_remaining = 0

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
            if self._skip is not None:
                ev = self._skip_some()
                if ev is not None:
                    return ev
                continue
            if self._stream_remaining:
                if not self._buf:
                    if self._eof:
                        return Fatal("connection closed while reading literal")
                    return NEED_DATA
                n = min(self._stream_remaining, len(self._buf))
                chunk = bytes(self._buf[:n])
                del self._buf[:n]
                self._stream_remaining -= n
                return AppendData(chunk)
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
                if self._text + len(self._buf) > self.max_line:
                    if self._line_mode:
                        self._buf.clear()
                        return Fatal("line too long")
                    ev = self._start_skip(bytes(self._cmd[:200]) or bytes(self._buf[:200]))
                    if ev is not None:
                        return ev
                    continue
                if self._eof:
                    if self._buf or self._cmd:
                        return Fatal("connection closed in the middle of a command")
                    return EndOfStream()
                return NEED_DATA
            if self._text + len(line) > self.max_line:
                if self._line_mode:
                    return Fatal("line too long")
                ev = self._start_skip(bytes(self._cmd[:200]) or line[:200])
                if ev is not None:
                    return ev
                assert self._skip is not None
                self._skip.tail = line[-_TAIL:]
                ev = self._skip_line_done()
                if ev is not None:
                    return ev
                continue
            if self._line_mode:
                return Line(line)
            ev = self._command_line(line)
            if ev is not None:
                return ev

    # -- commands that outgrow max_line

    def _start_skip(self, prefix: bytes) -> object | None:
        """Start discarding the current command; NotImap when it is the first and has no tag."""
        tag, _ = parse_tag_and_name(prefix)
        if self.ncommands == 0 and tag is None:
            self._reset()
            self._buf.clear()
            return NotImap()
        self._reset()
        self._skip = _Skip(tag or "*")
        return None

    def _skip_some(self) -> object | None:
        """Discard what has arrived of a too long command: an event, NEED_DATA, or None to go on."""
        sk = self._skip
        assert sk is not None
        if sk.literal:
            n = min(sk.literal, len(self._buf))
            del self._buf[:n]
            sk.literal -= n
            if sk.literal:
                return Fatal("connection closed while reading literal") if self._eof else NEED_DATA
            return None
        i = self._buf.find(b"\r\n")
        if i < 0:
            # Keep a final CR: its LF may come with the next read.
            n = len(self._buf) - (1 if self._buf.endswith(b"\r") else 0)
            sk.tail = (sk.tail + bytes(self._buf[:n]))[-_TAIL:]
            del self._buf[:n]
            self._scan = 0
            return Fatal("connection closed in the middle of a command") if self._eof else NEED_DATA
        sk.tail = (sk.tail + bytes(self._buf[:i]))[-_TAIL:]
        del self._buf[: i + 2]
        self._scan = 0
        return self._skip_line_done()

    def _skip_line_done(self) -> object | None:
        """A line of a too long command ended. After a LITERAL+ literal the command goes on (its
        data and further lines are skipped too); otherwise it is over: answer BAD. A
        synchronizing literal is not invited, so the client sends no data for it."""
        sk = self._skip
        assert sk is not None
        lit = literal_at_end(sk.tail)
        sk.tail = b""
        if lit is not None and lit[1]:
            sk.literal = lit[0]
            return None
        self._skip = None
        self.ncommands += 1
        return BadSyntax(sk.tag, f"command line too long, the maximum is {self.max_line} bytes", "TOOBIG")

    def _command_line(self, line: bytes) -> object | None:
        self._cmd += line
        self._text += len(line) + 2
        lit = literal_at_end(line)
        if lit is None:
            data, streamed = bytes(self._cmd), frozenset(self._streamed)
            self._reset()
            return self._parse(data, streamed)
        size, non_sync, _lit8 = lit
        tag, name = parse_tag_and_name(bytes(self._cmd[:200]))
        if self.ncommands == 0 and (tag is None or name is None):
            self._reset()
            return NotImap()
        message = name in ("APPEND", "REPLACE") and is_append_message(bytes(self._cmd), frozenset(self._streamed))
        if message:
            # The message literal is exempt from the command literal limits (mox imapserver/server.go);
            # all of a command's messages together are limited (MULTIAPPEND sends several).
            self._append_total += size
            too_big = self._append_total > self.max_append
        else:
            self._literal_count += 1
            self._literal_total += size
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
        if message and self.stream_append:
            self._streamed.add(len(self._cmd))
            self._stream_remaining = size
            return AppendLiteral(tag or "*", size, not non_sync)
        self._literal_remaining = size
        if not non_sync:
            return NeedLiteral(tag or "*", size)
        return None

    def _parse(self, data: bytes, streamed: frozenset[int] = frozenset()) -> object:
        first = self.ncommands == 0
        self.ncommands += 1
        self.last_command = data
        try:
            return parse_command(data, streamed)
        except BadCommand as e:
            tag, name = parse_tag_and_name(data[:200])
            if first and (tag is None or name is None or e.code == "unknown"):
                return NotImap()
            code = None if e.code == "unknown" else e.code
            return BadSyntax(tag or "*", e.text, code)
