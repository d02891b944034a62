"""ESEARCH (authenticated state): RFC 7377 MULTISEARCH, a search of several mailboxes in one
command. Results are UIDs, one ESEARCH response per mailbox that has matches, with the mailbox
and its UIDVALIDITY in the correlator; without ``IN (...)`` the selected mailbox is searched.
Message sequence numbers (and ``$``) only mean something in the selected mailbox: a search of
others with them is a BAD, as is SAVE (RFC 7377 2)."""

from __future__ import annotations

from typing import Any

from .errors import BadCommand, CommandFailed
from .responses import UntaggedEsearch
from .cmd_search import evaluate
from .search import INDEX, Candidate, compile_key, uses_modseq
from .session import Progress, Session
from .types import Command, SearchKey
from .wire import sequence_set


def _uses_seqnums(key: SearchKey) -> bool:
    if key.op == "SEQSET" or (key.op == "UID" and key.numset is not None and key.numset.search_result):
        return True
    return any(_uses_seqnums(k) for k in key.children)


def _mailboxes(s: Session, sources: list[tuple[str, tuple[str, ...]]]) -> list[Any]:
    """The mailboxes the source options name (RFC 7377 2 with RFC 5465 6's filters), once each,
    by name. Names that are no mailbox select nothing (as mox)."""
    all_mbs = s.acc.mailboxes()
    found: dict[int, Any] = {}
    if not sources:
        sources = [("selected", ())]
    for kind, names in sources:
        if kind == "selected":
            if s.selected is None:
                raise BadCommand("no mailbox selected")
            mb = s.acc.mailbox_by_id(s.selected.mailbox_id)
            if mb is None:
                raise CommandFailed("selected mailbox has been deleted", "NONEXISTENT")
            found[mb.id] = mb
        elif kind == "inboxes":
            # RFC 5465 6: where new mail is delivered: Inbox (and below it).
            found.update((mb.id, mb) for mb in all_mbs if mb.name == "Inbox" or mb.name.startswith("Inbox/"))
        elif kind == "personal":
            found.update((mb.id, mb) for mb in all_mbs)
        elif kind == "subscribed":
            found.update((mb.id, mb) for mb in all_mbs if mb.subscribed)
        else:
            for raw in names:
                name = s.mailbox_in(raw)
                for mb in all_mbs:
                    if mb.name == name:
                        found[mb.id] = mb
                    elif kind != "mailboxes" and mb.name.startswith(name + "/"):
                        # subtree: every level below; subtree-one: one level (RFC 5465 6).
                        if kind == "subtree" or "/" not in mb.name[len(name) + 1 :]:
                            found[mb.id] = mb
    return sorted(found.values(), key=lambda mb: mb.name)


async def cmd_esearch(s: Session, cmd: Command) -> str:
    args = cmd.args
    charset = args["charset"]
    if charset is not None and charset not in ("US-ASCII", "UTF-8"):
        raise CommandFailed("only US-ASCII and UTF-8 supported", "BADCHARSET (US-ASCII UTF-8)")
    key = args["key"]
    mbs = _mailboxes(s, args["sources"])
    sel = s.selected
    only_selected = sel is not None and [mb.id for mb in mbs] == [sel.mailbox_id]
    opts = set(args["return_opts"])
    if "SAVE" in opts and not only_selected:
        raise BadCommand("SAVE only when searching just the selected mailbox")
    if _uses_seqnums(key) and not (only_selected or not mbs):
        raise BadCommand("message sequence numbers and $ only when searching just the selected mailbox")
    modseq = uses_modseq(key)
    if modseq:
        s.enable_condstore()
    pred, cost = compile_key(key)
    progress = Progress(s, cmd.tag, sum(mb.total + mb.deleted for mb in mbs))  # RFC 9585
    done = 0
    for mb in mbs:
        todo: list[tuple[int, int, Any]] = []  # (seq, uid, message)
        saved: set[int] = set()
        recent: set[int] | frozenset[int] = frozenset()
        if sel is not None and mb.id == sel.mailbox_id:
            live = {m.uid: m for m in s.acc.messages(mb.id)}
            saved = set(s.searchres)
            recent = sel.recent
            largest = sel.uids[-1] if sel.uids else 0
            nseq = len(sel.uids)
            for seq, uid in enumerate(sel.uids, 1):
                m = live.get(uid) or s.acc.removed_message(mb.id, uid)
                if m is not None:
                    todo.append((seq, uid, m))
        else:
            msgs = s.acc.messages(mb.id)
            largest = msgs[-1].uid if msgs else 0
            nseq = 0
            todo = [(0, m.uid, m) for m in msgs]
        if cost == INDEX:
            hits = []
            for seq, _, m in todo:
                await progress.step(done)
                done += 1
                hits.append(pred(Candidate(s.acc, m, seq, nseq, largest, saved, None, recent)))
        else:
            # Keys that read message files: in worker threads (cmd_search.evaluate).
            hits = await evaluate(s, pred, cost, todo, nseq, largest, saved, recent, progress, done)
            done += len(todo)
        found = [(uid, max(m.modseq, 1)) for (_, uid, m), hit in zip(todo, hits) if hit]  # (uid, modseq)
        if "SAVE" in opts:
            s.searchres = [u for u, _ in found]
        if not found:
            continue  # RFC 7377 2: no response for a mailbox without matches
        want = opts - {"SAVE"} or ({"ALL"} if "SAVE" not in opts else set())
        if not want:
            continue
        uids = [u for u, _ in found]
        s.send(
            UntaggedEsearch(
                tag=cmd.tag,
                uid=True,
                min=uids[0] if "MIN" in want else None,
                max=uids[-1] if "MAX" in want else None,
                count=len(uids) if "COUNT" in want else None,
                all=sequence_set(uids) if "ALL" in want else None,
                modseq=max(ms for _, ms in found) if modseq else None,
                mailbox=mb.name,
                uidvalidity=mb.uidvalidity,
            )
        )
    return "ESEARCH done"
