"""Selecting queued messages as mox does (``queue/queue.go`` Filter and Sort), for the
control-channel commands in :mod:`mox.queue.ctl` (``mox queue list|hold|unhold|schedule|fail|
drop``, ``mox queue retired list|print``) and the admin page.

Filters and sorts travel as one JSON line each, with mox's field names::

    {"Max": 0, "IDs": [1, 2], "Account": "mox", "From": "@example.org", "To": "x@",
     "Hold": true, "Submitted": "<1h", "NextAttempt": ">now", "Transport": ""}
    {"Field": "NextAttempt"|"Queued", "Asc": false}

``Submitted`` / ``NextAttempt``: "<" (before) or ">" (after) and a Go duration relative to now
("<-1h": more than an hour ago) or "now". ``From`` / ``To`` match a substring of the address
("@example.org" for a domain). Fields left out (or empty) do not filter; an empty filter
selects every queued message, as in mox.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import msgspec

from mox.ctl import CtlError
from mox.queue.records import MsgRetired
from mox.queue.store import Entry

if TYPE_CHECKING:
    from mox.queue.queue import Queue


class Filter(msgspec.Struct, kw_only=True, rename="pascal", forbid_unknown_fields=True):
    max: int = 0
    ids: list[int] | None = msgspec.field(default=None, name="IDs")
    account: str = ""
    from_: str = msgspec.field(default="", name="From")
    to: str = ""
    hold: bool | None = None
    submitted: str = ""
    next_attempt: str = ""
    transport: str | None = None


class Sort(msgspec.Struct, kw_only=True, rename="pascal"):
    field: str = ""  # "NextAttempt" (default) or "Queued"
    asc: bool = False


def parse_duration(s: str) -> float:
    """A Go duration ("1h30m", "-5s", "0", "1.5h") in seconds; ValueError when invalid."""
    import re

    orig = s
    sign = -1.0 if s.startswith("-") else 1.0
    s = s.lstrip("+-")
    if s == "0":
        return 0.0
    units = {"ns": 1e-9, "us": 1e-6, "\u00b5s": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
    parts = re.findall(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|\u00b5s|ms|s|m|h)", s)
    if not s or "".join(n + u for n, u in parts) != s:
        raise ValueError(f'time: invalid duration "{orig}"')
    return sign * sum(float(n) * units[u] for n, u in parts)


def go_duration(seconds: float) -> str:
    """A duration as Go prints one rounded to seconds: "1h2m3s", "5m0s", "-3s", "0s"."""
    n = int(round(seconds))
    if n == 0:
        return "0s"
    sign = "-" if n < 0 else ""
    n = abs(n)
    h, rest = divmod(n, 3600)
    m, sec = divmod(rest, 60)
    if h:
        return f"{sign}{h}h{m}m{sec}s"
    if m:
        return f"{sign}{m}m{sec}s"
    return f"{sign}{sec}s"


def _time_filter(what: str, s: str, now: float) -> Callable[[float], bool]:
    """A predicate for "<dur"/">dur"/"<now" relative to now (mox applyTime); an empty filter
    matches everything. CtlError with mox's message when invalid."""
    if not s:
        return lambda v: True
    if not s.startswith(("<", ">")):
        raise CtlError(f'applying filter for {what}: must start with "<" for before or ">" for after a duration')
    rest = s[1:].strip()
    try:
        t = now if rest == "now" else now + parse_duration(rest)
    except ValueError as e:
        raise CtlError(f'applying filter for {what}: parsing duration "{s}": {e}') from None
    return (lambda v: v < t) if s[0] == "<" else (lambda v: v > t)


def select(q: Queue, f: Filter, s: Sort | None = None) -> list[Entry]:
    """The queued entries matching ``f``, sorted as ``s`` (mox: next attempt, descending), at
    most ``f.max`` when set."""
    now = q.store_now()
    sub = _time_filter("submitted", f.submitted, now)
    nxt = _time_filter("next attempt", f.next_attempt, now)
    ids = set(f.ids) if f.ids else None

    def ok(e: Entry) -> bool:
        if ids is not None and e.id not in ids:
            return False
        if f.hold is not None and e.hold != f.hold:
            return False
        if not sub(e.queued) or not nxt(e.next_attempt):
            return False
        if f.account and e.account != f.account:
            return False
        if f.transport is not None and e.transport != f.transport:
            return False
        if f.from_ or f.to:
            # mox: either given address part matches.
            return bool(f.from_ and f.from_ in _addr(e.mail_from)) or bool(f.to and f.to in _addr(e.recipient))
        return True

    s = s or Sort()
    if s.field not in ("", "NextAttempt", "Queued"):
        raise CtlError(f'unknown sort order field "{s.field}"')
    key = (lambda e: (e.queued, e.id)) if s.field == "Queued" else (lambda e: (e.next_attempt, e.id))
    out = sorted((e for e in q.list() if ok(e)), key=key, reverse=not s.asc)
    return out[: f.max] if f.max > 0 else out


def _addr(a: str) -> str:
    """An address as mox compares it (XString(true)): the domain in lower case."""
    lp, at, dom = a.rpartition("@")
    return f"{lp}@{dom.lower()}" if at else a


def _go_quote(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)


