"""IMAP responses as typed values: what a server sends.

The server builds these and writes them with ``response_write.serialize``; the client (and the
tests) get them from ``response_parse.parse_response``, so a test compares against the same
values a user of our client gets. Sans-IO (no trio, no store).

Families (mox's naming, RFC 9051 7 for the grammar):

- ``Untagged*``: data and status responses starting with ``*``; ``UntaggedResult`` is an untagged
  OK/NO/BAD.
- ``Fetch*``: the attributes of an ``UntaggedFetch`` (RFC 9051 7.5.2).
- ``Code*``: response codes inside ``[...]`` (RFC 9051 7.1, RFC 4315, RFC 7162, RFC 5530);
  codes without arguments are ``CodeWord("TRYCREATE")``.
- ``Tagged``: the tagged result that completes a command; ``Continuation``: a ``+`` request.

Values are frozen and hashable: list arguments are turned into tuples, so
``UntaggedFlags(["\\Seen"]) == UntaggedFlags(("\\Seen",))``. Mailbox names are the names
themselves (the wire's modified UTF-7 is decoded and encoded by the parser and writer). Sequence
sets (ALL, APPENDUID, COPYUID, MODIFIED, VANISHED) are kept as their text, e.g. "1:3,5".
"""

from __future__ import annotations

from typing import Any, Union

import msgspec
from msgspec.structs import force_setattr


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


class CodeNoUpdate(_Value, frozen=True):
    """RFC 5267 4.3.1: the server keeps no UPDATE context for the command with this tag."""

    tag: str
    name = "NOUPDATE"
class CodeMetadata(_Value, frozen=True):
    """RFC 5464 4.2.1, 4.3: ``METADATA LONGENTRIES n``, ``METADATA MAXSIZE n``,
    ``METADATA TOOMANY``, ``METADATA NOPRIVATE``; ``kind`` upper-case, ``number`` for the first two."""

    kind: str
    number: int | None = None
    name = "METADATA"


class CodeInProgress(_Value, frozen=True):
    """RFC 9585 3: ``INPROGRESS ("tag" progress goal)``, each part None for NIL (and all None
    for the bare ``INPROGRESS``)."""

    tag: str | None = None
    progress: int | None = None
    goal: int | None = None
    bare: bool = False
    name = "INPROGRESS"


class CodeBadEvent(_Value, frozen=True):
    """RFC 5465 8: ``BADEVENT (event ...)``, the NOTIFY events the server supports."""

    events: tuple[str, ...]

    @property
    def name(self) -> str:
        return "BADEVENT"


class CodeOther(_Value, frozen=True):
    """A code with arguments we do not know; ``arg`` is the raw text after the name."""

    word: str
    arg: str

    @property
    def name(self) -> str:
        return self.word.upper()


Code = Union[
    CodeInProgress,
    CodeMetadata,
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
    CodeNoUpdate,
    CodeBadEvent,
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


class UntaggedSort(_Value, frozen=True):
    """RFC 5256: ``* SORT 5 3 4``, numbers in sort order; RFC 7162 3.1.9: ``(MODSEQ n)`` after
    them when the criteria had a MODSEQ key."""

    nums: tuple[int, ...]
    modseq: int | None = None


class ThreadNode(_Value, frozen=True):
    """One member of a THREAD response (RFC 5256 thread-list): a message number (sequence
    number or UID), or None for a parent that is not in the result (``((3)(5))``: 3 and 5 are
    siblings below such a parent), and its children in order."""

    num: int | None
    children: tuple[ThreadNode, ...] = ()


class UntaggedThread(_Value, frozen=True):
    """RFC 5256: ``* THREAD (2)(3 6 (4 23)(44 7 96))``, one ThreadNode per thread."""

    threads: tuple[ThreadNode, ...] = ()


class EsearchPartial(_Value, frozen=True):
    """RFC 5267 4.4, RFC 9394 3.1: the PARTIAL return data: the requested ``range`` as the
    client wrote it (``"1:100"``, ``"-1:-100"``) and the results at those positions as a
    sequence set, None (NIL) when there are none."""

    range: str
    results: str | None


class EsearchUpdate(_Value, frozen=True):
    """RFC 5267 4.3.3, 4.3.4: one (context position, result set) pair of an ADDTO (``op``
    "ADDTO") or REMOVEFROM ("REMOVEFROM") return data item. Position 0: anywhere (SEARCH
    contexts, kept in mailbox order); else where the first result of ``nums`` goes (or was),
    the others following it in the requested order."""

    op: str
    position: int
    nums: str


class UntaggedEsearch(_Value, frozen=True):
    """RFC 4731: ``* ESEARCH (TAG "x") UID MIN 1 MAX 3 ALL 1:3 COUNT 3``; PARTIAL (RFC 9394),
    ADDTO/REMOVEFROM (RFC 5267: ``updates`` in the order a client must apply them, one pair
    each); other return data in ``exts`` as (NAME, raw text). For an extended SORT, ``all`` is
    in sort order (``"4:5,1:3"``, RFC 5267 3.2)."""

    tag: str | None = None
    uid: bool = False
    min: int | None = None
    max: int | None = None
    all: str | None = None
    count: int | None = None
    modseq: int | None = None
    exts: tuple[tuple[str, str], ...] = ()
    partial: EsearchPartial | None = None
    updates: tuple[EsearchUpdate, ...] = ()
    # RFC 7377 2 (MULTISEARCH): the correlator names the mailbox searched and its UIDVALIDITY.
    mailbox: str | None = None
    uidvalidity: int | None = None


class UntaggedVanished(_Value, frozen=True):
    """RFC 7162 3.2.10."""

    earlier: bool
    uids: str


class UntaggedMetadata(_Value, frozen=True):
    """RFC 5464 4.4: ``* METADATA mailbox (entry value ...)``, ``entries`` as (name, value) with
    the value's bytes or None for NIL; the unsolicited form ``* METADATA mailbox entry ...``
    (names of changed entries, 4.4.2) has ``values`` False and None values. The server's own
    entries have mailbox ``""``."""

    mailbox: str
    entries: tuple[tuple[str, bytes | None], ...]
    values: bool = True

    def get(self, name: str) -> bytes | None:
        """The value of entry ``name`` (case-insensitive), None when absent or NIL."""
        for k, v in self.entries:
            if k.lower() == name.lower():
                return v
        return None


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


class UntaggedUIDFetch(_Value, frozen=True):
    """RFC 9586 3.3 (UIDONLY): ``* uid UIDFETCH (attrs)``, a FETCH response numbered by UID."""

    uid: int
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
    UntaggedSort,
    UntaggedThread,
    UntaggedVanished,
    UntaggedNamespace,
    UntaggedQuotaroot,
    UntaggedQuota,
    UntaggedID,
    UntaggedMetadata,
    UntaggedFetch,
    UntaggedUIDFetch,
]
Response = Union[Untagged, Tagged, Continuation]
