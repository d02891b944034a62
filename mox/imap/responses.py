"""IMAP responses as typed values: what a server sends, parsed strictly and serialized to wire bytes.

Sans-IO (no trio, no store): ``parse_response(buffer)`` returns ``(response, consumed)`` or
``(None, 0)`` while the buffer does not yet hold a whole response (literals included);
``serialize(response)`` returns the wire bytes, CRLF included. Both are used by
``mox.imap.client`` and by the tests, so a test compares against the same values a user of our
client gets.

Families (mox's naming, RFC 9051 7 for the grammar):

- ``Untagged*``: data and status responses starting with ``*``; ``UntaggedResult`` is an untagged
  OK/NO/BAD.
- ``Fetch*``: the attributes of an ``UntaggedFetch`` (RFC 9051 7.5.2).
- ``Code*``: response codes inside ``[...]`` (RFC 9051 7.1, RFC 4315, RFC 7162, RFC 5530);
  codes without arguments are ``CodeWord("TRYCREATE")``.
- ``Tagged``: the tagged result that completes a command; ``Continuation``: a ``+`` request.

Values are frozen and hashable: list arguments are turned into tuples, so
``UntaggedFlags(["\\Seen"]) == UntaggedFlags(("\\Seen",))``. Mailbox names are decoded from
modified UTF-7 (RFC 3501 5.1.3) unless ``utf8=True`` (UTF8=ACCEPT or IMAP4rev2 enabled).
Sequence sets (ALL, APPENDUID, COPYUID, MODIFIED, VANISHED) are kept as their text, e.g. "1:3,5".
"""

from __future__ import annotations

import re
from typing import Any, Union

import msgspec
from msgspec.structs import force_setattr

from mox.imap import utf7


class RemoteProtocolError(Exception):
    """The server sent something that is not a valid IMAP response."""


def _freeze(v: Any) -> Any:
    if isinstance(v, list):
        return tuple(_freeze(x) for x in v)
    if isinstance(v, tuple):
        return tuple(_freeze(x) for x in v)
    return v


class _Value(msgspec.Struct, frozen=True):
    """Base: list fields become tuples so values compare equal whichever the caller used."""

    def __post_init__(self) -> None:
        for name in self.__struct_fields__:
            v = getattr(self, name)
            if isinstance(v, list):
                force_setattr(self, name, _freeze(v))


# ---------------------------------------------------------------------------------------------
# Response codes (RFC 9051 7.1, resp-text-code)


class CodeWord(_Value, frozen=True):
    """A code without arguments: ALERT, PARSE, READ-ONLY, READ-WRITE, TRYCREATE, CLOSED,
    NOMODSEQ, UIDNOTSTICKY, CANNOT, ALREADYEXISTS, NONEXISTENT, AUTHENTICATIONFAILED, ..."""

    word: str

    @property
    def name(self) -> str:
        return self.word.upper()


class CodeCapability(_Value, frozen=True):
    caps: tuple[str, ...]
    name = "CAPABILITY"


class CodePermanentFlags(_Value, frozen=True):
    flags: tuple[str, ...]
    name = "PERMANENTFLAGS"


class CodeUIDNext(_Value, frozen=True):
    uid: int
    name = "UIDNEXT"


class CodeUIDValidity(_Value, frozen=True):
    uidvalidity: int
    name = "UIDVALIDITY"


class CodeUnseen(_Value, frozen=True):
    seq: int
    name = "UNSEEN"


class CodeAppendUID(_Value, frozen=True):
    """RFC 4315 3: ``APPENDUID <uidvalidity> <uid-set>``."""

    uidvalidity: int
    uids: str
    name = "APPENDUID"


class CodeCopyUID(_Value, frozen=True):
    """RFC 4315 3: ``COPYUID <uidvalidity> <source-uids> <destination-uids>``."""

    uidvalidity: int
    src: str
    dst: str
    name = "COPYUID"


class CodeHighestModSeq(_Value, frozen=True):
    """RFC 7162 3.1.2.1."""

    modseq: int
    name = "HIGHESTMODSEQ"


class CodeModified(_Value, frozen=True):
    """RFC 7162 3.1.3: messages that failed UNCHANGEDSINCE."""

    uids: str
    name = "MODIFIED"


class CodeBadCharset(_Value, frozen=True):
    charsets: tuple[str, ...] = ()
    name = "BADCHARSET"


class CodeOther(_Value, frozen=True):
    """A code with arguments we do not know; ``arg`` is the raw text after the name."""

    word: str
    arg: str

    @property
    def name(self) -> str:
        return self.word.upper()


Code = Union[
    CodeWord,
    CodeCapability,
    CodePermanentFlags,
    CodeUIDNext,
    CodeUIDValidity,
    CodeUnseen,
    CodeAppendUID,
    CodeCopyUID,
    CodeHighestModSeq,
    CodeModified,
    CodeBadCharset,
    CodeOther,
]


# ---------------------------------------------------------------------------------------------
# Status responses


class Tagged(_Value, frozen=True):
    """``<tag> OK|NO|BAD [code] text`` (status upper-case)."""

    tag: str
    status: str
    code: Code | None = None
    text: str = ""


class Continuation(_Value, frozen=True):
    """``+ text`` (a continuation request; ``text`` may be base64 during AUTHENTICATE)."""

    text: str = ""


class UntaggedResult(_Value, frozen=True):
    """``* OK|NO|BAD [code] text``."""

    status: str
    code: Code | None = None
    text: str = ""


class UntaggedBye(_Value, frozen=True):
    code: Code | None = None
    text: str = ""


class UntaggedPreauth(_Value, frozen=True):
    code: Code | None = None
    text: str = ""


# ---------------------------------------------------------------------------------------------
# Data responses


class UntaggedCapability(_Value, frozen=True):
    caps: tuple[str, ...]


class UntaggedEnabled(_Value, frozen=True):
    """RFC 5161."""

    caps: tuple[str, ...]


