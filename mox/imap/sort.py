"""SORT keys and their order (RFC 5256 BASE.6.4.SORT, RFC 5957 DISPLAYFROM/DISPLAYTO), and the
i;unicode-casemap collation SORT and THREAD compare strings with (RFC 5051, as RFC 5256 7 and
RFC 5255 4 require). Sans-IO: no trio, no store; values come from a message's envelope, size
and internal date.

Sort values (RFC 5256 BASE.6.4.SORT; an absent header is the empty string, which collates
before any other string):

- ARRIVAL: the internal date, in whole seconds (the precision INTERNALDATE shows).
- DATE: the sent date (RFC 5256 2.2): the Date header in UTC; the internal date when there is
  no Date header or it cannot be parsed.
- SIZE: RFC822.SIZE.
- FROM, TO, CC: the addr-mailbox of the first address of the field.
- SUBJECT: the base subject (RFC 5256 2.1, :func:`mox.message.subject.base_subject`).
- DISPLAYFROM, DISPLAYTO (RFC 5957 3, 4): the first address's display name, RFC 2047 decoded,
  when not empty; else ``mailbox@host``; else the mailbox; else the empty string.

Strings compare as their i;unicode-casemap form: each character replaced by its simple titlecase
mapping, then by its canonical decomposition, recursively (RFC 5051 2); the resulting strings
compare by code point, which is the order of their UTF-8 octets (i;octet). Messages whose values
are all equal keep mailbox order (RFC 5256: the implicit last criterion is the sequence
number), also under REVERSE, which reverses only the criterion it precedes.
"""

from __future__ import annotations

import bisect
import functools
import math
import unicodedata
from collections.abc import Sequence
from typing import Any

from mox.message.header import decode_header_value, parse_date
from mox.message.part import Address, Envelope
from mox.message.subject import base_subject

from .types import SortCriterion

#: The sort keys we implement: RFC 5256 and RFC 5957 (SORT=DISPLAY).
SORT_KEYS = ("ARRIVAL", "CC", "DATE", "FROM", "SIZE", "SUBJECT", "TO", "DISPLAYFROM", "DISPLAYTO")
NUMERIC_KEYS = frozenset(("ARRIVAL", "DATE", "SIZE"))

# Hangul syllables have no decomposition in UnicodeData.txt (their decomposition is
# algorithmic); RFC 5051 uses the UnicodeData.txt mappings, so they stay as they are.
_HANGUL_FIRST, _HANGUL_LAST = 0xAC00, 0xD7A3


@functools.lru_cache(maxsize=8192)
def _casemap_char(c: str) -> str:
    """RFC 5051 2 for one character: simple titlecase mapping, then canonical decomposition,
    each resulting character again (decompositions can decompose further)."""
    t = c.title()
    if len(t) != 1:
        # Python's title() is the full mapping (SpecialCasing.txt, e.g. "ß" -> "Ss"); where it
        # has more than one character the simple mapping of UnicodeData.txt is the identity.
        t = c
    if _HANGUL_FIRST <= ord(t) <= _HANGUL_LAST:
        return t
    d = unicodedata.decomposition(t)
    if not d or d.startswith("<"):
        return t  # no decomposition, or a compatibility one (not used by RFC 5051)
    return "".join(_casemap_char(chr(int(h, 16))) for h in d.split())


def unicode_casemap(s: str) -> str:
    """The "titlecased canonicalized UTF-8" form of ``s`` (RFC 5051 2), as a str: two strings are
    equal, or ordered, under i;unicode-casemap as their forms are under code point order."""
    if s.isascii():
        return s.upper()  # titlecase of ASCII letters is upper case; ASCII has no decompositions
    return "".join(map(_casemap_char, s))


def first_address(addrs: Sequence[Address]) -> Address | None:
    """The first address structure of an envelope address list (a group's start marker counts,
    as it is the first structure FETCH ENVELOPE shows)."""
    return addrs[0] if addrs else None


def addr_mailbox(addrs: Sequence[Address]) -> str:
    a = first_address(addrs)
    return (a.mailbox or "") if a is not None else ""


def display_value(addrs: Sequence[Address]) -> str:
    """RFC 5957 3: the DISPLAY sort value of the first address. A host we store as "" (a
    mailbox without domain) counts as absent."""
    a = first_address(addrs)
    if a is None:
        return ""
    if a.name is not None:
        name = decode_header_value(a.name)
        if name:
            return name
    if a.mailbox is not None and a.host:
        return f"{a.mailbox}@{a.host}"
    return a.mailbox or ""


def sent_date(env: Envelope | None, received: float) -> int:
    """RFC 5256 2.2: the Date header in UTC seconds, or the internal date without a usable one."""
    dt = parse_date(env.date if env is not None else None)
    if dt is not None:
        try:
            return int(dt.timestamp())
        except (OverflowError, ValueError, OSError):
            pass
    return math.floor(received)


