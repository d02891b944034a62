"""Sans-IO SMTP server connection: bytes in, events out, replies as values.

Invariants (read before changing):
- The driver feeds bytes with ``receive_data`` and pulls events with ``next_event`` until
  ``NEED_DATA``; replies it writes are buffered and flushed before the next read, so pipelined
  commands (RFC 2920) are answered in order with one write.
- Command semantics that need no I/O (sequence checks, parameter checks, limits) live here and
  raise :class:`ReplyError`; the driver adds the checks that need the store or auth (MAIL FROM
  ownership, recipient lookup, failure simulation) between ``parse_mail``/``accept_mail`` etc.
- State follows what must happen next: AWAIT_EHLO -> AWAIT_MAIL -> AWAIT_RCPT -> (after a
  recipient) AWAIT_DATA -> READ_DATA or READ_BDAT -> AWAIT_MAIL.
- Message data is un-dot-stuffed (RFC 5321 4.5.2); a bare CR or LF in DATA poisons the message
  (SMTP smuggling), oversize data is discarded; both are reported only after the final dot so the
  connection stays in sync.
- Error replies end with `` (<id>)`` (the connection id), as mox's do.
"""

from __future__ import annotations

import datetime
import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from mox.auth.sasl import SERVER_MECHANISMS
from mox.smtp import codes as c
from mox.smtp.address import Address
from mox.smtp.parse import MailFrom, ParseError, RcptTo, parse_ehlo_domain, parse_mail_from, parse_rcpt_to, dsn_xtext_decode

MAX_LINE = 2048  # mox's command line limit (RFC 5321 4.5.3.1.4 says 512)
RCPT_MAX = 1000
FUTURE_RELEASE_MAX = 60 * 24 * 3600  # RFC 4865, mox: 60 days


class State(enum.Enum):
    AWAIT_EHLO = "await_ehlo"
    AWAIT_MAIL = "await_mail"
    AWAIT_RCPT = "await_rcpt"  # have MAIL, no recipient yet
    AWAIT_DATA = "await_data"  # have MAIL and at least one RCPT
    READ_DATA = "read_data"
    READ_BDAT = "read_bdat"
    CLOSED = "closed"


@dataclass(frozen=True)
class Reply:
    code: int
    se: str = ""
    text: str = ""
    with_id: bool = False  # append " (<id>)" as mox does for errors
    close: bool = False  # the driver closes the connection after writing

    def to_bytes(self, rid: str) -> bytes:
        text = f"{self.text} ({rid})" if self.with_id else self.text
        return c.format_reply(self.code, self.se, text)


def error(code: int, se: str, text: str, *, close: bool = False) -> Reply:
    return Reply(code, se, text, with_id=True, close=close)


class ReplyError(Exception):
    """A command outcome that is a refusal; carries the reply for the client."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(f"{reply.code} {reply.text}")
        self.reply = reply


def fail(code: int, se: str, text: str, *, close: bool = False) -> ReplyError:
    return ReplyError(error(code, se, text, close=close))


class ConnectionClosed(Exception):
    """The connection is done: the peer closed it, we closed after a final reply, I/O failed, or a
    hook (fault injection) dropped it. Raised by drivers and hooks; the driver's loop ends on it."""


class _NeedData:
    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA = _NeedData()


@dataclass(frozen=True)
class Command:
    verb: str  # upper-case
    args: str  # rest of the line including its leading space
    line: bytes  # raw line without CRLF


@dataclass(frozen=True)
class LineTooLong:
    pass


@dataclass(frozen=True)
class NotSmtp:
    """The peer speaks another protocol (a TLS handshake on a plain port)."""


@dataclass(frozen=True)
class MessageComplete:
    data: bytes


@dataclass(frozen=True)
class ChunkReceived:
    size: int


@dataclass(frozen=True)
class DataRejected:
    reply: Reply


