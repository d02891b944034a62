"""SELECT EXAMINE (authenticated state) and CHECK CLOSE UNSELECT EXPUNGE / UID EXPUNGE (selected).

RFC 9051 6.3.2, 6.3.3, 6.4; RFC 7162 3.1.8 (CONDSTORE), 3.2.5 (QRESYNC); RFC 4315 2.1 (UID EXPUNGE).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import contexts
from .errors import BadCommand, CommandFailed
from .responses import (
    CodeHighestModSeq,
    CodePermanentFlags,
    CodeUIDNext,
    CodeUIDValidity,
    CodeUnseen,
    CodeWord,
    UntaggedExists,
    UntaggedExpunge,
    UntaggedList,
    UntaggedRecent,
    UntaggedResult,
    UntaggedVanished,
)
from .session import Done, Selected, Session, State
from .types import KNOWN_KEYWORDS, SYSTEM_FLAGS, Command, NumSet
from .wire import sequence_set

if TYPE_CHECKING:
    from mox.store.schema import Mailbox, Message


def client_modseq(m: int) -> int:
    # Modseq 0 (never changed) is shown as 1 (RFC 7162 3.1.3; mox store/account.go ModSeq.Client).
    return max(m, 1)


def send_removed(s: Session, sel: Selected, uids: list[int], *, report_recent: bool = True) -> None:
    """Tell this session about messages it removed itself (EXPUNGE, MOVE): one ``N EXPUNGE`` per
    message, each numbered as the sequence stands after the ones before it (RFC 9051 7.4.1), or
    one ``VANISHED`` with QRESYNC enabled (RFC 7162 3.2.10); then the new number of \\Recent
    messages if it changed (unless the caller reports it later). Update contexts hear of them
    first (RFC 5267 4.3.4: REMOVEFROM before the EXPUNGE)."""
    contexts.messages_removed(s, [u for u in uids if sel.seq(u)])
    vanished: list[int] = []
    for uid in sorted(uids):
        seq = sel.remove(uid)
        if not seq:
            continue
        if s.vanished:
            vanished.append(uid)
        else:
            s.send(UntaggedExpunge(seq))
    if vanished:
        s.send(UntaggedVanished(False, sequence_set(vanished)))
    if report_recent:
        s.report_recent()


def selected_highest_modseq(s: Session, sel: Selected) -> int:
    """HIGHESTMODSEQ of the selected mailbox as clients see it."""
    mb = s.acc.mailbox_by_id(sel.mailbox_id)
    return client_modseq(mb.highest_modseq if mb is not None else 0)


async def cmd_select(s: Session, cmd: Command) -> Done:
    args = cmd.args
    readonly = cmd.name == "EXAMINE"
    qr = args["qresync"]
    if qr is not None and not s.qresync:
        raise BadCommand("QRESYNC must first be enabled")
    if args["condstore"]:
        # RFC 7162 3.1.8: SELECT (CONDSTORE) enables CONDSTORE.
        s.enabled.add("CONDSTORE")
    if s.selected is not None:
        # RFC 7162 3.2.11: [CLOSED] when a mailbox was selected; RFC 9051 6.3.2: a failing
        # SELECT also leaves no mailbox selected.
        s.unselect()
        s.send(UntaggedResult("OK", CodeWord("CLOSED"), "x"))
    name = s.mailbox_in(args["mailbox"])
    # Changes that happened before the select are reflected in the listing below.
    s.apply_changes()
    mb = s.acc.mailbox(name)
    if mb is None:
        raise CommandFailed("mailbox does not exist", "NONEXISTENT")
    # The listing, and the point in the change stream it stands for, as of one moment: changes
    # still queued for us that it already reflects are dropped, so none is lost or applied twice.
    mb, msgs, floor = s.select_view(mb.id)
    sel = Selected(mb.id, mb.name, readonly, [m.uid for m in msgs], mb.keywords, floor)
    s.selected = sel
    s.state = State.SELECTED
    s.searchres = []
    # RFC 3501 6.3.1/6.3.2: the messages nobody took yet are \Recent for this session; SELECT
    # takes them, EXAMINE only looks.
    s.note_new(sel.uids)
    kw = [k for k in mb.keywords]
    s.send_mailbox_flags(kw)
    s.send(UntaggedResult("OK", CodePermanentFlags((*SYSTEM_FLAGS, *KNOWN_KEYWORDS, *kw, "\\*")), "x"))
    rev2 = "IMAP4REV2" in s.enabled
    if not rev2:
        sel.recent_told = len(sel.recent)
        s.send(UntaggedRecent(sel.recent_told))
    s.send(UntaggedExists(len(sel.uids)))
    if not rev2 and not s.uidonly:  # RFC 9586 3.3: no sequence numbers in UNSEEN
        for i, m in enumerate(msgs):
            if "\\Seen" not in m.flags:
                s.send(UntaggedResult("OK", CodeUnseen(i + 1), "x"))
                break
    s.send(UntaggedResult("OK", CodeUIDValidity(mb.uidvalidity), "x"))
    s.send(UntaggedResult("OK", CodeUIDNext(mb.uidnext), "x"))
    s.send(UntaggedList((), "/", mb.name))
    highest = max([mb.highest_modseq] + [m.modseq for m in msgs])
    if s.condstore:
        s.send(UntaggedResult("OK", CodeHighestModSeq(client_modseq(highest)), "x"))
    if qr is not None and qr["uidvalidity"] == mb.uidvalidity:
        _qresync(s, sel, msgs, qr)
    return Done(CodeWord("READ-ONLY" if readonly else "READ-WRITE"), "x")


def _qresync(s: Session, sel: Selected, msgs: list[Message], qr: dict[str, Any]) -> None:
    """RFC 7162 3.2.5.2: FETCH for messages changed since the client's modseq, then VANISHED
    (EARLIER) for uids expunged since then (limited to the client's known uids)."""
    since = qr["modseq"]
    known = qr["known_uids"]
    pre_vanished = 0
    if qr["seq_match"] is not None:
        seqs_ns, uids_ns = qr["seq_match"]
        if seqs_ns.search_result or uids_ns.search_result:
            raise BadCommand("$ not allowed in QRESYNC")
        seqs = [r for r in _expand(seqs_ns)]
        uids = [r for r in _expand(uids_ns)]
        if len(seqs) != len(uids):
            raise BadCommand("invalid combination of known sequence set and uid set, must be of equal length")
        for seq, uid in zip(seqs, uids, strict=True):
            if seq < 1 or seq > len(sel.uids) or sel.uids[seq - 1] != uid:
                break
            pre_vanished = uid + 1
    if since == 1:
        since = 0
    for m in sorted(msgs, key=lambda m: m.modseq):
        if m.modseq <= since:
            continue
        if known is not None and not known.contains(m.uid, sel.uids[-1] if sel.uids else 0):
            continue
        seq = sel.seq(m.uid)
        if seq:
            s.send_flags(seq, m.uid, m.flags, m.modseq)
    vanished = [
        u
        for u in s.acc.expunged_uids(sel.mailbox_id, since)
        if u >= pre_vanished and (known is None or known.contains(u, 1 << 32))
    ]
    if vanished:
        s.send(UntaggedVanished(True, sequence_set(vanished)))


def _expand(ns: NumSet) -> list[int]:
    out: list[int] = []
    for r in ns.ranges:
        a = r.first
        b = a if r.single else r.last
        if a is None or b is None:
            raise BadCommand("* not allowed in QRESYNC sequence match data")
        if b < a:
            raise BadCommand("QRESYNC known sets must be strictly increasing")
        if b - a > 100000:
            raise BadCommand("QRESYNC known set too large")
        if out and a <= out[-1]:
            raise BadCommand("QRESYNC known sets must be strictly increasing")
        out.extend(range(a, b + 1))
    return out


async def cmd_check(s: Session, cmd: Command) -> str:
    # RFC 3501 6.4.1 (removed in IMAP4rev2, which treats it like NOOP).
    return "CHECK done"


async def cmd_unselect(s: Session, cmd: Command) -> str:
    # RFC 3691
    s.unselect()
    return "UNSELECT done"


async def cmd_close(s: Session, cmd: Command) -> str:
    # RFC 9051 6.4.1: expunge \Deleted messages silently (not when read-only), then unselect.
    sel = s.xselected()
    if not sel.readonly and not sel.deleted:
        uids = [m.uid for m in s.acc.messages(sel.mailbox_id) if "\\Deleted" in m.flags]
        if uids:
            await s.acc.expunge(sel.mailbox_id, uids, origin=s.sub)
    s.unselect()
    return "CLOSE done"


async def cmd_expunge(s: Session, cmd: Command) -> str | Done:
    # RFC 9051 6.4.3; RFC 4315 2.1 UID EXPUNGE; RFC 7162 3.2.10 VANISHED with QRESYNC.
    sel = s.xselected()
    if sel.readonly:
        raise CommandFailed("mailbox open in read-only mode", "READ-ONLY")
    only: set[int] | None = None
    if cmd.uid:
        only = set(s.resolve_numset(cmd.args["numset"], True))
    # First bring our view up to date so our sequence numbers are right.
    s.apply_changes()
    uids = [
        m.uid
        for m in s.acc.messages(sel.mailbox_id)
        if "\\Deleted" in m.flags and (only is None or m.uid in only) and sel.seq(m.uid)
    ]
    removed: list[int] = []
    if uids:
        removed = await s.acc.expunge(sel.mailbox_id, uids, origin=s.sub)
    send_removed(s, sel, removed)
    if s.condstore:
        return Done(CodeHighestModSeq(selected_highest_modseq(s, sel)), "expunged")
    return "EXPUNGE done"
