"""SORT, UID SORT, THREAD and UID THREAD (selected state): RFC 5256; RFC 5957 (DISPLAYFROM,
DISPLAYTO); RFC 5267 (extended SORT: RETURN options answered with ESEARCH, UPDATE contexts);
RFC 9394 (PARTIAL); RFC 7162 3.1.9 (MODSEQ in SORT responses).

Both search first (cmd_search.search), then order the matches: sort.py and thread.py hold the
algorithms. A message's sort values and thread fields come from its envelope in the index; only
THREAD's References field needs the header section (through search.py's header cache). Both are
cached per message: message files never change.
"""

from __future__ import annotations

from typing import Any

from mox.message.header import parse_msg_ids
from mox.message.subject import base_subject

from . import contexts, thread
from .cmd_search import check_charset, esearch, search
from .responses import ThreadNode, UntaggedSort, UntaggedThread
from .search import Candidate, uses_modseq
from .session import Session
from .sort import cached_sort_values, sent_date, sort_items, unicode_casemap
from .types import Command


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
    found = search(s, key)
    ns = str(s.acc.path)
    values = {
        u: cached_sort_values(ns, m.id, criteria, _envelope_of(m), m.received, m.size) for _, u, m in found
    }
    order = sort_items([(f, values[f[1]]) for f in found], criteria)
    if ret is None:
        nums = [u if cmd.uid else q for q, u, _ in order]
        highest = max((max(m.modseq, 1) for _, _, m in order), default=0)
        s.send(UntaggedSort(nums, highest if modseq and nums else None))
        return "SORT done"
    # RFC 5267 3: the extended SORT answers with ESEARCH, results in sort order.
    esearch(s, cmd, ret, args["partial"], order, modseq)
    if "UPDATE" in ret:
        contexts.start(s, cmd, key, criteria, order, values)
    return "SORT done"


def _envelope_of(m: Any) -> Any:
    return lambda: m.envelope


async def cmd_thread(s: Session, cmd: Command) -> str:
    args = cmd.args
    check_charset(args["charset"])
    key = args["key"]
    if uses_modseq(key):
        s.enable_condstore()  # RFC 7162 3.1.9: THREAD responses stay as they are
    found = search(s, key)
    sel = s.xselected()
    ns = str(s.acc.path)
    nseq = len(sel.uids)
    inputs = []
    for seq, uid, m in found:
        f = _thread_fields(s, ns, m, seq, nseq)
        inputs.append(thread.ThreadInput(seq, uid, *f))
    roots = thread.thread(args["algorithm"], inputs)
    s.send(UntaggedThread(_response_nodes(roots, cmd.uid)))
    return "THREAD done"


# The thread fields of recently threaded messages (message id, references, base subject in
# collation form, reply/forward, sent date), by (namespace, message id); bounded.
THREAD_CACHE_MAX = 200_000
_thread_cache: dict[tuple[str, int], tuple[str | None, tuple[str, ...], str, bool, int]] = {}


def _thread_fields(s: Session, ns: str, m: Any, seq: int, nseq: int) -> tuple[str | None, tuple[str, ...], str, bool, int]:
    """RFC 5256 3: the Message ID, the references (the valid ids of References, else the first
    valid id of In-Reply-To), the base subject and whether it was a reply or forward, and the
    sent date (RFC 5256 2.2)."""
    k = (ns, m.id)
    got = _thread_cache.get(k)
    if got is not None:
        return got
    env = m.envelope
    ids = parse_msg_ids(env.message_id if env is not None else None)
    refs: list[str] = []
    sel = s.xselected()
    c = Candidate(s.acc, m, seq, nseq, 0, set(), ns, sel.recent)
    for raw in c.raw_values("references")[:1]:
        refs = parse_msg_ids(raw)
    if not refs:
        refs = parse_msg_ids(env.in_reply_to if env is not None else None)[:1]
    base, reply = base_subject(env.subject if env is not None else None)
    got = (ids[0] if ids else None, tuple(refs), unicode_casemap(base), reply, sent_date(env, m.received))
    if len(_thread_cache) >= THREAD_CACHE_MAX:
        for old in list(_thread_cache)[: THREAD_CACHE_MAX // 4]:
            del _thread_cache[old]
    _thread_cache[k] = got
    return got


def _response_nodes(roots: list[thread.Node], uid: bool) -> tuple[ThreadNode, ...]:
    """The THREAD response values of a forest, built bottom-up without recursion."""
    built: dict[int, ThreadNode] = {}
    for n in thread.post_order(roots):
        num = None if n.msg is None else (n.msg.uid if uid else n.msg.seq)
        built[id(n)] = ThreadNode(num, tuple(built.pop(id(c)) for c in n.children))
    return tuple(built[id(r)] for r in roots)