class UntaggedFlags(_Value, frozen=True):
    flags: tuple[str, ...]


class UntaggedExists(_Value, frozen=True):
    count: int


class UntaggedRecent(_Value, frozen=True):
    count: int


class UntaggedExpunge(_Value, frozen=True):
    seq: int


class UntaggedList(_Value, frozen=True):
    """RFC 9051 7.3.1, with LIST-EXTENDED items (RFC 5258) as (name, raw value) pairs; OLDNAME
    (RFC 9051 6.3.9) is kept apart. ``sep`` is None for NIL."""

    flags: tuple[str, ...]
    sep: str | None
    mailbox: str
    extended: tuple[tuple[str, Any], ...] = ()
    oldname: str | None = None


class UntaggedLsub(_Value, frozen=True):
    flags: tuple[str, ...]
    sep: str | None
    mailbox: str


class UntaggedStatus(_Value, frozen=True):
    """``* STATUS mailbox (MESSAGES 1 UIDNEXT 2 ...)``; names upper-case; APPENDLIMIT may be None."""

    mailbox: str
    attrs: dict[str, int | None]

    def __hash__(self) -> int:
        return hash((self.mailbox, tuple(sorted(self.attrs.items()))))


class UntaggedSearch(_Value, frozen=True):
    nums: tuple[int, ...]


class UntaggedSearchModSeq(_Value, frozen=True):
    """RFC 7162 3.1.5: ``* SEARCH 1 2 (MODSEQ 5)``."""

    nums: tuple[int, ...]
    modseq: int


class UntaggedEsearch(_Value, frozen=True):
    """RFC 4731: ``* ESEARCH (TAG "x") UID MIN 1 MAX 3 ALL 1:3 COUNT 3``; other return data in
    ``exts`` as (NAME, raw text)."""

    tag: str | None = None
    uid: bool = False
    min: int | None = None
    max: int | None = None
    all: str | None = None
    count: int | None = None
    modseq: int | None = None
    exts: tuple[tuple[str, str], ...] = ()


class UntaggedVanished(_Value, frozen=True):
    """RFC 7162 3.2.10."""

    earlier: bool
    uids: str


class NamespaceDescr(_Value, frozen=True):
    prefix: str
    sep: str | None


class UntaggedNamespace(_Value, frozen=True):
    """RFC 2342: each of the three lists is empty for NIL."""

    personal: tuple[NamespaceDescr, ...] = ()
    other: tuple[NamespaceDescr, ...] = ()
    shared: tuple[NamespaceDescr, ...] = ()


class UntaggedQuotaroot(_Value, frozen=True):
    """RFC 9208 5.2."""

    mailbox: str
    roots: tuple[str, ...]


class QuotaResource(_Value, frozen=True):
    name: str
    usage: int
    limit: int


class UntaggedQuota(_Value, frozen=True):
    """RFC 9208 5.1."""

    root: str
    resources: tuple[QuotaResource, ...]


class UntaggedID(_Value, frozen=True):
    """RFC 2971: ``params`` None for NIL."""

    params: dict[str, str | None] | None

    def __hash__(self) -> int:
        return hash(None if self.params is None else tuple(sorted(self.params.items())))


# ---------------------------------------------------------------------------------------------
# FETCH (RFC 9051 7.5.2)


class Address(_Value, frozen=True):
    name: str | None
    adl: str | None
    mailbox: str | None
    host: str | None


class Envelope(_Value, frozen=True):
    """Address lists are empty tuples for NIL."""

    date: str | None
    subject: str | None
    from_: tuple[Address, ...] = ()
    sender: tuple[Address, ...] = ()
    reply_to: tuple[Address, ...] = ()
    to: tuple[Address, ...] = ()
    cc: tuple[Address, ...] = ()
    bcc: tuple[Address, ...] = ()
    in_reply_to: str | None = None
    message_id: str | None = None


class BodyFields(_Value, frozen=True):
    """body-fields: params as (name, value) pairs (None for NIL), id, description, encoding, octets."""

    params: tuple[tuple[str, str], ...] | None
    id: str | None
    description: str | None
    encoding: str
    octets: int


class BodyTypeBasic(_Value, frozen=True):
    """A non-text, non-message single part. ``ext``: extension data as raw nested values
    (str/int/None/tuple): md5, disposition, language, location; empty for BODY."""

    media_type: str
    media_subtype: str
    fields: BodyFields
    ext: tuple[Any, ...] = ()


class BodyTypeText(_Value, frozen=True):
    media_type: str
    media_subtype: str
    fields: BodyFields
    lines: int
    ext: tuple[Any, ...] = ()


class BodyTypeMsg(_Value, frozen=True):
    """MESSAGE/RFC822 (and MESSAGE/GLOBAL): the embedded message's envelope and body."""

    media_type: str
    media_subtype: str
    fields: BodyFields
    envelope: Envelope
    body: Any
    lines: int
    ext: tuple[Any, ...] = ()


class BodyTypeMpart(_Value, frozen=True):
    """A multipart: ``ext`` (raw) holds params, disposition, language, location for BODYSTRUCTURE."""

    bodies: tuple[Any, ...]
    media_subtype: str
    ext: tuple[Any, ...] = ()


Body = Union[BodyTypeBasic, BodyTypeText, BodyTypeMsg, BodyTypeMpart]


class FetchFlags(_Value, frozen=True):
    flags: tuple[str, ...]


class FetchUID(_Value, frozen=True):
    uid: int


class FetchInternalDate(_Value, frozen=True):
    """As sent: ``"17-Jul-1996 02:44:25 -0700"``."""

    date: str


class FetchRFC822Size(_Value, frozen=True):
    size: int


class FetchEnvelope(_Value, frozen=True):
    envelope: Envelope


class FetchBodystructure(_Value, frozen=True):
    """BODYSTRUCTURE (``ext=True``) or BODY without section (``ext=False``)."""

    body: Any
    ext: bool = True


