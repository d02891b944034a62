"""Validated IMAP values produced by the parser (RFC 9051 9, formal syntax).

Raw strings stop at the parser: commands carry these frozen Structs.
"""

from __future__ import annotations

from typing import Any

import msgspec

SYSTEM_FLAGS = ("\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft")
# Well-known keywords mox stores as flags, in their canonical case.
KNOWN_KEYWORDS = ("$Forwarded", "$Junk", "$NotJunk", "$Phishing", "$MDNSent")
_CANONICAL = {f.lower(): f for f in SYSTEM_FLAGS + KNOWN_KEYWORDS}


def canonical_flag(flag: str) -> str:
    """System flags and mox's known keywords in canonical case, other keywords lower-cased."""
    return _CANONICAL.get(flag.lower(), flag.lower())


class NumRange(msgspec.Struct, frozen=True):
    """``first[:last]``; None means ``*`` (the largest number in use)."""

    first: int | None
    last: int | None = None
    single: bool = True


class NumSet(msgspec.Struct, frozen=True):
    """A sequence-set (RFC 9051 9 "sequence-set"), or ``$`` (RFC 5182 SEARCHRES)."""

    ranges: tuple[NumRange, ...] = ()
    search_result: bool = False

    def __post_init__(self) -> None:
        if not self.search_result and not self.ranges:
            raise ValueError("empty sequence set")

    def select(self, values: list[int]) -> list[int]:
        """The members of sorted ``values`` (uids or 1..n) in this set; ``*`` is the largest value."""
        if not values:
            return []
        largest = values[-1]
        out: set[int] = set()
        import bisect

        for r in self.ranges:
            a = largest if r.first is None else r.first
            if r.single:
                b = a
            else:
                b = largest if r.last is None else r.last
            if a > b:
                a, b = b, a
            lo = bisect.bisect_left(values, a)
            hi = bisect.bisect_right(values, b)
            out.update(values[lo:hi])
        return sorted(out)

    def select_upto(self, n: int) -> list[int]:
        """The members of 1..n in this set, ascending (``select(list(range(1, n + 1)))``
        without building that list: message sequence numbers of a mailbox of n messages)."""
        if n <= 0:
            return []
        spans = []
        for r in self.ranges:
            a = n if r.first is None else r.first
            b = a if r.single else (n if r.last is None else r.last)
            if a > b:
                a, b = b, a
            a, b = max(a, 1), min(b, n)
            if a <= b:
                spans.append((a, b))
        if len(spans) == 1:
            a, b = spans[0]
            return list(range(a, b + 1))
        out: set[int] = set()
        for a, b in spans:
            out.update(range(a, b + 1))
        return sorted(out)

    def contains(self, n: int, largest: int) -> bool:
        for r in self.ranges:
            a = largest if r.first is None else r.first
            b = a if r.single else (largest if r.last is None else r.last)
            if min(a, b) <= n <= max(a, b):
                return True
        return False


class Section(msgspec.Struct, frozen=True):
    """A body section (RFC 9051 6.4.5): part numbers, then HEADER, HEADER.FIELDS[.NOT], TEXT or MIME."""

    part: tuple[int, ...] = ()
    text: str | None = None
    fields: tuple[str, ...] = ()


class FetchAtt(msgspec.Struct, frozen=True):
    """One FETCH attribute. ``name`` is upper-case: FLAGS, UID, ..., BODY, BINARY, BINARY.SIZE.
    For BODY[...]/BINARY[...] ``section`` is set; ``partial`` is (offset, count)."""

    name: str
    section: Section | None = None
    partial: tuple[int, int] | None = None
    peek: bool = False


class SearchKey(msgspec.Struct, frozen=True):
    """A search key (RFC 9051 6.4.4). ``op`` is upper-case (ALL, OR, NOT, SEQSET, UID, HEADER, ...);
    ``children`` for AND-groups (op "AND"), OR and NOT."""

    op: str
    children: tuple[SearchKey, ...] = ()
    numset: NumSet | None = None
    text: str | None = None
    field: str | None = None
    number: int | None = None
    date: tuple[int, int, int] | None = None  # (year, month, day)


