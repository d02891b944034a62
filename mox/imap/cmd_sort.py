"""SORT, UID SORT, THREAD and UID THREAD (selected state): RFC 5256; RFC 5957 (DISPLAYFROM,
DISPLAYTO); RFC 5267 (extended SORT: RETURN options answered with ESEARCH, UPDATE contexts);
RFC 9394 (PARTIAL); RFC 7162 3.1.9 (MODSEQ in SORT responses).

Both search first (cmd_search.search), then order the matches: sort.py and thread.py hold the
algorithms. A message's sort values and thread fields come from its envelope in the index; only
THREAD's References field needs the header section of the message file: those are read in a
worker thread (the first THREAD of a big mailbox reads thousands of files; the event loop keeps
serving the other connections meanwhile), in chunks with INPROGRESS between them. Both are
cached per message: message files never change. Results are kept too: a mailbox's SORT order per
criteria list (``sort.SortOrder``: a later SORT only places the new messages, and takes the
matches out of it), and the last THREAD answer per mailbox and algorithm, reused while the
searched messages and their sequence numbers are the same.
"""

from __future__ import annotations

from typing import Any

import trio

from mox.message.header import parse_msg_ids
from mox.message.subject import base_subject

from . import contexts, thread
from .cmd_search import check_charset, esearch, search
from .responses import ThreadNode, UntaggedSort, UntaggedThread
from .search import Candidate, uses_modseq
from .session import Progress, Session
from .sort import SortOrder, cached_sort_values, sent_date, unicode_casemap
from .types import Command, SortCriterion


async def cmd_sort(s: Session, cmd: Command) -> str:
    args = cmd.args
    check_charset(args["charset"])
    key = args["key"]
    modseq = uses_modseq(key)
    if modseq:
        s.enable_condstore()
    ret = args["return_opts"]
    contexts.check_update(s, cmd, ret)
    criteria = args["criteria"]
    found = await search(s, key, cmd.tag)
    order, kept = _sorted(s, criteria, found)
    if ret is None:
        nums = tuple(u for _, u, _ in order) if cmd.uid else tuple(q for q, _, _ in order)
        highest = max(max(m.modseq, 1) for _, _, m in order) if modseq and nums else None
        s.send(UntaggedSort(nums, highest))
        return "SORT done"
    # RFC 5267 3: the extended SORT answers with ESEARCH, results in sort order.
    esearch(s, cmd, ret, args["partial"], order, modseq)
    if "UPDATE" in ret:
        contexts.start(s, cmd, key, criteria, order, {u: kept.values[u] for _, u, _ in order}, partial=args["partial"], fetch_atts=args.get("update_atts", ()))
    return "SORT done"


# SORT orders kept between commands, by (account namespace, mailbox id, criteria), the least
# recently used dropped first.
ORDERS_MAX = 16
_orders: dict[tuple[str, int, tuple[SortCriterion, ...]], SortOrder] = {}


def _sorted(s: Session, criteria: tuple[SortCriterion, ...], found: list[tuple[int, int, Any]]) -> tuple[list[tuple[int, int, Any]], SortOrder]:
    """``found`` (search results in mailbox order) in SORT order, and the kept order it came from."""
    sel = s.xselected()
    ns = str(s.acc.path)
    k = (ns, sel.mailbox_id, tuple(criteria))
    kept = _orders.pop(k, None)
    if kept is None:
        kept = SortOrder(criteria)
        while len(_orders) >= ORDERS_MAX:
            del _orders[next(iter(_orders))]
    _orders[k] = kept  # the most recently used last
    ids = kept.ids
    new = [
        (u, m.id, cached_sort_values(ns, m.id, criteria, _envelope_of(m), m.received, m.size))
        for _, u, m in found
        if ids.get(u) != m.id
    ]
    if new:
        kept.add(new)
    if len(kept) > 2 * len(sel.uids) + 1000:
        # Mostly expunged messages: keep what this session still shows (others re-add theirs).
        view = set(sel.uids)
        kept.forget([u for u in kept.ids if u not in view])
    by_uid = {f[1]: f for f in found}
    return [by_uid[u] for u in kept.select(by_uid)], kept


def _envelope_of(m: Any) -> Any:
    return lambda: m.envelope


