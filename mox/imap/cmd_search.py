"""SEARCH and UID SEARCH (selected state): RFC 9051 6.4.4; RFC 4731 ESEARCH; RFC 5182 SEARCHRES;
RFC 7162 3.1.5 MODSEQ; RFC 5267 CONTEXT=SEARCH (CONTEXT, UPDATE and PARTIAL return options) and
RFC 9394 PARTIAL; RFC 9585 INPROGRESS while it takes long. With IMAP4rev2 enabled the answer is
always ESEARCH.

``search`` (the messages of the session's view matching a key) and ``esearch`` (the ESEARCH
answer to a RETURN list) are shared with SORT and THREAD (cmd_sort.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import trio

from . import contexts
from .errors import CommandFailed
from .responses import EsearchPartial, UntaggedEsearch, UntaggedSearch, UntaggedSearchModSeq
from .search import BODY, HEADER, INDEX, Candidate, compile_key, uses_modseq
from .session import Progress, Session
from .types import Command, PartialRange, SearchKey
from .wire import sequence_set_ordered

if TYPE_CHECKING:
    from mox.store.schema import Message

CHARSETS = ("US-ASCII", "UTF-8")

#: Return options that ask for result data (RFC 4731, RFC 9394); CONTEXT is a hint, SAVE and
#: UPDATE ask for no data in the response.
DATA_OPTIONS = frozenset(("MIN", "MAX", "ALL", "COUNT", "PARTIAL"))


def check_charset(charset: str | None) -> None:
    if charset is not None and charset not in CHARSETS:
        raise CommandFailed("only US-ASCII and UTF-8 supported", "BADCHARSET (US-ASCII UTF-8)")


async def search(s: Session, key: SearchKey, tag: str | None = None) -> list[tuple[int, int, Message]]:
    """The messages of the session's view that match ``key``: (sequence number, uid, message) in
    mailbox order. With the command's ``tag`` a long search reports its progress (RFC 9585)."""
    sel = s.xselected()
    saved = set(s.searchres)
    largest = sel.uids[-1] if sel.uids else 0
    nseq = len(sel.uids)
    found: list[tuple[int, int, Message]] = []
    pred, cost = compile_key(key)
    live = {m.uid: m for m in s.acc.messages(sel.mailbox_id)}  # one look at the index
    if len(live) != nseq:
        # Messages another session expunged that this client has not been told about yet are
        # still in its view and searched as they were, like FETCH shows them (RFC 2180 4.1.1).
        for uid in sel.uids:
            if uid not in live and (m := s.acc.removed_message(sel.mailbox_id, uid)) is not None:
                live[uid] = m
    progress = Progress(s, tag, nseq) if tag is not None else None  # RFC 9585 INPROGRESS
    if cost == INDEX:
        # Flags, numbers, sizes, dates, modseqs: from the index, one Candidate reused.
        c: Candidate | None = None
        for seq, uid in enumerate(sel.uids, 1):
            if progress is not None and not seq & 255:
                await progress.step(seq - 1)
            m = live.get(uid)
            if m is None:
                continue
            if c is None:
                c = Candidate(s.acc, m, seq, nseq, largest, saved, recent=sel.recent)
            else:
                c.msg = m
                c.seq = seq
            if pred(c):
                found.append((seq, uid, m))
    else:
        todo = [(seq, uid, m) for seq, uid in enumerate(sel.uids, 1) if (m := live.get(uid)) is not None]
        hits = await evaluate(s, pred, cost, todo, nseq, largest, saved, sel.recent, progress)
        found = [t for t, hit in zip(todo, hits) if hit]
    return found


#: Messages one worker thread call evaluates for keys that read the header section (often from
#: the header cache) or the whole message file; INPROGRESS between calls.
SEARCH_BATCH = {HEADER: 2000, BODY: 500}


async def evaluate(
    s: Session, pred: Any, cost: int, todo: list[tuple[int, int, Message]], nseq: int, largest: int,
    saved: set[int], recent: set[int] | frozenset[int], progress: Progress | None, done: int = 0,
) -> list[bool]:
    """Whether each of ``todo`` ((sequence number, uid, message)) matches a key that reads
    message files: in worker threads, a batch per thread hop, so the event loop keeps serving
    the other connections (the header cache is shared under its lock, search.py). The session
    waits meanwhile: nothing changes ``saved`` or ``recent``."""
    ns = str(s.acc.path)
    acc = s.acc

    def run(batch: list[tuple[int, int, Message]]) -> list[bool]:
        return [bool(pred(Candidate(acc, m, seq, nseq, largest, saved, ns, recent))) for seq, _, m in batch]

    out: list[bool] = []
    n = SEARCH_BATCH[cost]
    for i in range(0, len(todo), n):
        if progress is not None:
            await progress.step(done + i)
        out += await trio.to_thread.run_sync(run, todo[i : i + n])
    return out