class SortCriterion(msgspec.Struct, frozen=True):
    """One sort criterion (RFC 5256 sort-criterion, RFC 5957): ``key`` upper-case (ARRIVAL, CC,
    DATE, FROM, SIZE, SUBJECT, TO, DISPLAYFROM, DISPLAYTO), ``reverse`` for a REVERSE before it."""

    key: str
    reverse: bool = False


class PartialRange(msgspec.Struct, frozen=True):
    """A PARTIAL return option's range (RFC 9394 partial-range): positions ``first``..``last``
    (1-based, first <= last) counted from the first result, or from the last result when
    ``from_end`` (``-1:-100`` is the last hundred). ``text`` is the range as the client wrote
    it, echoed in the response."""

    first: int
    last: int
    from_end: bool
    text: str

    def __post_init__(self) -> None:
        if not 1 <= self.first <= self.last:
            raise ValueError("bad partial range")

    def bounds(self, n: int) -> tuple[int, int]:
        """The slice ``[lo:hi]`` of ``n`` results the range selects."""
        if self.from_end:
            return max(n - self.last, 0), max(n - self.first + 1, 0)
        return min(self.first - 1, n), min(self.last, n)

    def select(self, results: list[int]) -> list[int]:
        """The results at the range's positions, in result order (RFC 9394 3.1: positions
        beyond the results select nothing)."""
        lo, hi = self.bounds(len(results))
        return results[lo:hi]


class NotifyEvent(msgspec.Struct, frozen=True):
    """One event of a NOTIFY event group (RFC 5465 8 event): ``name`` as the RFC spells it
    (MessageNew, MessageExpunge, FlagChange, AnnotationChange, MailboxName, SubscriptionChange,
    MailboxMetadataChange, ServerMetadataChange) or, for an event we don't know, as the client
    wrote it; MessageNew may carry the FETCH attributes to send with a new message."""

    name: str
    fetch_atts: tuple[FetchAtt, ...] = ()


class NotifyGroup(msgspec.Struct, frozen=True):
    """One NOTIFY event group (RFC 5465 8 event-group): the mailbox filter, lower-case
    (selected, selected-delayed, inboxes, personal, subscribed, subtree, subtree-one (RFC
    7377), mailboxes), the mailbox names of subtree/subtree-one/mailboxes as the client wrote
    them, and the events; no events is ``NONE``."""

    filter: str
    mailboxes: tuple[str, ...] = ()
    events: tuple[NotifyEvent, ...] = ()


class ListCommand(msgspec.Struct, frozen=True):
    reference: str
    patterns: tuple[str, ...]
    select_opts: tuple[str, ...] = ()
    return_opts: tuple[str, ...] = ()
    status_items: tuple[str, ...] = ()
    extended: bool = False
    metadata: tuple[str, ...] = ()  # RFC 9590 RETURN (METADATA (entries)), names lower-case


class MessageLiteral(msgspec.Struct, frozen=True):
    """An APPEND message literal that did not pass through memory: the protocol layer handed
    its ``size`` bytes to the driver as they arrived (``AppendData`` events), which streams them
    to a file. The parser puts this in ``args["message"]`` instead of the bytes."""

    size: int


class AppendMessage(msgspec.Struct):
    """One message of an APPEND (RFC 3502 MULTIAPPEND: one or more per command). ``data`` is the
    message (bytes, a ``MessageLiteral`` that was streamed, replaced by the driver with the store's
    ``Upload``), or None when ``catenate`` (RFC 4469) lists its parts: ``("TEXT", data)`` with
    data as for ``data``, or ``("URL", url)``."""

    flags: tuple[str, ...] = ()
    date: float | None = None
    data: Any = None
    catenate: list[tuple[str, Any]] | None = None
    utf8: bool = False


class Command(msgspec.Struct, frozen=True):
    """One parsed command. ``name`` is upper-case; UID commands have ``uid`` set and the
    subcommand as name (``UID FETCH`` -> name FETCH, uid True). ``args`` holds the command's
    arguments by name (see parse.py for each command)."""

    tag: str
    name: str
    uid: bool = False
    args: dict[str, Any] = {}