def _rfc3339(t: float) -> str:
    return datetime.datetime.fromtimestamp(int(t), datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_entry(e: Entry, now: float) -> str:
    """One line of ``mox queue list`` (ctl.go queuelist)."""
    last = go_duration(now - e.last_attempt) if e.last_attempt is not None else ""
    return (
        f"{e.id:5d} {_rfc3339(e.queued)} from:{e.mail_from} to:{e.recipient} "
        f"next {go_duration(e.next_attempt - now)} last {last} error {_go_quote(e.last_error)}"
    )


# Retired messages (mox queue.go RetiredFilter, RetiredSort; ctl.go queueretiredlist/print).


class RetiredFilter(msgspec.Struct, kw_only=True, rename="pascal", forbid_unknown_fields=True):
    max: int = 0
    ids: list[int] | None = msgspec.field(default=None, name="IDs")
    account: str = ""
    from_: str = msgspec.field(default="", name="From")
    to: str = ""
    submitted: str = ""
    last_activity: str = ""
    transport: str | None = None
    success: bool | None = None


class RetiredSort(msgspec.Struct, kw_only=True, rename="pascal"):
    field: str = ""  # "LastActivity" (default) or "Queued"
    asc: bool = False


def select_retired(q: Queue, f: RetiredFilter, s: RetiredSort | None = None) -> list[MsgRetired]:
    """The retired messages matching ``f``, sorted as ``s`` (mox: last activity, descending),
    at most ``f.max`` when set."""
    now = q.store_now()
    sub = _time_filter("submitted", f.submitted, now)
    act = _time_filter("last activity", f.last_activity, now)
    ids = set(f.ids) if f.ids else None

    def ok(m: MsgRetired) -> bool:
        if ids is not None and m.id not in ids:
            return False
        if not sub(m.queued) or not act(m.last_activity):
            return False
        if f.account and m.sender_account != f.account:
            return False
        if f.transport is not None and m.transport != f.transport:
            return False
        if f.success is not None and m.success != f.success:
            return False
        if f.from_ or f.to:
            return bool(f.from_ and f.from_ in _addr(m.mail_from)) or bool(f.to and f.to in _addr(m.recipient))
        return True

    s = s or RetiredSort()
    if s.field not in ("", "LastActivity", "Queued"):
        raise CtlError(f'unknown sort order field "{s.field}"')
    key = (lambda m: (m.queued, m.id)) if s.field == "Queued" else (lambda m: (m.last_activity, m.id))
    out = sorted((m for m in q.store.retired.values() if ok(m)), key=key, reverse=not s.asc)
    return out[: f.max] if f.max > 0 else out


def format_retired(m: MsgRetired, now: float) -> str:
    """One line of ``mox queue retired list`` (ctl.go queueretiredlist)."""
    last = go_duration(now - m.last_attempt) if m.last_attempt is not None else ""
    error = m.results[-1].error if m.results else ""
    result = "success" if m.success else "failure"
    return (
        f"{m.id:5d} {_rfc3339(m.queued)} {result} from:{m.mail_from} to:{m.recipient} "
        f"last {last} error {_go_quote(error)}"
    )


def _ip_domain(domain: str) -> dict[str, Any]:
    """mox's dns.IPDomain as JSON: a domain with its ASCII (A-label) and, when it differs, its
    Unicode form; an address literal as IP."""
    if domain.startswith("[") and domain.endswith("]"):
        return {"IP": domain[1:-1].removeprefix("IPv6:"), "Domain": {"ASCII": "", "Unicode": ""}}
    d = domain.lower()
    try:
        ascii_ = d.encode("idna").decode("ascii") if not d.isascii() else d
    except UnicodeError:
        ascii_ = d
    return {"IP": "", "Domain": {"ASCII": ascii_, "Unicode": "" if ascii_ == d else d}}


def retired_json(m: MsgRetired) -> dict[str, Any]:
    """A retired message as ``mox queue retired print`` shows it: mox's queue.MsgRetired fields
    (times in RFC 3339, durations in nanoseconds). Fields about what localserve never does
    (dialed IPs, DMARC/TLS reports, batches) have their empty values."""
    from mox.queue.records import to_json

    d = to_json(m)
    slp, _, sdom = m.mail_from.rpartition("@")
    rlp, _, rdom = m.recipient.rpartition("@")
    return {
        "ID": m.id,
        "BaseID": 0,
        "Queued": d["Queued"],
        "SenderAccount": m.sender_account,
        "SenderLocalpart": slp,
        "SenderDomainStr": sdom,
        "FromID": m.from_id,
        "RecipientLocalpart": rlp,
        "RecipientDomain": _ip_domain(rdom),
        "RecipientDomainStr": rdom,
        "Attempts": m.attempts,
        "MaxAttempts": 0,
        "DialedIPs": None,
        "LastAttempt": d.get("LastAttempt"),
        "Results": d["Results"],
        "SMTPUTF8": m.smtputf8,
        "IsDMARCReport": False,
        "IsTLSReport": False,
        "Size": m.size,
        "MessageID": m.message_id,
        "Subject": m.subject,
        "Transport": m.transport,
        "RequireTLS": m.require_tls,
        "FutureReleaseRequest": m.future_release_request,
        "Extra": dict(m.extra),
        "LastActivity": d["LastActivity"],
        "RecipientAddress": m.recipient_address,
        "Success": m.success,
        "KeepUntil": d["KeepUntil"],
    }
