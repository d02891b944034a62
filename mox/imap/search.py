"""Evaluating SEARCH keys against messages (RFC 9051 6.4.4; RFC 7162 3.1.5 MODSEQ).

String keys compare case-insensitively as substrings against RFC 2047 decoded header values and
charset-decoded body text. FROM, TO, CC and BCC compare against each address of the field as
parsed (RFC 5322 3.4): ``Display Name <local@domain>`` with the name decoded and comments and
folding whitespace dropped (so a comment inside an address neither hides nor matches it; a
comment after a bare address is its display name, as in ENVELOPE); a group's name counts too.
A needle never spans two addresses. Dovecot matches the same parts. Dates: BEFORE/ON/SINCE use the internal date, SENT* the Date header,
both in their own time zone's calendar date (UTC for the internal date). OLDER/YOUNGER (RFC 5032)
compare the internal date's age in whole seconds with the interval, at the moment of the search:
OLDER n matches an age of n seconds or more, YOUNGER n an age of at most n (as mox). SAVED*
(RFC 8514) use the save date like BEFORE/ON/SINCE the internal date.
"""

from __future__ import annotations

import datetime
import threading
import time
from typing import TYPE_CHECKING, Any

from mox.message import decode_header_value, parse_date, sections
from mox.message.header import HeaderField, parse_address_list, split_header

from .types import SearchKey, canonical_flag

if TYPE_CHECKING:
    from mox.store import Account
    from mox.store.schema import Message


class Candidate:
    """One message under evaluation; message data and parsed headers load lazily. Header keys
    read only the header section of the file (the Part has its offsets); BODY/TEXT the whole
    file. ``msg`` and ``seq`` may be reassigned to reuse one instance for keys that need neither."""

    __slots__ = ("acc", "msg", "seq", "nseq", "largest_uid", "saved", "recent", "cache_ns", "_data", "_part", "_fields",
                 "_headers", "_triples", "_by_name", "_addresses")

    def __init__(self, acc: Account, msg: Message, seq: int, nseq: int, largest_uid: int, saved: set[int],
                 cache_ns: str | None = None, recent: set[int] | frozenset[int] = frozenset()) -> None:
        self.acc = acc
        self.recent = recent  # uids \Recent in the session (RFC 3501 2.3.2)
        self.cache_ns = cache_ns  # with a namespace (the account's path), header fields are cached
        self.msg = msg
        self.seq = seq
        self.nseq = nseq
        self.largest_uid = largest_uid
        self.saved = saved
        self._data: bytes | None = None
        self._part: Any = _UNSET
        self._fields: list[HeaderField] | None = None
        self._headers: list[tuple[str, str]] | None = None
        self._triples: list[tuple[str, str, str]] | None = None
        self._by_name: dict[str, list[str]] = {}
        self._addresses: dict[str, list[str]] = {}

    def data(self) -> bytes:
        if self._data is None:
            self._data = self.acc.read_message(self.msg)
        return self._data

    def part(self) -> Any:
        if self._part is _UNSET:
            self._part = self.msg.part  # decoded from msgpack on each access: once per message
        return self._part

    def fields(self) -> list[HeaderField]:
        if self._fields is None:
            part = self.part()
            if part is None:
                self._fields = []
            else:
                # The message's own header, also when its body is a message/rfc822 (RFC 9051
                # 6.4.4: header keys search the message's header, not an embedded one).
                data = self._data if self._data is not None else header_prefix(self.acc, self.msg, part.body_start)
                self._fields = split_header(data, part.header_start, part.body_start)[0]
        return self._fields

    def triples(self) -> list[tuple[str, str, str]]:
        """(name as written, lower-case name, unfolded value) of each header field; cached across
        commands when the candidate has a ``cache_ns`` (message files never change)."""
        if self._triples is None:
            self._load_triples()
        return self._triples  # type: ignore[return-value]

    def _load_triples(self) -> None:
        m = self.msg
        key = (self.cache_ns, m.id, m.size, m.received) if self.cache_ns is not None else None
        hit = _header_cache.get(key) if key is not None else None
        if hit is not None:
            _, self._triples, self._by_name = hit
            return
        t = [(f.name, f.name.lower(), f.value()) for f in self.fields()]
        by_name: dict[str, list[str]] = {}
        for _, lk, v in t:
            by_name.setdefault(lk, []).append(v)
        self._triples, self._by_name = t, by_name
        if key is not None:
            _header_cache_put(key, t, by_name)

    def headers(self) -> list[tuple[str, str]]:
        if self._headers is None:
            self._headers = [(k, v) for k, _, v in self.triples()]
        return self._headers

    def raw_values(self, name: str) -> list[str]:
        """The unfolded, not decoded, values of the fields named ``name`` (any case), in order."""
        if self._triples is None:
            self._load_triples()
        return list(self._by_name.get(name.lower(), ()))

    def header_values(self, name: str) -> list[str]:
        """The RFC 2047 decoded values of the fields named ``name`` (any case), in order."""
        if self._triples is None:
            self._load_triples()
        return [decode_header_value(v) for v in self._by_name.get(name.lower(), ())]

    def address_values(self, name: str) -> list[str]:
        """FROM/TO/CC/BCC: one string per address of the fields named ``name`` (see the module
        docstring); a field that holds no parsable address is compared as its decoded text."""
        key = name.lower()
        got = self._addresses.get(key)
        if got is None:
            if self._triples is None:
                self._load_triples()
            got = []
            for raw in self._by_name.get(key, ()):
                addrs = [a for a in parse_address_list(raw) if a.mailbox is not None]
                if not addrs:
                    got.append(decode_header_value(raw))
                for a in addrs:
                    if a.host is None:  # group start: the group's display name
                        got.append(decode_header_value(a.mailbox or ""))
                        continue
                    spec = f"{a.mailbox}@{a.host}" if a.host else a.mailbox or ""
                    got.append(f"{decode_header_value(a.name)} <{spec}>" if a.name else spec)
            self._addresses[key] = got
        return got