class FetchBody(_Value, frozen=True):
    """``BODY[section]<offset> data``; ``section`` is the text between the brackets
    (e.g. "", "1.2", "HEADER.FIELDS (SUBJECT)"), ``data`` None for NIL."""

    section: str
    offset: int | None
    data: bytes | None


class FetchBinary(_Value, frozen=True):
    """RFC 3516: ``BINARY[section]<offset> data``."""

    section: str
    offset: int | None
    data: bytes | None


class FetchBinarySize(_Value, frozen=True):
    section: str
    size: int


class FetchRFC822(_Value, frozen=True):
    data: bytes | None


class FetchRFC822Header(_Value, frozen=True):
    data: bytes | None


class FetchRFC822Text(_Value, frozen=True):
    data: bytes | None


class FetchModSeq(_Value, frozen=True):
    """RFC 7162 3.1.4.1."""

    modseq: int


class FetchPreview(_Value, frozen=True):
    """RFC 8970."""

    text: str | None


class FetchSaveDate(_Value, frozen=True):
    """RFC 8514."""

    date: str | None


FetchAttr = Union[
    FetchFlags,
    FetchUID,
    FetchInternalDate,
    FetchRFC822Size,
    FetchEnvelope,
    FetchBodystructure,
    FetchBody,
    FetchBinary,
    FetchBinarySize,
    FetchRFC822,
    FetchRFC822Header,
    FetchRFC822Text,
    FetchModSeq,
    FetchPreview,
    FetchSaveDate,
]


class UntaggedFetch(_Value, frozen=True):
    """``* seq FETCH (attrs)``; ``attrs`` in the order the server sent them."""

    seq: int
    attrs: tuple[Any, ...]

    def attr(self, cls: type) -> Any:
        """The first attribute of type ``cls``, or None."""
        for a in self.attrs:
            if isinstance(a, cls):
                return a
        return None


Untagged = Union[
    UntaggedResult,
    UntaggedBye,
    UntaggedPreauth,
    UntaggedCapability,
    UntaggedEnabled,
    UntaggedFlags,
    UntaggedExists,
    UntaggedRecent,
    UntaggedExpunge,
    UntaggedList,
    UntaggedLsub,
    UntaggedStatus,
    UntaggedSearch,
    UntaggedSearchModSeq,
    UntaggedEsearch,
    UntaggedVanished,
    UntaggedNamespace,
    UntaggedQuotaroot,
    UntaggedQuota,
    UntaggedID,
    UntaggedFetch,
]
Response = Union[Untagged, Tagged, Continuation]


# ---------------------------------------------------------------------------------------------
# Modified UTF-7 (RFC 3501 5.1.3)


# One implementation for server and client: mox.imap.utf7 (invalid input raises a ValueError).
utf7_encode = utf7.encode
utf7_decode = utf7.decode

# ---------------------------------------------------------------------------------------------
# Parser

_LITERAL_AT_END = re.compile(rb"~?\{(\d{1,19})\+?\}$")
_STATUS_LINE = re.compile(rb"^(?:\*|[^ ]+) (?:OK|NO|BAD|BYE|PREAUTH)(?: |$)", re.IGNORECASE)
# RFC 9051 atom-specials: ( ) { SP CTL % * " \ ]
_ATOM_SPECIALS = set(b'(){ %*"\\]') | set(range(0x20)) | {0x7F}
_ASTRING_SPECIALS = _ATOM_SPECIALS - {ord("]")}


def _response_end(buf: bytes | bytearray, start: int = 0) -> int | None:
    """Offset just after the response starting at ``start``, or None if it is incomplete."""
    pos = start
    first = True
    while True:
        idx = buf.find(b"\r\n", pos)
        if idx < 0:
            return None
        line = bytes(buf[pos:idx])
        if first and (line.startswith(b"+") or _STATUS_LINE.match(line)):
            return idx + 2  # continuation and status responses carry no literals
        first = False
        m = _LITERAL_AT_END.search(line)
        if not m:
            return idx + 2
        n = int(m.group(1))
        if len(buf) < idx + 2 + n:
            return None
        pos = idx + 2 + n


def parse_response(buf: bytes | bytearray, *, utf8: bool = False) -> tuple[Response | None, int]:
    """Parse one response from the start of ``buf``.

    Returns ``(response, consumed)``, or ``(None, 0)`` when more data is needed. Raises
    :class:`RemoteProtocolError` for a complete but invalid response.
    """
    end = _response_end(buf)
    if end is None:
        return None, 0
    data = bytes(buf[:end])
    p = _Parser(data, utf8)
    resp = p.response()
    if p.i != len(data):
        p.error("trailing data")
    return resp, end


def response_lines(buf: bytes | bytearray) -> int | None:
    """Length of the first complete response in ``buf`` (literals included), or None."""
    return _response_end(buf)