#: What next_event returns.
Event = _NeedData | Command | LineTooLong | NotSmtp | MessageComplete | ChunkReceived | DataRejected

_P = TypeVar("_P")


@dataclass
class Transaction:
    mail_from: Address | None = None
    null_sender: bool = False
    params: dict[str, str | None] = field(default_factory=dict)
    recipients: list[Address] = field(default_factory=list)
    rcpt_params: list[dict[str, str | None]] = field(default_factory=list)
    smtputf8: bool = False
    body: str = "7BIT"
    requiretls: bool = False
    hold_until: float | None = None
    ret: str | None = None  # RFC 3461 RET=FULL|HDRS
    envid: str | None = None
    used_bdat: bool = False


class ServerConnection:
    """One SMTP server connection's protocol state (RFC 5321, 1870, 2920, 3030, 3207, 3461,
    4865, 4954, 6152, 6531, 8689, 9422)."""

    def __init__(
        self,
        *,
        hostname: str,
        submission: bool,
        tls: bool = False,
        tls_available: bool = False,
        require_tls_for_auth: bool = True,
        max_message_size: int = 104857600,
        rcpt_max: int = RCPT_MAX,
        version: str = "",
    ) -> None:
        self.hostname = hostname
        self.submission = submission
        self.tls = tls
        self.tls_available = tls_available
        self.require_tls_for_auth = require_tls_for_auth
        self.max_message_size = max_message_size
        self.rcpt_max = rcpt_max
        self.version = version
        self.state = State.AWAIT_EHLO
        self.ehlo_domain = ""
        self.extended = False
        #: SASL mechanisms the driver can run on this connection, in advertised order; the
        #: EHLO AUTH line shows them (none when TLS is required for auth and absent).
        self.mechanisms: list[str] = ["PLAIN", "LOGIN"]
        self.account: str | None = None  # set when authenticated
        self.username: str = ""
        #: True after AUTH succeeded; a TLS client certificate sets account without it, so AUTH
        #: (EXTERNAL, or another mechanism for the same account) still works, as mox.
        self.auth_sasl = False
        self.ncommands = 0
        self.tx = Transaction()
        self._buf = bytearray()
        self._pos = 0
        # DATA/BDAT reading
        self._msg = bytearray()
        self._msg_size = 0
        self._bad_crlf = False
        self._too_large = False
        self._prev_crlf = True
        self._chunk_left = 0
        self._chunk_last = False
        self._chunk_error: Reply | None = None
        self._resume_state = State.AWAIT_EHLO
        self._pending_tx = Transaction()

    # --- bytes in ---------------------------------------------------------------------------

    def receive_data(self, data: bytes | bytearray) -> None:
        if self._pos > 65536 and self._pos > len(self._buf) // 2:
            del self._buf[: self._pos]
            self._pos = 0
        self._buf += data

    def discard_buffer(self) -> int:
        """Drop unread bytes (after STARTTLS: RFC 3207 4.2, no plaintext injection)."""
        n = len(self._buf) - self._pos
        self._buf.clear()
        self._pos = 0
        return n

    def buffered(self) -> int:
        return len(self._buf) - self._pos

    def next_event(self) -> Event:
        if self.state == State.READ_DATA:
            return self._next_data_event()
        if self.state == State.READ_BDAT:
            return self._next_bdat_event()
        if self.ncommands == 0 and self._buf[self._pos : self._pos + 2] == b"\x16\x03":
            # A TLS handshake record (type 22, version 3.x) where the first command should be:
            # TLS spoken to a plain port. It has no line end to wait for.
            return NotSmtp()
        i = self._buf.find(b"\n", self._pos)
        if i < 0:
            if len(self._buf) - self._pos > MAX_LINE:
                return LineTooLong()
            return NEED_DATA
        raw = bytes(self._buf[self._pos : i + 1])
        self._pos = i + 1
        if len(raw) > MAX_LINE:
            return LineTooLong()
        line = raw.rstrip(b"\n")
        if line.endswith(b"\r"):
            line = line[:-1]
        text = line.decode("utf-8", "surrogateescape")
        verb, args = _split(text)
        return Command(verb, args, line)

    def _next_data_event(self) -> Event:
        # RFC 5321 4.1.1.4 and 4.5.2: lines end in CRLF, "." alone ends the data, a leading
        # dot is removed. All complete lines in the buffer are handled as one block (bytes.find
        # and bytes.replace instead of a Python loop per line); the result is the same as taking
        # the lines one by one.
        buf = self._buf
        pos = self._pos
        last = buf.rfind(b"\n", pos)
        if last < 0:
            pending = len(buf) - pos
            if pending > 1 << 20:
                # Keep memory bounded for absurdly long lines: consume what we have.
                chunk = bytes(buf[pos:])
                self._pos = len(buf)
                if b"\r" in chunk:
                    self._bad_crlf = True
                self._add_data(chunk)
                self._prev_crlf = False
            return NEED_DATA
        # The first line that is "." alone after a line ending in CRLF ends the data.
        if self._prev_crlf and buf.startswith(b".\r\n", pos):
            end = pos
        else:
            j = buf.find(b"\r\n.\r\n", pos, last + 1)
            end = -1 if j < 0 else j + 2
        stop = last + 1 if end < 0 else end
        if stop > pos:
            block = bytes(buf[pos:stop])
            self._pos = stop
            # Bare CR or LF: every LF must end a CRLF and every CR must start one.
            ncrlf = block.count(b"\r\n")
            if block.count(b"\n") != ncrlf or block.count(b"\r") != ncrlf:
                self._bad_crlf = True
            self._prev_crlf = block.endswith(b"\r\n")
            if block.startswith(b"."):
                block = block[1:]
            if b"\n." in block:
                block = block.replace(b"\n.", b"\n")
            self._add_data(block)
        if end < 0:
            return NEED_DATA
        self._pos = end + 3
        return self._end_message()

    def _add_data(self, b: bytes) -> None:
        self._msg_size += len(b)
        if self._msg_size > self.max_message_size:
            self._too_large = True
            self._msg.clear()
        elif not self._too_large and not self._bad_crlf:
            self._msg += b

    def _end_message(self) -> DataRejected | MessageComplete:
        data = bytes(self._msg)
        self._msg.clear()
        self.state = State.AWAIT_DATA
        if self._bad_crlf:
            self.reset_transaction()
            return DataRejected(error(c.C500_BAD_SYNTAX, c.SE_PROTO_SYNTAX, "invalid bare \\r or \\n, may be smtp smuggling"))
        if self._too_large:
            self.reset_transaction()
            return DataRejected(error(c.C552_MAILBOX_FULL, c.SE_SYS_MSG_LIMIT_EXCEEDED, "message too large"))
        return MessageComplete(data)

    def _next_bdat_event(self) -> Event:
        avail = len(self._buf) - self._pos
        if self._chunk_left > 0:
            if avail == 0:
                return NEED_DATA
            n = min(avail, self._chunk_left)
            b = bytes(self._buf[self._pos : self._pos + n])
            self._pos += n
            self._chunk_left -= n
            if self._chunk_error is None:
                self._add_data(b)
            if self._chunk_left > 0:
                return NEED_DATA
        # Chunk complete.
        if self._chunk_error is not None:
            reply = self._chunk_error
            self._chunk_error = None
            self.state = self._resume_state
            return DataRejected(reply)
        if self._too_large:
            self.state = State.AWAIT_DATA
            self.reset_transaction()
            return DataRejected(error(c.C552_MAILBOX_FULL, c.SE_SYS_MSG_LIMIT_EXCEEDED, "message too large"))
        if self._chunk_last:
            data = bytes(self._msg)
            self._msg.clear()
            self.state = State.AWAIT_DATA
            return MessageComplete(data)
        self.state = State.AWAIT_DATA
        return ChunkReceived(self._msg_size)

    # --- replies ------------------------------------------------------------------------------

    def greeting(self) -> Reply:
        return Reply(c.C220_SERVICE_READY, "", f"{self.hostname} ESMTP mox {self.version}".rstrip())

    def auth_mechanisms(self) -> list[str]:
        if self.require_tls_for_auth and not self.tls:
            return []  # mox: an empty "250-AUTH " line
        return list(self.mechanisms)

    def ehlo_lines(self, now: float) -> list[str]:
        # mox's order (smtpserver/server.go), with CHUNKING, BINARYMIME and DSN next to 8BITMIME.
        lines = [self.hostname, "PIPELINING", f"SIZE {self.max_message_size}"]
        if not self.tls and self.tls_available:
            lines.append("STARTTLS")  # RFC 3207
        elif self.tls:
            lines.append("REQUIRETLS")  # RFC 8689
        if self.submission:
            lines.append("AUTH " + " ".join(self.auth_mechanisms()))  # RFC 4954
            until = datetime.datetime.fromtimestamp(now + FUTURE_RELEASE_MAX, datetime.timezone.utc)
            lines.append(f"FUTURERELEASE {FUTURE_RELEASE_MAX} {until.strftime('%Y-%m-%dT%H:%M:%SZ')}")  # RFC 4865
        lines += ["ENHANCEDSTATUSCODES", "8BITMIME", "BINARYMIME", "CHUNKING", "DSN", f"LIMITS RCPTMAX={self.rcpt_max}", "SMTPUTF8"]
        return lines

    # --- commands -----------------------------------------------------------------------------

    def note_command(self) -> bool:
        """Count a known command; False for the first line of a connection (non-SMTP check)."""
        first = self.ncommands == 0
        self.ncommands += 1
        return not first

    def ehlo(self, args: str, *, extended: bool, now: float) -> bytes:
        """RFC 5321 4.1.1.1: EHLO/HELO reset the transaction and set the client's domain."""
        try:
            domain = parse_ehlo_domain(args)
        except ParseError as e:
            raise fail(c.C501_BAD_PARAM_SYNTAX, c.SE_PROTO_SYNTAX, f"bad syntax: {e}") from None
        self.reset_transaction()
        self.ehlo_domain = domain
        self.extended = extended
        self.state = State.AWAIT_MAIL
        if not extended:
            return Reply(c.C250_COMPLETED, "", self.hostname).to_bytes("")
        lines = self.ehlo_lines(now)
        return "".join(f"250{'-' if i < len(lines) - 1 else ' '}{line}\r\n" for i, line in enumerate(lines)).encode("utf-8")

    def need_hello(self) -> None:
        if self.state == State.AWAIT_EHLO:
            raise fail(c.C503_BAD_CMD_SEQ, c.SE_PROTO_BAD_CMD_OR_SEQ, "no ehlo/helo yet")

    def check_auth(self) -> None:
        if self.submission and self.account is None:
            raise fail(c.C530_SECURITY_REQUIRED, c.SE_POL_OTHER, "authentication required")  # RFC 4954 6

    def starttls(self, args: str) -> Reply:
        if args.strip():
            raise fail(c.C501_BAD_PARAM_SYNTAX, c.SE_PROTO_SYNTAX, "bad syntax: no parameters allowed")
        if self.tls:
            raise fail(c.C503_BAD_CMD_SEQ, c.SE_PROTO_BAD_CMD_OR_SEQ, "already speaking tls")
        if self.account is not None:
            raise fail(c.C503_BAD_CMD_SEQ, c.SE_PROTO_BAD_CMD_OR_SEQ, "cannot starttls after authentication")
        if not self.tls_available:
            raise fail(c.C503_BAD_CMD_SEQ, c.SE_PROTO_BAD_CMD_OR_SEQ, "starttls not offered")
        return Reply(c.C220_SERVICE_READY, c.SE_OTHER, "go!", with_id=True)

    def tls_started(self) -> None:
        """RFC 3207 4.2: forget everything learned before TLS, client must EHLO again."""
        self.tls = True
        self.state = State.AWAIT_EHLO
        self.ehlo_domain = ""
        self.reset_transaction()
        self.discard_buffer()

    def auth_begin(self, args: str) -> tuple[str, bytes | None]:
        """RFC 4954 4: ``AUTH mechanism [initial-response]``; returns (mechanism, initial)."""
        import base64
        import binascii

        self.need_hello()
        if not self.submission:
            raise fail(c.C503_BAD_CMD_SEQ, c.SE_PROTO_BAD_CMD_OR_SEQ, "authentication only allowed on submission ports")
        if self.auth_sasl:
            raise fail(c.C503_BAD_CMD_SEQ, c.SE_PROTO_BAD_CMD_OR_SEQ, "already authenticated")
        if self.state not in (State.AWAIT_MAIL,):
            raise fail(c.C503_BAD_CMD_SEQ, c.SE_PROTO_BAD_CMD_OR_SEQ, "authentication not allowed during mail transaction")
        words = args.strip(" ").split(" ")
        if args.strip(" ") == "" or len(words) > 2:
            raise fail(c.C501_BAD_PARAM_SYNTAX, c.SE_PROTO_SYNTAX, "bad syntax: expected mechanism and optional initial response")
        mech = words[0].upper()
        if mech in SERVER_MECHANISMS and self.require_tls_for_auth and not self.tls:
            raise fail(c.C538_ENC_REQ_FOR_AUTH, c.SE_POL_ENC_REQ_FOR_AUTH, "authentication requires tls")
        if mech not in self.mechanisms:
            raise fail(c.C504_PARAM_NOT_IMPL, c.SE_PROTO_BAD_PARAMS, f"mechanism {words[0]} not supported")
        if len(words) == 1:
            return mech, None
        if words[1] == "*":
            raise fail(c.C501_BAD_PARAM_SYNTAX, c.SE_PROTO_OTHER, "authentication aborted")
        if words[1] == "=":
            return mech, b""
        if words[1] == "":
            raise fail(c.C501_BAD_PARAM_SYNTAX, c.SE_PROTO_SYNTAX, "missing initial auth base64 parameter after space")
        try:
            return mech, base64.b64decode(words[1], validate=True)
        except (binascii.Error, ValueError) as e:
            raise fail(c.C501_BAD_PARAM_SYNTAX, c.SE_PROTO_SYNTAX, f"invalid base64: {e}") from None

    def auth_succeeded(self, account: str, username: str) -> Reply:
        self.account = account
        self.username = username
        self.auth_sasl = True
        return Reply(c.C235_AUTH_SUCCESS, c.SE_POL_OTHER, "nice")

    def parse_mail(self, args: str, *, now: float) -> MailFrom:
        """RFC 5321 4.1.1.2 MAIL; parameters from RFC 1870, 6152, 3030, 6531, 8689, 4865, 3461."""
        self.need_hello()
        self.check_auth()
        if self.state != State.AWAIT_MAIL:
            raise fail(c.C503_BAD_CMD_SEQ, c.SE_PROTO_BAD_CMD_OR_SEQ, "already have MAIL")
        mf = self._parse(parse_mail_from, args)
        tx = Transaction(mail_from=mf.path, null_sender=mf.path is None, params=mf.params)
        for key, value in mf.params.items():
            if key == "SIZE":
                if value is None or not value.isdigit() or len(value) > 20:
                    raise fail(c.C501_BAD_PARAM_SYNTAX, c.SE_PROTO_SYNTAX, "bad syntax: invalid SIZE value")
                if int(value) > self.max_message_size:
                    raise fail(c.C552_MAILBOX_FULL, c.SE_SYS_MSG_LIMIT_EXCEEDED, "message too large")
            elif key == "BODY":
                v = (value or "").upper()
                if v not in ("7BIT", "8BITMIME", "BINARYMIME"):
                    raise fail(c.C555_UNRECOGNIZED_ADDR_PARAMS, c.SE_PROTO_BAD_PARAMS, f'unrecognized parameter "{key}"')
                tx.body = v
            elif key == "AUTH":
                pass  # RFC 4954 5: accepted and ignored, as mox does
            elif key == "SMTPUTF8":
                if value is not None:
                    raise fail(c.C501_BAD_PARAM_SYNTAX, c.SE_PROTO_SYNTAX, "bad syntax: SMTPUTF8 takes no value")
                tx.smtputf8 = True
            elif key == "REQUIRETLS":
                if not self.tls:
                    raise fail(c.C523_ENCRYPTION_NEEDED, c.SE_POL_ENC_NEEDED, "requiretls only allowed on tls-encrypted connections")
                tx.requiretls = True
            elif key in ("HOLDFOR", "HOLDUNTIL") and self.submission:
                if "HOLDFOR" in mf.params and "HOLDUNTIL" in mf.params:
                    raise fail(c.C501_BAD_PARAM_SYNTAX, c.SE_PROTO_BAD_PARAMS, "cannot use both HOLDUNTIL and HOLDFOR")
                tx.hold_until = _hold_until(key, value, now)
            elif key == "RET":
                v = (value or "").upper()
                if v not in ("FULL", "HDRS"):
                    raise fail(c.C501_BAD_PARAM_SYNTAX, c.SE_PROTO_BAD_PARAMS, "bad syntax: RET must be FULL or HDRS")
                tx.ret = v
            elif key == "ENVID":
                try:
                    tx.envid = dsn_xtext_decode(value or "")
                except ParseError as e:
                    raise fail(c.C501_BAD_PARAM_SYNTAX, c.SE_PROTO_BAD_PARAMS, f"bad syntax: {e}") from None
                if value is None or len(value) > 100:
                    raise fail(c.C501_BAD_PARAM_SYNTAX, c.SE_PROTO_BAD_PARAMS, "bad syntax: invalid ENVID")
            else:
                raise fail(c.C555_UNRECOGNIZED_ADDR_PARAMS, c.SE_SYS_NOT_SUPPORTED, f'unrecognized parameter "{key}"')
        self._pending_tx = tx
        return mf

    def accept_mail(self) -> Reply:
        self.tx = self._pending_tx
        self.state = State.AWAIT_RCPT
        return Reply(c.C250_COMPLETED, c.SE_ADDR_OTHER, "looking good")

    def parse_rcpt(self, args: str) -> RcptTo:
        """RFC 5321 4.1.1.3 RCPT; DSN parameters NOTIFY and ORCPT (RFC 3461 4.1, 4.2)."""
        self.need_hello()
        self.check_auth()
        if self.state not in (State.AWAIT_RCPT, State.AWAIT_DATA):
            raise fail(c.C503_BAD_CMD_SEQ, c.SE_PROTO_BAD_CMD_OR_SEQ, "missing MAIL FROM")
        rt = self._parse(parse_rcpt_to, args, smtputf8=self.tx.smtputf8)
        for key, value in rt.params.items():
            if key == "NOTIFY":
                words = (value or "").upper().split(",")
                if not value or any(w not in ("NEVER", "SUCCESS", "FAILURE", "DELAY") for w in words) or (
                    "NEVER" in words and len(words) > 1
                ):
                    raise fail(c.C501_BAD_PARAM_SYNTAX, c.SE_PROTO_BAD_PARAMS, "bad syntax: invalid NOTIFY value")
            elif key == "ORCPT":
                typ, semi, addr = (value or "").partition(";")
                if not semi or typ == "" or addr == "":
                    raise fail(c.C501_BAD_PARAM_SYNTAX, c.SE_PROTO_BAD_PARAMS, "bad syntax: invalid ORCPT value")
                try:
                    dsn_xtext_decode(addr)
                except ParseError as e:
                    raise fail(c.C501_BAD_PARAM_SYNTAX, c.SE_PROTO_BAD_PARAMS, f"bad syntax: {e}") from None
            else:
                raise fail(c.C555_UNRECOGNIZED_ADDR_PARAMS, c.SE_SYS_NOT_SUPPORTED, f'unrecognized parameter "{key}"')
        if len(self.tx.recipients) >= self.rcpt_max:
            raise fail(c.C452_STORAGE_FULL, c.SE_PROTO_TOO_MANY_RCPTS, f"max of {self.rcpt_max} recipients reached")
        if self.tx.null_sender and self.tx.recipients:
            raise fail(c.C452_STORAGE_FULL, c.SE_PROTO_TOO_MANY_RCPTS, "only one recipient allowed with null reverse address")
        return rt

    def accept_rcpt(self, rt: RcptTo) -> Reply:
        self.tx.recipients.append(rt.path)
        self.tx.rcpt_params.append(rt.params)
        self.state = State.AWAIT_DATA
        return Reply(c.C250_COMPLETED, c.SE_ADDR_OTHER, "now on the list")

    def _parse(self, fn: Callable[..., _P], args: str, **kw: bool) -> _P:
        if any("\udc80" <= ch <= "\udcff" for ch in args):
            # The line was decoded with surrogateescape: these are bytes that are no UTF-8
            # (RFC 6531 3.3: SMTPUTF8 addresses are UTF-8; without it they are ASCII).
            raise fail(c.C501_BAD_PARAM_SYNTAX, c.SE_PROTO_SYNTAX, "bad syntax: invalid utf-8")
        try:
            return fn(args, **kw)
        except ParseError as e:
            if e.non_ascii:
                raise fail(c.C550_MAILBOX_UNAVAIL, c.SE_MSG_NON_ASCII_ADDR_NOT_PERMITTED, "non-ascii address not permitted without smtputf8") from None
            raise fail(c.C501_BAD_PARAM_SYNTAX, c.SE_PROTO_SYNTAX, f"bad syntax: {e}") from None

    def _check_data_sequence(self) -> None:
        self.need_hello()
        self.check_auth()
        if self.state == State.AWAIT_MAIL:
            raise fail(c.C503_BAD_CMD_SEQ, c.SE_PROTO_BAD_CMD_OR_SEQ, "missing MAIL FROM")
        if self.state == State.AWAIT_RCPT:
            raise fail(c.C503_BAD_CMD_SEQ, c.SE_PROTO_BAD_CMD_OR_SEQ, "missing RCPT TO")

    def data(self, args: str) -> Reply:
        """RFC 5321 4.1.1.4 DATA: 354, then the data lines until ``.``."""
        if args.strip():
            raise fail(c.C501_BAD_PARAM_SYNTAX, c.SE_PROTO_SYNTAX, "bad syntax: no parameters allowed")
        self._check_data_sequence()
        if self.tx.body == "BINARYMIME" or self.tx.used_bdat:
            # RFC 3030 3: BINARYMIME requires BDAT; DATA cannot follow BDAT.
            raise fail(c.C503_BAD_CMD_SEQ, c.SE_PROTO_BAD_CMD_OR_SEQ, "DATA not allowed with BINARYMIME or after BDAT")
        self._start_message()
        self.state = State.READ_DATA
        return Reply(c.C354_START_DATA, "", "see you at the bare dot")

    def _start_message(self) -> None:
        self._msg.clear()
        self._msg_size = 0
        self._bad_crlf = False
        self._too_large = False
        self._prev_crlf = True

    def bdat(self, args: str) -> None:
        """RFC 3030 2: ``BDAT size [LAST]``. The chunk is always consumed; sequence errors are
        reported after it (as DataRejected). A size that cannot be parsed closes the connection,
        the data can't be skipped."""
        words = args.strip(" ").split(" ")
        if not (1 <= len(words) <= 2) or not words[0].isdigit() or len(words[0]) > 18 or (
            len(words) == 2 and words[1].upper() != "LAST"
        ):
            raise fail(c.C501_BAD_PARAM_SYNTAX, c.SE_PROTO_SYNTAX, "bad syntax: expected BDAT size [LAST]", close=True)
        size = int(words[0])
        last = len(words) == 2
        if size > 2 * self.max_message_size + (1 << 20):
            # RFC 3030 2 has the receiver consume a refused chunk (a chunk somewhat over the
            # limit is read and dropped, the connection stays in sync). Reading a chunk far over
            # it only to throw it away would let a client hold the connection as long as it
            # likes: refuse at once and close (its data cannot be skipped otherwise).
            raise fail(c.C552_MAILBOX_FULL, c.SE_SYS_MSG_LIMIT_EXCEEDED, "message too large", close=True)
        self._resume_state = self.state
        err: Reply | None = None
        try:
            self._check_data_sequence()
        except ReplyError as e:
            err = e.reply
        if err is None and not self.tx.used_bdat:
            self._start_message()
            self.tx.used_bdat = True
        self._chunk_left = size
        self._chunk_last = last
        self._chunk_error = err
        self.state = State.READ_BDAT

    def rset(self, args: str) -> Reply:
        if args.strip():
            raise fail(c.C501_BAD_PARAM_SYNTAX, c.SE_PROTO_SYNTAX, "bad syntax: no parameters allowed")
        self.reset_transaction()
        return Reply(c.C250_COMPLETED, c.SE_OTHER, "all clear")

    def reset_transaction(self) -> None:
        self.tx = Transaction()
        self._msg.clear()
        if self.state not in (State.AWAIT_EHLO, State.CLOSED, State.READ_DATA, State.READ_BDAT):
            self.state = State.AWAIT_MAIL

    def transaction_done(self) -> None:
        self.reset_transaction()
        if self.state != State.AWAIT_EHLO:
            self.state = State.AWAIT_MAIL