# Header fields of recently searched messages, bounded by an estimate of their size: header
# keys on a mailbox searched again need neither the file nor the MIME part.
HEADER_CACHE_MAX = 32 << 20
#: (account path, message id, size, received): message files never change.
_CacheKey = tuple[str, int, int, float]
_header_cache: dict[_CacheKey, tuple[int, list[tuple[str, str, str]], dict[str, list[str]]]] = {}  # (size, fields, by name)
_header_cache_size = 0


# Searches evaluate in worker threads (cmd_search.evaluate): a put (and its evictions) holds
# the lock; a get is one dict lookup.
_header_cache_lock = threading.Lock()


def _header_cache_put(key: _CacheKey, t: list[tuple[str, str, str]], by_name: dict[str, list[str]]) -> None:
    global _header_cache_size
    size = 300 + sum(150 + 2 * (len(a) + len(c)) for a, _, c in t)
    with _header_cache_lock:
        while _header_cache and _header_cache_size + size > HEADER_CACHE_MAX:
            old = next(iter(_header_cache))
            _header_cache_size -= _header_cache.pop(old)[0]
        if size <= HEADER_CACHE_MAX and key not in _header_cache:
            _header_cache[key] = (size, t, by_name)
            _header_cache_size += size


_UNSET = object()


def header_prefix(acc: Account, msg: Message, n: int) -> bytes:
    """The first ``n`` bytes of the message file (its header section); MessageGone like a full
    read when the file is gone."""
    try:
        with open(acc.message_path(msg), "rb") as f:
            return f.read(n)
    except FileNotFoundError:
        return acc.read_message(msg)[:n]


def _date(d: tuple[int, int, int] | None) -> datetime.date:
    assert d is not None, "the parser gives every date key a date"
    return datetime.date(*d)


def _internal_date(c: Candidate) -> datetime.date:
    return datetime.datetime.fromtimestamp(c.msg.received, datetime.timezone.utc).date()


def _save_date(c: Candidate) -> datetime.date:
    """RFC 8514 4: the save date's calendar date (UTC, as the internal date); a message without
    one (stored before we kept it) is searched by its internal date (RFC 8514 4, as mox)."""
    return datetime.datetime.fromtimestamp(c.msg.saved or c.msg.received, datetime.timezone.utc).date()


def _sent_date(c: Candidate) -> datetime.date | None:
    vals = c.headers()
    for k, v in vals:
        if k.lower() == "date":
            dt = parse_date(v)
            return dt.date() if dt is not None else None
    return None


def _contains(hay: str, needle: str) -> bool:
    return needle.casefold() in hay.casefold()


