"""SEARCH and UID SEARCH (selected state): RFC 9051 6.4.4; RFC 4731 ESEARCH; RFC 5182 SEARCHRES;
RFC 7162 3.1.5 MODSEQ. With IMAP4rev2 enabled the answer is always ESEARCH."""

from __future__ import annotations

from .errors import CommandFailed
from .search import INDEX, Candidate, compile_key, uses_modseq
from .responses import UntaggedEsearch, UntaggedSearch, UntaggedSearchModSeq
from .session import Session
from .types import Command
from .wire import sequence_set


async def cmd_search(s: Session, cmd: Command) -> str:
    sel = s.xselected()
    args = cmd.args
    charset = args["charset"]
    if charset is not None and charset not in ("US-ASCII", "UTF-8"):
        raise CommandFailed("only US-ASCII and UTF-8 supported", "BADCHARSET (US-ASCII UTF-8)")
    key = args["key"]
    modseq = uses_modseq(key)
    if modseq:
        s.enable_condstore()
    saved = set(s.searchres)
    largest = sel.uids[-1] if sel.uids else 0
    nseq = len(sel.uids)
    found: list[tuple[int, int, int]] = []  # (seq, uid, modseq)
    pred, cost = compile_key(key)
    live = {m.uid: m for m in s.acc.messages(sel.mailbox_id)}  # one look at the index
    if len(live) != nseq:
        # Messages another session expunged that this client has not been told about yet are
        # still in its view and searched as they were, like FETCH shows them (RFC 2180 4.1.1).
        for uid in sel.uids:
            if uid not in live and (m := s.acc.removed_message(sel.mailbox_id, uid)) is not None:
                live[uid] = m
    if cost == INDEX:
        # Flags, numbers, sizes, dates, modseqs: from the index, one Candidate reused.
        c = Candidate(s.acc, None, 0, nseq, largest, saved, recent=sel.recent)
        for seq, uid in enumerate(sel.uids, 1):
            m = live.get(uid)
            if m is None:
                continue
            c.msg = m
            c.seq = seq
            if pred(c):
                found.append((seq, uid, max(m.modseq, 1)))
    else:
        ns = str(s.acc.path)
        for seq, uid in enumerate(sel.uids, 1):
            m = live.get(uid)
            if m is None:
                continue
            if pred(Candidate(s.acc, m, seq, nseq, largest, saved, ns, sel.recent)):
                found.append((seq, uid, max(m.modseq, 1)))
    nums = [u if cmd.uid else q for q, u, _ in found]
    highest = max((ms for _, _, ms in found), default=0)
    ret = args["return_opts"]
    esearch = ret is not None or "IMAP4REV2" in s.enabled
    if ret is not None and "SAVE" in ret:
        # RFC 5182 2.4: with MIN/MAX alone only those are saved.
        uids = [u for _, u, _ in found]
        others = set(ret) - {"SAVE"}
        if uids and others and others <= {"MIN", "MAX"}:
            keep = set()
            if "MIN" in others:
                keep.add(uids[0])
            if "MAX" in others:
                keep.add(uids[-1])
            uids = sorted(keep)
        s.searchres = uids
    if not esearch:
        if modseq and nums:
            s.send(UntaggedSearchModSeq(tuple(nums), highest))
        else:
            s.send(UntaggedSearch(tuple(nums)))
        return "SEARCH done"
    opts = list(ret) if ret else []
    if ret is not None and set(opts) == {"SAVE"}:
        return "SEARCH done"  # RFC 5182 2.1: SAVE alone gives no ESEARCH response
    if not opts or opts == ["SAVE"]:
        opts = ["ALL"]
    s.send(
        UntaggedEsearch(
            tag=cmd.tag,
            uid=cmd.uid,
            min=nums[0] if nums and "MIN" in opts else None,
            max=nums[-1] if nums and "MAX" in opts else None,
            count=len(nums) if "COUNT" in opts else None,
            all=sequence_set(nums) if nums and "ALL" in opts else None,
            modseq=_esearch_modseq(opts, found) if modseq and nums else None,
        )
    )
    return "SEARCH done"


def _esearch_modseq(opts: list[str], found: list[tuple[int, int, int]]) -> int:
    """The MODSEQ result of an ESEARCH (RFC 4731 3.2, RFC 7162 3.1.5): the message's modseq for a
    single MIN or MAX, the higher of the two for MIN and MAX without ALL/COUNT, else the highest
    of all matches."""
    if not {"ALL", "COUNT"} & set(opts):
        picked = []
        if "MIN" in opts:
            picked.append(found[0][2])
        if "MAX" in opts:
            picked.append(found[-1][2])
        if picked:
            return max(picked)
    return max(ms for _, _, ms in found)