class _Parser:
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

    def _run(self, allowed_specials: set[int]) -> str:
        start = self.i
        b = self.b
        while self.i < len(b) and b[self.i] not in allowed_specials and b[self.i] < 0x80:
            self.i += 1
        if self.i == start:
            self.error("expected atom")
        return b[start : self.i].decode("ascii")

    def atom(self) -> str:
        return self._run(_ATOM_SPECIALS)

    def number(self) -> int:
        m = re.compile(rb"\d+").match(self.b, self.i)
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
        self.expect(b'"')
        out = bytearray()
        b = self.b
        while True:
            if self.i >= len(b):
                self.error("unterminated quoted string")
            c = b[self.i]
            if c == 0x22:
                self.i += 1
                return bytes(out)
            if c == 0x5C:
                nc = b[self.i + 1 : self.i + 2]
                if nc not in (b'"', b"\\"):
                    self.error("bad escape in quoted string")
                out += nc
                self.i += 2
                continue
            if c in (0x0D, 0x0A, 0x00):
                self.error("bad character in quoted string")
            out.append(c)
            self.i += 1

    def literal_bytes(self, allow8: bool = False) -> bytes:
        if allow8:
            self.take(b"~")
        self.expect(b"{")
        n = self.number()
        self.take(b"+")
        self.expect(b"}")
        self.crlf()
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
        return self._run(_ASTRING_SPECIALS)

    def mailbox(self) -> str:
        raw = self.astring()
        if raw.upper() == "INBOX":
            return raw
        if self.utf8:
            return raw
        try:
            return utf7_decode(raw)
        except ValueError as e:
            self.error(f"mailbox name {raw!r}: {e}")
            return ""

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
        m = re.compile(rb"(?:\d+|\*)(?::(?:\d+|\*))?(?:,(?:\d+|\*)(?::(?:\d+|\*))?)*").match(self.b, self.i)
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

    # -- responses

    def response(self) -> Response:
        if self.take(b"+"):
            text = ""
            if self.take(b" "):
                text = self.text()
            self.crlf()
            return Continuation(text)
        if self.take(b"* "):
            r = self.untagged()
            self.crlf()
            return r
        tag = self._run(_ASTRING_SPECIALS | {ord("+")})
        self.sp()
        status = self.atom().upper()
        if status not in ("OK", "NO", "BAD"):
            self.error(f"bad tagged status {status!r}")
        code, text = self.resp_text()
        self.crlf()
        return Tagged(tag, status, code, text)

    def resp_text(self) -> tuple[Code | None, str]:
        if not self.take(b" "):
            return None, ""  # RFC 9051 allows an empty text
        code = None
        if self.take(b"["):
            code = self.resp_code()
            self.expect(b"]")
            if not self.take(b" "):
                return code, ""
        return code, self.text()

    def resp_code(self) -> Code:
        name = self._run(_ATOM_SPECIALS).upper()
        if name == "CAPABILITY":
            caps = []
            while self.take(b" "):
                caps.append(self.atom())
            return CodeCapability(tuple(caps))
        if name == "PERMANENTFLAGS":
            self.sp()
            return CodePermanentFlags(self.flag_list())
        if name == "UIDNEXT":
            self.sp()
            return CodeUIDNext(self.nz_number())
        if name == "UIDVALIDITY":
            self.sp()
            return CodeUIDValidity(self.nz_number())
        if name == "UNSEEN":
            self.sp()
            return CodeUnseen(self.nz_number())
        if name == "APPENDUID":
            self.sp()
            v = self.nz_number()
            self.sp()
            return CodeAppendUID(v, self.seq_set())
        if name == "COPYUID":
            self.sp()
            v = self.nz_number()
            self.sp()
            src = self.seq_set()
            self.sp()
            return CodeCopyUID(v, src, self.seq_set())
        if name == "HIGHESTMODSEQ":
            self.sp()
            return CodeHighestModSeq(self.number())
        if name == "MODIFIED":
            self.sp()
            return CodeModified(self.seq_set())
        if name == "BADCHARSET":
            charsets: list[str] = []
            if self.take(b" ("):
                charsets.append(self.astring())
                while self.take(b" "):
                    charsets.append(self.astring())
                self.expect(b")")
            return CodeBadCharset(tuple(charsets))
        if self.take(b" "):
            start = self.i
            while self.i < len(self.b) and self.b[self.i] not in b"]\r\n":
                self.i += 1
            return CodeOther(name, self.b[start : self.i].decode("utf-8", "surrogateescape"))
        return CodeWord(name)

    def untagged(self) -> Untagged:
        if self.b[self.i : self.i + 1].isdigit():
            n = self.number()
            self.sp()
            w = self.atom().upper()
            if w == "EXISTS":
                return UntaggedExists(n)
            if w == "RECENT":
                return UntaggedRecent(n)
            if w == "EXPUNGE":
                if n == 0:
                    self.error("expunge of sequence number 0")
                return UntaggedExpunge(n)
            if w == "FETCH":
                if n == 0:
                    self.error("fetch of sequence number 0")
                self.sp()
                return UntaggedFetch(n, self.msg_att())
            self.error(f"unknown numeric response {w!r}")
        w = self.atom().upper()
        if w in ("OK", "NO", "BAD"):
            code, text = self.resp_text()
            return UntaggedResult(w, code, text)
        if w == "BYE":
            code, text = self.resp_text()
            return UntaggedBye(code, text)
        if w == "PREAUTH":
            code, text = self.resp_text()
            return UntaggedPreauth(code, text)
        if w in ("CAPABILITY", "ENABLED"):
            caps = []
            while self.take(b" "):
                caps.append(self.atom())
            return UntaggedCapability(tuple(caps)) if w == "CAPABILITY" else UntaggedEnabled(tuple(caps))
        if w == "FLAGS":
            self.sp()
            return UntaggedFlags(self.flag_list())
        if w in ("LIST", "LSUB"):
            self.sp()
            flags = self.flag_list()
            self.sp()
            sep: str | None = None
            if not self.take(b"NIL"):
                sb = self.quoted_bytes()
                if len(sb) != 1:
                    self.error("hierarchy separator must be one character")
                sep = sb.decode("ascii", "surrogateescape")
            self.sp()
            mailbox = self.mailbox()
            if w == "LSUB":
                return UntaggedLsub(flags, sep, mailbox)
            extended: list[tuple[str, Any]] = []
            oldname = None
            if self.take(b" ("):
                while True:
                    name = self.astring().upper()
                    self.sp()
                    if name == "OLDNAME":
                        self.expect(b"(")
                        oldname = self.mailbox()
                        self.expect(b")")
                    else:
                        extended.append((name, self.sexpr()))
                    if not self.take(b" "):
                        break
                self.expect(b")")
            return UntaggedList(flags, sep, mailbox, tuple(extended), oldname)
        if w == "STATUS":
            self.sp()
            mailbox = self.mailbox()
            self.sp()
            self.expect(b"(")
            attrs: dict[str, int | None] = {}
            if not self.take(b")"):
                while True:
                    name = self.atom().upper()
                    self.sp()
                    attrs[name] = None if self.take(b"NIL") else self.number()
                    if not self.take(b" "):
                        break
                self.expect(b")")
            return UntaggedStatus(mailbox, attrs)
        if w == "SEARCH":
            nums: list[int] = []
            while self.take(b" "):
                if self.take(b"(MODSEQ "):
                    modseq = self.number()
                    self.expect(b")")
                    return UntaggedSearchModSeq(tuple(nums), modseq)
                nums.append(self.nz_number())
            return UntaggedSearch(tuple(nums))
        if w == "ESEARCH":
            return self.esearch()
        if w == "VANISHED":
            self.sp()
            earlier = self.take(b"(EARLIER) ")
            return UntaggedVanished(earlier, self.seq_set())
        if w == "NAMESPACE":
            self.sp()
            personal = self.namespace_descr()
            self.sp()
            other = self.namespace_descr()
            self.sp()
            shared = self.namespace_descr()
            return UntaggedNamespace(personal, other, shared)
        if w == "QUOTAROOT":
            self.sp()
            mailbox = self.mailbox()
            roots = []
            while self.take(b" "):
                roots.append(self.astring())
            return UntaggedQuotaroot(mailbox, tuple(roots))
        if w == "QUOTA":
            self.sp()
            root = self.astring()
            self.sp()
            self.expect(b"(")
            res: list[QuotaResource] = []
            if not self.take(b")"):
                while True:
                    name = self.atom().upper()
                    self.sp()
                    usage = self.number()
                    self.sp()
                    res.append(QuotaResource(name, usage, self.number()))
                    if not self.take(b" "):
                        break
                self.expect(b")")
            return UntaggedQuota(root, tuple(res))
        if w == "ID":
            self.sp()
            if self.take(b"NIL"):
                return UntaggedID(None)
            self.expect(b"(")
            params: dict[str, str | None] = {}
            if not self.take(b")"):
                while True:
                    k = self.string()
                    self.sp()
                    params[k] = self.nstring()
                    if not self.take(b" "):
                        break
                self.expect(b")")
            return UntaggedID(params)
        self.error(f"unknown untagged response {w!r}")
        raise AssertionError("unreachable")

    def esearch(self) -> UntaggedEsearch:
        tag = None
        uid = False
        vals: dict[str, Any] = {}
        exts: list[tuple[str, str]] = []
        if self.take(b" (TAG "):
            tag = self.string()
            self.expect(b")")
        if self.peek(b" UID") and self.b[self.i + 4 : self.i + 5] in (b" ", b"\r"):
            self.i += 4
            uid = True
        while self.take(b" "):
            name = self.atom().upper()
            self.sp()
            if name in ("MIN", "MAX"):
                vals[name.lower()] = self.nz_number()
            elif name == "COUNT":
                vals["count"] = self.number()
            elif name == "MODSEQ":
                vals["modseq"] = self.number()
            elif name == "ALL":
                vals["all"] = self.seq_set()
            else:
                start = self.i
                self.sexpr()
                exts.append((name, self.b[start : self.i].decode("utf-8", "surrogateescape")))
        return UntaggedEsearch(tag=tag, uid=uid, exts=tuple(exts), **vals)

    def namespace_descr(self) -> tuple[NamespaceDescr, ...]:
        if self.take(b"NIL"):
            return ()
        self.expect(b"(")
        out: list[NamespaceDescr] = []
        while self.take(b"("):
            prefix = self.string()
            self.sp()
            sep = None
            if not self.take(b"NIL"):
                sep = self.quoted_bytes().decode("ascii", "surrogateescape")
            while self.take(b" "):
                self.sexpr()  # namespace-response-extensions, ignored
            self.expect(b")")
            out.append(NamespaceDescr(prefix, sep))
        if not out:
            self.error("empty namespace list")
        self.expect(b")")
        return tuple(out)

    # -- FETCH

    def msg_att(self) -> tuple[Any, ...]:
        self.expect(b"(")
        attrs = [self.fetch_attr()]
        while self.take(b" "):
            attrs.append(self.fetch_attr())
        self.expect(b")")
        return tuple(attrs)

    def section(self) -> str:
        self.expect(b"[")
        start = self.i
        depth = 0
        while True:
            if self.i >= len(self.b):
                self.error("unterminated section")
            c = self.b[self.i]
            if c == ord('"'):
                self.quoted_bytes()
                continue
            if c == ord("("):
                depth += 1
            elif c == ord(")"):
                depth -= 1
            elif c == ord("]") and depth == 0:
                break
            elif c in (0x0D, 0x0A):
                self.error("bad character in section")
            self.i += 1
        s = self.b[start : self.i].decode("utf-8", "surrogateescape")
        self.i += 1
        return s

    def partial_offset(self) -> int | None:
        if self.take(b"<"):
            n = self.number()
            self.expect(b">")
            return n
        return None

    def fetch_attr(self) -> Any:
        name = self._run(_ATOM_SPECIALS | {ord("[")}).upper()
        if name == "FLAGS":
            self.sp()
            return FetchFlags(self.flag_list())
        if name == "UID":
            self.sp()
            return FetchUID(self.nz_number())
        if name == "INTERNALDATE":
            self.sp()
            return FetchInternalDate(self.quoted_bytes().decode("ascii", "surrogateescape"))
        if name == "RFC822.SIZE":
            self.sp()
            return FetchRFC822Size(self.number())
        if name == "ENVELOPE":
            self.sp()
            return FetchEnvelope(self.envelope())
        if name == "BODYSTRUCTURE":
            self.sp()
            return FetchBodystructure(self.body(True), True)
        if name == "BODY":
            if self.peek(b"["):
                section = self.section()
                offset = self.partial_offset()
                self.sp()
                return FetchBody(section, offset, self.nstring_bytes())
            self.sp()
            return FetchBodystructure(self.body(False), False)
        if name == "BINARY":
            section = self.section()
            offset = self.partial_offset()
            self.sp()
            return FetchBinary(section, offset, self.nstring_bytes(allow8=True))
        if name == "BINARY.SIZE":
            section = self.section()
            self.sp()
            return FetchBinarySize(section, self.number())
        if name == "RFC822":
            self.sp()
            return FetchRFC822(self.nstring_bytes())
        if name == "RFC822.HEADER":
            self.sp()
            return FetchRFC822Header(self.nstring_bytes())
        if name == "RFC822.TEXT":
            self.sp()
            return FetchRFC822Text(self.nstring_bytes())
        if name == "MODSEQ":
            self.sp()
            self.expect(b"(")
            n = self.number()
            self.expect(b")")
            return FetchModSeq(n)
        if name == "PREVIEW":
            self.sp()
            return FetchPreview(self.nstring())
        if name == "SAVEDATE":
            self.sp()
            v = None if self.take(b"NIL") else self.quoted_bytes().decode("ascii", "surrogateescape")
            return FetchSaveDate(v)
        self.error(f"unknown fetch attribute {name!r}")

    def addresses(self) -> tuple[Address, ...]:
        if self.take(b"NIL"):
            return ()
        self.expect(b"(")
        out: list[Address] = []
        while self.take(b"("):
            name = self.nstring()
            self.sp()
            adl = self.nstring()
            self.sp()
            mailbox = self.nstring()
            self.sp()
            host = self.nstring()
            self.expect(b")")
            out.append(Address(name, adl, mailbox, host))
        if not out:
            self.error("empty address list")
        self.expect(b")")
        return tuple(out)

    def envelope(self) -> Envelope:
        self.expect(b"(")
        date = self.nstring()
        self.sp()
        subject = self.nstring()
        lists = []
        for _ in range(6):
            self.sp()
            lists.append(self.addresses())
        self.sp()
        in_reply_to = self.nstring()
        self.sp()
        message_id = self.nstring()
        self.expect(b")")
        return Envelope(date, subject, *lists, in_reply_to=in_reply_to, message_id=message_id)

    def body_params(self) -> tuple[tuple[str, str], ...] | None:
        if self.take(b"NIL"):
            return None
        self.expect(b"(")
        out: list[tuple[str, str]] = []
        while True:
            k = self.string()
            self.sp()
            out.append((k, self.string()))
            if not self.take(b" "):
                break
        self.expect(b")")
        return tuple(out)

    def body_ext(self) -> tuple[Any, ...]:
        ext: list[Any] = []
        while self.take(b" "):
            ext.append(self.sexpr())
        return tuple(ext)

    def body(self, extensible: bool) -> Any:
        self.expect(b"(")
        if self.peek(b"("):
            bodies = [self.body(extensible)]
            while self.peek(b"("):
                bodies.append(self.body(extensible))
            self.sp()
            subtype = self.string()
            ext = self.body_ext() if extensible else ()
            self.expect(b")")
            return BodyTypeMpart(tuple(bodies), subtype, ext)
        mtype = self.string()
        self.sp()
        msubtype = self.string()
        self.sp()
        params = self.body_params()
        self.sp()
        cid = self.nstring()
        self.sp()
        descr = self.nstring()
        self.sp()
        enc = self.string()
        self.sp()
        octets = self.number()
        fields = BodyFields(params, cid, descr, enc, octets)
        if mtype.upper() == "TEXT":
            self.sp()
            lines = self.number()
            ext = self.body_ext() if extensible else ()
            self.expect(b")")
            return BodyTypeText(mtype, msubtype, fields, lines, ext)
        if mtype.upper() == "MESSAGE" and msubtype.upper() in ("RFC822", "GLOBAL"):
            self.sp()
            env = self.envelope()
            self.sp()
            inner = self.body(extensible)
            self.sp()
            lines = self.number()
            ext = self.body_ext() if extensible else ()
            self.expect(b")")
            return BodyTypeMsg(mtype, msubtype, fields, env, inner, lines, ext)
        ext = self.body_ext() if extensible else ()
        self.expect(b")")
        return BodyTypeBasic(mtype, msubtype, fields, ext)