def matches(c: Candidate, key: SearchKey) -> bool:
    op = key.op
    m = c.msg
    if op == "AND":
        return all(matches(c, k) for k in key.children)
    if op == "OR":
        return matches(c, key.children[0]) or matches(c, key.children[1])
    if op == "NOT":
        return not matches(c, key.children[0])
    if op == "ALL":
        return True
    # RFC 3501 6.4.4: RECENT is \Recent; NEW is RECENT UNSEEN; OLD is NOT RECENT.
    if op == "RECENT":
        return m.uid in c.recent
    if op == "NEW":
        return m.uid in c.recent and "\\Seen" not in m.flags
    if op == "OLD":
        return m.uid not in c.recent
    flagops = {
        "ANSWERED": ("\\Answered", True), "UNANSWERED": ("\\Answered", False),
        "DELETED": ("\\Deleted", True), "UNDELETED": ("\\Deleted", False),
        "DRAFT": ("\\Draft", True), "UNDRAFT": ("\\Draft", False),
        "FLAGGED": ("\\Flagged", True), "UNFLAGGED": ("\\Flagged", False),
        "SEEN": ("\\Seen", True), "UNSEEN": ("\\Seen", False),
    }
    if op in flagops:
        flag, want = flagops[op]
        return (flag in m.flags) == want
    if op == "KEYWORD":
        return canonical_flag(key.text or "") in m.flags
    if op == "UNKEYWORD":
        return canonical_flag(key.text or "") not in m.flags
    if op == "SEQSET":
        ns = key.numset
        assert ns is not None
        if ns.search_result:
            return m.uid in c.saved
        return c.nseq > 0 and ns.contains(c.seq, c.nseq)
    if op == "UID":
        ns = key.numset
        assert ns is not None
        if ns.search_result:
            return m.uid in c.saved
        return ns.contains(m.uid, c.largest_uid)
    if op == "LARGER":
        return m.size > (key.number or 0)
    if op == "SMALLER":
        return m.size < (key.number or 0)
    if op == "MODSEQ":
        return max(m.modseq, 1) >= (key.number or 0)
    if op == "SAVEDATESUPPORTED":
        return bool(m.saved)
    if op in ("SAVEDBEFORE", "SAVEDON", "SAVEDSINCE"):
        saved, on = _save_date(c), _date(key.date)
        return saved < on if op == "SAVEDBEFORE" else saved == on if op == "SAVEDON" else saved >= on
    if op in ("OLDER", "YOUNGER"):
        age = int(time.time() - m.received)
        return age >= (key.number or 0) if op == "OLDER" else age <= (key.number or 0)
    if op in ("BEFORE", "ON", "SINCE"):
        d, day = _internal_date(c), _date(key.date)
        return d < day if op == "BEFORE" else d == day if op == "ON" else d >= day
    if op in ("SENTBEFORE", "SENTON", "SENTSINCE"):
        sd = _sent_date(c)
        if sd is None:
            return False
        day = _date(key.date)
        return sd < day if op == "SENTBEFORE" else sd == day if op == "SENTON" else sd >= day
    if op in ("FROM", "TO", "CC", "BCC"):
        return any(_contains(v, key.text or "") for v in c.address_values(op))
    if op == "SUBJECT":
        return any(_contains(v, key.text or "") for v in c.header_values(op))
    if op == "HEADER":
        vals = c.header_values(key.field or "")
        if not key.text:
            return bool(vals)
        return any(_contains(v, key.text) for v in vals)
    if op == "BODY":
        part = c.part()
        if part is None:
            return False
        return _contains(sections.text_for_search(c.data(), part), key.text or "")
    if op == "TEXT":
        part = c.part()
        if part is None:
            return False
        if any(_contains(f"{k}: {decode_header_value(v)}", key.text or "") for k, v in c.headers()):
            return True
        return _contains(sections.text_for_search(c.data(), part), key.text or "")
    raise ValueError(f"unknown search key {op}")


def uses_modseq(key: SearchKey) -> bool:
    return key.op == "MODSEQ" or any(uses_modseq(k) for k in key.children)


# ------------------------------------------------------------------ compiled evaluation
#
# ``compile_key`` turns a key into a predicate over a Candidate once per command, with the
# constant parts (flag names, case-folded needles, dates) worked out up front, and the operands
# of AND/OR ordered cheapest first: index-only keys (flags, sequence numbers, UIDs, sizes,
# internal date, MODSEQ) never touch the message file, header keys read only the header section,
# BODY/TEXT the whole file. Keys have no side effects, so the order changes no result; tests
# compare it with ``matches`` on varied messages.

FLAG_OPS = {
    "ANSWERED": ("\\Answered", True), "UNANSWERED": ("\\Answered", False),
    "DELETED": ("\\Deleted", True), "UNDELETED": ("\\Deleted", False),
    "DRAFT": ("\\Draft", True), "UNDRAFT": ("\\Draft", False),
    "FLAGGED": ("\\Flagged", True), "UNFLAGGED": ("\\Flagged", False),
    "SEEN": ("\\Seen", True), "UNSEEN": ("\\Seen", False),
}

INDEX, HEADER, BODY = 0, 1, 2  # what a key needs, cheapest first


