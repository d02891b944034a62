"""The FETCH part of the IMAP response parser: msg-att (RFC 9051 7.5.2 and 9), with envelopes and
body structures, BINARY (RFC 3516), MODSEQ (RFC 7162), PREVIEW (RFC 8970) and SAVEDATE (RFC 8514),
into ``responses``' ``Fetch*`` values. Sans-IO.
"""

from __future__ import annotations

from typing import Any

from . import wire
from .response_reader import ResponseReader
from .responses import (
    Address,
    BodyFields,
    BodyTypeBasic,
    BodyTypeMpart,
    BodyTypeMsg,
    BodyTypeText,
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
)

_FETCH_ATT_CHARS = wire.ATOM_CHARS - {ord("[")}


class FetchReader(ResponseReader):
    """msg-att and its parts, on top of the basic rules."""


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
        name = self._run(_FETCH_ATT_CHARS).upper()
        if name == "FLAGS":
            self.sp()
            return FetchFlags(self.flag_list())
        if name == "UID":
            self.sp()
            return FetchUID(self.nz_number())
        if name == "INTERNALDATE":
            self.sp()
            return FetchInternalDate(self.date_time())
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
            return FetchSaveDate(None if self.take(b"NIL") else self.date_time())
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
        from_, sender, reply_to, to, cc, bcc = lists
        return Envelope(date, subject, from_, sender, reply_to, to, cc, bcc, in_reply_to, message_id)

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