def sort_value(key: str, env: Envelope | None, received: float, size: int) -> int | str:
    """The value of one sort key for a message (see the module docstring); strings in their
    casemapped form."""
    if key == "ARRIVAL":
        return math.floor(received)
    if key == "DATE":
        return sent_date(env, received)
    if key == "SIZE":
        return size
    if env is None:
        return ""
    if key == "SUBJECT":
        return unicode_casemap(base_subject(env.subject)[0])
    if key == "FROM":
        return unicode_casemap(addr_mailbox(env.from_))
    if key == "TO":
        return unicode_casemap(addr_mailbox(env.to))
    if key == "CC":
        return unicode_casemap(addr_mailbox(env.cc))
    if key == "DISPLAYFROM":
        return unicode_casemap(display_value(env.from_))
    if key == "DISPLAYTO":
        return unicode_casemap(display_value(env.to))
    raise ValueError(f"unknown sort key {key}")


# Sort values of recently sorted messages: a message's values never change (its file and
# envelope don't), so a SORT of a mailbox sorted before needs no envelope. Keyed by
# (namespace, message id, key); bounded by the number of values.
VALUE_CACHE_MAX = 500_000
_value_cache: dict[tuple[Any, int, str], int | str] = {}


def cached_sort_values(
    ns: Any, msg_id: int, criteria: Sequence[SortCriterion], envelope: Any, received: float, size: int
) -> tuple[int | str, ...]:
    """The values of ``criteria``'s keys for one message, from the cache or computed (then
    ``envelope()`` is called at most once)."""
    out: list[int | str] = []
    env: Any = _UNSET
    for c in criteria:
        k = (ns, msg_id, c.key)
        v = _value_cache.get(k)
        if v is None:
            if c.key in ("ARRIVAL", "SIZE"):
                v = sort_value(c.key, None, received, size)
            else:
                if env is _UNSET:
                    env = envelope()
                v = sort_value(c.key, env, received, size)
            if len(_value_cache) >= VALUE_CACHE_MAX:
                for old in list(_value_cache)[: VALUE_CACHE_MAX // 4]:
                    del _value_cache[old]
            _value_cache[k] = v
        out.append(v)
    return tuple(out)


_UNSET = object()


def sort_items(items: list[tuple[Any, tuple[int | str, ...]]], criteria: Sequence[SortCriterion]) -> list[Any]:
    """``items`` are (message, values) in mailbox order, values in ``criteria``'s order; returns
    the messages in SORT order. One stable sort per criterion, the last criterion first: ties
    keep the order of the later criteria and finally mailbox order, REVERSE reverses only its
    own criterion (Python's ``reverse=True`` keeps equal elements in their order)."""
    order = list(items)
    for i in range(len(criteria) - 1, -1, -1):
        order.sort(key=lambda it: it[1][i], reverse=criteria[i].reverse)
    return [it[0] for it in order]


def compare(a: tuple[int | str, ...], b: tuple[int | str, ...], criteria: Sequence[SortCriterion]) -> int:
    """-1/0/1: the order of two value tuples under ``criteria`` (without the implicit sequence
    number criterion, which the caller adds)."""
    for i, c in enumerate(criteria):
        x, y = a[i], b[i]
        if x != y:
            r = -1 if x < y else 1  # type: ignore[operator]
            return -r if c.reverse else r
    return 0


class SortOrder:
    """The SORT order of the messages of one mailbox that were sorted under one criteria list,
    kept between commands. A message's sort values never change (its file and envelope don't)
    and ties go by sequence number, which ascends with the uid; so the order of any subset of
    these messages is this order with the others left out (``select``), and a SORT of a mailbox
    sorted before only adds its new messages (``add``).

    ``order``: uids in sort order; ``ids``: uid -> message id (the message the uid named when it
    was added); ``values``: uid -> sort values."""

    __slots__ = ("criteria", "order", "ids", "values")

    #: Up to this many new messages are inserted one by one (binary search); more, and the whole
    #: order is sorted again.
    INSERT_MAX = 64

    def __init__(self, criteria: Sequence[SortCriterion]) -> None:
        self.criteria = tuple(criteria)
        self.order: list[int] = []
        self.ids: dict[int, int] = {}
        self.values: dict[int, tuple[int | str, ...]] = {}

    def __len__(self) -> int:
        return len(self.order)

    def add(self, items: Sequence[tuple[int, int, tuple[int | str, ...]]]) -> None:
        """Put (uid, message id, values) into the order; a uid already there is replaced."""
        stale = [u for u, _, _ in items if u in self.ids]
        if stale:
            self.forget(stale)
        for uid, msg_id, values in items:
            self.ids[uid] = msg_id
            self.values[uid] = values
        if len(items) > self.INSERT_MAX or not self.order:
            every = sorted(self.ids)  # mailbox order: the tie-breaker
            self.order = sort_items([(u, self.values[u]) for u in every], self.criteria)
            return
        crit = self.criteria
        by_uid = self.values

        def cmp(a: int, b: int) -> int:
            return compare(by_uid[a], by_uid[b], crit) or (a > b) - (a < b)

        key = functools.cmp_to_key(cmp)
        for uid, _, _ in sorted(items):
            i = bisect.bisect_left(self.order, key(uid), key=key)
            self.order.insert(i, uid)

    def forget(self, uids: Sequence[int]) -> None:
        """Take messages out of the order (expunged ones, or a uid reused for another message)."""
        gone = set(uids) & self.ids.keys()
        if not gone:
            return
        self.order = [u for u in self.order if u not in gone]
        for u in gone:
            del self.ids[u]
            del self.values[u]

    def select(self, uids: set[int] | dict[int, Any]) -> list[int]:
        """The uids of ``uids`` in sort order (each must be in the order)."""
        return [u for u in self.order if u in uids]
