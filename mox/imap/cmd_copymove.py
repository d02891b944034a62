"""COPY, MOVE and their UID forms (selected state): RFC 9051 6.4.7, 6.4.8; RFC 4315 COPYUID;
RFC 6851 MOVE; RFC 7162 3.2.10 (VANISHED and HIGHESTMODSEQ with QRESYNC)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import contexts
from .cmd_mailbox import account_quota
from .cmd_select import selected_highest_modseq, send_removed
from .errors import CommandFailed
from .responses import CodeCopyUID, CodeHighestModSeq, UntaggedExists, UntaggedResult
from .session import Done, Session
from .types import Command
from .wire import sequence_set

if TYPE_CHECKING:
    from mox.store.schema import Mailbox


def _dest(s: Session, cmd: Command) -> Mailbox:
    name = s.mailbox_in(cmd.args["mailbox"])
    mb: Mailbox | None = s.acc.mailbox(name)
    if mb is None:
        raise CommandFailed("destination mailbox does not exist", "TRYCREATE")
    return mb


def _existing(s: Session, uids: list[int]) -> list[int]:
    sel = s.xselected()
    return [u for u in uids if (m := s.acc.message(sel.mailbox_id, u)) is not None and not m.expunged]


def _add_to_view(s: Session, mailbox_id: int, new_uids: list[int]) -> None:
    """Copying into the selected mailbox: our own change isn't broadcast to us, so tell the client."""
    sel = s.selected
    if sel is None or sel.mailbox_id != mailbox_id or not new_uids:
        return
    # Lower UIDs added by other sessions first (see cmd_append): changes committed before the
    # copy (its modseq is the new messages' createseq; we hold removals from this mailbox, so
    # the record is there even if another session expunged it already).
    m = s.message(min(new_uids))
    s.apply_changes(allow_expunge=False, before=m.createseq if m is not None else None)
    added = [u for u in sorted(new_uids) if not sel.seq(u)]
    sel.uids.extend(added)
    sel.uids.sort()
    s.note_new(added)  # copies are new messages: \Recent for us (RFC 3501 6.4.7)
    s.send(UntaggedExists(len(sel.uids)))
    s.report_recent()
    contexts.messages_added(s, added)  # RFC 5267 4.3.3: after the EXISTS


async def cmd_copy(s: Session, cmd: Command) -> str | Done:
    sel = s.xselected()
    uids = _existing(s, s.resolve_numset(cmd.args["numset"], cmd.uid))
    dst = _dest(s, cmd)
    if not uids:
        return "COPY done"  # RFC 9051 6.4.7 allows an empty set with UID COPY
    quota = account_quota(s)
    if quota > 0:
        size = sum(m.size for u in uids if (m := s.acc.message(sel.mailbox_id, u)) is not None)
        if s.acc.disk_usage() + size > quota:
            raise CommandFailed("account over quota", "OVERQUOTA")
    pairs = await s.acc.copy(sel.mailbox_id, uids, dst.id, origin=s.sub)
    _add_to_view(s, dst.id, [d for _, d in pairs])
    src = sequence_set([a for a, _ in pairs])
    dsts = sequence_set([b for _, b in pairs])
    return Done(CodeCopyUID(dst.uidvalidity, src, dsts), "copied")


async def cmd_move(s: Session, cmd: Command) -> str | Done:
    sel = s.xselected()
    if sel.readonly:
        raise CommandFailed("mailbox open in read-only mode", "READ-ONLY")
    uids = _existing(s, s.resolve_numset(cmd.args["numset"], cmd.uid))
    dst = _dest(s, cmd)
    if not uids:
        return "MOVE done"
    # RFC 6851 3.3: COPYUID first, then the expunges. Moving into the selected mailbox itself
    # works like COPY followed by expunging the originals: the messages get new UIDs (Dovecot
    # does the same), and this session sees them arrive after the EXPUNGEs.
    pairs = await s.acc.move(sel.mailbox_id, uids, dst.id, origin=s.sub)
    src = sequence_set([a for a, _ in pairs])
    dsts = sequence_set([b for _, b in pairs])
    s.send(UntaggedResult("OK", CodeCopyUID(dst.uidvalidity, src, dsts), "moved"))
    # Into the selected mailbox the number of \Recent messages is reported once, after EXISTS.
    send_removed(s, sel, [a for a, _ in pairs], report_recent=dst.id != sel.mailbox_id)
    _add_to_view(s, dst.id, [b for _, b in pairs])
    if s.qresync:
        return Done(CodeHighestModSeq(selected_highest_modseq(s, sel)), "move")
    return "MOVE done"