def _split(text: str) -> tuple[str, str]:
    verb, sp, rest = text.partition(" ")
    return verb.upper(), sp + rest


def _hold_until(key: str, value: str | None, now: float) -> float:
    # RFC 4865 4: HOLDFOR seconds, HOLDUNTIL RFC 3339 date-time.
    if value is None:
        raise fail(c.C501_BAD_PARAM_SYNTAX, c.SE_PROTO_BAD_PARAMS, f"bad syntax: {key} needs a value")
    if key == "HOLDFOR":
        if not value.isdigit() or len(value) > 12:
            raise fail(c.C501_BAD_PARAM_SYNTAX, c.SE_PROTO_BAD_PARAMS, "bad syntax: invalid HOLDFOR")
        secs = int(value)
        if secs > FUTURE_RELEASE_MAX:
            raise fail(c.C554_TRANSACTION_FAILED, c.SE_PROTO_BAD_PARAMS, "future release interval too far in the future")
        return now + secs
    try:
        t = datetime.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise fail(c.C501_BAD_PARAM_SYNTAX, c.SE_PROTO_BAD_PARAMS, "bad syntax: invalid HOLDUNTIL") from None
    if t < now:
        raise fail(c.C554_TRANSACTION_FAILED, c.SE_PROTO_BAD_PARAMS, "requested future release time is in the past")
    if t > now + FUTURE_RELEASE_MAX:
        raise fail(c.C554_TRANSACTION_FAILED, c.SE_PROTO_BAD_PARAMS, "requested future release time is too far in the future")
    return t
