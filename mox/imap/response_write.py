"""The response writer: ``responses`` values to wire bytes, for the server and for the tests.

``serialize(response, utf8=...)`` returns the bytes of one response, CRLF included. The server
sends every response through it (``Session.send``); the FETCH command writes each attribute with
``fetch_attr`` and wraps them with ``fetch_response`` (ENVELOPE and BODYSTRUCTURE come from a
cache of what ``envelope`` and ``body`` wrote, see ``fetch.py``). Strings, literals, mailbox names
and flag lists are written by ``wire.py``; ``utf8`` says whether UTF8=ACCEPT or IMAP4rev2 is
enabled (quoted strings may then hold UTF-8 and mailbox names are not modified UTF-7).

The response parser (``response_parse.py``) reads everything written here back into equal
values (a property test checks it).

Sans-IO: no trio, no store.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from . import wire
from .responses import (
    Address,
    BodyTypeBasic,
    BodyTypeMpart,
    BodyTypeMsg,
    BodyTypeText,
    Code,
    CodeAppendUID,
    CodeBadCharset,
    CodeCapability,
    CodeCopyUID,
    CodeHighestModSeq,
    CodeInProgress,
    CodeBadEvent,
    CodeMetadata,
    CodeModified,
    CodeNoUpdate,
    CodeOther,
    CodePermanentFlags,
    CodeUIDNext,
    CodeUIDValidity,
    CodeUnseen,
    CodeWord,
    Continuation,
    Envelope,
    FetchBinary,
    FetchBinarySize,
    FetchBody,
    FetchBodystructure,
    FetchEnvelope,
    FetchFlags,
    FetchInternalDate,
    FetchModSeq,
    FetchPreview,
    FetchRFC822,
    FetchRFC822Header,
    FetchRFC822Size,
    FetchRFC822Text,
    FetchSaveDate,
    FetchUID,
    NamespaceDescr,
    Response,
    Tagged,
    UntaggedBye,
    UntaggedCapability,
    UntaggedEnabled,
    UntaggedEsearch,
    UntaggedExists,
    UntaggedExpunge,
    UntaggedFetch,
    UntaggedFlags,
    UntaggedID,
    UntaggedList,
    UntaggedLsub,
    UntaggedMetadata,
    UntaggedNamespace,
    UntaggedPreauth,
    UntaggedQuota,
    UntaggedQuotaroot,
    UntaggedRecent,
    UntaggedResult,
    UntaggedSearch,
    UntaggedSearchModSeq,
    UntaggedSort,
    UntaggedStatus,
    UntaggedThread,
    UntaggedUIDFetch,
    UntaggedVanished,
)


def _str(s: str, utf8: bool) -> bytes:
    return wire.string(s.encode("utf-8", "surrogateescape"), utf8)


def _text(s: str) -> bytes:
    return s.encode("utf-8", "surrogateescape")


def sexpr(v: Any, utf8: bool) -> bytes:
    """Extension data (body extensions, LIST-EXTENDED values): NIL, a number, a string or a
    parenthesized list of those."""
    if v is None:
        return b"NIL"
    if isinstance(v, bool):
        raise TypeError("bool in extension data")
    if isinstance(v, int):
        return b"%d" % v
    if isinstance(v, str):
        return _str(v, utf8)
    if isinstance(v, bytes):
        return wire.string(v, utf8)
    return b"(" + b" ".join(sexpr(x, utf8) for x in v) + b")"


# ---------------------------------------------------------------------------------------------
# Response codes (RFC 9051 7.1)


def serialize_code(c: Code) -> bytes:
    """A response code without its brackets."""
    if isinstance(c, CodeWord):
        return c.word.encode("ascii")
    if isinstance(c, CodeCapability):
        return " ".join(("CAPABILITY",) + c.caps).encode("ascii")
    if isinstance(c, CodePermanentFlags):
        return b"PERMANENTFLAGS " + wire.flag_list(c.flags)
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
        return b"BADCHARSET (" + b" ".join(wire.astring(x, False) for x in c.charsets) + b")"
    if isinstance(c, CodeNoUpdate):
        return b"NOUPDATE " + wire.quoted(c.tag.encode("ascii"))  # RFC 5267 5
    if isinstance(c, CodeInProgress):
        if c.bare:
            return b"INPROGRESS"
        tag = b"NIL" if c.tag is None else wire.quoted(c.tag.encode("utf-8", "surrogateescape"))
        prog = b"NIL" if c.progress is None else b"%d" % c.progress
        goal = b"NIL" if c.goal is None else b"%d" % c.goal
        return b"INPROGRESS (" + tag + b" " + prog + b" " + goal + b")"
    if isinstance(c, CodeMetadata):
        return b"METADATA " + c.kind.encode("ascii") + (b"" if c.number is None else b" %d" % c.number)
    if isinstance(c, CodeBadEvent):
        return b"BADEVENT (" + " ".join(c.events).encode("ascii") + b")"
    if isinstance(c, CodeOther):
        return c.word.encode("ascii") + b" " + _text(c.arg)
    raise TypeError(f"not a response code: {c!r}")


def resp_text(code: Code | None, text: str) -> bytes:
    """`` [code] text`` (RFC 9051 9 resp-text), with its leading space."""
    out = b""
    if code is not None:
        out += b" [" + serialize_code(code) + b"]"
    if text or code is None:
        out += b" " + _text(text)
    return out


# ---------------------------------------------------------------------------------------------
# ENVELOPE and BODYSTRUCTURE (RFC 9051 7.5.2)


def _addresses(addrs: tuple[Address, ...], utf8: bool) -> bytes:
    if not addrs:
        return b"NIL"
    return (
        b"("
        + b"".join(
            b"(" + b" ".join(wire.nstring(x, utf8) for x in (a.name, a.adl, a.mailbox, a.host)) + b")"
            for a in addrs
        )
        + b")"
    )


def envelope(e: Envelope, utf8: bool) -> bytes:
    parts = [wire.nstring(e.date, utf8), wire.nstring(e.subject, utf8)]
    for lst in (e.from_, e.sender, e.reply_to, e.to, e.cc, e.bcc):
        parts.append(_addresses(lst, utf8))
    parts += [wire.nstring(e.in_reply_to, utf8), wire.nstring(e.message_id, utf8)]
    return b"(" + b" ".join(parts) + b")"


def body(b: Any, utf8: bool) -> bytes:
    """A body structure (``BodyType*``); extension data as its values are (empty for BODY)."""

    def ext(e: tuple[Any, ...]) -> bytes:
        return b"".join(b" " + sexpr(x, utf8) for x in e)

    if isinstance(b, BodyTypeMpart):
        return b"(" + b"".join(body(x, utf8) for x in b.bodies) + b" " + _str(b.media_subtype, utf8) + ext(b.ext) + b")"
    f = b.fields
    params = b"NIL" if f.params is None else sexpr(tuple(x for kv in f.params for x in kv), utf8)
    head = b" ".join(
        [
            _str(b.media_type, utf8),
            _str(b.media_subtype, utf8),
            params,
            wire.nstring(f.id, utf8),
            wire.nstring(f.description, utf8),
            _str(f.encoding, utf8),
            b"%d" % f.octets,
        ]
    )
    if isinstance(b, BodyTypeText):
        return b"(" + head + b" %d" % b.lines + ext(b.ext) + b")"
    if isinstance(b, BodyTypeMsg):
        return (
            b"(" + head + b" " + envelope(b.envelope, utf8) + b" " + body(b.body, utf8) + b" %d" % b.lines + ext(b.ext) + b")"
        )
    if isinstance(b, BodyTypeBasic):
        return b"(" + head + ext(b.ext) + b")"
    raise TypeError(f"not a body structure: {b!r}")


# ---------------------------------------------------------------------------------------------
# FETCH attributes (RFC 9051 7.5.2)


def _offset(o: int | None) -> bytes:
    return b"" if o is None else b"<%d>" % o


def _data(d: bytes | None) -> bytes:
    # Message data is always a literal (never quoted, whatever it holds).
    return b"NIL" if d is None else wire.literal(d)


@functools.lru_cache(maxsize=256)
def _body_head(section: str) -> bytes:
    return b"BODY[" + _text(section) + b"]"


def fetch_body(section: str, offset: int | None, data: bytes | None) -> bytes:
    """``BODY[section]<offset> data``: a ``FetchBody`` written without making the value (FETCH
    writes one per message)."""
    return _body_head(section) + _offset(offset) + b" " + _data(data)


def fetch_flags(flags: tuple[str, ...] | list[str]) -> bytes:
    """``FLAGS (...)``, as ``FetchFlags``."""
    return b"FLAGS " + wire.flag_list(flags)


_FETCH: dict[type, Callable[[Any, bool], bytes]] = {
    FetchFlags: lambda a, utf8: fetch_flags(a.flags),
    FetchUID: lambda a, utf8: b"UID %d" % a.uid,
    FetchInternalDate: lambda a, utf8: b"INTERNALDATE " + wire.quoted(a.date.encode("ascii")),
    FetchRFC822Size: lambda a, utf8: b"RFC822.SIZE %d" % a.size,
    FetchEnvelope: lambda a, utf8: b"ENVELOPE " + envelope(a.envelope, utf8),
    FetchBodystructure: lambda a, utf8: (b"BODYSTRUCTURE " if a.ext else b"BODY ") + body(a.body, utf8),
    FetchBody: lambda a, utf8: fetch_body(a.section, a.offset, a.data),
    FetchBinary: lambda a, utf8: (
        b"BINARY[" + a.section.encode("ascii") + b"]" + _offset(a.offset) + b" "
        + (b"NIL" if a.data is None else wire.literal8(a.data))
    ),
    FetchBinarySize: lambda a, utf8: b"BINARY.SIZE[" + a.section.encode("ascii") + b"] %d" % a.size,
    FetchRFC822: lambda a, utf8: b"RFC822 " + _data(a.data),
    FetchRFC822Header: lambda a, utf8: b"RFC822.HEADER " + _data(a.data),
    FetchRFC822Text: lambda a, utf8: b"RFC822.TEXT " + _data(a.data),
    FetchModSeq: lambda a, utf8: b"MODSEQ (%d)" % a.modseq,
    FetchPreview: lambda a, utf8: b"PREVIEW " + wire.nstring(a.text, utf8),
    FetchSaveDate: lambda a, utf8: b"SAVEDATE " + (b"NIL" if a.date is None else wire.quoted(a.date.encode("ascii"))),
}  # fmt: skip


def fetch_attr(a: Any, utf8: bool = False) -> bytes:
    """One FETCH attribute (``Fetch*``) as it appears in the parenthesized list."""
    w = _FETCH.get(type(a))
    if w is None:
        raise TypeError(f"not a fetch attribute: {a!r}")
    return w(a, utf8)


def fetch_response(seq: int, attrs: list[bytes], *, uidfetch: bool = False) -> bytes:
    """``* seq FETCH (attrs)`` CRLF from attributes written by ``fetch_attr`` (or a cached
    ``ENVELOPE``/``BODYSTRUCTURE`` written by ``envelope``/``body``); with ``uidfetch`` the
    number is a UID: ``* uid UIDFETCH (attrs)`` (RFC 9586 3.3)."""
    return b"* %d %s (" % (seq, b"UIDFETCH" if uidfetch else b"FETCH") + b" ".join(attrs) + b")\r\n"


# ---------------------------------------------------------------------------------------------
# Untagged responses (RFC 9051 7)


def _list(r: UntaggedList | UntaggedLsub, utf8: bool) -> bytes:
    word = b"LIST" if isinstance(r, UntaggedList) else b"LSUB"
    sep = b"NIL" if r.sep is None else wire.quoted(r.sep.encode("ascii"))
    out = word + b" " + wire.flag_list(r.flags) + b" " + sep + b" " + wire.mailbox(r.mailbox, utf8)
    if isinstance(r, UntaggedList) and (r.extended or r.oldname is not None):
        # RFC 5258 mbox-list-extended: the item names as strings, as in the RFCs' examples.
        items = [_str(k, utf8) + b" " + sexpr(v, utf8) for k, v in r.extended]
        if r.oldname is not None:
            items.append(b'"OLDNAME" (' + wire.mailbox_string(r.oldname, utf8) + b")")  # RFC 9051 7.3.1
        out += b" (" + b" ".join(items) + b")"
    return out


def _status(r: UntaggedStatus, utf8: bool) -> bytes:
    items = b" ".join(k.encode("ascii") + b" " + (b"NIL" if v is None else b"%d" % v) for k, v in r.attrs.items())
    return b"STATUS " + wire.mailbox(r.mailbox, utf8) + b" (" + items + b")"


def _esearch(r: UntaggedEsearch, utf8: bool) -> bytes:
    # RFC 4731 3.1 search-return-data, in the order we send them.
    out = b"ESEARCH"
    if r.tag is not None:
        out += b" (TAG " + _str(r.tag, utf8)
        if r.mailbox is not None:
            # RFC 7377 2: search-correlator =/ SP "MAILBOX" SP astring SP "UIDVALIDITY" SP nz-number
            out += b" MAILBOX " + wire.mailbox_string(r.mailbox, utf8) + b" UIDVALIDITY %d" % (r.uidvalidity or 0)
        out += b")"
    if r.uid:
        out += b" UID"
    for name in ("min", "max", "count", "all"):
        v = getattr(r, name)
        if v is not None:
            out += b" " + name.upper().encode("ascii") + b" " + str(v).encode("ascii")
    if r.partial is not None:
        # RFC 9394 4 ret-data-partial: the requested range and the results, NIL for none.
        res = r.partial.results.encode("ascii") if r.partial.results is not None else b"NIL"
        out += b" PARTIAL (" + r.partial.range.encode("ascii") + b" " + res + b")"
    if r.modseq is not None:
        out += b" MODSEQ %d" % r.modseq
    # RFC 5267 4.3.3, 4.3.4: consecutive pairs of one kind in one ADDTO/REMOVEFROM item.
    i = 0
    while i < len(r.updates):
        op = r.updates[i].op
        pairs = []
        while i < len(r.updates) and r.updates[i].op == op:
            u = r.updates[i]
            pairs.append(b"%d %s" % (u.position, u.nums.encode("ascii")))
            i += 1
        out += b" " + op.encode("ascii") + b" (" + b" ".join(pairs) + b")"
    for k, v in r.exts:
        out += b" " + k.encode("ascii") + b" " + _text(v)
    return out


def _thread(r: UntaggedThread, utf8: bool) -> bytes:
    """RFC 5256 thread-data, written without recursion (threads can be thousands deep): a node
    with one child continues its member list, with more each child is a nested thread-list; a
    dummy (num None) is only its nested thread-lists."""
    out = bytearray(b"THREAD")
    if r.threads:
        out += b" "
    stack: list[Any] = []  # nodes and literal bytes, popped from the end
    for t in reversed(r.threads):
        stack += [b")", t, b"("]
    while stack:
        item = stack.pop()
        if isinstance(item, bytes):
            out += item
            continue
        if item.num is not None:
            out += b"%d" % item.num
            if len(item.children) == 1:
                stack += [item.children[0], b" "]
                continue
            if item.children:
                out += b" "
        for c in reversed(item.children):
            stack += [b")", c, b"("]
    return bytes(out)


def _namespace(r: UntaggedNamespace, utf8: bool) -> bytes:
    def ns(lst: tuple[NamespaceDescr, ...]) -> bytes:
        if not lst:
            return b"NIL"
        return (
            b"("
            + b"".join(
                b"(" + _str(d.prefix, utf8) + b" " + (b"NIL" if d.sep is None else wire.quoted(d.sep.encode("ascii"))) + b")"
                for d in lst
            )
            + b")"
        )

    return b"NAMESPACE " + ns(r.personal) + b" " + ns(r.other) + b" " + ns(r.shared)


def _id(r: UntaggedID, utf8: bool) -> bytes:
    if r.params is None:
        return b"ID NIL"
    return b"ID (" + b" ".join(_str(k, utf8) + b" " + wire.nstring(v, utf8) for k, v in r.params.items()) + b")"


def _metadata(r: UntaggedMetadata, utf8: bool) -> bytes:
    # RFC 5464 4.4.1: entry-values = "(" entry-value *(SP entry-value) ")", a value is an
    # nstring or literal8 (binary data); 4.4.2 entry-list = entry *(SP entry).
    out = b"METADATA " + wire.mailbox(r.mailbox, utf8) + b" "
    if not r.values:
        return out + b" ".join(wire.astring(k, utf8) for k, _ in r.entries)
    items = []
    for k, v in r.entries:
        val = b"NIL" if v is None else (wire.literal8(v) if b"\x00" in v else wire.string(v, utf8))
        items.append(wire.astring(k, utf8) + b" " + val)
    return out + b"(" + b" ".join(items) + b")"


_UNTAGGED: dict[type, Callable[[Any, bool], bytes]] = {
    UntaggedResult: lambda r, utf8: r.status.encode("ascii") + resp_text(r.code, r.text),
    UntaggedBye: lambda r, utf8: b"BYE" + resp_text(r.code, r.text),
    UntaggedPreauth: lambda r, utf8: b"PREAUTH" + resp_text(r.code, r.text),
    UntaggedCapability: lambda r, utf8: " ".join(("CAPABILITY",) + r.caps).encode("ascii"),
    UntaggedEnabled: lambda r, utf8: " ".join(("ENABLED",) + r.caps).encode("ascii"),
    UntaggedFlags: lambda r, utf8: b"FLAGS " + wire.flag_list(r.flags),
    UntaggedExists: lambda r, utf8: b"%d EXISTS" % r.count,
    UntaggedRecent: lambda r, utf8: b"%d RECENT" % r.count,
    UntaggedExpunge: lambda r, utf8: b"%d EXPUNGE" % r.seq,
    UntaggedList: _list,
    UntaggedLsub: _list,
    UntaggedStatus: _status,
    UntaggedSearch: lambda r, utf8: b"SEARCH" + b"".join(b" %d" % n for n in r.nums),
    UntaggedSearchModSeq: lambda r, utf8: b"SEARCH" + b"".join(b" %d" % n for n in r.nums) + b" (MODSEQ %d)" % r.modseq,
    UntaggedEsearch: _esearch,
    UntaggedSort: lambda r, utf8: (
        b"SORT" + b"".join(b" %d" % n for n in r.nums) + (b" (MODSEQ %d)" % r.modseq if r.modseq is not None else b"")
    ),
    UntaggedThread: _thread,
    UntaggedVanished: lambda r, utf8: b"VANISHED " + (b"(EARLIER) " if r.earlier else b"") + r.uids.encode("ascii"),
    UntaggedNamespace: _namespace,
    UntaggedQuotaroot: lambda r, utf8: (
        b"QUOTAROOT " + wire.mailbox(r.mailbox, utf8) + b"".join(b" " + wire.astring(x, utf8) for x in r.roots)
    ),
    UntaggedQuota: lambda r, utf8: (
        b"QUOTA " + wire.astring(r.root, utf8) + b" ("
        + b" ".join(b"%s %d %d" % (x.name.encode("ascii"), x.usage, x.limit) for x in r.resources) + b")"
    ),
    UntaggedID: _id,
    UntaggedMetadata: _metadata,
    UntaggedFetch: lambda r, utf8: b"%d FETCH (" % r.seq + b" ".join(fetch_attr(a, utf8) for a in r.attrs) + b")",
    UntaggedUIDFetch: lambda r, utf8: b"%d UIDFETCH (" % r.uid + b" ".join(fetch_attr(a, utf8) for a in r.attrs) + b")",
}  # fmt: skip


def serialize(r: Response, *, utf8: bool = False) -> bytes:
    """Wire bytes for a response, CRLF included. Mailbox names are encoded to modified UTF-7
    unless ``utf8``; data of BODY/BINARY/RFC822 attributes is always sent as a literal."""
    if isinstance(r, Tagged):
        return r.tag.encode("ascii") + b" " + r.status.encode("ascii") + resp_text(r.code, r.text) + b"\r\n"
    if isinstance(r, Continuation):
        return b"+ " + _text(r.text) + b"\r\n"
    w = _UNTAGGED.get(type(r))
    if w is None:
        raise TypeError(f"not a response: {r!r}")
    return b"* " + w(r, utf8) + b"\r\n"