# ---------------------------------------------------------------------------------------------
# Serializer


def _is_atom(s: str, specials: set[int] = _ASTRING_SPECIALS) -> bool:
    return s != "" and all(ord(c) < 0x80 and ord(c) not in specials for c in s)


def _quoted_ok(b: bytes, utf8: bool) -> bool:
    return not any(c in (0x00, 0x0D, 0x0A) or (c >= 0x80 and not utf8) for c in b) and len(b) < 1024


def _w_string(b: bytes, utf8: bool = True) -> bytes:
    if _quoted_ok(b, utf8):
        return b'"' + b.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'
    return b"{%d}\r\n" % len(b) + b


def _w_str(s: str, utf8: bool = True) -> bytes:
    return _w_string(s.encode("utf-8", "surrogateescape"), utf8)


def _w_nstring(s: str | bytes | None, utf8: bool = True) -> bytes:
    if s is None:
        return b"NIL"
    return _w_string(s.encode("utf-8", "surrogateescape") if isinstance(s, str) else s, utf8)


def _w_astring(s: str, utf8: bool = True) -> bytes:
    if _is_atom(s) and s.upper() != "NIL":
        return s.encode("ascii")
    return _w_str(s, utf8)


def _w_mailbox(s: str, utf8: bool) -> bytes:
    return _w_astring(s if utf8 else utf7_encode(s), utf8)