async def cmd_thread(s: Session, cmd: Command) -> str:
    args = cmd.args
    check_charset(args["charset"])
    key = args["key"]
    if uses_modseq(key):
        s.enable_condstore()  # RFC 7162 3.1.9: THREAD responses stay as they are
    found = await search(s, key, cmd.tag)
    sel = s.xselected()
    ns = str(s.acc.path)
    algorithm = args["algorithm"]
    # The same messages at the same sequence numbers thread the same way: the answer is kept.
    ident = tuple((q, u, m.id) for q, u, m in found)
    k = (ns, sel.mailbox_id, algorithm)
    kept = _threads.pop(k, None)
    if kept is None or kept.ident != ident:
        fields = await _thread_fields(s, ns, [m for _, _, m in found], cmd.tag)
        inputs = [thread.ThreadInput(seq, uid, *fields[m.id]) for seq, uid, m in found]
        kept = _Threads(ident, thread.thread(algorithm, inputs))
        while len(_threads) >= THREADS_MAX:
            del _threads[next(iter(_threads))]
    _threads[k] = kept  # the most recently used last
    nodes = kept.responses.get(cmd.uid)
    if nodes is None:
        nodes = kept.responses[cmd.uid] = _response_nodes(kept.roots, cmd.uid)
    s.send(UntaggedThread(nodes))
    return "THREAD done"


class _Threads:
    """A kept THREAD answer: the searched (sequence number, uid, message id)s, the threads, and
    the response values made of them (by UID THREAD or not)."""

    __slots__ = ("ident", "roots", "responses")

    def __init__(self, ident: tuple[tuple[int, int, int], ...], roots: list[thread.Node]) -> None:
        self.ident = ident
        self.roots = roots
        self.responses: dict[bool, tuple[ThreadNode, ...]] = {}


# THREAD answers kept between commands, by (account namespace, mailbox id, algorithm), the least
# recently used dropped first.
THREADS_MAX = 16
_threads: dict[tuple[str, int, str], _Threads] = {}


# The thread fields of recently threaded messages (message id, references, base subject in
# collation form, reply/forward, sent date), by (namespace, message id); bounded.
THREAD_CACHE_MAX = 200_000
_thread_cache: dict[tuple[str, int], tuple[str | None, tuple[str, ...], str, bool, int]] = {}


ThreadFields = tuple[str | None, tuple[str, ...], str, bool, int]

#: Messages whose thread fields one worker thread call reads (INPROGRESS between calls).
THREAD_CHUNK = 500


async def _thread_fields(s: Session, ns: str, msgs: list[Any], tag: str) -> dict[int, ThreadFields]:
    """The thread fields of ``msgs`` by message id: from the cache, or read in a worker thread
    (message files: never on the event loop) and then cached."""
    got: dict[int, ThreadFields] = {}
    missing = []
    for m in msgs:
        f = _thread_cache.get((ns, m.id))
        if f is None:
            missing.append(m)
        else:
            got[m.id] = f
    if not missing:
        return got
    progress = Progress(s, tag, len(missing))  # RFC 9585 INPROGRESS
    for i in range(0, len(missing), THREAD_CHUNK):
        chunk = missing[i : i + THREAD_CHUNK]
        fields = await trio.to_thread.run_sync(_read_thread_fields, s.acc, chunk)
        if len(_thread_cache) + len(chunk) > THREAD_CACHE_MAX:
            for old in list(_thread_cache)[: max(THREAD_CACHE_MAX // 4, len(chunk))]:
                del _thread_cache[old]
        for m, f in zip(chunk, fields):
            _thread_cache[(ns, m.id)] = got[m.id] = f
        await progress.step(i + len(chunk))
    return got


def _read_thread_fields(acc: Any, msgs: list[Any]) -> list[ThreadFields]:
    """RFC 5256 3: per message the Message ID, the references (the valid ids of References, else
    the first valid id of In-Reply-To), the base subject and whether it was a reply or forward,
    and the sent date (RFC 5256 2.2). Runs in a worker thread: it reads message files and
    touches no shared state (no header cache, no session)."""
    out: list[ThreadFields] = []
    for m in msgs:
        env = m.envelope
        ids = parse_msg_ids(env.message_id if env is not None else None)
        refs: list[str] = []
        c = Candidate(acc, m, 0, 0, 0, set())
        for raw in c.raw_values("references")[:1]:
            refs = parse_msg_ids(raw)
        if not refs:
            refs = parse_msg_ids(env.in_reply_to if env is not None else None)[:1]
        base, reply = base_subject(env.subject if env is not None else None)
        out.append((ids[0] if ids else None, tuple(refs), unicode_casemap(base), reply, sent_date(env, m.received)))
    return out


def _response_nodes(roots: list[thread.Node], uid: bool) -> tuple[ThreadNode, ...]:
    """The THREAD response values of a forest, built bottom-up without recursion."""
    built: dict[int, ThreadNode] = {}
    for n in thread.post_order(roots):
        num = None if n.msg is None else (n.msg.uid if uid else n.msg.seq)
        built[id(n)] = ThreadNode(num, tuple(built.pop(id(c)) for c in n.children))
    return tuple(built[id(r)] for r in roots)
