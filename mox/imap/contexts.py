"""Update contexts (RFC 5267 4.3): a SEARCH or SORT with the UPDATE return option keeps its
search program, and the session tells the client how the result changes while the mailbox is
selected: ``* ESEARCH (TAG "x") [UID] ADDTO (...)`` / ``REMOVEFROM (...)``.

When (RFC 5267 4.3.2-4.3.4; the session calls these as it tells the client about the cause):

- new messages (another session's, or this session's APPEND/COPY/MOVE into the mailbox):
  ADDTO after the EXISTS, so their sequence numbers are valid;
- flag changes (another session's, this session's STORE or a FETCH that sets \\Seen): ADDTO or
  REMOVEFROM after the FETCH that shows them, evaluated on the flags that FETCH showed;
- expunges: REMOVEFROM before the EXPUNGE or VANISHED, while the sequence numbers still hold.

Flag changes are collected and sent together (one ESEARCH per context, as RFC 5267's example
"ADDTO (0 32768:32769)" after two FETCHes), before the next EXPUNGE and at the latest with the
session's output (``Session.take_output``). Positions: SEARCH contexts use position 0 with the
set in mailbox order (RFC 5267 4.3.3: the client keeps mailbox order), and a batch says only
its net effect; SORT contexts give the real position in the sort order, one (position, number)
pair per message, in the order the client must apply them. Message
sequence numbers in the search program mean the messages they named when the command was
received (RFC 5267 4.3: "evaluated at the time the command is received"), as does "$"; a UID
range with "*" follows the mailbox (new messages can match, and the old last one stop matching).

With PARTIAL (RFC 5267 4.4, RFC 9394) the client holds only the results at the range's
positions: the context keeps the whole result but tells only how that window changes, as the
difference between the window the client was last told of and the window now (a message can
enter it because one before it left): REMOVEFROM for those that left it, then ADDTO for those
that entered it (SORT contexts with their positions in the whole result: the removals from the
last, then the additions from the first).

Contexts end with the selection (SELECT, EXAMINE, CLOSE, UNSELECT) or CANCELUPDATE. A session has
at most ``MAX_CONTEXTS``; past that the command still answers, with ``* NO [NOUPDATE "tag"]``
(RFC 5267 4.3.1; Dovecot 2.3 also allows 10).
"""

from __future__ import annotations

import bisect
import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .errors import BadCommand
from .responses import CodeNoUpdate, EsearchUpdate, UntaggedEsearch, UntaggedResult
from .search import Candidate, compile_key
from .sort import cached_sort_values, compare
from .types import Command, FetchAtt, NumRange, NumSet, PartialRange, SearchKey, SortCriterion
from .wire import sequence_set

if TYPE_CHECKING:
    from .session import Session

MAX_CONTEXTS = 10


class UpdateContext:
    """One UPDATE context: its search program and its current result (uids, in the requested
    order: ascending for SEARCH, sort order for SORT)."""

    __slots__ = (
        "tag", "uid", "pred", "criteria", "results", "members", "values", "star", "partial", "window", "fetch_atts"
    )

    def __init__(
        self,
        tag: str,
        uid: bool,
        key: SearchKey,
        criteria: Sequence[SortCriterion] | None,
        results: list[int],
        values: dict[int, tuple[int | str, ...]],
        partial: PartialRange | None = None,
        fetch_atts: tuple[FetchAtt, ...] = (),
    ) -> None:
        self.tag = tag
        self.fetch_atts = fetch_atts  # RFC 5465 7: FETCH these of a new message in the result
        self.uid = uid
        self.pred = compile_key(key)[0]
        self.criteria = tuple(criteria) if criteria is not None else None
        self.results = results
        self.members = set(results)
        self.values = values
        self.star = _has_star(key)
        self.partial = partial
        # With PARTIAL: the window the client was told of, (first position (0-based), results).
        self.window = self.current_window()

    def current_window(self) -> tuple[int, list[int]]:
        if self.partial is None:
            return 0, []
        lo, hi = self.partial.bounds(len(self.results))
        return lo, self.results[lo:hi]

    def sort_key(self, uid: int) -> Any:
        assert self.criteria is not None
        return _SortPosition(self.values[uid], uid, self.criteria)


@functools.total_ordering
class _SortPosition:
    """A result's place in a SORT context: its values under the criteria, then its uid (the
    implicit sequence number criterion: sequence numbers ascend with uids)."""

    __slots__ = ("values", "uid", "criteria")

    def __init__(self, values: tuple[int | str, ...], uid: int, criteria: Sequence[SortCriterion]) -> None:
        self.values = values
        self.uid = uid
        self.criteria = criteria

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _SortPosition) and self.uid == other.uid

    def __lt__(self, other: _SortPosition) -> bool:
        c = compare(self.values, other.values, self.criteria)
        return c < 0 if c else self.uid < other.uid