def _w_literal(b: bytes | None) -> bytes:
    if b is None:
        return b"NIL"
    return b"{%d}\r\n" % len(b) + b


def _w_flags(flags: tuple[str, ...]) -> bytes:
    return b"(" + " ".join(flags).encode("ascii") + b")"


def _w_sexpr(v: Any, utf8: bool) -> bytes:
    if v is None:
        return b"NIL"
    if isinstance(v, bool):
        raise TypeError("bool in extension data")
    if isinstance(v, int):
        return b"%d" % v
    if isinstance(v, str):
        return _w_str(v, utf8)
    if isinstance(v, bytes):
        return _w_string(v, utf8)
    return b"(" + b" ".join(_w_sexpr(x, utf8) for x in v) + b")"


def serialize_code(c: Code) -> bytes:
    if isinstance(c, CodeWord):
        return c.word.encode("ascii")
    if isinstance(c, CodeCapability):
        return " ".join(("CAPABILITY",) + c.caps).encode("ascii")
    if isinstance(c, CodePermanentFlags):
        return b"PERMANENTFLAGS " + _w_flags(c.flags)
    if isinstance(c, CodeUIDNext):
        return b"UIDNEXT %d" % c.uid
    if isinstance(c, CodeUIDValidity):
        return b"UIDVALIDITY %d" % c.uidvalidity
    if isinstance(c, CodeUnseen):
        return b"UNSEEN %d" % c.seq
    if isinstance(c, CodeAppendUID):
        return b"APPENDUID %d %s" % (c.uidvalidity, c.uids.encode("ascii"))
    if isinstance(c, CodeCopyUID):
        return b"COPYUID %d %s %s" % (c.uidvalidity, c.src.encode("ascii"), c.dst.encode("ascii"))
    if isinstance(c, CodeHighestModSeq):
        return b"HIGHESTMODSEQ %d" % c.modseq
    if isinstance(c, CodeModified):
        return b"MODIFIED " + c.uids.encode("ascii")
    if isinstance(c, CodeBadCharset):
        if not c.charsets:
            return b"BADCHARSET"
        return b"BADCHARSET (" + b" ".join(_w_astring(x) for x in c.charsets) + b")"
    if isinstance(c, CodeOther):
        return c.word.encode("ascii") + b" " + c.arg.encode("utf-8", "surrogateescape")
    raise TypeError(f"not a response code: {c!r}")


