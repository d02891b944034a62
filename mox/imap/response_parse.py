"""The response parser: what a server sends, parsed strictly into ``responses`` values.

Sans-IO (no trio, no store): ``parse_response(buffer)`` returns ``(response, consumed)`` or
``(None, 0)`` while the buffer does not yet hold a whole response (literals included), and raises
``response_reader.RemoteProtocolError`` for a complete response that is not valid IMAP (RFC 9051 7 and 9 for
the grammar). Used by ``mox.imap.client`` and the tests. Strings, literals, sequence sets and
dates are read with the primitives of ``wire.py``; mailbox names are decoded from modified UTF-7
(RFC 3501 5.1.3) unless ``utf8=True`` (UTF8=ACCEPT or IMAP4rev2 enabled). The basic rules are
``response_reader.py``'s, FETCH's attributes ``response_fetch.py``'s.
"""

from __future__ import annotations

import re
from typing import Any

from . import wire
from .response_fetch import FetchReader
from .responses import (
    Code,
    CodeAppendUID,
    CodeBadCharset,
    CodeCapability,
    CodeCopyUID,
    CodeHighestModSeq,
    CodeModified,
    CodeNoUpdate,
    CodeInProgress,
    CodeMetadata,
    CodeBadEvent,
    CodeOther,
    CodePermanentFlags,
    CodeUIDNext,
    CodeUIDValidity,
    CodeUnseen,
    CodeWord,
    Continuation,
    EsearchPartial,
    EsearchUpdate,
    NamespaceDescr,
    QuotaResource,
    Response,
    Tagged,
    ThreadNode,
    Untagged,
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
    UntaggedMetadata,
    UntaggedUIDFetch,
    UntaggedLsub,
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
    UntaggedVanished,
)


_STATUS_LINE = re.compile(rb"^(?:\*|[^ ]+) (?:OK|NO|BAD|BYE|PREAUTH)(?: |$)", re.IGNORECASE)
_PARTIAL_RANGE = re.compile(rb"[1-9][0-9]*:[1-9][0-9]*|-[1-9][0-9]*:-[1-9][0-9]*")  # RFC 9394 4


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
        lit = wire.literal_at_end(line)
        if lit is None or lit[0] > wire.MAX_LITERAL_SIZE:
            return idx + 2  # no literal (a too large one is a parse error)
        n = lit[0]
        if len(buf) < idx + 2 + n:
            return None
        pos = idx + 2 + n