async def cmd_search(s: Session, cmd: Command) -> str:
    args = cmd.args
    check_charset(args["charset"])
    key = args["key"]
    modseq = uses_modseq(key)
    if modseq:
        s.enable_condstore()
    ret = args["return_opts"]
    contexts.check_update(s, cmd, ret)
    found = await search(s, key, cmd.tag)
    if ret is None and "IMAP4REV2" not in s.enabled:
        nums = tuple(u for _, u, _ in found) if cmd.uid else tuple(q for q, _, _ in found)
        if modseq and nums:
            s.send(UntaggedSearchModSeq(nums, max(max(m.modseq, 1) for _, _, m in found)))
        else:
            s.send(UntaggedSearch(nums))
        return "SEARCH done"
    esearch(s, cmd, ret if ret is not None else [], args["partial"], found, modseq)
    if ret is not None and "UPDATE" in ret:
        contexts.start(s, cmd, key, None, found, partial=args["partial"], fetch_atts=args.get("update_atts", ()))
    return "SEARCH done"


def esearch(
    s: Session,
    cmd: Command,
    opts: list[str],
    partial: PartialRange | None,
    found: list[tuple[int, int, Message]],
    modseq: bool,
) -> None:
    """Answer a RETURN list (RFC 4731 3.1; RFC 5267 3.1 for SORT, where ``found`` is in sort
    order: MIN is the first result, MAX the last, ALL keeps the order) and save the result for
    "$" when asked (RFC 5182 2.4, RFC 9394 3.2)."""
    nums = [u if cmd.uid else q for q, u, _ in found]
    data = [o for o in opts if o in DATA_OPTIONS]
    if not data and not ({"SAVE", "UPDATE"} & set(opts)):
        data = ["ALL"]  # RFC 4731 3.1: an empty list (CONTEXT is only a hint) means ALL
    picked = partial.select(list(range(len(found)))) if partial is not None else []
    if "SAVE" in opts:
        # What "$" holds (RFC 5182 2.4, RFC 9394 3.2 table 1): with only MIN/MAX (and PARTIAL)
        # asked for, the results returned for those; with anything else, all results.
        rest = set(data) - {"MIN", "MAX", "PARTIAL"}
        if found and data and not rest:
            keep = {found[i][1] for i in picked}
            if "MIN" in data:
                keep.add(found[0][1])
            if "MAX" in data:
                keep.add(found[-1][1])
            s.searchres = sorted(keep)
        else:
            s.searchres = sorted(u for _, u, _ in found)
    if not data and "UPDATE" not in opts:
        return  # RFC 5182 2.1: SAVE alone gives no ESEARCH response
    s.send(
        UntaggedEsearch(
            tag=cmd.tag,
            uid=cmd.uid,
            min=nums[0] if nums and "MIN" in data else None,
            max=nums[-1] if nums and "MAX" in data else None,
            count=len(nums) if "COUNT" in data else None,
            all=sequence_set_ordered(nums) if nums and "ALL" in data else None,
            modseq=_esearch_modseq(data, found, picked) if modseq and nums and data else None,
            partial=(
                EsearchPartial(partial.text, sequence_set_ordered(nums[i] for i in picked) if picked else None)
                if partial is not None
                else None
            ),
        )
    )


def _esearch_modseq(opts: list[str], found: list[tuple[int, int, Message]], picked: list[int]) -> int:
    """The MODSEQ result of an ESEARCH (RFC 4731 3.2, RFC 7162 3.1.5, 3.1.10): the highest
    modseq of the messages returned: those of MIN, MAX and PARTIAL, or all matches when ALL or
    COUNT is asked for."""
    if not {"ALL", "COUNT"} & set(opts):
        idx = list(picked)
        if "MIN" in opts:
            idx.append(0)
        if "MAX" in opts:
            idx.append(len(found) - 1)
        if idx:
            return max(max(found[i][2].modseq, 1) for i in idx)
    return max(max(m.modseq, 1) for _, _, m in found)


async def cmd_cancelupdate(s: Session, cmd: Command) -> str:
    """CANCELUPDATE "tag" ... (RFC 5267 4.3.5): no more updates for those contexts. A tag that
    names no context is refused and nothing is cancelled (Dovecot answers NO too)."""
    s.xselected()
    if not contexts.cancel(s, cmd.args["tags"]):
        raise CommandFailed("unknown update context tag")
    return "CANCELUPDATE done"