def _w_resp_text(code: Code | None, text: str) -> bytes:
    out = b""
    if code is not None:
        out += b" [" + serialize_code(code) + b"]"
    if text or code is None:
        out += b" " + text.encode("utf-8", "surrogateescape")
    return out


def _w_addresses(addrs: tuple[Address, ...], utf8: bool) -> bytes:
    if not addrs:
        return b"NIL"
    return (
        b"("
        + b"".join(
            b"(" + b" ".join(_w_nstring(x, utf8) for x in (a.name, a.adl, a.mailbox, a.host)) + b")"
            for a in addrs
        )
        + b")"
    )


def _w_envelope(e: Envelope, utf8: bool) -> bytes:
    parts = [_w_nstring(e.date, utf8), _w_nstring(e.subject, utf8)]
    for lst in (e.from_, e.sender, e.reply_to, e.to, e.cc, e.bcc):
        parts.append(_w_addresses(lst, utf8))
    parts += [_w_nstring(e.in_reply_to, utf8), _w_nstring(e.message_id, utf8)]
    return b"(" + b" ".join(parts) + b")"


def _w_body(b: Any, utf8: bool) -> bytes:
    def ext(e: tuple[Any, ...]) -> bytes:
        return b"".join(b" " + _w_sexpr(x, utf8) for x in e)

    if isinstance(b, BodyTypeMpart):
        return b"(" + b"".join(_w_body(x, utf8) for x in b.bodies) + b" " + _w_str(b.media_subtype) + ext(b.ext) + b")"
    f = b.fields
    params = b"NIL" if f.params is None else _w_sexpr(tuple(x for kv in f.params for x in kv), utf8)
    head = b" ".join(
        [
            _w_str(b.media_type),
            _w_str(b.media_subtype),
            params,
            _w_nstring(f.id, utf8),
            _w_nstring(f.description, utf8),
            _w_str(f.encoding),
            b"%d" % f.octets,
        ]
    )
    if isinstance(b, BodyTypeText):
        return b"(" + head + b" %d" % b.lines + ext(b.ext) + b")"
    if isinstance(b, BodyTypeMsg):
        return (
            b"("
            + head
            + b" "
            + _w_envelope(b.envelope, utf8)
            + b" "
            + _w_body(b.body, utf8)
            + b" %d" % b.lines
            + ext(b.ext)
            + b")"
        )
    if isinstance(b, BodyTypeBasic):
        return b"(" + head + ext(b.ext) + b")"
    raise TypeError(f"not a body structure: {b!r}")


def _w_fetch_attr(a: Any, utf8: bool) -> bytes:
    def off(o: int | None) -> bytes:
        return b"" if o is None else b"<%d>" % o

    if isinstance(a, FetchFlags):
        return b"FLAGS " + _w_flags(a.flags)
    if isinstance(a, FetchUID):
        return b"UID %d" % a.uid
    if isinstance(a, FetchInternalDate):
        return b'INTERNALDATE "' + a.date.encode("ascii") + b'"'
    if isinstance(a, FetchRFC822Size):
        return b"RFC822.SIZE %d" % a.size
    if isinstance(a, FetchEnvelope):
        return b"ENVELOPE " + _w_envelope(a.envelope, utf8)
    if isinstance(a, FetchBodystructure):
        return (b"BODYSTRUCTURE " if a.ext else b"BODY ") + _w_body(a.body, utf8)
    if isinstance(a, FetchBody):
        sec = a.section.encode("utf-8", "surrogateescape")
        return b"BODY[" + sec + b"]" + off(a.offset) + b" " + _w_literal(a.data)
    if isinstance(a, FetchBinary):
        sec = a.section.encode("ascii")
        data = b"NIL" if a.data is None else (b"~" + _w_literal(a.data) if b"\0" in a.data else _w_literal(a.data))
        return b"BINARY[" + sec + b"]" + off(a.offset) + b" " + data
    if isinstance(a, FetchBinarySize):
        return b"BINARY.SIZE[" + a.section.encode("ascii") + b"] %d" % a.size
    if isinstance(a, FetchRFC822):
        return b"RFC822 " + _w_literal(a.data)
    if isinstance(a, FetchRFC822Header):
        return b"RFC822.HEADER " + _w_literal(a.data)
    if isinstance(a, FetchRFC822Text):
        return b"RFC822.TEXT " + _w_literal(a.data)
    if isinstance(a, FetchModSeq):
        return b"MODSEQ (%d)" % a.modseq
    if isinstance(a, FetchPreview):
        return b"PREVIEW " + _w_nstring(a.text, utf8)
    if isinstance(a, FetchSaveDate):
        return b"SAVEDATE " + (b"NIL" if a.date is None else b'"' + a.date.encode("ascii") + b'"')
    raise TypeError(f"not a fetch attribute: {a!r}")