def _has_star(key: SearchKey) -> bool:
    if key.op == "UID" and key.numset is not None:
        return any(r.first is None or (not r.single and r.last is None) for r in key.numset.ranges)
    return any(_has_star(k) for k in key.children)


def _uid_key(uids: list[int]) -> SearchKey:
    """A search key matching exactly ``uids``."""
    if not uids:
        return SearchKey("NOT", children=(SearchKey("ALL"),))
    ranges: list[NumRange] = []
    for part in sequence_set(uids).split(","):
        a, _, b = part.partition(":")
        ranges.append(NumRange(int(a), int(b), False) if b else NumRange(int(a)))
    return SearchKey("UID", numset=NumSet(tuple(ranges)))


def freeze(s: Session, key: SearchKey) -> SearchKey:
    """``key`` with message sequence numbers and "$" replaced by the uids they name now."""
    sel = s.xselected()
    op = key.op
    if op in ("SEQSET", "UID") and key.numset is not None:
        ns = key.numset
        if ns.search_result:
            known = set(sel.uids)
            return _uid_key(sorted(u for u in s.searchres if u in known))
        if op == "SEQSET":
            n = len(sel.uids)
            return _uid_key([u for i, u in enumerate(sel.uids, 1) if ns.contains(i, n)])
        return key
    if key.children:
        return SearchKey(op, children=tuple(freeze(s, k) for k in key.children))
    return key


def check_update(s: Session, cmd: Command, ret: list[str] | None) -> None:
    """RFC 5267 4.3: a tag still naming an UPDATE context can't start another one (BAD)."""
    if ret is not None and "UPDATE" in ret and cmd.tag in s.contexts:
        raise BadCommand(f"tag {cmd.tag} already names an update context")


def start(
    s: Session,
    cmd: Command,
    key: SearchKey,
    criteria: Sequence[SortCriterion] | None,
    found: list[tuple[int, int, Any]],
    values: dict[int, tuple[int | str, ...]] | None = None,
    *,
    partial: PartialRange | None = None,
    fetch_atts: tuple[FetchAtt, ...] = (),
) -> None:
    """Keep an UPDATE context for a searching command whose result is ``found`` (in the
    requested order); ``values``: the sort values of the results, by uid (SORT)."""
    if len(s.contexts) >= MAX_CONTEXTS:
        s.send(UntaggedResult("NO", CodeNoUpdate(cmd.tag), "too many update contexts, no updates"))
        return
    results = [u for _, u, _ in found]
    s.contexts[cmd.tag] = UpdateContext(
        cmd.tag, cmd.uid, freeze(s, key), criteria, results, dict(values or {}), partial, fetch_atts
    )


def cancel(s: Session, tags: list[str]) -> bool:
    """CANCELUPDATE (RFC 5267 4.3.5): False when a tag names no context (nothing is cancelled)."""
    if any(t not in s.contexts for t in tags):
        return False
    for t in tags:
        del s.contexts[t]
    return True


def _candidate(s: Session, m: Any) -> Candidate:
    sel = s.xselected()
    largest = sel.uids[-1] if sel.uids else 0
    return Candidate(s.acc, m, sel.seq(m.uid), len(sel.uids), largest, set(), str(s.acc.path), sel.recent)


def _add(s: Session, ctx: UpdateContext, m: Any) -> int:
    """Put a message into a context's result; returns its 1-based position (SORT contexts)."""
    uid = m.uid
    ctx.members.add(uid)
    if ctx.criteria is None:
        bisect.insort(ctx.results, uid)
        return 0
    ctx.values[uid] = cached_sort_values(str(s.acc.path), m.id, ctx.criteria, lambda: m.envelope, m.received, m.size)
    pos = bisect.bisect_left(ctx.results, ctx.sort_key(uid), key=ctx.sort_key)
    ctx.results.insert(pos, uid)
    return pos + 1


def _remove(ctx: UpdateContext, uid: int) -> int:
    """Take a message out of a context's result; returns the position it had (SORT contexts)."""
    ctx.members.discard(uid)
    if ctx.criteria is None:
        i = bisect.bisect_left(ctx.results, uid)
        del ctx.results[i]
        return 0
    i = ctx.results.index(uid)
    del ctx.results[i]
    ctx.values.pop(uid, None)
    return i + 1


def _queue(s: Session, ctx: UpdateContext, ops: list[tuple[str, int, int]]) -> None:
    if ops:
        s.context_pending.setdefault(ctx.tag, []).extend(ops)