def parse_response(buf: bytes | bytearray, *, utf8: bool = False) -> tuple[Response | None, int]:
    """Parse one response from the start of ``buf``.

    Returns ``(response, consumed)``, or ``(None, 0)`` when more data is needed. Raises
    ``RemoteProtocolError`` (``response_reader.py``) for a complete but invalid response.
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


class _Parser(FetchReader):
    """Responses, response codes and the untagged data responses but FETCH's."""

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
        tag = self._run(wire.TAG_CHARS)
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
        name = self._run(wire.ATOM_CHARS).upper()
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
        if name == "NOUPDATE":
            self.sp()
            return CodeNoUpdate(self.quoted_bytes().decode("ascii", "surrogateescape"))
        if name == "INPROGRESS":
            # RFC 9585 3: "INPROGRESS" [SP "(" (quoted / nil) SP (number / nil) SP (nz-number / nil) ")"]
            if not self.take(b" ("):
                return CodeInProgress(bare=True)
            tag = None if self.take(b"NIL") else self.quoted_bytes().decode("utf-8", "surrogateescape")
            self.sp()
            progress = None if self.take(b"NIL") else self.number()
            self.sp()
            goal = None if self.take(b"NIL") else self.nz_number()
            self.expect(b")")
            return CodeInProgress(tag, progress, goal)
        if name == "METADATA":
            # RFC 5464 4.2.1, 4.3
            self.sp()
            kind = self.atom().upper()
            num = None
            if kind in ("LONGENTRIES", "MAXSIZE"):
                self.sp()
                num = self.number()
            return CodeMetadata(kind, num)
        if name == "BADEVENT":
            # RFC 5465 8: "BADEVENT" SP "(" event *(SP event) ")"
            self.expect(b" (")
            events = [self.atom()]
            while self.take(b" "):
                events.append(self.atom())
            self.expect(b")")
            return CodeBadEvent(tuple(events))
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
            if w == "UIDFETCH":  # RFC 9586 3.3
                if n == 0:
                    self.error("uidfetch of uid 0")
                self.sp()
                return UntaggedUIDFetch(n, self.msg_att())
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
        if w == "SORT":
            nums = []
            sort_modseq: int | None = None
            while self.take(b" "):
                if self.take(b"(MODSEQ "):  # RFC 7162 3.1.9
                    sort_modseq = self.number()
                    self.expect(b")")
                    break
                nums.append(self.nz_number())
            return UntaggedSort(tuple(nums), sort_modseq)
        if w == "THREAD":
            return self.thread_data()
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
        if w == "METADATA":
            # RFC 5464 4.4: "METADATA" SP mailbox SP (entry-values / entry-list)
            self.sp()
            mailbox = self.mailbox()
            self.sp()
            entries: list[tuple[str, bytes | None]] = []
            if not self.take(b"("):
                entries.append((self.astring(), None))
                while self.take(b" "):
                    entries.append((self.astring(), None))
                return UntaggedMetadata(mailbox, tuple(entries), values=False)
            while True:
                k = self.astring()
                self.sp()
                entries.append((k, self.nstring_bytes(allow8=True)))
                if not self.take(b" "):
                    break
            self.expect(b")")
            return UntaggedMetadata(mailbox, tuple(entries))
        self.error(f"unknown untagged response {w!r}")
        raise AssertionError("unreachable")

    def esearch(self) -> UntaggedEsearch:
        tag = None
        uid = False
        vals: dict[str, Any] = {}
        exts: list[tuple[str, str]] = []
        updates: list[EsearchUpdate] = []
        mailbox = None
        uidvalidity = None
        if self.take(b" (TAG "):
            tag = self.string()
            if self.take(b" MAILBOX "):  # RFC 7377 2
                mailbox = self.mailbox()
                self.expect(b" UIDVALIDITY ")
                uidvalidity = self.nz_number()
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
            elif name == "PARTIAL":
                # RFC 9394 4: "(" partial-range SP (sequence-set / "NIL") ")"
                self.expect(b"(")
                m = _PARTIAL_RANGE.match(self.b, self.i)
                if m is None:
                    self.error("expected partial range")
                assert m is not None
                self.i = m.end()
                self.sp()
                results = None if self.take(b"NIL") else self.seq_set()
                self.expect(b")")
                vals["partial"] = EsearchPartial(m.group().decode("ascii"), results)
            elif name in ("ADDTO", "REMOVEFROM"):
                # RFC 5267 5: "(" context-position SP sequence-set *(SP ...) ")"
                self.expect(b"(")
                while True:
                    pos = self.number()
                    self.sp()
                    updates.append(EsearchUpdate(name, pos, self.seq_set()))
                    if self.take(b")"):
                        break
                    self.sp()
            else:
                start = self.i
                self.sexpr()
                exts.append((name, self.b[start : self.i].decode("utf-8", "surrogateescape")))
        return UntaggedEsearch(
            tag=tag, uid=uid, exts=tuple(exts), updates=tuple(updates), mailbox=mailbox, uidvalidity=uidvalidity, **vals
        )

    def thread_data(self) -> UntaggedThread:
        """RFC 5256 5 thread-data: ``THREAD [SP 1*thread-list]``, read without recursion. A
        thread-list holds member numbers, each the parent of the next, and then either nothing
        or two or more nested thread-lists (children of the last member, or of a dummy when the
        list starts with them)."""
        threads: list[ThreadNode] = []
        if not self.take(b" "):
            return UntaggedThread(())
        # Each open thread-list: its member numbers and its nested lists' nodes.
        stack: list[tuple[list[int], list[ThreadNode]]] = []
        while True:
            if self.take(b"("):
                stack.append(([], []))
                continue
            if self.take(b")"):
                if not stack:
                    self.error("unbalanced thread list")
                nums, nested = stack.pop()
                if not nums and len(nested) < 2:
                    self.error("thread list without members")
                if nested and len(nested) < 2 and nums:
                    self.error("a single nested thread list")
                node: ThreadNode | None = None
                if nums:
                    children = tuple(nested)
                    for n in reversed(nums):
                        node = ThreadNode(n, children)
                        children = (node,)
                else:
                    node = ThreadNode(None, tuple(nested))
                assert node is not None
                if stack:
                    stack[-1][1].append(node)
                else:
                    threads.append(node)
                    if not self.peek(b"("):
                        return UntaggedThread(tuple(threads))
                continue
            if not stack:
                self.error("expected thread list")
            nums, nested = stack[-1]
            if nested:
                self.error("thread member after nested lists")
            if nums or self.b[self.i - 1 : self.i] != b"(":
                self.sp()
                if self.peek(b"("):
                    continue
            nums.append(self.nz_number())

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