def _w_untagged(r: Any, utf8: bool) -> bytes:
    if isinstance(r, UntaggedResult):
        return r.status.encode("ascii") + _w_resp_text(r.code, r.text)
    if isinstance(r, UntaggedBye):
        return b"BYE" + _w_resp_text(r.code, r.text)
    if isinstance(r, UntaggedPreauth):
        return b"PREAUTH" + _w_resp_text(r.code, r.text)
    if isinstance(r, UntaggedCapability):
        return " ".join(("CAPABILITY",) + r.caps).encode("ascii")
    if isinstance(r, UntaggedEnabled):
        return " ".join(("ENABLED",) + r.caps).encode("ascii")
    if isinstance(r, UntaggedFlags):
        return b"FLAGS " + _w_flags(r.flags)
    if isinstance(r, UntaggedExists):
        return b"%d EXISTS" % r.count
    if isinstance(r, UntaggedRecent):
        return b"%d RECENT" % r.count
    if isinstance(r, UntaggedExpunge):
        return b"%d EXPUNGE" % r.seq
    if isinstance(r, (UntaggedList, UntaggedLsub)):
        word = b"LIST" if isinstance(r, UntaggedList) else b"LSUB"
        sep = b"NIL" if r.sep is None else _w_string(r.sep.encode("ascii"))
        out = word + b" " + _w_flags(r.flags) + b" " + sep + b" " + _w_mailbox(r.mailbox, utf8)
        if isinstance(r, UntaggedList) and (r.extended or r.oldname is not None):
            items = [_w_astring(k) + b" " + _w_sexpr(v, utf8) for k, v in r.extended]
            if r.oldname is not None:
                items.append(b"OLDNAME (" + _w_mailbox(r.oldname, utf8) + b")")
            out += b" (" + b" ".join(items) + b")"
        return out
    if isinstance(r, UntaggedStatus):
        items = b" ".join(
            k.encode("ascii") + b" " + (b"NIL" if v is None else b"%d" % v) for k, v in r.attrs.items()
        )
        return b"STATUS " + _w_mailbox(r.mailbox, utf8) + b" (" + items + b")"
    if isinstance(r, UntaggedSearch):
        return b"SEARCH" + b"".join(b" %d" % n for n in r.nums)
    if isinstance(r, UntaggedSearchModSeq):
        return b"SEARCH" + b"".join(b" %d" % n for n in r.nums) + b" (MODSEQ %d)" % r.modseq
    if isinstance(r, UntaggedEsearch):
        out = b"ESEARCH"
        if r.tag is not None:
            out += b" (TAG " + _w_str(r.tag) + b")"
        if r.uid:
            out += b" UID"
        for name in ("min", "max", "all", "count", "modseq"):
            v = getattr(r, name)
            if v is not None:
                out += b" " + name.upper().encode("ascii") + b" " + str(v).encode("ascii")
        for k, v in r.exts:
            out += b" " + k.encode("ascii") + b" " + v.encode("utf-8", "surrogateescape")
        return out
    if isinstance(r, UntaggedVanished):
        return b"VANISHED " + (b"(EARLIER) " if r.earlier else b"") + r.uids.encode("ascii")
    if isinstance(r, UntaggedNamespace):

        def ns(lst: tuple[NamespaceDescr, ...]) -> bytes:
            if not lst:
                return b"NIL"
            return (
                b"("
                + b"".join(
                    b"("
                    + _w_str(d.prefix, utf8)
                    + b" "
                    + (b"NIL" if d.sep is None else _w_string(d.sep.encode("ascii")))
                    + b")"
                    for d in lst
                )
                + b")"
            )

        return b"NAMESPACE " + ns(r.personal) + b" " + ns(r.other) + b" " + ns(r.shared)
    if isinstance(r, UntaggedQuotaroot):
        return b"QUOTAROOT " + _w_mailbox(r.mailbox, utf8) + b"".join(b" " + _w_astring(x) for x in r.roots)
    if isinstance(r, UntaggedQuota):
        res = b" ".join(b"%s %d %d" % (x.name.encode("ascii"), x.usage, x.limit) for x in r.resources)
        return b"QUOTA " + _w_astring(r.root) + b" (" + res + b")"
    if isinstance(r, UntaggedID):
        if r.params is None:
            return b"ID NIL"
        return b"ID (" + b" ".join(_w_str(k) + b" " + _w_nstring(v) for k, v in r.params.items()) + b")"
    if isinstance(r, UntaggedFetch):
        return b"%d FETCH (" % r.seq + b" ".join(_w_fetch_attr(a, utf8) for a in r.attrs) + b")"
    raise TypeError(f"not an untagged response: {r!r}")


def serialize(r: Response, *, utf8: bool = False) -> bytes:
    """Wire bytes for a response, CRLF included. Mailbox names are encoded to modified UTF-7
    unless ``utf8``; data of BODY/BINARY/RFC822 attributes is always sent as a literal."""
    if isinstance(r, Tagged):
        return r.tag.encode("ascii") + b" " + r.status.encode("ascii") + _w_resp_text(r.code, r.text) + b"\r\n"
    if isinstance(r, Continuation):
        return b"+ " + r.text.encode("utf-8", "surrogateescape") + b"\r\n"
    return b"* " + _w_untagged(r, utf8) + b"\r\n"