def flush(s: Session) -> None:
    """Send the collected changes: one ESEARCH per context, in the order they happened. Called
    before an EXPUNGE (sequence numbers must still be valid) and with the session's output."""
    if not s.context_pending:
        return
    pending, s.context_pending = s.context_pending, {}
    sel = s.selected
    if sel is None:
        return
    for tag, ops in pending.items():
        ctx = s.contexts.get(tag)
        if ctx is None:
            continue  # cancelled meanwhile

        def num(uid: int) -> int:
            return uid if ctx.uid else sel.seq(uid)

        updates: list[EsearchUpdate] = []
        if ctx.partial is not None:
            updates = _window_updates(ctx, num)
        elif ctx.criteria is None:
            # Position 0: the net change of the batch, each kind as one set in mailbox order.
            first: dict[int, str] = {}
            last: dict[int, str] = {}
            for op, _, uid in ops:
                first.setdefault(uid, op)
                last[uid] = op
            removed = [num(u) for u in sorted(first) if first[u] == "REMOVEFROM" and last[u] == "REMOVEFROM"]
            added = [num(u) for u in sorted(first) if first[u] == "ADDTO" and last[u] == "ADDTO"]
            if removed:
                updates.append(EsearchUpdate("REMOVEFROM", 0, sequence_set(removed)))
            if added:
                updates.append(EsearchUpdate("ADDTO", 0, sequence_set(added)))
        else:
            updates = [EsearchUpdate(op, pos, str(num(u))) for op, pos, u in ops]
        if updates:
            s.send(UntaggedEsearch(tag=ctx.tag, uid=ctx.uid, updates=tuple(updates)))


def _window_updates(ctx: UpdateContext, num: Any) -> list[EsearchUpdate]:
    """How the window of a PARTIAL context changed since the client was last told."""
    old_lo, old = ctx.window
    ctx.window = new_lo, new = ctx.current_window()
    old_set, new_set = set(old), set(new)
    left = [(i, u) for i, u in enumerate(old) if u not in new_set]
    entered = [(i, u) for i, u in enumerate(new) if u not in old_set]
    if ctx.criteria is None:
        out = []
        if left:
            out.append(EsearchUpdate("REMOVEFROM", 0, sequence_set(sorted(num(u) for _, u in left))))
        if entered:
            out.append(EsearchUpdate("ADDTO", 0, sequence_set(sorted(num(u) for _, u in entered))))
        return out
    removals = [EsearchUpdate("REMOVEFROM", old_lo + i + 1, str(num(u))) for i, u in reversed(left)]
    return removals + [EsearchUpdate("ADDTO", new_lo + i + 1, str(num(u))) for i, u in entered]


def messages_added(s: Session, uids: list[int]) -> None:
    """New messages in the view (after their EXISTS)."""
    if not s.contexts or not uids:
        return
    msgs = [m for u in sorted(uids) if (m := s.message(u)) is not None]
    for ctx in list(s.contexts.values()):
        ops: list[tuple[str, int, int]] = []
        if ctx.star:
            # "UID n:*" and "UID *" move with the largest uid: old results may stop matching.
            for uid in list(ctx.results):
                old = s.message(uid)
                if old is not None and not ctx.pred(_candidate(s, old)):
                    ops.append(("REMOVEFROM", _remove(ctx, uid), uid))
        fetch: list[int] = []
        for m in msgs:
            if m.uid not in ctx.members and ctx.pred(_candidate(s, m)):
                ops.append(("ADDTO", _add(s, ctx, m), m.uid))
                fetch.append(m.uid)
        _queue(s, ctx, ops)
        if ctx.fetch_atts and s.selected is not None:
            # RFC 5465 7: the FETCH of a new message in the result before the ESEARCH ADDTO
            # (and after the EXISTS); not for messages a flag change brings into it.
            for uid in fetch:
                s.notify_fetch(s.selected, uid, ctx.fetch_atts)
    flush(s)


def message_changed(s: Session, m: Any) -> None:
    """A message's flags (and modseq) as the client was just shown them, or as the index has
    them when the client has been shown that state already."""
    if not s.contexts:
        return
    for ctx in list(s.contexts.values()):
        now = ctx.pred(_candidate(s, m))
        was = m.uid in ctx.members
        if now and not was:
            _queue(s, ctx, [("ADDTO", _add(s, ctx, m), m.uid)])
        elif was and not now:
            _queue(s, ctx, [("REMOVEFROM", _remove(ctx, m.uid), m.uid)])


def messages_removed(s: Session, uids: Sequence[int]) -> None:
    """Messages about to leave the view (before their EXPUNGE/VANISHED): everything collected
    goes out now, while the sequence numbers still hold."""
    for ctx in list(s.contexts.values()):
        _queue(s, ctx, [("REMOVEFROM", _remove(ctx, u), u) for u in sorted(uids) if u in ctx.members])
    flush(s)