def compile_key(key: SearchKey) -> tuple[Any, int]:
    """(predicate(Candidate) -> bool, cost): cost INDEX means the predicate reads no file."""
    op = key.op
    if op in ("AND", "OR"):
        subs = sorted((compile_key(k) for k in key.children), key=lambda fc: fc[1])
        cost = max((fc[1] for fc in subs), default=INDEX)
        fns = [fc[0] for fc in subs]
        if op == "OR":
            a, b = fns
            return (lambda c: a(c) or b(c)), cost
        if not fns:
            return (lambda c: True), cost
        if len(fns) == 1:
            return fns[0], cost
        if len(fns) == 2:
            a, b = fns
            return (lambda c: a(c) and b(c)), cost
        return (lambda c: all(f(c) for f in fns)), cost
    if op == "NOT":
        f, cost = compile_key(key.children[0])
        return (lambda c: not f(c)), cost
    if op == "ALL":
        return (lambda c: True), INDEX
    # RFC 3501 6.4.4: RECENT is \Recent; NEW is RECENT UNSEEN; OLD is NOT RECENT.
    if op == "RECENT":
        return (lambda c: c.msg.uid in c.recent), INDEX
    if op == "NEW":
        return (lambda c: c.msg.uid in c.recent and "\\Seen" not in c.msg.flags), INDEX
    if op == "OLD":
        return (lambda c: c.msg.uid not in c.recent), INDEX
    if op in FLAG_OPS:
        flag, want = FLAG_OPS[op]
        if want:
            return (lambda c: flag in c.msg.flags), INDEX
        return (lambda c: flag not in c.msg.flags), INDEX
    if op in ("KEYWORD", "UNKEYWORD"):
        kw = canonical_flag(key.text or "")
        if op == "KEYWORD":
            return (lambda c: kw in c.msg.flags), INDEX
        return (lambda c: kw not in c.msg.flags), INDEX
    if op in ("SEQSET", "UID"):
        ns = key.numset
        assert ns is not None
        if ns.search_result:
            return (lambda c: c.msg.uid in c.saved), INDEX
        if op == "SEQSET":
            return (lambda c: c.nseq > 0 and ns.contains(c.seq, c.nseq)), INDEX
        return (lambda c: ns.contains(c.msg.uid, c.largest_uid)), INDEX
    if op in ("LARGER", "SMALLER", "MODSEQ"):
        n = key.number or 0
        if op == "LARGER":
            return (lambda c: c.msg.size > n), INDEX
        if op == "SMALLER":
            return (lambda c: c.msg.size < n), INDEX
        return (lambda c: max(c.msg.modseq, 1) >= n), INDEX
    if op == "SAVEDATESUPPORTED":
        return (lambda c: bool(c.msg.saved)), INDEX
    if op in ("SAVEDBEFORE", "SAVEDON", "SAVEDSINCE"):
        on = _date(key.date)
        if op == "SAVEDBEFORE":
            return (lambda c: _save_date(c) < on), INDEX
        if op == "SAVEDON":
            return (lambda c: _save_date(c) == on), INDEX
        return (lambda c: _save_date(c) >= on), INDEX
    if op in ("OLDER", "YOUNGER"):
        # RFC 5032 1: the time of interest is computed when the search is performed. An age of n
        # seconds or more is received at or before now - n.
        n = key.number or 0
        now = time.time()
        if op == "OLDER":
            return (lambda c: int(now - c.msg.received) >= n), INDEX
        return (lambda c: int(now - c.msg.received) <= n), INDEX
    if op in ("BEFORE", "ON", "SINCE"):
        day = _date(key.date)
        if op == "BEFORE":
            return (lambda c: _internal_date(c) < day), INDEX
        if op == "ON":
            return (lambda c: _internal_date(c) == day), INDEX
        return (lambda c: _internal_date(c) >= day), INDEX
    if op in ("SENTBEFORE", "SENTON", "SENTSINCE"):
        day = _date(key.date)

        def sent(c: Candidate) -> bool:
            sd = _sent_date(c)
            if sd is None:
                return False
            return sd < day if op == "SENTBEFORE" else sd == day if op == "SENTON" else sd >= day

        return sent, HEADER
    if op in ("FROM", "TO", "CC", "BCC"):
        needle = (key.text or "").casefold()
        return (lambda c: any(needle in v.casefold() for v in c.address_values(op))), HEADER
    if op in ("SUBJECT", "HEADER"):
        name = op if op != "HEADER" else (key.field or "")
        if op == "HEADER" and not key.text:
            return (lambda c: bool(c.header_values(name))), HEADER
        needle = (key.text or "").casefold()
        return (lambda c: any(needle in v.casefold() for v in c.header_values(name))), HEADER
    if op in ("BODY", "TEXT"):
        text = key.text or ""
        needle = text.casefold()

        def body(c: Candidate) -> bool:
            part = c.part()
            if part is None:
                return False
            if op == "TEXT" and any(_contains(f"{k}: {decode_header_value(v)}", text) for k, v in c.headers()):
                return True
            return needle in sections.text_for_search(c.data(), part).casefold()

        return body, BODY
    raise ValueError(f"unknown search key {op}")
