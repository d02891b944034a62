"""Evaluating SEARCH keys against messages (RFC 9051 6.4.4; RFC 7162 3.1.5 MODSEQ).

String keys compare case-insensitively as substrings against RFC 2047 decoded header values and
charset-decoded body text. Dates: BEFORE/ON/SINCE use the internal date, SENT* the Date header,
both in their own time zone's calendar date (UTC for the internal date).
"""

from __future__ import annotations

import datetime
from typing import Any

from mox.message import decode_header_value, parse_date, sections

from .types import SearchKey, canonical_flag


class Candidate:
    """One message under evaluation; message data and parsed headers load lazily."""

    def __init__(self, acc: Any, msg: Any, seq: int, nseq: int, largest_uid: int, saved: set[int]) -> None:
        self.acc = acc
        self.msg = msg
        self.seq = seq
        self.nseq = nseq
        self.largest_uid = largest_uid
        self.saved = saved
        self._data: bytes | None = None
        self._headers: list[tuple[str, str]] | None = None

    def data(self) -> bytes:
        if self._data is None:
            self._data = self.acc.read_message(self.msg)
        return self._data

    def headers(self) -> list[tuple[str, str]]:
        if self._headers is None:
            part = self.msg.part
            self._headers = sections.headers(self.data(), part) if part is not None else []
        return self._headers

    def header_values(self, name: str) -> list[str]:
        ln = name.lower()
        return [decode_header_value(v) for k, v in self.headers() if k.lower() == ln]


def _date(d: tuple[int, int, int]) -> datetime.date:
    return datetime.date(*d)


def _internal_date(c: Candidate) -> datetime.date:
    return datetime.datetime.fromtimestamp(c.msg.received, datetime.timezone.utc).date()


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
    if op == "ALL" or op == "OLD":
        return True
    if op in ("NEW", "RECENT"):
        return False  # \Recent is never set (reference 3.4)
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
    if op in ("BEFORE", "ON", "SINCE"):
        d, want = _internal_date(c), _date(key.date)  # type: ignore[arg-type]
        return d < want if op == "BEFORE" else d == want if op == "ON" else d >= want
    if op in ("SENTBEFORE", "SENTON", "SENTSINCE"):
        sd = _sent_date(c)
        if sd is None:
            return False
        want = _date(key.date)  # type: ignore[arg-type]
        return sd < want if op == "SENTBEFORE" else sd == want if op == "SENTON" else sd >= want
    if op in ("FROM", "TO", "CC", "BCC", "SUBJECT"):
        return any(_contains(v, key.text or "") for v in c.header_values(op))
    if op == "HEADER":
        vals = c.header_values(key.field or "")
        if not key.text:
            return bool(vals)
        return any(_contains(v, key.text) for v in vals)
    if op == "BODY":
        part = m.part
        if part is None:
            return False
        return _contains(sections.text_for_search(c.data(), part), key.text or "")
    if op == "TEXT":
        part = m.part
        if part is None:
            return False
        if any(_contains(f"{k}: {decode_header_value(v)}", key.text or "") for k, v in c.headers()):
            return True
        return _contains(sections.text_for_search(c.data(), part), key.text or "")
    raise ValueError(f"unknown search key {op}")


def uses_modseq(key: SearchKey) -> bool:
    return key.op == "MODSEQ" or any(uses_modseq(k) for k in key.children)
